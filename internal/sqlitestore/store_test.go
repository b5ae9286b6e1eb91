package sqlitestore

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openTest(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	var mu sync.Mutex
	paths := make(map[store.Store]string)
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) store.Store {
		if cfg.Twin != nil {
			mu.Lock()
			path := paths[cfg.Twin]
			mu.Unlock()
			return openTest(t, path)
		}
		var opts []Option
		if cfg.JobTTL != 0 {
			opts = append(opts, WithJobTTL(cfg.JobTTL))
		}
		if cfg.SigTTL != 0 {
			opts = append(opts, WithSigTTL(cfg.SigTTL))
		}
		path := filepath.Join(t.TempDir(), "stele.db")
		s := openTest(t, path, opts...)
		mu.Lock()
		paths[s] = path // kept for a Twin of s
		mu.Unlock()
		return s
	})
}

func benchStore(b *testing.B) *Store {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkRecordResults(b *testing.B) { storetest.BenchRecordResults(b, benchStore(b)) }
func BenchmarkRecordResultsParallel(b *testing.B) {
	b.SetParallelism(2)
	storetest.BenchRecordResultsParallel(b, benchStore(b))
}
func BenchmarkPutSigs(b *testing.B) { storetest.BenchPutSigs(b, benchStore(b)) }
func BenchmarkGetSigs(b *testing.B) { storetest.BenchGetSigs(b, benchStore(b)) }
