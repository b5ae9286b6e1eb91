package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/store"
)

// builder returns an audit.Log build function that makes a sealed entry for
// action on the head it is given, as the Monitor does.
func builder(action string) func(audit.Head) (audit.Entry, error) {
	c := canon.NewObject(2)
	c.Set("user", "alice")
	c.Set("n", float64(len(action)))
	return func(prev audit.Head) (audit.Entry, error) {
		e := audit.Entry{
			Index:     prev.Len,
			Timestamp: "2026-03-14T15:09:26.535Z",
			Action:    action,
			Resource:  "/data/" + action,
			Context:   c,
			Result: audit.Result{
				Permitted:   true,
				Severity:    "low",
				MatchedRule: &audit.Rule{Type: ccl.StatementType("permit"), Action: "**", Resource: "**", Severity: "low", Line: 1},
			},
			Outcome:      audit.Executed,
			PreviousHash: prev.Hash,
		}
		return e.Seal(), nil
	}
}

func mustAppend(t testing.TB, s store.AuditLog, id, action string) audit.Entry {
	t.Helper()
	e, err := s.AppendAudit(context.Background(), id, builder(action))
	if err != nil {
		t.Fatalf("AppendAudit(%s, %s): %v", id, action, err)
	}
	return e
}

// entriesJSON renders entries for comparison.
func entriesJSON(es []audit.Entry) []string {
	out := make([]string, len(es))
	for i := range es {
		out[i] = string(es[i].AppendJSON(nil))
	}
	return out
}

func mustEntries(t *testing.T, s store.AuditLog, id string, start, end int) []audit.Entry {
	t.Helper()
	es, err := s.AuditEntries(ctx(t), id, start, end)
	if err != nil {
		t.Fatalf("AuditEntries(%s, %d, %d): %v", id, start, end, err)
	}
	return es
}

func mustHashes(t *testing.T, s store.AuditLog, id string, start, end int) []string {
	t.Helper()
	hs, err := s.AuditHashes(ctx(t), id, start, end)
	if err != nil {
		t.Fatalf("AuditHashes(%s, %d, %d): %v", id, start, end, err)
	}
	return hs
}

func hashesOf(es []audit.Entry) []string {
	out := make([]string, len(es))
	for i := range es {
		out[i] = es[i].Hash
	}
	return out
}

// testAuditLikeMemory runs one sequence of operations on the store and on an
// audit.MemoryLog and compares every answer.
func testAuditLikeMemory(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	mem := audit.NewMemoryLog()
	log := store.AuditLogOf(s)
	a, b := newID(t, "cov"), newID(t, "cov")
	c := ctx(t)
	compare := func(when string) {
		t.Helper()
		for _, id := range []string{a, b, newID(t, "unknown")} {
			wh, _ := mem.Head(c, id)
			gh, err := log.Head(c, id)
			if err != nil {
				t.Fatalf("%s: Head(%s): %v", when, id, err)
			}
			if gh != wh {
				t.Errorf("%s: Head(%s) = %+v, want %+v", when, id, gh, wh)
			}
			for _, r := range [][2]int{{0, -1}, {-5, 3}, {2, 4}, {3, 100}, {4, 2}, {100, -1}, {0, 0}} {
				we, _ := mem.Entries(c, id, r[0], r[1])
				ge, err := log.Entries(c, id, r[0], r[1])
				if err != nil {
					t.Fatalf("%s: Entries(%s, %v): %v", when, id, r, err)
				}
				if d := cmp.Diff(entriesJSON(we), entriesJSON(ge)); d != "" {
					t.Errorf("%s: Entries(%s, %d, %d) (-want +got):\n%s", when, id, r[0], r[1], d)
				}
			}
		}
	}
	compare("empty")
	for i := range 7 {
		id := a
		if i%3 == 2 {
			id = b
		}
		action := fmt.Sprintf("act.%d", i)
		we, err := mem.Append(c, id, builder(action))
		if err != nil {
			t.Fatal(err)
		}
		ge, err := log.Append(c, id, builder(action))
		if err != nil {
			t.Fatalf("Append(%s, %s): %v", id, action, err)
		}
		if d := cmp.Diff(string(we.AppendJSON(nil)), string(ge.AppendJSON(nil))); d != "" {
			t.Errorf("Append(%s, %s) returned (-want +got):\n%s", id, action, d)
		}
	}
	compare("after appends")
	if err := audit.VerifyIntegrity(mustEntries(t, s, a, 0, -1)); err != nil {
		t.Errorf("VerifyIntegrity: %v", err)
	}
	for _, l := range []audit.Log{mem, log} {
		if err := l.Reset(c, a); err != nil {
			t.Fatalf("Reset(%s): %v", a, err)
		}
	}
	compare("after reset")
	for _, l := range []audit.Log{mem, log} {
		if _, err := l.Append(c, a, builder("again")); err != nil {
			t.Fatalf("Append after reset: %v", err)
		}
	}
	compare("after reset and append")
}

