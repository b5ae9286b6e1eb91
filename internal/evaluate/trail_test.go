package evaluate_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
)

// hashSpy is a store whose AuditHashes records the ranges asked for and can
// alter what the store returns: replace a hash, or end the list early; its
// AuditEntries can alter the index an entry carries.
type hashSpy struct {
	store.Store
	t testing.TB

	mu       sync.Mutex
	calls    int
	maxSpan  int
	replace  map[int]string
	truncate int         // > 0: no hash at or beyond it
	reindex  map[int]int // the entry at a position carries another index
}

func (s *hashSpy) AuditEntries(ctx context.Context, id string, start, end int) ([]audit.Entry, error) {
	es, err := s.Store.AuditEntries(ctx, id, start, end)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range es {
		if i, ok := s.reindex[start+k]; ok {
			es[k].Index = i
		}
	}
	return es, nil
}

func (s *hashSpy) AuditHashes(ctx context.Context, id string, start, end int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if start < 0 || end < start {
		s.t.Errorf("AuditHashes(%d, %d): not a bounded range", start, end)
	}
	s.calls++
	s.maxSpan = max(s.maxSpan, end-start)
	hs, err := s.Store.AuditHashes(ctx, id, start, end)
	if err != nil {
		return nil, err
	}
	if s.truncate > 0 {
		hs = hs[:max(0, min(len(hs), s.truncate-start))]
	}
	for k := range hs {
		if h, ok := s.replace[start+k]; ok {
			hs[k] = h
		}
	}
	return hs, nil
}

// apply returns hashes as the spy returns them.
func (s *hashSpy) apply(hashes []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), hashes...)
	if s.truncate > 0 {
		out = out[:min(len(out), s.truncate)]
	}
	for i, h := range s.replace {
		if i < len(out) {
			out[i] = h
		}
	}
	return out
}

func (s *hashSpy) set(replace map[int]string, truncate int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replace, s.truncate, s.calls, s.maxSpan = replace, truncate, 0, 0
}

// span returns the number of AuditHashes calls and the widest range since
// the last set.
func (s *hashSpy) span() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.maxSpan
}

// TestTrailLongerThanTwoPages: on trails of more than two pages of hashes
// (SQLite), Proof and VerifyTrail read the hashes a page at a time and give
// what MerkleRoot and NewProof give over the whole list; a hash altered in
// the second page is reported at its index, as are a checkpoint hash that
// does not match and a hash list that ends early. The pages are made small
// (the defaults would need 33,000 entries), in three shapes: a page of
// entries within a page of hashes, across two, and larger than one.
func TestTrailLongerThanTwoPages(t *testing.T) {
	for _, pages := range []struct{ hashes, entries int }{{300, 128}, {64, 100}, {256, 1000}} {
		t.Run(fmt.Sprintf("%d-hashes-%d-entries", pages.hashes, pages.entries), func(t *testing.T) {
			testTrailPages(t, pages.hashes, pages.entries)
		})
	}
}

