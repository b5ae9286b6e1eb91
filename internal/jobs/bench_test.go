package jobs_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// benchDocs builds n distinct signed covenants of about 2 KB each, signed by
// a few issuers, as compact JSON.
func benchDocs(tb testing.TB, n int) [][]byte {
	tb.Helper()
	var issuers []*keys.PrivateKey
	for i := range 4 {
		seed := sha256.Sum256([]byte(fmt.Sprintf("bench-issuer-%d", i)))
		k, err := keys.NewPrivateKey(seed[:])
		if err != nil {
			tb.Fatal(err)
		}
		issuers = append(issuers, k)
	}
	benSeed := sha256.Sum256([]byte("bench-beneficiary"))
	ben, err := keys.NewPrivateKey(benSeed[:])
	if err != nil {
		tb.Fatal(err)
	}
	constraints := strings.Join([]string{
		"permit read on '/data/**'",
		"permit write on '/data/reports/**' when role = 'analyst'",
		"deny delete on '/system/**'",
		"deny write on '/data/secret/**' severity critical",
		"limit api.call 1000 per 1 hours",
	}, "\n")
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	docs := make([][]byte, n)
	for i := range docs {
		k := issuers[i%len(issuers)]
		var nonce [32]byte
		binary.BigEndian.PutUint64(nonce[:], uint64(i))
		opts := covenant.BuildOptions{
			Issuer:      covenant.Party{ID: fmt.Sprintf("did:stele:issuer-%d", i%len(issuers)), PublicKey: k.PublicHex(), Role: covenant.RoleIssuer, Name: "Bench Issuer"},
			Beneficiary: covenant.Party{ID: "agent-bench", PublicKey: ben.PublicHex(), Role: covenant.RoleBeneficiary},
			Constraints: constraints,
			Metadata: &covenant.Metadata{
				Name:        fmt.Sprintf("bench covenant %d", i),
				Description: strings.Repeat("A covenant generated for the runner benchmark. ", 24),
				Tags:        []string{"bench", fmt.Sprintf("batch-%d", i%16)},
			},
			ExpiresAt: "2036-01-01T00:00:00.000Z",
			Now:       func() time.Time { return created },
			Rand:      strings.NewReader(string(nonce[:])),
		}
		doc, err := covenant.Build(opts, k)
		if err != nil {
			tb.Fatal(err)
		}
		docs[i] = doc.AppendJSON(nil)
	}
	return docs
}

// BenchmarkRunner measures end-to-end throughput of one in-process runner
// (all cores) over a real JetStream server and Redis: publish a job of b.N
// documents, verify, record, until the job completes. "cold" verifies every
// signature; "warm" has every signature in the cache.
func BenchmarkRunner(b *testing.B) {
	pool := benchDocs(b, 2048)
	for _, warm := range []bool{false, true} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			p := newPipeline(b, jobs.ConsumerConfig{})
			var cache store.SigCache
			if warm {
				cache = p.st
			}
			p.startRunner(b, nil, p.verifyHandler(b, cache), jobs.RunnerConfig{Concurrency: benchConcurrency})
			job := func(id string, n int) {
				items := make([]jobs.Item, n)
				for i := range items {
					items[i] = jobs.Item{Document: pool[i%len(pool)]}
				}
				p.submit(b, jobs.Job{ID: id, Kind: store.KindVerify}, items)
				if got := p.waitJob(b, id); got.Valid != n {
					b.Fatalf("job %s: %+v", id, got)
				}
			}
			if warm {
				job("prewarm", len(pool))
			}
			b.ResetTimer()
			start := time.Now()
			job(fmt.Sprintf("bench-%d", b.N), b.N)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "docs/s")
		})
	}
}

// BenchmarkVerifyBatchAllCores is the in-process reference the runner is
// compared with: parse and batch-verify chunks of 256 documents on every
// core, no cache, no I/O.
func BenchmarkVerifyBatchAllCores(b *testing.B) {
	pool := benchDocs(b, 2048)
	v, err := covenant.NewVerifier()
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(1) // one goroutine per GOMAXPROCS
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		docs := make([]*covenant.Document, 0, jobs.DefaultChunkItems)
		i := 0
		flush := func() {
			for _, r := range v.VerifyBatch(docs) {
				if !r.Valid {
					b.Error("invalid benchmark document")
				}
			}
			docs = docs[:0]
		}
		for pb.Next() {
			d, err := covenant.Parse(pool[i%len(pool)])
			if err != nil {
				b.Error(err)
				return
			}
			i++
			docs = append(docs, d)
			if len(docs) == cap(docs) {
				flush()
			}
		}
		flush()
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "docs/s")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}

var benchConcurrency = 0 // the default

// BenchmarkHandleChunk measures one processor on one 256-document chunk:
// decode the message, parse, verify, store the documents (Redis), without
// recording results. Compare ns/doc with BenchmarkVerifyBatch256.
func BenchmarkHandleChunk(b *testing.B) {
	pool := benchDocs(b, 256)
	items := make([]jobs.Item, len(pool))
	for i := range items {
		items[i] = jobs.Item{Index: i, Document: pool[i]}
	}
	data, err := json.Marshal(jobs.Chunk{V: 1, JobID: "bench", Kind: store.KindVerify, Items: items})
	if err != nil {
		b.Fatal(err)
	}
	st := newStore(b)
	h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx := testContext(b)
	b.ResetTimer()
	for b.Loop() {
		c, err := jobs.DecodeChunk(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.HandleChunk(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pool)), "ns/doc")
}

// BenchmarkVerifyBatch256 is the core's share of BenchmarkHandleChunk:
// parse and batch-verify the same 256 documents on one goroutine.
func BenchmarkVerifyBatch256(b *testing.B) {
	pool := benchDocs(b, 256)
	v, err := covenant.NewVerifier()
	if err != nil {
		b.Fatal(err)
	}
	docs := make([]*covenant.Document, len(pool))
	b.ResetTimer()
	for b.Loop() {
		for i, raw := range pool {
			if docs[i], err = covenant.Parse(raw); err != nil {
				b.Fatal(err)
			}
		}
		v.VerifyBatch(docs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pool)), "ns/doc")
}

// BenchmarkDecodeChunk measures decoding one 256-document chunk message.
func BenchmarkDecodeChunk(b *testing.B) {
	pool := benchDocs(b, 256)
	items := make([]jobs.Item, len(pool))
	for i := range items {
		items[i] = jobs.Item{Index: i, Document: pool[i]}
	}
	data, err := json.Marshal(jobs.Chunk{V: 1, JobID: "bench", Kind: store.KindVerify, Items: items})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := jobs.DecodeChunk(data); err != nil {
			b.Fatal(err)
		}
	}
}