// testAuditConcurrent appends 8 × 200 entries to one log from two store
// handles (two processes) and checks that none forked or got lost.
func testAuditConcurrent(t *testing.T, newStore NewStore) {
	const workers, each = 8, 200
	s1 := newStore(t, Config{})
	s2 := newStore(t, Config{Twin: s1})
	id := newID(t, "cov")
	var mu sync.Mutex
	returned := make(map[int]string) // index -> action
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := s1
		if w%2 == 1 {
			s = s2
		}
		wg.Go(func() {
			for i := range each {
				action := fmt.Sprintf("w%d.%d", w, i)
				e, err := s.AppendAudit(context.Background(), id, builder(action))
				if err != nil {
					errs <- fmt.Errorf("AppendAudit(%s): %w", action, err)
					return
				}
				mu.Lock()
				if prev, dup := returned[e.Index]; dup {
					mu.Unlock()
					errs <- fmt.Errorf("index %d returned for %s and %s", e.Index, prev, action)
					return
				}
				returned[e.Index] = action
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, s := range []store.Store{s1, s2} {
		head, err := s.AuditHead(ctx(t), id)
		if err != nil || head.Len != workers*each {
			t.Fatalf("AuditHead = %+v, %v; want %d entries", head, err, workers*each)
		}
		es := mustEntries(t, s, id, 0, -1)
		if len(es) != workers*each {
			t.Fatalf("%d entries, want %d", len(es), workers*each)
		}
		if err := audit.VerifyIntegrity(es); err != nil {
			t.Fatalf("VerifyIntegrity: %v", err)
		}
		if head.Hash != es[len(es)-1].Hash {
			t.Errorf("head hash %s, last entry's %s", head.Hash, es[len(es)-1].Hash)
		}
		seen := make(map[string]bool)
		for i, e := range es {
			if returned[i] != e.Action {
				t.Fatalf("entry %d is %s, AppendAudit returned index %d for %s", i, e.Action, i, returned[i])
			}
			seen[e.Action] = true
		}
		if len(seen) != workers*each {
			t.Errorf("%d distinct actions, want %d", len(seen), workers*each)
		}
		if d := cmp.Diff(hashesOf(es), mustHashes(t, s, id, 0, -1)); d != "" {
			t.Errorf("AuditHashes differ from the entries' hashes (-entries +hashes):\n%s", d)
		}
	}
}

// errBuild is the error of a failing builder.
var errBuild = errors.New("storetest: build failed")

// testAuditBuildErrors checks that a failing or panicking build fails only
// its own append, even inside a batch.
func testAuditBuildErrors(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	id := newID(t, "cov")
	const n = 300
	var wg sync.WaitGroup
	var ok atomic.Int64
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			build := builder(fmt.Sprint("a", i))
			switch i % 10 {
			case 3:
				build = func(audit.Head) (audit.Entry, error) { return audit.Entry{}, fmt.Errorf("item %d: %w", i, errBuild) }
			case 7:
				build = func(audit.Head) (audit.Entry, error) { panic("builder bug") }
			}
			_, errs[i] = s.AppendAudit(context.Background(), id, build)
			if errs[i] == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch i % 10 {
		case 3:
			wantErr(t, fmt.Sprint("failing build ", i), err, errBuild)
		case 7:
			if err == nil {
				t.Errorf("panicking build %d: no error", i)
			}
		default:
			if err != nil {
				t.Errorf("build %d: %v", i, err)
			}
		}
	}
	es := mustEntries(t, s, id, 0, -1)
	if len(es) != int(ok.Load()) || len(es) != n*8/10 {
		t.Errorf("%d entries, %d appends succeeded, want %d", len(es), ok.Load(), n*8/10)
	}
	if err := audit.VerifyIntegrity(es); err != nil {
		t.Errorf("VerifyIntegrity: %v", err)
	}
}

// testAuditHeadMoved checks that entries not extending the head are refused
// and change nothing.
func testAuditHeadMoved(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	id := newID(t, "cov")
	mustAppend(t, s, id, "first")
	before, _ := s.AuditHead(ctx(t), id)
	bad := []struct {
		name string
		mod  func(audit.Head) audit.Head
		err  error
	}{
		{"index ahead", func(h audit.Head) audit.Head { h.Len++; return h }, audit.ErrHeadMoved},
		{"index behind", func(h audit.Head) audit.Head { h.Len--; return h }, audit.ErrHeadMoved},
		{"wrong previous hash", func(h audit.Head) audit.Head { h.Hash = audit.GenesisHash; return h }, audit.ErrHeadMoved},
	}
	for _, tc := range bad {
		_, err := s.AppendAudit(ctx(t), id, func(prev audit.Head) (audit.Entry, error) {
			return builder(tc.name)(tc.mod(prev))
		})
		wantErr(t, tc.name, err, tc.err)
	}
	for _, h := range []string{"", "ABCD", strings.Repeat("AB", 32)} {
		_, err := s.AppendAudit(ctx(t), id, func(prev audit.Head) (audit.Entry, error) {
			e, err := builder("bad hash")(prev)
			e.Hash = h
			return e, err
		})
		wantErr(t, fmt.Sprintf("hash %q", h), err, store.ErrInvalid)
	}
	after, _ := s.AuditHead(ctx(t), id)
	if after != before {
		t.Errorf("head moved from %+v to %+v by refused appends", before, after)
	}
	if es := mustEntries(t, s, id, 0, -1); len(es) != 1 {
		t.Errorf("%d entries, want 1", len(es))
	}
}

// testAuditTrim trims a log and checks the checkpoint, the remaining
// entries and the hashes.
func testAuditTrim(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	id := newID(t, "cov")
	c := ctx(t)
	for i := range 50 {
		mustAppend(t, s, id, fmt.Sprint("e", i))
	}
	all := mustEntries(t, s, id, 0, -1)
	root := audit.MerkleRoot(mustHashes(t, s, id, 0, -1))
	if ck, err := s.AuditCheckpoint(c, id); err != nil || ck != (audit.Head{Hash: audit.GenesisHash}) {
		t.Errorf("AuditCheckpoint before trim = %+v, %v", ck, err)
	}
	ck, err := s.TrimAudit(c, id, 20)
	want := audit.Head{Len: 20, Hash: all[19].Hash}
	if err != nil || ck != want {
		t.Fatalf("TrimAudit(20) = %+v, %v; want %+v", ck, err, want)
	}
	if got, err := s.AuditCheckpoint(c, id); err != nil || got != want {
		t.Errorf("AuditCheckpoint = %+v, %v; want %+v", got, err, want)
	}
	rest := mustEntries(t, s, id, 0, -1)
	if d := cmp.Diff(entriesJSON(all[20:]), entriesJSON(rest)); d != "" {
		t.Errorf("entries after trim (-want +got):\n%s", d)
	}
	if err := audit.VerifyFrom(ck, rest); err != nil {
		t.Errorf("VerifyFrom(checkpoint, rest): %v", err)
	}
	if d := cmp.Diff(entriesJSON(all[20:30]), entriesJSON(mustEntries(t, s, id, 10, 30))); d != "" {
		t.Errorf("AuditEntries(10, 30) after trim (-want +got):\n%s", d)
	}
	if es := mustEntries(t, s, id, 5, 15); len(es) != 0 {
		t.Errorf("AuditEntries(5, 15) after trim = %d entries, want none", len(es))
	}
	hs := mustHashes(t, s, id, 0, -1)
	if len(hs) != 50 || audit.MerkleRoot(hs) != root {
		t.Errorf("after trim: %d hashes, Merkle root %s; want 50 and %s", len(hs), audit.MerkleRoot(hs), root)
	}
	if d := cmp.Diff(hashesOf(all[10:12]), mustHashes(t, s, id, 10, 12)); d != "" {
		t.Errorf("AuditHashes(10, 12) (-want +got):\n%s", d)
	}
	// Trimming at or below the checkpoint changes nothing.
	if got, err := s.TrimAudit(c, id, 10); err != nil || got != want {
		t.Errorf("TrimAudit(10) = %+v, %v; want %+v", got, err, want)
	}
	for _, up := range []int{51, -1} {
		_, err := s.TrimAudit(c, id, up)
		wantErr(t, fmt.Sprint("TrimAudit ", up), err, store.ErrInvalid)
	}
	// Trim everything, then keep appending.
	if got, err := s.TrimAudit(c, id, 50); err != nil || got != (audit.Head{Len: 50, Hash: all[49].Hash}) {
		t.Errorf("TrimAudit(50) = %+v, %v", got, err)
	}
	if es := mustEntries(t, s, id, 0, -1); len(es) != 0 {
		t.Errorf("%d entries after trimming all", len(es))
	}
	e := mustAppend(t, s, id, "after")
	if e.Index != 50 || e.PreviousHash != all[49].Hash {
		t.Errorf("append after trim: index %d previous %s", e.Index, e.PreviousHash)
	}
	ck, _ = s.AuditCheckpoint(c, id)
	if err := audit.VerifyFrom(ck, mustEntries(t, s, id, 0, -1)); err != nil {
		t.Errorf("VerifyFrom after append: %v", err)
	}
}

// testAuditReset checks that ResetAudit deletes a log with its checkpoint
// and hashes, and nothing else.
func testAuditReset(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	a, b := newID(t, "cov"), newID(t, "cov")
	c := ctx(t)
	for i := range 5 {
		mustAppend(t, s, a, fmt.Sprint("a", i))
		mustAppend(t, s, b, fmt.Sprint("b", i))
	}
	if _, err := s.TrimAudit(c, a, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetAudit(c, a); err != nil {
		t.Fatal(err)
	}
	genesis := audit.Head{Hash: audit.GenesisHash}
	h, err1 := s.AuditHead(c, a)
	ck, err2 := s.AuditCheckpoint(c, a)
	if err := errors.Join(err1, err2); err != nil || h != genesis || ck != genesis {
		t.Errorf("after reset: head %+v, checkpoint %+v, %v", h, ck, err)
	}
	if es, hs := mustEntries(t, s, a, 0, -1), mustHashes(t, s, a, 0, -1); len(es)+len(hs) != 0 {
		t.Errorf("after reset: %d entries, %d hashes", len(es), len(hs))
	}
	if e := mustAppend(t, s, a, "fresh"); e.Index != 0 || e.PreviousHash != audit.GenesisHash {
		t.Errorf("first append after reset: %d, %s", e.Index, e.PreviousHash)
	}
	if es := mustEntries(t, s, b, 0, -1); len(es) != 5 || audit.VerifyIntegrity(es) != nil {
		t.Errorf("other log after reset: %d entries", len(es))
	}
	if err := s.ResetAudit(c, newID(t, "unknown")); err != nil {
		t.Errorf("ResetAudit(unknown): %v", err)
	}
}

func testAuditInvalid(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	c := ctx(t)
	long := string(bytes.Repeat([]byte("x"), store.MaxIDLen+1))
	for _, id := range []string{"", long} {
		_, err := s.AppendAudit(c, id, builder("x"))
		wantErr(t, "AppendAudit bad id", err, store.ErrInvalid)
		_, err = s.AuditHead(c, id)
		wantErr(t, "AuditHead bad id", err, store.ErrInvalid)
		_, err = s.AuditEntries(c, id, 0, -1)
		wantErr(t, "AuditEntries bad id", err, store.ErrInvalid)
		_, err = s.TrimAudit(c, id, 0)
		wantErr(t, "TrimAudit bad id", err, store.ErrInvalid)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	id := newID(t, "cov")
	_, err := s.AppendAudit(canceled, id, builder("x"))
	wantErr(t, "AppendAudit canceled", err, context.Canceled)
	if h, _ := s.AuditHead(c, id); h.Len != 0 {
		t.Errorf("canceled append stored an entry")
	}
}

// testAuditClose checks that appends waiting or arriving at Close fail
// instead of hanging.
func testAuditClose(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	id := newID(t, "cov")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { _, _ = s.AppendAudit(context.Background(), id, builder(fmt.Sprint(i))) })
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := s.AppendAudit(ctx(t), id, builder("late")); err == nil {
		t.Error("AppendAudit after Close succeeded")
	}
}

// EditAuditEntry changes the stored JSON of entry index of covenantID's log
// behind the store's back, as someone with write access to the backend
// could: edit gets the stored bytes and returns the new ones, or nil to
// delete the entry.
type EditAuditEntry func(ctx context.Context, covenantID string, index int, edit func(body []byte) []byte) error

// AuditTamper checks that an entry edited or deleted in the backend is
// reported by audit.VerifyIntegrity at its index.
func AuditTamper(t *testing.T, s store.Store, edit EditAuditEntry) {
	c := ctx(t)
	for _, tc := range []struct {
		name  string
		index int
		edit  func([]byte) []byte
	}{
		{"edited action", 4, func(b []byte) []byte { return bytes.Replace(b, []byte(`"e4"`), []byte(`"e9"`), 1) }},
		{"edited result", 0, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"permitted":true`), []byte(`"permitted":false`), 1)
		}},
		{"deleted", 6, func([]byte) []byte { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := newID(t, "cov")
			for i := range 10 {
				mustAppend(t, s, id, fmt.Sprint("e", i))
			}
			if err := audit.VerifyIntegrity(mustEntries(t, s, id, 0, -1)); err != nil {
				t.Fatalf("before edit: %v", err)
			}
			if err := edit(c, id, tc.index, tc.edit); err != nil {
				t.Fatal(err)
			}
			err := audit.VerifyIntegrity(mustEntries(t, s, id, 0, -1))
			var ie *audit.IntegrityError
			if !errors.As(err, &ie) || ie.Index != tc.index {
				t.Errorf("VerifyIntegrity after edit of %d = %v, want an IntegrityError at %d", tc.index, err, tc.index)
			}
		})
	}
}

// BenchAppendAudit measures parallel AppendAudit calls to one covenant's log.
func BenchAppendAudit(b *testing.B, s store.Store) {
	id := newID(b, "bench")
	build := builder("read")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.AppendAudit(context.Background(), id, build); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	h, err := s.AuditHead(context.Background(), id)
	if err != nil || h.Len != b.N {
		b.Fatalf("head %+v, %v after %d appends", h, err, b.N)
	}
}

// Rate limits.

var rateT0 = time.UnixMilli(1_773_500_000_123)

// testRateConcurrent runs 16 × 100 Acquire calls on one limit of 100 per
// minute from two store handles: exactly 100 are permitted.
func testRateConcurrent(t *testing.T, newStore NewStore) {
	s1 := newStore(t, Config{})
	s2 := newStore(t, Config{Twin: s1})
	scope := newID(t, "cov")
	l := audit.Limit{Action: "api.call", Count: 100, PeriodSeconds: 60}
	var permitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		s := []store.Store{s1, s2}[w%2]
		wg.Go(func() {
			for i := range 100 {
				st, err := s.AcquireRate(context.Background(), scope, l, []audit.Limit{l}, rateT0.Add(time.Duration(i)*time.Millisecond))
				if err != nil {
					errs <- err
					return
				}
				if !st.Exceeded {
					permitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := permitted.Load(); n != 100 {
		t.Errorf("%d permitted, want 100", n)
	}
	states, err := s2.RateStates(ctx(t), scope)
	want := []audit.RateLimitState{{Action: "api.call", Count: 100, PeriodStart: rateT0, PeriodSeconds: 60, Limit: 100}}
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, states, jobOpts); d != "" {
		t.Errorf("RateStates (-want +got):\n%s", d)
	}
}

// testRateWindowReset checks the window boundaries with injected clocks.
func testRateWindowReset(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	scope := newID(t, "cov")
	c := ctx(t)
	l := audit.Limit{Action: "file.*", Count: 3, PeriodSeconds: 10}
	acquire := func(at time.Duration) audit.RateStatus {
		t.Helper()
		st, err := s.AcquireRate(c, scope, l, []audit.Limit{l}, rateT0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for i, want := range []audit.RateStatus{{Remaining: 3}, {Remaining: 2}, {Remaining: 1}, {Exceeded: true}} {
		if got := acquire(time.Duration(i) * time.Second); got != want {
			t.Errorf("acquire %d = %+v, want %+v", i, got, want)
		}
	}
	if got := acquire(9999 * time.Millisecond); !got.Exceeded {
		t.Errorf("acquire at 9.999s = %+v, want exceeded", got)
	}
	st, err := s.CheckRate(c, scope, l, rateT0.Add(10*time.Second))
	if err != nil || st != (audit.RateStatus{Remaining: 3}) {
		t.Errorf("check at 10s = %+v, %v; want a fresh window", st, err)
	}
	states, err := s.RateStates(c, scope)
	want := []audit.RateLimitState{{Action: "file.*", Count: 0, PeriodStart: rateT0.Add(10 * time.Second), PeriodSeconds: 10, Limit: 3}}
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, states, jobOpts); d != "" {
		t.Errorf("RateStates after reset (-want +got):\n%s", d)
	}
	if err := s.ResetRates(c, scope); err != nil {
		t.Fatal(err)
	}
	if states, err := s.RateStates(c, scope); err != nil || len(states) != 0 {
		t.Errorf("RateStates after ResetRates = %v, %v", states, err)
	}
}

// testRateLikeMemory runs a random sequence of operations on the store and
// on an audit.MemoryRateLimiter and compares every answer.
func testRateLikeMemory(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	mem := audit.NewMemoryRateLimiter()
	r := store.RateLimiterOf(s)
	c := ctx(t)
	scopes := []string{newID(t, "cov"), newID(t, "cov")}
	limits := []audit.Limit{
		{Action: "**", Count: 5, PeriodSeconds: 2},
		{Action: "file.*", Count: 2, PeriodSeconds: 0.5},
		{Action: "file.read", Count: 3, PeriodSeconds: 1.25},
		{Action: "file.*", Count: 7, PeriodSeconds: 9}, // same pattern: shares the window
		{Action: "net.send", Count: 0.5, PeriodSeconds: 0.001},
	}
	rng := rand.New(rand.NewPCG(4, 2))
	now := rateT0
	for step := range 600 {
		now = now.Add(time.Duration(rng.IntN(120)) * time.Millisecond)
		scope := scopes[rng.IntN(len(scopes))]
		check := limits[rng.IntN(len(limits))]
		var all []audit.Limit
		for range rng.IntN(4) {
			all = append(all, limits[rng.IntN(len(limits))])
		}
		all = append(all, check)
		what := fmt.Sprintf("step %d", step)
		switch op := rng.IntN(20); {
		case op < 12:
			w, _ := mem.Acquire(c, scope, check, all, now)
			g, err := r.Acquire(c, scope, check, all, now)
			if err != nil || g != w {
				t.Fatalf("%s: Acquire = %+v, %v; want %+v", what, g, err, w)
			}
		case op < 17:
			w, _ := mem.Check(c, scope, check, now)
			g, err := r.Check(c, scope, check, now)
			if err != nil || g != w {
				t.Fatalf("%s: Check = %+v, %v; want %+v", what, g, err, w)
			}
		case op < 19:
			w, _ := mem.States(c, scope)
			g, err := r.States(c, scope)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(w, g, jobOpts); d != "" {
				t.Fatalf("%s: States (-want +got):\n%s", what, d)
			}
		default:
			_ = mem.Reset(c, scope)
			if err := r.Reset(c, scope); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, scope := range scopes {
		w, _ := mem.States(c, scope)
		g, err := r.States(c, scope)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(w, g, jobOpts); d != "" {
			t.Errorf("final States (-want +got):\n%s", d)
		}
	}
}

func testRateInvalid(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	c := ctx(t)
	ok := audit.Limit{Action: "a", Count: 1, PeriodSeconds: 1}
	for _, l := range []audit.Limit{
		{Action: "a", Count: math.NaN(), PeriodSeconds: 1},
		{Action: "a", Count: 1, PeriodSeconds: math.Inf(1)},
	} {
		_, err := s.AcquireRate(c, "scope", ok, []audit.Limit{l}, rateT0)
		wantErr(t, fmt.Sprintf("AcquireRate(%+v)", l), err, store.ErrInvalid)
		_, err = s.CheckRate(c, "scope", l, rateT0)
		wantErr(t, fmt.Sprintf("CheckRate(%+v)", l), err, store.ErrInvalid)
	}
	_, err := s.AcquireRate(c, "", ok, []audit.Limit{ok}, rateT0)
	wantErr(t, "AcquireRate empty scope", err, store.ErrInvalid)
	_, err = s.RateStates(c, "")
	wantErr(t, "RateStates empty scope", err, store.ErrInvalid)
	if states, err := s.RateStates(c, "scope"); err != nil || len(states) != 0 {
		t.Errorf("refused calls created windows: %v, %v", states, err)
	}
}
