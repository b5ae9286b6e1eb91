// Package auditbatch group-commits audit-log appends for the stores.
//
// A store that keeps audit logs in a shared backend advances a log's head by
// compare-and-set: an append succeeds only if the head is still the one its
// entry was built on. N goroutines of one process racing each other that way
// would retry O(n²) times. A Batcher instead queues the appends of each log
// and lets one goroutine per busy log build them all, in order, against the
// evolving head (build is a pure function of the head, per the audit.Log
// contract) and write them with one conditional call to the backend. Only a
// conflict with another process makes it rebuild, at once, on the head the
// failed call returned (together with the appends queued meanwhile).
package auditbatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/store"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("auditbatch: store closed")

// Limits of a batch and of one entry.
const (
	// MaxBatchEntries bounds the entries written by one backend call.
	MaxBatchEntries = 256
	// MaxBatchBytes bounds the JSON bytes written by one backend call (a
	// single larger entry is written alone).
	MaxBatchBytes = 1 << 20
	// MaxEntryBytes bounds the JSON encoding of one entry; a larger one
	// fails its append with store.ErrInvalid.
	MaxEntryBytes = 8 << 20
	// maxHeadHints bounds the per-log head cache.
	maxHeadHints = 1 << 14
	// jitterAfter is the number of consecutive conflicts of one commit after
	// which the retry waits a random few microseconds (at most maxJitter)
	// before writing again; earlier retries are immediate.
	jitterAfter = 4
	maxJitter   = 200 * time.Microsecond
)

// Backend is the storage under a Batcher.
type Backend interface {
	// Head returns the current head of id's log.
	Head(ctx context.Context, id string) (audit.Head, error)
	// AppendIf appends entries (bodies[i] is entries[i].AppendJSON) to id's
	// log in one atomic step if its head is still prev, and returns the new
	// head and true. Otherwise it writes nothing and returns the current
	// head and false. entries is non-empty, entries[0] extends prev and each
	// later entry the one before.
	AppendIf(ctx context.Context, id string, prev audit.Head, entries []audit.Entry, bodies [][]byte) (audit.Head, bool, error)
}

// Batcher queues appends per log and commits them in batches. It is safe
// for concurrent use. Each busy log has one worker goroutine, which exits
// when the log's queue is empty; Close stops them all.
type Batcher struct {
	b    Backend
	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	queues map[string]*queue
	heads  map[string]audit.Head // last head seen per log: a hint, checked by AppendIf

	commits, conflicts, entries atomic.Uint64
	waits                       atomic.Uint64
	waited                      atomic.Int64 // ns
}

// Stats counts a Batcher's backend writes since New.
type Stats struct {
	// Commits is the number of AppendIf calls that appended.
	Commits uint64
	// Conflicts is the number of AppendIf calls that found the head moved
	// by another process (each is followed by a rebuild and a retry).
	Conflicts uint64
	// Entries is the number of entries appended.
	Entries uint64
	// BackoffWaits and Backoff are the waits between retries after
	// consecutive conflicts, and their total requested duration.
	BackoffWaits uint64
	Backoff      time.Duration
}

// Stats returns the counts so far.
func (b *Batcher) Stats() Stats {
	return Stats{Commits: b.commits.Load(), Conflicts: b.conflicts.Load(), Entries: b.entries.Load(),
		BackoffWaits: b.waits.Load(), Backoff: time.Duration(b.waited.Load())}
}

type queue struct{ pending []*request }

// take moves up to n of the pending requests, oldest first, onto the end of
// dst and returns it. The caller holds the Batcher's mu.
func (q *queue) take(dst []*request, n int) []*request {
	n = min(n, len(q.pending))
	dst = append(dst, q.pending[:n]...)
	clear(q.pending[:n])
	q.pending = q.pending[n:]
	return dst
}

type request struct {
	ctx   context.Context
	build func(audit.Head) (audit.Entry, error)
	done  chan result // buffered: the worker never blocks on a caller that left
}

type result struct {
	e   audit.Entry
	err error
}

// New returns a Batcher writing through b.
func New(b Backend) *Batcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &Batcher{b: b, base: ctx, stop: cancel, queues: make(map[string]*queue), heads: make(map[string]audit.Head)}
}

