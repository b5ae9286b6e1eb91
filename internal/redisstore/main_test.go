package redisstore

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/store/storetest"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

// testRedisURL is the server of this package's tests: STELE_TEST_REDIS_URL,
// or a redis-server child started by TestMain. Tests keep apart with unique
// key prefixes.
var testRedisURL string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	testRedisURL = os.Getenv(redistest.EnvURL)
	var srv *redistest.Server
	if testRedisURL == "" {
		var err error
		srv, err = redistest.Launch(redistest.Options{})
		if err != nil {
			fmt.Fprintf(os.Stderr, "redisstore tests: %v\n", err)
			return 1
		}
		testRedisURL = srv.URL()
	}
	code := m.Run()
	if srv != nil {
		srv.Stop()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			return 1
		}
	}
	return code
}

// newTestStore returns a Store on client with a unique key prefix and the
// TTLs of cfg; the client is closed at cleanup.
func newTestStore(t *testing.T, client redis.UniversalClient, cfg storetest.Config, opts ...Option) *Store {
	t.Helper()
	opts = append([]Option{WithKeyPrefix(redistest.KeyPrefix(t))}, opts...)
	if cfg.JobTTL != 0 {
		opts = append(opts, WithJobTTL(cfg.JobTTL))
	}
	if cfg.SigTTL != 0 {
		opts = append(opts, WithSigTTL(cfg.SigTTL))
	}
	s, err := New(client, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		client.Close()
	})
	return s
}

func newClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	c, err := NewClient(testRedisURL)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) store.Store {
		return newTestStore(t, newClient(t), cfg, twinOf(cfg)...)
	})
}

// twinOf returns the options giving a new Store the data of cfg.Twin.
func twinOf(cfg storetest.Config) []Option {
	if tw, ok := cfg.Twin.(*Store); ok {
		return []Option{WithKeyPrefix(tw.opts.prefix)}
	}
	return nil
}

// TestStoreCluster runs the suite through a ClusterClient on a one-node
// cluster, which refuses any command or script whose keys span slots.
func TestStoreCluster(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{Cluster: true})
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) store.Store {
		c, err := NewClient("redis+cluster://" + srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(*redis.ClusterClient); !ok {
			t.Fatalf("NewClient(redis+cluster://…) = %T, want *redis.ClusterClient", c)
		}
		return newTestStore(t, c, cfg, twinOf(cfg)...)
	})
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testRedisURL, WithKeyPrefix(redistest.KeyPrefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Open owns its client: after Close it is unusable.
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func benchStore(b *testing.B) *Store {
	c, err := NewClient(testRedisURL)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(c, WithKeyPrefix(redistest.KeyPrefix(b)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return s
}

func BenchmarkRecordResults(b *testing.B) { storetest.BenchRecordResults(b, benchStore(b)) }
func BenchmarkRecordResultsParallel(b *testing.B) {
	b.SetParallelism(2)
	storetest.BenchRecordResultsParallel(b, benchStore(b))
}
func BenchmarkPutSigs(b *testing.B) { storetest.BenchPutSigs(b, benchStore(b)) }
func BenchmarkGetSigs(b *testing.B) { storetest.BenchGetSigs(b, benchStore(b)) }
