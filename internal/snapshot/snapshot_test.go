package snapshot_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/snapshot"
)

// clock is a settable test clock.
type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time        { return time.UnixMilli(c.ms.Load()) }
func (c *clock) add(d time.Duration)   { c.ms.Add(d.Milliseconds()) }
func newClock() *clock                 { c := &clock{}; c.ms.Store(1_700_000_000_000); return c }
func ctx(t *testing.T) context.Context { return t.Context() }

// TestGetLoadsOncePerAge: the copy is reused while young, reloaded once it
// is old, and concurrent callers of a stale copy share one load.
func TestGetLoadsOncePerAge(t *testing.T) {
	clk := newClock()
	var loads atomic.Int64
	release := make(chan struct{})
	c := snapshot.New("thing", time.Minute, clk.now, func(context.Context) (int64, error) {
		n := loads.Add(1)
		if n == 2 {
			<-release
		}
		return n, nil
	})
	if v, err := c.Get(ctx(t)); err != nil || v != 1 {
		t.Fatalf("first Get = %d, %v", v, err)
	}
	clk.add(59 * time.Second)
	if v, _ := c.Get(ctx(t)); v != 1 || loads.Load() != 1 {
		t.Fatalf("young copy: %d after %d loads", v, loads.Load())
	}
	clk.add(time.Second)
	var wg sync.WaitGroup
	got := make([]int64, 8)
	for i := range got {
		wg.Go(func() { got[i], _ = c.Get(ctx(t)) })
	}
	for loads.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if loads.Load() != 2 {
		t.Fatalf("%d loads for 8 concurrent callers of a stale copy, want 2 in all", loads.Load())
	}
	for i, v := range got {
		if v != 2 {
			t.Errorf("caller %d got %d, want the new copy 2", i, v)
		}
	}
}

// TestFailures: a failed load keeps the old copy and names the value;
// GetOrStale serves the old copy instead of the error, but with no copy at
// all it fails.
func TestFailures(t *testing.T) {
	clk := newClock()
	boom := errors.New("boom")
	fail := atomic.Bool{}
	fail.Store(true)
	c := snapshot.New("revocation list", time.Second, clk.now, func(context.Context) (string, error) {
		if fail.Load() {
			return "", boom
		}
		return "v1", nil
	})
	if _, err := c.GetOrStale(ctx(t)); !errors.Is(err, boom) {
		t.Fatalf("no copy: %v, want boom", err)
	}
	fail.Store(false)
	if v, err := c.Get(ctx(t)); v != "v1" || err != nil {
		t.Fatalf("Get = %q, %v", v, err)
	}
	fail.Store(true)
	clk.add(2 * time.Second)
	if _, err := c.Get(ctx(t)); !errors.Is(err, boom) || err.Error() != "read revocation list: boom" {
		t.Fatalf("Get with a failing source: %v", err)
	}
	if v, err := c.GetOrStale(ctx(t)); v != "v1" || err != nil {
		t.Fatalf("GetOrStale with a failing source = %q, %v; want the old copy", v, err)
	}
	if v, _, ok := c.Peek(); !ok || v != "v1" {
		t.Fatalf("Peek = %q, %v", v, ok)
	}
}

// TestGetOrStaleCancelled: a caller whose context ended gets its error, and
// the old copy is not trusted for longer on its account: the next caller,
// with the source back, gets a fresh load.
func TestGetOrStaleCancelled(t *testing.T) {
	clk := newClock()
	var n atomic.Int64
	c := snapshot.New("revocation list", time.Second, clk.now, func(ctx context.Context) (int64, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return n.Add(1), nil
	})
	if v, err := c.GetOrStale(ctx(t)); v != 1 || err != nil {
		t.Fatalf("first GetOrStale = %d, %v", v, err)
	}
	clk.add(2 * time.Second)
	cancelled, cancel := context.WithCancel(ctx(t))
	cancel()
	if _, err := c.GetOrStale(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetOrStale with a cancelled context: %v, want context.Canceled", err)
	}
	if v, err := c.GetOrStale(ctx(t)); v != 2 || err != nil {
		t.Fatalf("GetOrStale after a cancelled caller = %d, %v; want a fresh load (2)", v, err)
	}
}

// TestRefreshForces: Refresh reloads unless someone loaded after seen, and
// gives up when its context ends while another load holds the lock.
func TestRefreshForces(t *testing.T) {
	clk := newClock()
	var n atomic.Int64
	c := snapshot.New("thing", time.Hour, clk.now, func(context.Context) (int64, error) { return n.Add(1), nil })
	c.Get(ctx(t))
	_, fetched, _ := c.Peek()
	clk.add(time.Millisecond)
	if v, _ := c.Refresh(ctx(t), fetched); v != 2 {
		t.Fatalf("Refresh = %d, want a new load", v)
	}
	if v, _ := c.Refresh(ctx(t), fetched); v != 2 {
		t.Fatalf("Refresh after another caller's load = %d, want that load's 2", v)
	}
	blocked := snapshot.New("thing", time.Hour, clk.now, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	bctx, cancel := context.WithCancel(context.Background())
	go blocked.Get(bctx)
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	time.Sleep(5 * time.Millisecond)
	if _, err := blocked.Get(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get behind a stuck load: %v, want the context's error", err)
	}
	cancel()
}

// TestReloadAfterLoadInProgress: Reload loads again after a load that was
// in progress when it was called, since that load may have read the source
// before the caller changed it.
func TestReloadAfterLoadInProgress(t *testing.T) {
	clk := newClock()
	var n atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	c := snapshot.New("thing", time.Hour, clk.now, func(context.Context) (int64, error) {
		if v := n.Add(1); v == 1 {
			close(started)
			<-release
			return v, nil
		}
		return n.Load(), nil
	})
	go c.Get(ctx(t))
	<-started
	done := make(chan int64)
	go func() {
		v, _ := c.Reload(ctx(t))
		done <- v
	}()
	time.Sleep(5 * time.Millisecond)
	close(release)
	if v := <-done; v != 2 {
		t.Fatalf("Reload = %d, want a load of its own after the one in progress", v)
	}
	if v, _ := c.Get(ctx(t)); v != 2 || n.Load() != 2 {
		t.Fatalf("Get after Reload = %d after %d loads, want the reloaded 2", v, n.Load())
	}
}
