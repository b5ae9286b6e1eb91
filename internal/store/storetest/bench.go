package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/stele-go/stele/internal/store"
)

// ChunkSize is the number of results or keys per operation in the benchmarks:
// the size of a typical verifier chunk.
const ChunkSize = 256

// BenchRecordResults measures RecordResults of one ChunkSize-result chunk of
// fresh results (realistic results: two or three checks each) into a job of
// b.N chunks.
func BenchRecordResults(b *testing.B, s store.Store) {
	ctx := context.Background()
	id := newID(b, "bench")
	if err := s.CreateJob(ctx, store.Job{ID: id, Kind: store.KindVerify, Total: b.N * ChunkSize}); err != nil {
		b.Fatal(err)
	}
	chunk := make([]store.Result, ChunkSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j := range chunk {
			n := i*ChunkSize + j
			chunk[j] = result(n, outcomeOf(n), "ref")
		}
		p, err := s.RecordResults(ctx, id, chunk)
		if err != nil {
			b.Fatal(err)
		}
		if p.Job.Done != (i+1)*ChunkSize {
			b.Fatalf("Done = %d after %d chunks", p.Job.Done, i+1)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*ChunkSize)/b.Elapsed().Seconds(), "results/s")
}

// BenchPutSigs measures PutSigs of ChunkSize fresh keys.
func BenchPutSigs(b *testing.B, s store.Store) {
	ctx := context.Background()
	seed := newID(b, "sig")
	keys := make([][32]byte, ChunkSize)
	valid := make([]bool, ChunkSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j := range keys {
			keys[j] = benchKey(seed, i*ChunkSize+j)
			valid[j] = j%5 != 0
		}
		if err := s.PutSigs(ctx, keys, valid); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchGetSigs measures GetSigs of ChunkSize keys that are all present.
func BenchGetSigs(b *testing.B, s store.Store) {
	ctx := context.Background()
	seed := newID(b, "sig")
	keys := make([][32]byte, ChunkSize)
	valid := make([]bool, ChunkSize)
	for j := range keys {
		keys[j] = benchKey(seed, j)
		valid[j] = true
	}
	if err := s.PutSigs(ctx, keys, valid); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		got, err := s.GetSigs(ctx, keys)
		if err != nil {
			b.Fatal(err)
		}
		if got[ChunkSize-1] != store.SigValid {
			b.Fatalf("GetSigs = %d, want a hit", got[ChunkSize-1])
		}
	}
}

func benchKey(seed string, n int) [32]byte {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(n))
	return sha256.Sum256(append([]byte(seed), buf[:]...))
}

// BenchRecordResultsParallel measures RecordResults of ChunkSize-result
// chunks from concurrent writers (b.RunParallel) into one job, as several
// verifier workers do.
func BenchRecordResultsParallel(b *testing.B, s store.Store) {
	ctx := context.Background()
	id := newID(b, "bench")
	if err := s.CreateJob(ctx, store.Job{ID: id, Kind: store.KindVerify, Total: b.N * ChunkSize}); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		chunk := make([]store.Result, ChunkSize)
		for pb.Next() {
			c := int(next.Add(1) - 1)
			for j := range chunk {
				n := c*ChunkSize + j
				chunk[j] = result(n, outcomeOf(n), "ref")
			}
			if _, err := s.RecordResults(ctx, id, chunk); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*ChunkSize)/b.Elapsed().Seconds(), "results/s")
	job, err := s.GetJob(ctx, id)
	if err != nil || job.Done != b.N*ChunkSize {
		b.Fatalf("job after the benchmark = %+v, %v; want Done = %d", job, err, b.N*ChunkSize)
	}
}
