package loadtest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
)

// GenOptions describes a set of generated covenants.
type GenOptions struct {
	// N is the number of documents.
	N int
	// Size is the approximate size of one document in bytes (JSON, one line).
	Size int
	// Keys is the number of issuer keys the documents are spread over.
	Keys int
	// Salt distinguishes sets with equal N, Size and Keys: documents of
	// different salts share no signature, so a verifier's signature cache
	// has never seen a fresh salt.
	Salt string
}

func (o GenOptions) check() error {
	switch {
	case o.N < 1 || o.N > MaxDocuments:
		return fmt.Errorf("%w: documents %d not in 1..%d", ErrUsage, o.N, MaxDocuments)
	case o.Size < 512 || o.Size > 512<<10:
		return fmt.Errorf("%w: size %d not in 512..524288", ErrUsage, o.Size)
	case o.Keys < 1 || o.Keys > 1000:
		return fmt.Errorf("%w: keys %d not in 1..1000", ErrUsage, o.Keys)
	}
	return nil
}

// fileName is the cache file of a set.
func (o GenOptions) fileName() string {
	salt := sha256.Sum256([]byte(o.Salt))
	return fmt.Sprintf("covenants-n%d-s%d-k%d-%x.ndjson", o.N, o.Size, o.Keys, salt[:4])
}

// issuerKey derives the i-th issuer (or beneficiary) key of a set
// deterministically, so a cached set and a fresh one use the same parties.
func deriveKey(role string, i int) *keys.PrivateKey {
	seed := sha256.Sum256([]byte("stele-loadtest/" + role + "/" + strconv.Itoa(i)))
	k, err := keys.NewPrivateKey(seed[:])
	if err != nil {
		panic(fmt.Sprintf("loadtest: derive key: %v", err)) // a 32-byte seed is always accepted
	}
	return k
}

// Generate returns the path of an NDJSON file holding the set described by
// opts under dir, building and signing the documents (on every core) unless
// the file is already there. Documents are valid at any time after their
// creation: no expiry, no activation date.
func Generate(ctx context.Context, dir string, opts GenOptions) (path string, cached bool, err error) {
	if err := opts.check(); err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("generate: %w", err)
	}
	path = filepath.Join(dir, opts.fileName())
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, true, nil
	}
	tmp, err := os.CreateTemp(dir, ".generate-*")
	if err != nil {
		return "", false, fmt.Errorf("generate: %w", err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := writeDocuments(ctx, bw, opts); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("generate: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("generate: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", false, fmt.Errorf("generate: %w", err)
	}
	return path, false, nil
}

// writeDocuments builds opts.N documents in parallel and writes them in
// order, one per line.
func writeDocuments(ctx context.Context, w io.Writer, opts GenOptions) error {
	issuers := make([]*keys.PrivateKey, opts.Keys)
	beneficiaries := make([]*keys.PrivateKey, opts.Keys)
	for i := range issuers {
		issuers[i] = deriveKey("issuer", i)
		beneficiaries[i] = deriveKey("beneficiary", i)
	}
	filler, err := fillerLength(opts, issuers[0], beneficiaries[0])
	if err != nil {
		return err
	}
	const block = 1024
	workers := runtime.GOMAXPROCS(0)
	type job struct {
		start int
		out   chan []byte
	}
	jobs := make(chan job, workers)
	results := make(chan job, workers*2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				var buf []byte
				for i := j.start; i < min(j.start+block, opts.N); i++ {
					if ctx.Err() != nil {
						break
					}
					doc, err := buildDocument(opts, i, filler, issuers, beneficiaries)
					if err != nil {
						errOnce.Do(func() { firstErr = err })
						cancel()
						break
					}
					buf = doc.AppendJSON(buf)
					buf = append(buf, '\n')
				}
				j.out <- buf
			}
		})
	}
	go func() {
		defer close(jobs)
		defer close(results)
		for start := 0; start < opts.N; start += block {
			j := job{start: start, out: make(chan []byte, 1)}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
			select {
			case results <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	var werr error
	for j := range results {
		buf := <-j.out
		if werr == nil && ctx.Err() == nil {
			if _, err := w.Write(buf); err != nil {
				werr = fmt.Errorf("generate: %w", err)
				cancel()
			}
		}
	}
	wg.Wait()
	switch {
	case firstErr != nil:
		return fmt.Errorf("generate: %w", firstErr)
	case werr != nil:
		return werr
	}
	return ctx.Err()
}

// buildOptions returns the options of document i with a filler of n bytes.
func buildOptions(opts GenOptions, i, n int, issuers, beneficiaries []*keys.PrivateKey) (covenant.BuildOptions, *keys.PrivateKey) {
	k := i % len(issuers)
	custom := canon.NewObject(3)
	custom.Set("sequence", float64(i))
	custom.Set("salt", opts.Salt)
	custom.Set("padding", strings.Repeat("x", n))
	constraints := fmt.Sprintf("permit read on '/data/set-%d/**'\n"+
		"permit write on '/data/set-%d/inbox/*' when risk_level < 3\n"+
		"deny delete on '/system/**'\n"+
		"limit api.call 1000 per 1 hours", i%97, i%89)
	return covenant.BuildOptions{
		Issuer: covenant.Party{
			ID: "did:stele:load-issuer-" + strconv.Itoa(k), PublicKey: issuers[k].PublicHex(),
			Role: covenant.RoleIssuer, Name: "Load issuer " + strconv.Itoa(k),
		},
		Beneficiary: covenant.Party{
			ID: "agent-load-" + strconv.Itoa(i), PublicKey: beneficiaries[k].PublicHex(),
			Role: covenant.RoleBeneficiary,
		},
		Constraints: constraints,
		Enforcement: &covenant.Enforcement{Type: "monitor", Description: "load test"},
		Metadata: &covenant.Metadata{
			Name: "load test covenant " + strconv.Itoa(i), Tags: []string{"loadtest", "generated"},
			Custom: custom,
		},
	}, issuers[k]
}

// fillerLength finds the padding that brings a document to about opts.Size.
func fillerLength(opts GenOptions, issuer, beneficiary *keys.PrivateKey) (int, error) {
	bo, key := buildOptions(opts, 0, 0, []*keys.PrivateKey{issuer}, []*keys.PrivateKey{beneficiary})
	bo.Now = func() time.Time { return time.Now() }
	doc, err := covenant.Build(bo, key)
	if err != nil {
		return 0, fmt.Errorf("generate: template: %w", err)
	}
	return max(0, opts.Size-doc.Size()), nil
}

func buildDocument(opts GenOptions, i, filler int, issuers, beneficiaries []*keys.PrivateKey) (*covenant.Document, error) {
	bo, key := buildOptions(opts, i, filler, issuers, beneficiaries)
	doc, err := covenant.Build(bo, key)
	if err != nil {
		return nil, fmt.Errorf("document %d: %w", i, err)
	}
	return doc, nil
}

// readLines calls fn for each line of the NDJSON file at path, at most max
// lines (all when max <= 0). The slice passed to fn is only valid during the
// call.
func readLines(path string, max int, fn func(i int, line []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	for i := 0; max <= 0 || i < max; i++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("%s: line %d longer than 1 MiB", path, i+1)
		}
		if len(line) > 1 {
			if ferr := fn(i, line[:len(line)-1]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}
