package auditbatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
)

// memBackend is a Backend in memory shared by several Batchers, as a
// shared store is by several processes. steal, when positive, makes that
// many AppendIf calls fail as if another process had appended an entry just
// before each.
//
// hook, if set, is called first by every AppendIf, outside the lock, with
// the number of the call (from 1) and of its entries: it may block, fail the
// call or panic.
type memBackend struct {
	mu      sync.Mutex
	entries []audit.Entry
	steal   int
	calls   int

	hook  func(ctx context.Context, call, n int) error
	hooks atomic.Int64
}

func (m *memBackend) head() audit.Head {
	if len(m.entries) == 0 {
		return audit.Head{Hash: audit.GenesisHash}
	}
	return audit.Head{Len: len(m.entries), Hash: m.entries[len(m.entries)-1].Hash}
}

func (m *memBackend) Head(ctx context.Context, id string) (audit.Head, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.head(), nil
}

func (m *memBackend) AppendIf(ctx context.Context, id string, prev audit.Head, entries []audit.Entry, bodies [][]byte) (audit.Head, bool, error) {
	if m.hook != nil {
		if err := m.hook(ctx, int(m.hooks.Add(1)), len(entries)); err != nil {
			return audit.Head{}, false, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.steal > 0 {
		m.steal--
		e, _ := entry("other")(m.head())
		m.entries = append(m.entries, e)
		return m.head(), false, nil
	}
	if m.head() != prev {
		return m.head(), false, nil
	}
	m.entries = append(m.entries, entries...)
	return m.head(), true, nil
}

func entry(action string) func(audit.Head) (audit.Entry, error) {
	return func(prev audit.Head) (audit.Entry, error) {
		e := audit.Entry{
			Index:        prev.Len,
			Timestamp:    "2026-03-14T15:09:26.535Z",
			Action:       action,
			Resource:     "/r",
			Result:       audit.Result{Permitted: true, Severity: "low"},
			Outcome:      audit.Executed,
			PreviousHash: prev.Hash,
		}
		return e.Seal(), nil
	}
}

// TestConflictRetriesAtOnce checks that an append which keeps losing the
// head to another process retries on the head it was given, without the
// millisecond back-off that let the other process move the head again.
func TestConflictRetriesAtOnce(t *testing.T) {
	const conflicts = 20
	m := &memBackend{steal: conflicts}
	b := New(m)
	defer b.Close()
	e, err := b.Append(context.Background(), "c", entry("mine"))
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if e.Index != conflicts {
		t.Errorf("entry index %d, want %d (after the other process's entries)", e.Index, conflicts)
	}
	if got := b.Stats(); got.Conflicts != conflicts || got.Commits != 1 || got.Entries != 1 {
		t.Errorf("Stats = %+v, want %d conflicts, 1 commit, 1 entry", got, conflicts)
	}
	if m.calls != conflicts+1 {
		t.Errorf("%d AppendIf calls, want %d (one per conflict, then the append)", m.calls, conflicts+1)
	}
	// Only the retries after jitterAfter consecutive conflicts wait, each
	// below maxJitter (the former back-off slept up to 50 ms a retry).
	st := b.Stats()
	if want := uint64(conflicts - jitterAfter + 1); st.BackoffWaits != want || st.Backoff >= time.Duration(want)*maxJitter {
		t.Errorf("%d back-off waits of %v in all through %d conflicts; want %d, each under %v",
			st.BackoffWaits, st.Backoff, conflicts, want, maxJitter)
	}
	if err := audit.VerifyIntegrity(m.entries); err != nil {
		t.Errorf("VerifyIntegrity: %v", err)
	}
}

// TestTwoBatchersOneLog appends from two Batchers over one backend (two
// processes) concurrently and checks the chain: every append once, in one
// unforked chain, the conflicts counted.
func TestTwoBatchersOneLog(t *testing.T) {
	const workers, each = 16, 300
	m := &memBackend{}
	bs := []*Batcher{New(m), New(m)}
	defer bs[0].Close()
	defer bs[1].Close()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	var mu sync.Mutex
	got := make(map[int]string)
	for w := range workers {
		b := bs[w%2]
		wg.Go(func() {
			for i := range each {
				a := fmt.Sprintf("w%d.%d", w, i)
				e, err := b.Append(context.Background(), "c", entry(a))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, dup := got[e.Index]; dup {
					errs <- fmt.Errorf("index %d returned for %s and %s", e.Index, prev, a)
				}
				got[e.Index] = a
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(m.entries) != workers*each {
		t.Fatalf("%d entries, want %d", len(m.entries), workers*each)
	}
	if err := audit.VerifyIntegrity(m.entries); err != nil {
		t.Fatalf("VerifyIntegrity: %v", err)
	}
	for i, e := range m.entries {
		if got[i] != e.Action {
			t.Fatalf("entry %d is %s, Append returned index %d for %s", i, e.Action, i, got[i])
		}
	}
	s0, s1 := bs[0].Stats(), bs[1].Stats()
	if s0.Entries+s1.Entries != workers*each {
		t.Errorf("Stats entries %d + %d, want %d", s0.Entries, s1.Entries, workers*each)
	}
	if calls := s0.Commits + s1.Commits + s0.Conflicts + s1.Conflicts; calls != uint64(m.calls) {
		t.Errorf("Stats count %d calls (%+v, %+v), the backend saw %d", calls, s0, s1, m.calls)
	}
	t.Logf("stats: %+v %+v", s0, s1)
}

// goid returns the id of the calling goroutine (from its stack header,
// "goroutine N [running]:"): tests only.
func goid() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	f := bytes.Fields(bytes.TrimPrefix(buf[:n], []byte("goroutine ")))
	id, err := strconv.ParseUint(string(f[0]), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("goroutine id in %q: %v", buf[:n], err))
	}
	return id
}

// waitQueued waits until id's queue on b holds at least n requests.
func waitQueued(t *testing.T, b *Batcher, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		got := 0
		if q := b.queues[id]; q != nil {
			got = len(q.pending)
		}
		b.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued on %s after 10s, want %d", got, id, n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// idle reports whether b has no queue, i.e. no committer, for any log.
func idle(b *Batcher) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queues) == 0
}

// outcome is what one Append returned.
type outcome struct {
	name string
	e    audit.Entry
	err  error
}

// appendAll starts one Append of entry(name) to "c" per name, each in its
// own goroutine, and returns the channel their outcomes arrive on.
func appendAll(b *Batcher, names []string) chan outcome {
	out := make(chan outcome, len(names))
	for _, name := range names {
		go func() {
			e, err := b.Append(context.Background(), "c", entry(name))
			out <- outcome{name, e, err}
		}()
	}
	return out
}

// recv returns the next outcome, failing the test after 10s (a stranded
// append).
func recv(t *testing.T, out <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-out:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("an append is stranded: no result after 10s")
		return outcome{}
	}
}

func names(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return s
}

// TestIdleAppendCommitsInCaller checks that an append to an idle log is
// built and written in the caller's goroutine (no worker, no hand-off) and
// leaves the log idle.
func TestIdleAppendCommitsInCaller(t *testing.T) {
	me := goid()
	var wrong atomic.Int64
	m := &memBackend{hook: func(context.Context, int, int) error {
		if goid() != me {
			wrong.Add(1)
		}
		return nil
	}}
	b := New(m)
	defer b.Close()
	for i := range 3 {
		e, err := b.Append(context.Background(), "c", func(h audit.Head) (audit.Entry, error) {
			if goid() != me {
				wrong.Add(1)
			}
			return entry("mine")(h)
		})
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if e.Index != i {
			t.Fatalf("Append %d: index %d", i, e.Index)
		}
		if !idle(b) {
			t.Fatalf("Append %d returned with the log still queued", i)
		}
	}
	if n := wrong.Load(); n != 0 {
		t.Errorf("%d builds or backend calls ran outside the caller's goroutine, want 0", n)
	}
	if st := b.Stats(); st.Commits != 3 || st.Entries != 3 || st.Conflicts != 0 {
		t.Errorf("Stats = %+v, want 3 commits of 3 entries", st)
	}
}

// TestQueuedAppendsHandedToWorker blocks the caller committing an idle log
// in its backend call while others queue behind it, and checks that it
// returns as soon as its own entry is written, leaving the queued appends to
// a worker goroutine that writes them in one batch (a failing and a
// panicking build failing only their own appends).
func TestQueuedAppendsHandedToWorker(t *testing.T) {
	const queued = 10
	entered, release1, release2 := make(chan int, 2), make(chan struct{}), make(chan struct{})
	var second atomic.Uint64
	m := &memBackend{hook: func(_ context.Context, call, n int) error {
		entered <- n
		switch call {
		case 1:
			<-release1
		case 2:
			second.Store(goid())
			<-release2
		}
		return nil
	}}
	b := New(m)
	defer b.Close()

	leader := make(chan outcome, 1)
	var leaderID atomic.Uint64
	go func() {
		leaderID.Store(goid())
		e, err := b.Append(context.Background(), "c", entry("lead"))
		leader <- outcome{"lead", e, err}
	}()
	if n := <-entered; n != 1 {
		t.Fatalf("first backend call writes %d entries, want 1", n)
	}
	errBuild := errors.New("build failed")
	out := appendAll(b, names("q", queued-2))
	go func() {
		_, err := b.Append(context.Background(), "c", func(audit.Head) (audit.Entry, error) { return audit.Entry{}, errBuild })
		out <- outcome{"failing", audit.Entry{}, err}
	}()
	go func() {
		_, err := b.Append(context.Background(), "c", func(audit.Head) (audit.Entry, error) { panic("boom") })
		out <- outcome{"panicking", audit.Entry{}, err}
	}()
	waitQueued(t, b, "c", queued)
	close(release1)

	// The committing caller returns while the worker's call is blocked.
	if n := <-entered; n != queued-2 {
		t.Errorf("second backend call writes %d entries, want %d", n, queued-2)
	}
	o := <-leader
	if o.err != nil || o.e.Index != 0 {
		t.Fatalf("committing caller: entry %d, %v; want entry 0", o.e.Index, o.err)
	}
	if second.Load() == leaderID.Load() {
		t.Error("the queued appends were written by the caller that found the log idle, want a worker")
	}
	close(release2)
	seen := make(map[int]bool)
	for range queued {
		o := recv(t, out)
		switch o.name {
		case "failing":
			if !errors.Is(o.err, errBuild) {
				t.Errorf("failing build: %v, want %v", o.err, errBuild)
			}
		case "panicking":
			if o.err == nil || !strings.Contains(o.err.Error(), "panicked") {
				t.Errorf("panicking build: %v, want a panic error", o.err)
			}
		default:
			if o.err != nil {
				t.Fatalf("%s: %v", o.name, o.err)
			}
			if seen[o.e.Index] || o.e.Action != o.name {
				t.Errorf("%s: entry %d %s (duplicate or not its own)", o.name, o.e.Index, o.e.Action)
			}
			seen[o.e.Index] = true
		}
	}
	b.Close()
	if len(m.entries) != queued-1 || m.calls != 2 {
		t.Errorf("%d entries in %d backend calls, want %d in 2", len(m.entries), m.calls, queued-1)
	}
	if err := audit.VerifyIntegrity(m.entries); err != nil {
		t.Errorf("VerifyIntegrity: %v", err)
	}
	if !idle(b) {
		t.Error("log still queued after all appends")
	}
}

// TestCommitterCancelledInFlight cancels the context of the caller
// committing an idle log while its backend call is in flight: the call
// completes (its entry is written and returned), and the appends queued
// behind it are all written.
func TestCommitterCancelledInFlight(t *testing.T) {
	const queued = 8
	entered, release := make(chan struct{}, 1), make(chan struct{})
	m := &memBackend{hook: func(_ context.Context, call, _ int) error {
		if call == 1 {
			entered <- struct{}{}
			<-release
		}
		return nil
	}}
	b := New(m)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan outcome, 1)
	go func() {
		e, err := b.Append(ctx, "c", entry("lead"))
		leader <- outcome{"lead", e, err}
	}()
	<-entered
	out := appendAll(b, names("q", queued))
	waitQueued(t, b, "c", queued)
	cancel()
	close(release)
	if o := recv(t, leader); o.err != nil || o.e.Index != 0 {
		t.Errorf("committing caller: entry %d, %v; want entry 0 (written before it returned)", o.e.Index, o.err)
	}
	for range queued {
		if o := recv(t, out); o.err != nil {
			t.Errorf("%s: %v", o.name, o.err)
		}
	}
	if len(m.entries) != queued+1 {
		t.Errorf("%d entries, want %d", len(m.entries), queued+1)
	}
	if err := audit.VerifyIntegrity(m.entries); err != nil {
		t.Errorf("VerifyIntegrity: %v", err)
	}
}

// TestCommitterCancelledDuringConflict cancels the context of the caller
// committing an idle log while its backend call is losing to another
// process: it must not retry on behalf of the others but return its ctx
// error at once, and hand the appends queued behind it to a worker, which
// writes them (and not the cancelled entry).
func TestCommitterCancelledDuringConflict(t *testing.T) {
	const queued = 8
	entered, release1, release2 := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	m := &memBackend{steal: 1, hook: func(_ context.Context, call, _ int) error {
		switch call {
		case 1:
			entered <- struct{}{}
			<-release1
		case 2:
			<-release2
		}
		return nil
	}}
	b := New(m)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan outcome, 1)
	go func() {
		e, err := b.Append(ctx, "c", entry("lead"))
		leader <- outcome{"lead", e, err}
	}()
	<-entered
	out := appendAll(b, names("q", queued))
	waitQueued(t, b, "c", queued)
	cancel()
	close(release1) // the call conflicts: another process appended
	// The caller returns while the retry (by a worker) is still blocked.
	if o := recv(t, leader); !errors.Is(o.err, context.Canceled) {
		t.Errorf("committing caller: entry %d, %v; want %v", o.e.Index, o.err, context.Canceled)
	}
	close(release2)
	for range queued {
		if o := recv(t, out); o.err != nil {
			t.Errorf("%s: %v", o.name, o.err)
		}
	}
	b.Close()
	if len(m.entries) != queued+1 || m.entries[0].Action != "other" {
		t.Fatalf("%d entries, want the other process's then %d", len(m.entries), queued)
	}
	for _, e := range m.entries {
		if e.Action == "lead" {
			t.Errorf("the cancelled entry was written at %d", e.Index)
		}
	}
	if err := audit.VerifyIntegrity(m.entries); err != nil {
		t.Errorf("VerifyIntegrity: %v", err)
	}
	if st := b.Stats(); st.Conflicts != 1 || st.Commits != 1 || st.Entries != queued || m.calls != 2 {
		t.Errorf("Stats = %+v with %d backend calls, want 1 conflict then 1 commit of %d", st, m.calls, queued)
	}
}