// Close fails the queued appends with ErrClosed, cancels the backend calls
// in flight and waits for the workers to exit. A second call is harmless.
func (b *Batcher) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.stop()
	b.wg.Wait()
	if st := b.Stats(); st.Commits > 0 {
		slog.Debug("audit batcher closed", "commits", st.Commits, "conflicts", st.Conflicts, "entries", st.Entries)
	}
}

// Forget drops the cached head of id (after a reset or an outside change);
// a stale hint only costs one failed AppendIf.
func (b *Batcher) Forget(id string) {
	b.mu.Lock()
	delete(b.heads, id)
	b.mu.Unlock()
}

// Append is audit.Log.Append through the batch of id's log. build is called
// by the log's worker goroutine, with the head the entry will extend; it may
// be called again with a newer head after a conflict with another process.
// A panic in build fails this append only. The entry must have Index
// prev.Len and PreviousHash prev.Hash (else audit.ErrHeadMoved) and carry
// its hash as 64 hex digits (else store.ErrInvalid); an error from build is
// returned as it is, and none of these affect other appends of the batch.
//
// When ctx ends before the entry is written Append returns ctx's error; if
// the entry was already in a backend call it may still have been appended.
func (b *Batcher) Append(ctx context.Context, id string, build func(audit.Head) (audit.Entry, error)) (audit.Entry, error) {
	if err := ctx.Err(); err != nil {
		return audit.Entry{}, fmt.Errorf("append to audit log %s: %w", id, err)
	}
	r := &request{ctx: ctx, build: build, done: make(chan result, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return audit.Entry{}, fmt.Errorf("append to audit log %s: %w", id, ErrClosed)
	}
	q := b.queues[id]
	if q == nil {
		q = &queue{}
		b.queues[id] = q
		b.wg.Add(1)
		go b.run(id, q)
	}
	q.pending = append(q.pending, r)
	b.mu.Unlock()
	select {
	case res := <-r.done:
		return res.e, res.err
	case <-ctx.Done():
		return audit.Entry{}, fmt.Errorf("append to audit log %s: %w", id, ctx.Err())
	}
}

// run commits the queue of id until it is empty.
func (b *Batcher) run(id string, q *queue) {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		if len(q.pending) == 0 {
			delete(b.queues, id)
			b.mu.Unlock()
			return
		}
		batch := q.take(nil, MaxBatchEntries)
		head, known := b.heads[id]
		closed := b.closed
		b.mu.Unlock()

		if closed {
			for _, r := range batch {
				r.done <- result{err: fmt.Errorf("append to audit log %s: %w", id, ErrClosed)}
			}
			continue
		}
		rest := b.commit(id, q, batch, head, known)
		if len(rest) > 0 {
			b.mu.Lock()
			q.pending = append(rest, q.pending...)
			b.mu.Unlock()
		}
	}
}

// built is a request whose entry is ready to write.
type built struct {
	r    *request
	e    audit.Entry
	body []byte
}

