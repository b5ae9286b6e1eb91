package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// sampleLog returns the entries of a monitor after n mixed decisions.
func sampleLog(t *testing.T, n int) []Entry {
	t.Helper()
	clk := newClock(epoch)
	m := mustMonitor(t, "c", "permit read on '/data/**'\ndeny read on '/data/secret/**' severity critical", WithClock(clk.Now), WithMode(LogOnly))
	ctx := context.Background()
	for i := range n {
		res := "/data/" + fmt.Sprint(i)
		if i%3 == 0 {
			res = "/data/secret/" + fmt.Sprint(i)
		}
		if _, err := m.Evaluate(ctx, "read", res, ctxOf("i", float64(i))); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Millisecond)
	}
	snap, err := m.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Entries
}

func TestVerifyIntegrityTampering(t *testing.T) {
	log := sampleLog(t, 10)
	if err := VerifyIntegrity(log); err != nil {
		t.Fatalf("untouched log: %v", err)
	}
	if err := VerifyIntegrity(nil); err != nil {
		t.Fatalf("empty log: %v", err)
	}
	reseal := func(es []Entry, i int) { es[i] = es[i].Seal() }
	cases := []struct {
		name   string
		tamper func([]Entry) []Entry
		at     int
	}{
		{"edited action", func(es []Entry) []Entry { es[4].Action = "write"; return es }, 4},
		{"edited context", func(es []Entry) []Entry { es[7].Context.Set("i", 99.0); return es }, 7},
		{"edited outcome", func(es []Entry) []Entry { es[0].Outcome = Denied; return es }, 0},
		{"edited permitted", func(es []Entry) []Entry { es[3].Result.Permitted = true; return es }, 3},
		{"edited and resealed", func(es []Entry) []Entry { es[5].Resource = "/x"; reseal(es, 5); return es }, 6},
		{"last edited and resealed", func(es []Entry) []Entry { es[9].Resource = "/x"; reseal(es, 9); return es }, -1},
		{"hash replaced", func(es []Entry) []Entry { es[2].Hash = es[1].Hash; return es }, 2},
		{"deleted", func(es []Entry) []Entry { return slices.Delete(es, 4, 5) }, 4},
		{"first deleted", func(es []Entry) []Entry { return es[1:] }, 0},
		{"reordered", func(es []Entry) []Entry { es[3], es[6] = es[6], es[3]; return es }, 3},
		{"index edited", func(es []Entry) []Entry { es[8].Index = 80; return es }, 8},
		{"genesis changed", func(es []Entry) []Entry { es[0].PreviousHash = es[1].Hash; return es }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			es := make([]Entry, len(log))
			for i := range log {
				es[i] = log[i].Clone()
			}
			err := VerifyIntegrity(tc.tamper(es))
			if tc.at < 0 {
				// Resealing the last entry is undetectable from the chain
				// alone: that is what the Merkle root is published for.
				if err != nil {
					t.Fatalf("resealed last entry: %v", err)
				}
				if MerkleRoot(hashes(es)) == MerkleRoot(hashes(log)) {
					t.Error("Merkle root did not change")
				}
				return
			}
			var ie *IntegrityError
			if !errors.As(err, &ie) || !errors.Is(err, ErrIntegrity) {
				t.Fatalf("got %v, want an IntegrityError", err)
			}
			if ie.Index != tc.at {
				t.Errorf("broken at %d (%s), want %d", ie.Index, ie.Reason, tc.at)
			}
		})
	}
}

func TestVerifyFromSegments(t *testing.T) {
	log := sampleLog(t, 9)
	for cut := 0; cut <= len(log); cut++ {
		if err := VerifyIntegrity(log[:cut]); err != nil {
			t.Fatalf("prefix %d: %v", cut, err)
		}
		prev := Head{Len: cut, Hash: GenesisHash}
		if cut > 0 {
			prev.Hash = log[cut-1].Hash
		}
		if err := VerifyFrom(prev, log[cut:]); err != nil {
			t.Fatalf("suffix from %d: %v", cut, err)
		}
	}
	var ie *IntegrityError
	if err := VerifyFrom(Head{Len: 2, Hash: log[0].Hash}, log[2:]); !errors.As(err, &ie) || ie.Index != 2 {
		t.Errorf("wrong head accepted: %v", err)
	}
}

