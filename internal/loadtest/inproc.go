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

// InprocResult is the in-process batch verifier's throughput, measured two
// ways: from the documents' bytes (covenant.Parse then VerifyBatch, what a
// verifier given documents has to do; the bar's reference) and on documents
// parsed beforehand (VerifyBatch alone, the verifier's ceiling).
type InprocResult struct {
	Workers        int           `json:"workers"`
	Documents      int           `json:"documents"` // documents verified from bytes (the sample, repeatedly)
	Sample         int           `json:"sample"`    // distinct documents
	Elapsed        time.Duration `json:"elapsedNs"`
	DocsPerS       float64       `json:"docsPerSecond"`       // parse + verify
	VerifyDocsPerS float64       `json:"verifyDocsPerSecond"` // verify only
	Invalid        int           `json:"invalid"`             // should be 0
}

// measureInproc reads up to sample documents of the set and verifies them
// with covenant.Verifier.VerifyBatch (batches of 256, no signature cache) on
// GOMAXPROCS goroutines, repeating passes over the sample until at least
// minTime has passed: once parsing every batch from its bytes, once on
// documents parsed beforehand.
func measureInproc(ctx context.Context, path string, sample int, minTime time.Duration) (InprocResult, error) {
	var raws [][]byte
	var docs []*covenant.Document
	err := readLines(path, sample, func(i int, line []byte) error {
		d, err := covenant.Parse(line)
		if err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		raws = append(raws, append([]byte(nil), line...))
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		return InprocResult{}, fmt.Errorf("in-process: %w", err)
	}
	v, err := covenant.NewVerifier()
	if err != nil {
		return InprocResult{}, err
	}
	workers := runtime.GOMAXPROCS(0)
	nBatches := (len(docs) + inprocBatch - 1) / inprocBatch
	var invalid atomic.Int64
	// pass verifies every batch once with fn on all workers and returns the
	// documents done and the time taken.
	pass := func(fn func(b int, scratch []*covenant.Document) []covenant.Result) (int, time.Duration) {
		var done, next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Go(func() {
				scratch := make([]*covenant.Document, inprocBatch)
				for {
					b := int(next.Add(1)) - 1
					if b >= nBatches {
						return
					}
					results := fn(b, scratch)
					for _, r := range results {
						if !r.Valid {
							invalid.Add(1)
						}
					}
					done.Add(int64(len(results)))
				}
			})
		}
		wg.Wait()
		return int(done.Load()), time.Since(start)
	}
	bounds := func(b int) (int, int) { return b * inprocBatch, min((b+1)*inprocBatch, len(docs)) }
	fromBytes := func(b int, scratch []*covenant.Document) []covenant.Result {
		lo, hi := bounds(b)
		batch := scratch[:hi-lo]
		for i := range batch {
			d, err := covenant.Parse(raws[lo+i])
			if err != nil {
				d = nil // an invalid result, counted
			}
			batch[i] = d
		}
		return v.VerifyBatch(batch)
	}
	parsed := func(b int, _ []*covenant.Document) []covenant.Result {
		lo, hi := bounds(b)
		return v.VerifyBatch(docs[lo:hi])
	}

	// The two measurements alternate pass by pass, so that a change in the
	// machine's load during the run affects both alike.
	res := InprocResult{Workers: workers, Sample: len(docs)}
	var nParsed int
	var elParsed time.Duration
	for p := 0; p < 1000 && ctx.Err() == nil; p++ {
		n, el := pass(fromBytes)
		res.Documents += n
		res.Elapsed += el
		n, el = pass(parsed)
		nParsed += n
		elParsed += el
		if res.Elapsed+elParsed >= minTime {
			break
		}
	}
	res.DocsPerS = float64(res.Documents) / res.Elapsed.Seconds()
	res.VerifyDocsPerS = float64(nParsed) / elParsed.Seconds()
	res.Invalid = int(invalid.Load())
	return res, ctx.Err()
}
