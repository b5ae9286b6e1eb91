package redistest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

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

// TestStartThreeNodeCluster checks a three-master cluster: every node owns
// slots, a cluster client routes keys to the node the cluster names for
// them, and multi-key commands still need one slot.
func TestStartThreeNodeCluster(t *testing.T) {
	cl := StartCluster(t, ClusterOptions{})
	if len(cl.Nodes) != 3 {
		t.Fatalf("%d nodes, want 3", len(cl.Nodes))
	}
	ctx := context.Background()
	o, err := redis.ParseClusterURL(strings.Replace(cl.URL(), "redis+cluster://", "redis://", 1))
	if err != nil {
		t.Fatalf("URL %s: %v", cl.URL(), err)
	}
	if len(o.Addrs) != 3 {
		t.Fatalf("URL %s names %v, want the three nodes", cl.URL(), o.Addrs)
	}
	c := redis.NewClusterClient(o)
	defer c.Close()
	owners := map[string]bool{}
	for i := range 30 {
		key := fmt.Sprintf("k%d", i)
		if err := c.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		n, err := cl.NodeFor(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		owners[n.Addr] = true
		direct := redis.NewClient(&redis.Options{Addr: n.Addr})
		got, err := direct.Get(ctx, key).Int()
		direct.Close()
		if err != nil || got != i {
			t.Errorf("GET %s on its node %s = %d, %v; want %d", key, n.Addr, got, err, i)
		}
	}
	if len(owners) != 3 {
		t.Errorf("30 keys landed on %d nodes, want all 3", len(owners))
	}
	err = c.Do(ctx, "MSET", "k0", "1", "k1", "2").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		t.Fatalf("MSET across slots: err = %v, want CROSSSLOT", err)
	}
	cl.Stop()
	cl.Stop() // harmless
	for _, n := range cl.Nodes {
		if conn, err := net.Dial("tcp", n.Addr); err == nil {
			conn.Close()
			t.Errorf("node %s still listens after Stop", n.Addr)
		}
	}
}

func TestLaunchClusterMissingCLI(t *testing.T) {
	_, err := LaunchCluster(ClusterOptions{CLI: "redis-cli-that-does-not-exist"})
	if err == nil || !strings.Contains(err.Error(), "not found on PATH") || !strings.Contains(err.Error(), "redis-tools") {
		t.Fatalf("err = %v, want a not-found message naming redis-tools", err)
	}
	_, err = LaunchSentinel(SentinelOptions{Binary: "redis-server-that-does-not-exist"})
	if err == nil || !strings.Contains(err.Error(), "not found on PATH") {
		t.Fatalf("sentinel: err = %v, want a not-found message", err)
	}
}

// TestStartSentinel checks that a client given only the sentinel reaches the
// primary, and follows it through a fail-over.
func TestStartSentinel(t *testing.T) {
	s := StartSentinel(t, SentinelOptions{Replicas: 1})
	if s.MasterName != "mymaster" || !strings.HasSuffix(s.URL(), "?master_name=mymaster") {
		t.Fatalf("master name %q, URL %s", s.MasterName, s.URL())
	}
	ctx := context.Background()
	o, err := redis.ParseFailoverURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewFailoverClient(o)
	defer c.Close()
	if err := c.Set(ctx, "k", "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	direct := redis.NewClient(&redis.Options{Addr: s.Primary.Addr})
	got, err := direct.Get(ctx, "k").Result()
	direct.Close()
	if err != nil || got != "v1" {
		t.Fatalf("GET k on the primary = %q, %v; want v1", got, err)
	}
	if err := c.Do(ctx, "WAIT", 1, 2000).Err(); err != nil {
		t.Fatal(err)
	}
	old := s.Primary
	promoted, err := s.Failover()
	if err != nil {
		t.Fatal(err)
	}
	if promoted == old || s.Primary != promoted || s.Replicas[0] != old {
		t.Fatalf("after Failover: primary %s, replicas %v; old primary %s", s.Primary.Addr, s.Replicas, old.Addr)
	}
	// The former primary is a replica now: it refuses writes.
	direct = redis.NewClient(&redis.Options{Addr: old.Addr, MaxRetries: -1})
	err = direct.Set(ctx, "k", "lost", 0).Err()
	direct.Close()
	if err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
		t.Fatalf("SET on the former primary: err = %v, want READONLY", err)
	}
	// The client follows the sentinel to the new primary (once it has
	// heard of the switch; a write meanwhile fails and is retried).
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := c.Set(ctx, "k", "v2", 0).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SET after the fail-over: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	direct = redis.NewClient(&redis.Options{Addr: promoted.Addr})
	defer direct.Close()
	if got, err := direct.Get(ctx, "k").Result(); err != nil || got != "v2" {
		t.Fatalf("GET k on the new primary = %q, %v; want v2", got, err)
	}
}