func testTrailPages(t *testing.T, trailHashPage, trailEntryPage int) {
	n := 2*trailHashPage + 123
	ctx := testContext(t)
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlitestore.WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	doc := newIssuer(t).build(t, "permit read on '**'", nil)
	put(t, st, doc)
	spy := &hashSpy{Store: st, t: t}
	svc := newService(t, spy, nil)
	if h, e := evaluate.TrailPages(svc); h != 1<<14 || e != 1000 {
		t.Errorf("default page sizes %d hashes and %d entries, want %d and 1000", h, e, 1<<14)
	}
	evaluate.SetTrailPages(svc, trailHashPage, trailEntryPage)

	// Append n entries from concurrent writers (the store batches them).
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < n; k += 16 {
				if err := appendEntry(ctx, st, doc.ID(), k); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	hashes, err := st.AuditHashes(ctx, doc.ID(), 0, -1)
	if err != nil || len(hashes) != n {
		t.Fatalf("%d hashes, %v", len(hashes), err)
	}

	// checkReads fails unless the last calls read the hashes in bounded pages.
	checkReads := func(what string) {
		t.Helper()
		calls, widest := spy.span()
		if calls < 2 || widest > trailHashPage {
			t.Fatalf("%s: %d AuditHashes calls, the widest %d hashes; want pages of at most %d", what, calls, widest, trailHashPage)
		}
	}
	// check verifies the trail and proves a few entries against the
	// whole-list functions over the hashes the store gives. (A proof reads
	// every hash: a few are enough.)
	check := func(what string, wantBroken int, wantReason string, checkpoint int, prove ...int) {
		t.Helper()
		got := spy.apply(hashes)
		spy.set(spy.replace, spy.truncate)
		rep, err := svc.VerifyTrail(ctx, doc.ID())
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		checkReads(what + ": verify")
		if rep.Entries != n || rep.Checkpoint != checkpoint || rep.MerkleRoot != audit.MerkleRoot(got) {
			t.Fatalf("%s: report %+v, want %d entries, checkpoint %d, root %s", what, rep, n, checkpoint, audit.MerkleRoot(got))
		}
		if wantBroken < 0 {
			if !rep.Valid || rep.BrokenAt != nil || rep.Reason != "" {
				t.Fatalf("%s: report %+v, want valid", what, rep)
			}
		} else if rep.Valid || rep.BrokenAt == nil || *rep.BrokenAt != wantBroken || rep.Reason != wantReason {
			t.Fatalf("%s: report %+v, want broken at %d: %s", what, rep, wantBroken, wantReason)
		}
		for _, i := range prove {
			spy.set(spy.replace, spy.truncate)
			p, err := svc.Proof(ctx, doc.ID(), i)
			if i >= len(got) {
				if !errors.Is(err, evaluate.ErrNotFound) {
					t.Fatalf("%s: proof of %d beyond %d hashes: %v", what, i, len(got), err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: proof of %d: %v", what, i, err)
			}
			checkReads(fmt.Sprintf("%s: proof of %d", what, i))
			want, err := audit.NewProof(got, i)
			if err != nil || !reflect.DeepEqual(p, want) {
				t.Fatalf("%s: proof of %d\n%+v\nNewProof\n%+v %v", what, i, p, want, err)
			}
			if !audit.VerifyProof(p) || p.Root != rep.MerkleRoot {
				t.Fatalf("%s: proof of %d does not lead to the root", what, i)
			}
		}
	}

	check("intact", -1, "", 0, 0, 1, trailHashPage-1, trailHashPage, trailHashPage+77, 2*trailHashPage, n-2, n-1)

	// A hash of the second page altered.
	j := trailHashPage + 77
	other := hashes[j+1]
	spy.set(map[int]string{j: other}, 0)
	check("hash altered", j, "the entry's hash is not the stored hash of its index", 0, j, j+1)

	// The list ends in the second page: reported there, in preference to
	// the entries after it; but an entry that fails before the end is the
	// first break, and reported.
	short := trailHashPage + 50
	spy.set(nil, short)
	check("hash list short", short, fmt.Sprintf("no stored hash for entry %d: the hash list ends there, the head says %d entries", short, n), 0, short-1, short)
	spy.set(map[int]string{short - 10: other}, short)
	check("hash list short after an altered hash", short-10, "the entry's hash is not the stored hash of its index", 0)
	spy.set(nil, 0)

	// An entry of the third page carries the index of one of the first: its
	// hash is compared with that entry's stored hash, read alone, and the
	// break reported there.
	spy.mu.Lock()
	spy.reindex = map[int]int{2*trailHashPage + 3: 5}
	spy.mu.Unlock()
	check("index altered", 5, "the entry's hash is not the stored hash of its index", 0)
	spy.mu.Lock()
	spy.reindex = nil
	spy.mu.Unlock()

	if _, err := svc.Proof(ctx, doc.ID(), n); !errors.Is(err, evaluate.ErrNotFound) {
		t.Fatalf("proof beyond the head: %v", err)
	}

	// Trimmed into the second page: the rest verifies, the root is the same,
	// and the checkpoint is checked against the stored hash.
	ck := trailHashPage + 20
	if h, err := svc.Trim(ctx, doc.ID(), ck); err != nil || h.Len != ck || h.Hash != hashes[ck-1] {
		t.Fatalf("trim: %+v %v", h, err)
	}
	check("trimmed", -1, "", ck, ck-1)
	spy.set(map[int]string{ck - 1: other}, 0)
	check("checkpoint hash altered", ck-1, "the checkpoint hash is not the entry's hash", ck, ck-1)
	spy.set(map[int]string{ck - 2: other, 2*trailHashPage + 3: other}, 0)
	check("altered after the checkpoint", 2*trailHashPage+3, "the entry's hash is not the stored hash of its index", ck, 2*trailHashPage+3)
}

// TestExportDuringTrim: a trim that passes an export's position before the
// entries there were read fails the export with ErrTrimmed instead of ending
// it early as if complete, and a trim before the first entry only moves the
// start (SQLite, 2,500 entries: three pages).
func TestExportDuringTrim(t *testing.T) {
	ctx := testContext(t)
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlitestore.WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	doc := newIssuer(t).build(t, "permit read on '**'", nil)
	put(t, st, doc)
	svc := newService(t, st, nil)
	const n = 2500
	for k := range n {
		if err := appendEntry(ctx, st, doc.ID(), k); err != nil {
			t.Fatal(err)
		}
	}

	// A trim to 1,500 while the first page is being written: entries 1,000
	// to 1,499 are gone before the export reads them.
	var got []int
	err = svc.Export(ctx, doc.ID(), 0, func(e *audit.Entry) error {
		if len(got) == 0 {
			if _, err := svc.Trim(ctx, doc.ID(), 1500); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, e.Index)
		return nil
	})
	if !errors.Is(err, evaluate.ErrTrimmed) {
		t.Fatalf("export across a trim: %v after %d entries, want ErrTrimmed", err, len(got))
	}
	if len(got) != evaluate.MaxPageSize || got[len(got)-1] != evaluate.MaxPageSize-1 {
		t.Errorf("export across a trim gave %d entries ending at %v, want the first page", len(got), got[len(got)-1])
	}

	// From below the checkpoint, with nothing written yet: the export
	// starts at the checkpoint and is complete.
	got = got[:0]
	if err := svc.Export(ctx, doc.ID(), 0, func(e *audit.Entry) error {
		got = append(got, e.Index)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != n-1500 || got[0] != 1500 || got[len(got)-1] != n-1 {
		t.Errorf("export after the trim: %d entries from %d, want %d from 1500", len(got), got[0], n-1500)
	}
}

// appendEntry appends to covenant id's trail in st an entry permitting a
// read of /r/k.
func appendEntry(ctx context.Context, st store.AuditLog, id string, k int) error {
	_, err := st.AppendAudit(ctx, id, func(prev audit.Head) (audit.Entry, error) {
		e := audit.Entry{Index: prev.Len, Timestamp: "2025-01-01T00:00:00.000Z", Action: "read",
			Resource: fmt.Sprintf("/r/%d", k), Result: audit.Result{Permitted: true, Reason: "ok"},
			Outcome: audit.Executed, PreviousHash: prev.Hash}
		return e.Seal(), nil
	})
	return err
}
