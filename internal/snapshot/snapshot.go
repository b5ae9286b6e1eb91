// Package snapshot keeps a process's copy of a small value read from shared
// storage (the key directory, the revocation list), re-read when it is older
// than a maximum age, by one caller at a time.
package snapshot

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Cache holds the last value read by its load function and when it was
// read. It is safe for concurrent use; the zero Cache is not usable: create
// one with New.
type Cache[T any] struct {
	load   func(context.Context) (T, error)
	maxAge time.Duration
	now    func() time.Time
	what   string // names the value in errors

	lock    chan struct{} // held while loading: one load at a time
	mu      sync.Mutex
	v       T
	fetched time.Time
	ok      bool
}

// New returns a Cache whose copy is trusted for maxAge; what names the value
// in errors ("key directory"). now is the clock (nil: time.Now).
func New[T any](what string, maxAge time.Duration, now func() time.Time, load func(context.Context) (T, error)) *Cache[T] {
	if now == nil {
		now = time.Now
	}
	return &Cache[T]{load: load, maxAge: maxAge, now: now, what: what, lock: make(chan struct{}, 1)}
}

// Peek returns the current copy, when it was read, and whether there is one;
// it never loads.
func (c *Cache[T]) Peek() (T, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v, c.fetched, c.ok
}

// Age returns how old the copy is read at time.
func (c *Cache[T]) Age(fetched time.Time) time.Duration { return c.now().Sub(fetched) }

// Get returns the copy when it is younger than the maximum age, else loads
// a new one (see Refresh).
func (c *Cache[T]) Get(ctx context.Context) (T, error) {
	v, fetched, ok := c.Peek()
	if ok && c.Age(fetched) < c.maxAge {
		return v, nil
	}
	return c.Refresh(ctx, fetched)
}

// Refresh loads a new copy unless another caller did so after seen (the
// fetch time of the copy the caller found wanting), waiting for a load in
// progress rather than starting a second one. A failed load changes nothing
// and returns the error (GetOrStale prefers the old copy).
func (c *Cache[T]) Refresh(ctx context.Context, seen time.Time) (T, error) {
	return c.refresh(ctx, seen, false)
}

// Reload loads a new copy even when another caller just did, for a caller
// that has changed the source itself: a load in progress may have read it
// before the change. It waits for that load rather than running beside it.
// A failed load changes nothing and returns the error.
func (c *Cache[T]) Reload(ctx context.Context) (T, error) {
	return c.refresh(ctx, time.Time{}, true)
}

// refresh is Refresh, loading regardless of seen when force is set.
func (c *Cache[T]) refresh(ctx context.Context, seen time.Time, force bool) (T, error) {
	var zero T
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return zero, fmt.Errorf("read %s: %w", c.what, ctx.Err())
	}
	defer func() { <-c.lock }()
	if v, fetched, ok := c.Peek(); ok && !force && fetched.After(seen) {
		return v, nil
	}
	v, err := c.load(ctx)
	if err != nil {
		return zero, fmt.Errorf("read %s: %w", c.what, err)
	}
	c.mu.Lock()
	c.v, c.fetched, c.ok = v, c.now(), true
	c.mu.Unlock()
	return v, nil
}

// GetOrStale is Get, except that when loading fails and a copy exists it
// returns that copy and trusts it for another maximum age (the source is
// unreachable: an old copy beats failing every caller). With no copy at all
// the error is returned, and so it is when ctx ended: a caller that gave up
// says nothing about the source, so the copy's age is left as it was.
func (c *Cache[T]) GetOrStale(ctx context.Context) (T, error) {
	v, err := c.Get(ctx)
	if err == nil || ctx.Err() != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ok {
		return v, err
	}
	c.fetched = c.now()
	return c.v, nil
}
