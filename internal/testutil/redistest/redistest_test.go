package redistest

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartServer(t *testing.T) {
	s := StartServer(t, Options{})
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET k = %q, %v; want v", got, err)
	}
	s.Stop()
	s.Stop() // harmless
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("server still answers after Stop")
	}
}

func TestStartCluster(t *testing.T) {
	s := StartServer(t, Options{Cluster: true})
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{s.Addr}})
	defer c.Close()
	ctx := context.Background()
	// Keys in different slots are refused in one command; one hash tag is fine.
	err := c.Do(ctx, "MSET", "a", "1", "b", "2").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		t.Fatalf("MSET across slots: err = %v, want CROSSSLOT", err)
	}
	if err := c.Do(ctx, "MSET", "{t}a", "1", "{t}b", "2").Err(); err != nil {
		t.Fatalf("MSET within one slot: %v", err)
	}
}

func TestLaunchMissingBinary(t *testing.T) {
	_, err := Launch(Options{Binary: "redis-server-that-does-not-exist"})
	if err == nil || !strings.Contains(err.Error(), "not found on PATH") {
		t.Fatalf("err = %v, want a not-found message", err)
	}
}

func TestKeyPrefixUnique(t *testing.T) {
	a, b := KeyPrefix(t), KeyPrefix(t)
	if a == b || !strings.HasPrefix(a, "stele-test-") {
		t.Fatalf("prefixes %q and %q", a, b)
	}
}