// TestCloseWhileCallerCommits closes the Batcher while a caller commits an
// idle log and others wait behind it: Close cancels the backend call, waits
// for that caller, and every append fails with ErrClosed.
func TestCloseWhileCallerCommits(t *testing.T) {
	const queued = 8
	entered := make(chan struct{}, 1)
	var returned atomic.Bool
	m := &memBackend{hook: func(ctx context.Context, call, _ int) error {
		entered <- struct{}{}
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // a backend slow to notice
		returned.Store(true)
		return ctx.Err()
	}}
	b := New(m)
	out := appendAll(b, []string{"lead"})
	<-entered
	queuedOut := appendAll(b, names("q", queued))
	waitQueued(t, b, "c", queued)
	b.Close()
	if !returned.Load() {
		t.Error("Close returned before the committing caller's backend call")
	}
	for range queued + 1 {
		if o := recv(t, out); !errors.Is(o.err, ErrClosed) {
			t.Errorf("%s: %v, want %v", o.name, o.err, ErrClosed)
		}
		out = queuedOut
	}
	if _, err := b.Append(context.Background(), "c", entry("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want %v", err, ErrClosed)
	}
	if !idle(b) || len(m.entries) != 0 {
		t.Errorf("after Close: idle %v, %d entries", idle(b), len(m.entries))
	}
}

