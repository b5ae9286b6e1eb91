package loadtest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
)

// inprocBatch is the batch size of the in-process measurement, the same as
// the pipeline's default chunk.
const inprocBatch = 256

// InprocResult is the in-process batch verifier's throughput.
type InprocResult struct {
	Workers   int           `json:"workers"`
	Documents int           `json:"documents"` // documents verified (the sample, repeatedly)
	Sample    int           `json:"sample"`    // distinct documents
	Elapsed   time.Duration `json:"elapsedNs"`
	DocsPerS  float64       `json:"docsPerSecond"`
	Invalid   int           `json:"invalid"` // should be 0
}

// measureInproc parses up to sample documents of the set and verifies them
// with covenant.Verifier.VerifyBatch (batches of 256, no signature cache)
// on GOMAXPROCS goroutines, repeating passes over the sample until at least
// minTime has passed. Parsing is not timed: this is the verifier's ceiling.
func measureInproc(ctx context.Context, path string, sample int, minTime time.Duration) (InprocResult, error) {
	var docs []*covenant.Document
	err := readLines(path, sample, func(i int, line []byte) error {
		d, err := covenant.Parse(line)
		if err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		return InprocResult{}, fmt.Errorf("in-process: %w", err)
	}
	var batches [][]*covenant.Document
	for i := 0; i < len(docs); i += inprocBatch {
		batches = append(batches, docs[i:min(i+inprocBatch, len(docs))])
	}
	v, err := covenant.NewVerifier()
	if err != nil {
		return InprocResult{}, err
	}
	workers := runtime.GOMAXPROCS(0)
	res := InprocResult{Workers: workers, Sample: len(docs)}
	var verified, invalid atomic.Int64
	start := time.Now()
	for pass := 0; ; pass++ {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					b := int(next.Add(1)) - 1
					if b >= len(batches) {
						return
					}
					for _, r := range v.VerifyBatch(batches[b]) {
						if !r.Valid {
							invalid.Add(1)
						}
					}
					verified.Add(int64(len(batches[b])))
				}
			})
		}
		wg.Wait()
		if time.Since(start) >= minTime || ctx.Err() != nil || pass >= 1000 {
			break
		}
	}
	res.Elapsed = time.Since(start)
	res.Documents = int(verified.Load())
	res.Invalid = int(invalid.Load())
	res.DocsPerS = float64(res.Documents) / res.Elapsed.Seconds()
	return res, ctx.Err()
}
