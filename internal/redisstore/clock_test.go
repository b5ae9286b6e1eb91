package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store/storetest"
	"github.com/stele-go/stele/internal/testutil/redistest"
	"github.com/stele-go/stele/internal/testutil/syncbuf"
)

// skewedClock is a host clock off the real one by a settable amount.
type skewedClock struct{ skew atomic.Int64 }

func (s *skewedClock) now() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }

// near reports whether a and b are within d of each other.
func near(a, b time.Time, d time.Duration) bool { return a.Sub(b).Abs() <= d }

// TestClockFollowsServer runs a Clock on a host clock an hour fast: Now
// gives the server's time (the test's own host clock, the server's being on
// this machine), and Run catches up with a host clock that jumps.
func TestClockFollowsServer(t *testing.T) {
	s := newTestStore(t, newClient(t), storetest.Config{})
	var logs syncbuf.Buffer
	host := &skewedClock{}
	host.skew.Store(int64(time.Hour))
	c := s.NewClock(host.now, slog.New(slog.NewTextHandler(&logs, nil)))

	if off, ok := c.Offset(); ok || off != 0 {
		t.Fatalf("Offset before Sync = %v, %v; want 0, false", off, ok)
	}
	ctx := context.Background()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	off, ok := c.Offset()
	if !ok || (off+time.Hour).Abs() > time.Second {
		t.Fatalf("Offset = %v, %v; want about -1h, true", off, ok)
	}
	if now := c.Now(); !near(now, time.Now(), time.Second) {
		t.Errorf("Now = %v, want about %v (the server's time)", now, time.Now())
	}
	if !strings.Contains(logs.String(), "off the Redis server's") {
		t.Errorf("no warning of an hour's offset; logs:\n%s", logs.String())
	}

	// The host clock is set right: Run measures again and follows.
	host.skew.Store(0)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(rctx, 10*time.Millisecond) }()
	defer func() { stop(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		off, _ = c.Offset()
		if off.Abs() < time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run kept offset %v after the host clock was set right", off)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if now := c.Now(); !near(now, time.Now(), time.Second) {
		t.Errorf("Now after resync = %v, want about %v", now, time.Now())
	}
	if !strings.Contains(logs.String(), "agrees with the Redis server's again") {
		t.Errorf("no notice that the clocks agree again; logs:\n%s", logs.String())
	}
}

// TestClockServerDown: a failed Sync is ErrClockSync, keeps the last
// offset, and does not hang past its context.
func TestClockServerDown(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{})
	cl := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	s := newTestStore(t, cl, storetest.Config{})
	host := &skewedClock{}
	host.skew.Store(int64(-time.Minute))
	c := s.NewClock(host.now, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := c.Offset()
	srv.Stop()
	host.skew.Store(0)
	err := c.Sync(ctx)
	if !errors.Is(err, ErrClockSync) {
		t.Fatalf("Sync on a stopped server: err = %v, want ErrClockSync", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Sync on a stopped server ran into the deadline")
	}
	if after, ok := c.Offset(); after != before || !ok {
		t.Errorf("Offset after a failed Sync = %v, %v; want the last one, %v, true", after, ok, before)
	}
}

// TestClockCluster: TIME goes to a node of a Cluster through the
// ClusterClient.
func TestClockCluster(t *testing.T) {
	srv := redistest.StartServer(t, redistest.Options{Cluster: true})
	cl, err := NewClient("redis+cluster://" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, cl, storetest.Config{})
	host := &skewedClock{}
	host.skew.Store(int64(-3 * time.Hour))
	c := s.NewClock(host.now, nil)
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if now := c.Now(); !near(now, time.Now(), time.Second) {
		t.Errorf("Now = %v, want about %v", now, time.Now())
	}
}

// TestClockClusterOneNode: on a Cluster of several masters, whose hosts'
// clocks may differ, every sample of every Sync reads the clock of one
// node, the one holding the queue leases (whose scripts read TIME there),
// so that every process follows the same server's clock. A keyless TIME
// went to a node chosen at random for each call.
func TestClockClusterOneNode(t *testing.T) {
	ctx := t.Context()
	cl := redistest.StartCluster(t, redistest.ClusterOptions{})
	c, err := NewClient(cl.URL())
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, c, storetest.Config{})
	want, err := cl.NodeFor(ctx, s.leaseKeys()[0])
	if err != nil {
		t.Fatal(err)
	}
	timeCalls := func(n *redistest.Server) int {
		t.Helper()
		nc := redis.NewClient(&redis.Options{Addr: n.Addr})
		defer nc.Close()
		info, err := nc.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(info) {
			if rest, ok := strings.CutPrefix(line, "cmdstat_time:calls="); ok {
				calls, _, _ := strings.Cut(rest, ",")
				var k int
				if _, err := fmt.Sscan(calls, &k); err != nil {
					t.Fatalf("%s: %q: %v", n.Addr, line, err)
				}
				return k
			}
		}
		return 0
	}
	before := make([]int, len(cl.Nodes))
	for i, n := range cl.Nodes {
		before[i] = timeCalls(n)
	}
	clock := s.NewClock(nil, slog.New(slog.DiscardHandler))
	for range 5 {
		if err := clock.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range cl.Nodes {
		calls := timeCalls(n) - before[i]
		switch {
		case n == want && calls < 5*ClockSamples:
			t.Errorf("node %s, of the queue leases: %d TIME calls, want %d", n.Addr, calls, 5*ClockSamples)
		case n != want && calls != 0:
			t.Errorf("node %s: %d TIME calls, want none (the clock is the queue leases' node's, %s)", n.Addr, calls, want.Addr)
		}
	}
}