func TestMemoryLogContract(t *testing.T) {
	ctx := context.Background()
	l := NewMemoryLog()
	h, err := l.Head(ctx, "c")
	if err != nil || h != (Head{Hash: GenesisHash}) {
		t.Fatalf("empty head %+v %v", h, err)
	}
	mk := func(prev Head) (Entry, error) {
		return Entry{Index: prev.Len, Action: "a", PreviousHash: prev.Hash}.Seal(), nil
	}
	for range 3 {
		if _, err := l.Append(ctx, "c", mk); err != nil {
			t.Fatal(err)
		}
	}
	_, err = l.Append(ctx, "c", func(prev Head) (Entry, error) {
		return Entry{Index: prev.Len + 1, PreviousHash: prev.Hash}, nil
	})
	if !errors.Is(err, ErrHeadMoved) {
		t.Errorf("skipped index accepted: %v", err)
	}
	_, err = l.Append(ctx, "c", func(prev Head) (Entry, error) {
		return Entry{Index: prev.Len, PreviousHash: GenesisHash}, nil
	})
	if !errors.Is(err, ErrHeadMoved) {
		t.Errorf("stale previousHash accepted: %v", err)
	}
	errBuild := errors.New("build failed")
	if _, err := l.Append(ctx, "c", func(Head) (Entry, error) { return Entry{}, errBuild }); !errors.Is(err, errBuild) {
		t.Errorf("build error: %v", err)
	}
	all, err := l.Entries(ctx, "c", 0, -1)
	if err != nil || len(all) != 3 || VerifyIntegrity(all) != nil {
		t.Fatalf("entries %d %v", len(all), err)
	}
	h, _ = l.Head(ctx, "c")
	if h.Len != 3 || h.Hash != all[2].Hash {
		t.Errorf("head %+v", h)
	}
	for _, r := range []struct{ start, end, want int }{{1, 2, 1}, {-5, 100, 3}, {2, 1, 0}, {3, -1, 0}, {1, -1, 2}} {
		got, err := l.Entries(ctx, "c", r.start, r.end)
		if err != nil || len(got) != r.want {
			t.Errorf("Entries(%d, %d) = %d entries, want %d (%v)", r.start, r.end, len(got), r.want, err)
		}
	}
	if es, _ := l.Entries(ctx, "unknown", 0, -1); len(es) != 0 {
		t.Error("unknown covenant has entries")
	}
	if err := l.Reset(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if h, _ := l.Head(ctx, "c"); h.Len != 0 {
		t.Error("reset kept entries")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Append(cancelled, "c", mk); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled append: %v", err)
	}
}

// TestMemoryLogConcurrentAppend appends from many goroutines while others read.
func TestMemoryLogConcurrentAppend(t *testing.T) {
	ctx := context.Background()
	l := NewMemoryLog()
	const writers, per = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				_, err := l.Append(ctx, "c", func(prev Head) (Entry, error) {
					return Entry{Index: prev.Len, Action: fmt.Sprint(w, ".", i), Context: ctxOf("w", float64(w)), PreviousHash: prev.Hash}.Seal(), nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				es, err := l.Entries(ctx, "c", 0, -1)
				if err != nil {
					t.Error(err)
					return
				}
				if err := VerifyIntegrity(es); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	es, err := l.Entries(ctx, "c", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != writers*per {
		t.Fatalf("%d entries, want %d", len(es), writers*per)
	}
	if err := VerifyIntegrity(es); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.Action] {
			t.Fatalf("entry %s appended twice", e.Action)
		}
		seen[e.Action] = true
	}
}