// TestCommitterBackendPanic makes the backend panic in the call of a caller
// committing an idle log (a batch including appends queued after a
// conflict) and that caller recover, as net/http does: the other appends of
// the batch fail, none is stranded, and the log takes appends again.
func TestCommitterBackendPanic(t *testing.T) {
	const queued = 8
	entered, release := make(chan struct{}, 1), make(chan struct{})
	m := &memBackend{steal: 1, hook: func(_ context.Context, call, _ int) error {
		switch call {
		case 1:
			entered <- struct{}{}
			<-release
		case 2:
			panic("backend bug")
		}
		return nil
	}}
	b := New(m)
	defer b.Close()
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		b.Append(context.Background(), "c", entry("lead"))
	}()
	<-entered
	out := appendAll(b, names("q", queued))
	waitQueued(t, b, "c", queued)
	close(release) // conflict; the retry takes the queued appends, and panics
	select {
	case p := <-recovered:
		if p != "backend bug" {
			t.Errorf("committing caller recovered %v, want the backend's panic", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("committing caller did not return")
	}
	for range queued {
		if o := recv(t, out); o.err == nil || !strings.Contains(o.err.Error(), "backend panicked") {
			t.Errorf("%s: %v, want a backend panic error", o.name, o.err)
		}
	}
	if e, err := b.Append(context.Background(), "c", entry("after")); err != nil || e.Index != 1 {
		t.Errorf("Append after the panic: entry %d, %v; want entry 1", e.Index, err)
	}
}

// TestConcurrentAppendsOneBatcher appends from many goroutines through one
// Batcher over a backend with some latency: every append once, in one
// gap-free unforked chain, written in fewer backend calls than appends.
func TestConcurrentAppendsOneBatcher(t *testing.T) {
	const workers, each = 16, 100
	m := &memBackend{hook: func(context.Context, int, int) error {
		time.Sleep(50 * time.Microsecond)
		return nil
	}}
	b := New(m)
	defer b.Close()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	results := make([][]audit.Entry, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e, err := b.Append(context.Background(), "c", entry(fmt.Sprintf("w%d.%d", w, i)))
				if err != nil {
					errs <- err
					return
				}
				results[w] = append(results[w], e)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(m.entries) != workers*each {
		t.Fatalf("%d entries, want %d", len(m.entries), workers*each)
	}
	if err := audit.VerifyIntegrity(m.entries); err != nil {
		t.Fatalf("VerifyIntegrity: %v", err)
	}
	for w, es := range results {
		last := -1
		for _, e := range es {
			if m.entries[e.Index].Action != e.Action || m.entries[e.Index].Hash != e.Hash {
				t.Fatalf("worker %d: Append returned %s at %d, the log has %s", w, e.Action, e.Index, m.entries[e.Index].Action)
			}
			if e.Index <= last {
				t.Fatalf("worker %d: entry %d after %d (out of order)", w, e.Index, last)
			}
			last = e.Index
		}
	}
	st := b.Stats()
	if m.calls >= workers*each || st.Commits != uint64(m.calls) || st.Entries != workers*each {
		t.Errorf("%d backend calls for %d appends, Stats %+v; want fewer calls, all counted", m.calls, workers*each, st)
	}
	t.Logf("%d appends in %d backend calls", workers*each, m.calls)
}
