package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Clock tells the time by the Redis server's clock, so that every process
// of a cluster decides by one clock whatever its host's says: whether a
// covenant has expired or is active yet, when a rate-limit window ends, the
// timestamps of audit entries and of what the signers build. (The queue
// leases' scripts read the server's clock themselves.)
//
// A Clock measures the offset between the host's clock and the server's
// (on a Cluster, the node holding the queue leases, so that every process
// and the leases' scripts follow one node's clock) with the TIME command
// (Sync, then every resync interval in Run) and adds it to the host's
// clock; it makes no call of its own in Now. Between
// syncs it follows the host's clock, so a host clock that jumps is caught
// up with at the next sync. Until the first Sync succeeds the offset is 0.
//
// A Clock is safe for concurrent use.
type Clock struct {
	s      *Store
	local  func() time.Time
	log    *slog.Logger
	offset atomic.Int64 // nanoseconds to add to local
	synced atomic.Bool

	mu       sync.Mutex // serialises Sync
	lastWarn time.Duration
}

// ClockSamples is how many TIME round trips one Sync makes; the one with
// the shortest round trip gives the offset.
const ClockSamples = 3

// MaxClockRoundTrip bounds the round trip of a sample Sync accepts: its
// error is at most half of it.
const MaxClockRoundTrip = time.Second

// ClockWarnOffset is the offset from which a Clock logs a warning that the
// host's clock is off the server's (once per change of that size).
const ClockWarnOffset = time.Second

// ErrClockSync reports that no TIME sample was good enough to set the
// offset.
var ErrClockSync = errors.New("redisstore: clock sync failed")

// NewClock returns a Clock following s's server by correcting host, the
// host's clock (nil: time.Now; tests pass a skewed one), and logging to log
// (nil: slog.Default()). Call Sync before relying on it, and Run to keep
// it synced.
func (s *Store) NewClock(host func() time.Time, log *slog.Logger) *Clock {
	if host == nil {
		host = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Clock{s: s, local: host, log: log}
}

// Now returns the server's current time, as last measured. The result
// carries the host's monotonic reading, so durations between two calls are
// those of the host's monotonic clock.
func (c *Clock) Now() time.Time {
	return c.local().Add(time.Duration(c.offset.Load()))
}

// Offset returns how far the server's clock is ahead of the host's (behind
// when negative), as last measured, and whether any Sync has succeeded.
func (c *Clock) Offset() (time.Duration, bool) {
	return time.Duration(c.offset.Load()), c.synced.Load()
}

// Sync measures the offset now: ClockSamples TIME calls, keeping the one
// with the shortest round trip and taking the server's reading as the
// midpoint of it. On error the previous offset stays.
func (c *Clock) Sync(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// bestRTT < 0: no sample kept yet.
	best, bestRTT := time.Duration(0), time.Duration(-1)
	var errs []error
	for range ClockSamples {
		t0 := c.local()
		srv, err := c.s.serverTime(ctx)
		t1 := c.local()
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		rtt := t1.Sub(t0)
		if rtt < 0 || rtt > MaxClockRoundTrip {
			errs = append(errs, fmt.Errorf("round trip %v", rtt))
			continue
		}
		if bestRTT < 0 || rtt < bestRTT {
			// The host's reading at the midpoint of the round trip, on
			// the wall clock (Round(0) drops the monotonic reading, which
			// Sub would otherwise use against srv's absent one).
			mid := t0.Add(rtt / 2).Round(0)
			best, bestRTT = srv.Sub(mid), rtt
		}
	}
	if bestRTT < 0 {
		return fmt.Errorf("%w: %w", ErrClockSync, errors.Join(errs...))
	}
	c.offset.Store(int64(best))
	c.synced.Store(true)
	if d := (best - c.lastWarn).Abs(); d >= ClockWarnOffset {
		c.lastWarn = best
		if best.Abs() >= ClockWarnOffset {
			c.log.Warn("this host's clock is off the Redis server's; decisions follow the server's",
				"offset", best.Round(time.Millisecond).String(), "round_trip", bestRTT.String())
		} else {
			c.log.Info("this host's clock agrees with the Redis server's again", "offset", best.Round(time.Millisecond).String())
		}
	}
	return nil
}

// timeScript returns the server's TIME. Run with a key, it reads the clock
// of the node holding that key's slot, where a keyless TIME goes to any
// node of a Cluster. KEYS: the key whose node answers.
var timeScript = redis.NewScript(`return redis.call('TIME')`)

// serverTime reads the clock of the server every process of the store
// follows: on a Cluster, whose nodes' hosts may disagree, the node holding
// the queue leases, whose scripts read their deadlines from its clock.
func (s *Store) serverTime(ctx context.Context) (time.Time, error) {
	v, err := timeScript.Run(ctx, s.c, s.leaseKeys()[:1]).StringSlice()
	if err != nil {
		return time.Time{}, fmt.Errorf("redisstore: TIME: %w", err)
	}
	if len(v) != 2 {
		return time.Time{}, fmt.Errorf("redisstore: TIME answered %q", v)
	}
	sec, err1 := strconv.ParseInt(v[0], 10, 64)
	usec, err2 := strconv.ParseInt(v[1], 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("redisstore: TIME answered %q", v)
	}
	return time.Unix(sec, usec*int64(time.Microsecond)), nil
}

// DefaultClockResync is how often Run measures the offset again.
const DefaultClockResync = 30 * time.Second

// Run syncs the clock every interval (DefaultClockResync when not
// positive) until ctx ends; a failed sync is logged and retried at the
// next tick, the last offset staying in use.
func (c *Clock) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultClockResync
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.Sync(sctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.log.Warn("could not read the Redis server's clock; keeping the last offset", "err", err)
		}
	}
}