// commit writes batch, returning the requests left for a later batch (those
// beyond the byte bound). Every other request gets its result.
//
// A conflict (another process moved the head) is retried at once on the head
// the failed AppendIf returned, which is current as of that call: sleeping
// first would only let the other process move it again. The retry also takes
// the requests queued on q meanwhile, so a log contended by several
// processes is written in ever larger batches rather than ever more calls.
// Only after jitterAfter consecutive conflicts does a retry wait, a few
// microseconds at random, to break a lockstep between processes.
func (b *Batcher) commit(id string, q *queue, batch []*request, head audit.Head, known bool) (rest []*request) {
	ctx := b.base
	fail := func(rs []*request, err error) {
		for _, r := range rs {
			r.done <- result{err: err}
		}
	}
	if !known {
		h, err := b.b.Head(ctx, id)
		if err != nil {
			fail(batch, fmt.Errorf("append to audit log %s: %w", id, b.cause(err)))
			return nil
		}
		head = h
	}
	for attempt := 0; ; attempt++ {
		var ok []built
		ok, rest = b.build(id, batch, head)
		if len(ok) == 0 {
			return rest
		}
		entries := make([]audit.Entry, len(ok))
		bodies := make([][]byte, len(ok))
		for i := range ok {
			entries[i], bodies[i] = ok[i].e, ok[i].body
		}
		cur, appended, err := b.b.AppendIf(ctx, id, head, entries, bodies)
		if err != nil {
			b.Forget(id)
			for _, x := range ok {
				x.r.done <- result{err: fmt.Errorf("append to audit log %s: %w", id, b.cause(err))}
			}
			return rest
		}
		b.mu.Lock()
		if len(b.heads) >= maxHeadHints {
			clear(b.heads)
		}
		b.heads[id] = cur
		b.mu.Unlock()
		if appended {
			b.commits.Add(1)
			b.entries.Add(uint64(len(ok)))
			for _, x := range ok {
				x.r.done <- result{e: x.e}
			}
			return rest
		}
		// Another process moved the head: rebuild the same requests (and
		// the ones left over, then those queued since, in order) on the
		// current head.
		b.conflicts.Add(1)
		slog.Debug("audit append conflict", "log", id, "attempt", attempt+1, "entries", len(ok), "head", cur.Len)
		head = cur
		next := make([]*request, 0, len(ok)+len(rest))
		for _, x := range ok {
			next = append(next, x.r)
		}
		batch, rest = append(next, rest...), nil
		if len(batch) < MaxBatchEntries {
			b.mu.Lock()
			batch = q.take(batch, MaxBatchEntries-len(batch))
			b.mu.Unlock()
		}
		if attempt+1 >= jitterAfter {
			d := time.Duration(rand.Int64N(int64(maxJitter)))
			b.waits.Add(1)
			b.waited.Add(int64(d))
			jitter(ctx, d)
		}
	}
}

// jitter waits d or until ctx ends.
func jitter(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// cause returns ErrClosed for an error caused by Close.
func (b *Batcher) cause(err error) error {
	if b.base.Err() != nil {
		return fmt.Errorf("%w (%w)", ErrClosed, err)
	}
	return err
}

// build builds the entries of batch on head in order, failing the requests
// whose build fails or whose context ended, up to the byte bound; it returns
// the built ones and the rest.
func (b *Batcher) build(id string, batch []*request, head audit.Head) (ok []built, rest []*request) {
	size := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- result{err: fmt.Errorf("append to audit log %s: %w", id, err)}
			continue
		}
		if err := b.base.Err(); err != nil {
			r.done <- result{err: fmt.Errorf("append to audit log %s: %w", id, ErrClosed)}
			continue
		}
		if len(ok) > 0 && size >= MaxBatchBytes {
			return ok, batch[i:]
		}
		e, err := safeBuild(r.build, head)
		if err != nil {
			r.done <- result{err: err}
			continue
		}
		if e.Index != head.Len || e.PreviousHash != head.Hash {
			r.done <- result{err: fmt.Errorf("append to audit log %s: entry %d links to %.12s…, head is %d at %.12s…: %w",
				id, e.Index, e.PreviousHash, head.Len, head.Hash, audit.ErrHeadMoved)}
			continue
		}
		if !IsHash(e.Hash) {
			r.done <- result{err: fmt.Errorf("append to audit log %s: entry %d: hash %q is not 64 lowercase hex digits: %w",
				id, e.Index, e.Hash, store.ErrInvalid)}
			continue
		}
		body := e.AppendJSON(nil)
		if len(body) > MaxEntryBytes {
			r.done <- result{err: fmt.Errorf("append to audit log %s: entry %d is %d bytes, over %d: %w",
				id, e.Index, len(body), MaxEntryBytes, store.ErrInvalid)}
			continue
		}
		ok = append(ok, built{r: r, e: e, body: body})
		size += len(body)
		head = audit.Head{Len: head.Len + 1, Hash: e.Hash}
	}
	return ok, nil
}

// safeBuild calls build, turning a panic into an error.
func safeBuild(build func(audit.Head) (audit.Entry, error), head audit.Head) (e audit.Entry, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("audit entry builder panicked: %v", p)
		}
	}()
	return build(head)
}

// IsHash reports whether h is 64 lowercase hex digits, the form of entry
// hashes (and audit.GenesisHash).
func IsHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
