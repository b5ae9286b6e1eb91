package auditbatch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
)

// memBackend is a Backend in memory shared by several Batchers, as a
// shared store is by several processes. steal, when positive, makes that
// many AppendIf calls fail as if another process had appended an entry just
// before each.
type memBackend struct {
	mu      sync.Mutex
	entries []audit.Entry
	steal   int
	calls   int
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
