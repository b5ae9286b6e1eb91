package jobs_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// signBenchItems returns n sign items as the gateway sends them (nonce and
// createdAt filled in), alternating two keys.
func signBenchItems(b *testing.B, n int) []jobs.Item {
	items := make([]jobs.Item, n)
	for i := range items {
		req := buildReq([]string{"k1", "k2"}[i%2], i)
		req.Nonce = fmt.Sprintf("%064x", i+1)
		req.CreatedAt = "2026-01-02T03:04:05.678Z"
		items[i] = signItem(b, "", req)
	}
	return items
}

// BenchmarkSignRunner measures sign throughput through the pipeline: one
// in-process runner (all cores) over a real JetStream server and Redis,
// from publishing a job of b.N sign items to its completion, every covenant
// committed with its result. Compare with BenchmarkBuildSignAllCores.
func BenchmarkSignRunner(b *testing.B) {
	p := newSignPipeline(b, newStore(b), jobs.ConsumerConfig{})
	h := p.signHandler(b, testKeyring(b, "k1", "k2"), jobs.SignConfig{})
	p.startRunner(b, nil, h, jobs.RunnerConfig{Concurrency: benchConcurrency})
	items := signBenchItems(b, b.N)
	b.ResetTimer()
	start := time.Now()
	id := fmt.Sprintf("sign-bench-%d", b.N)
	p.submit(b, jobs.Job{ID: id, Kind: store.KindSign}, items)
	if got := p.waitJob(b, id); got.Valid != b.N {
		b.Fatalf("job %s: %+v", id, got)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "docs/s")
}

// BenchmarkBuildSignAllCores is the in-process reference: build and sign
// the same covenants on every core and encode them, no I/O.
func BenchmarkBuildSignAllCores(b *testing.B) {
	k := testKey(b, "k1", false)
	b.SetParallelism(1)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			doc, err := covenant.Build(covenant.BuildOptions{
				Issuer:      covenant.Party{ID: "k1", PublicKey: k.Public, Role: covenant.RoleIssuer},
				Beneficiary: covenant.Party{ID: fmt.Sprintf("agent-%d", i), PublicKey: benKey, Role: covenant.RoleBeneficiary},
				Constraints: fmt.Sprintf("permit read on '/data/%d/**'\ndeny write on '**'", i),
				Metadata:    &covenant.Metadata{Name: fmt.Sprintf("c%d", i), Tags: []string{"batch"}},
				Now:         func() time.Time { return time.Unix(1767323045, 678e6) },
				Rand:        bytes.NewReader(make([]byte, 32)),
			}, k.PrivateKey())
			if err != nil {
				b.Error(err)
				return
			}
			_ = doc.AppendJSON(nil)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "docs/s")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}
