package evaluate_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/store"
)

// trimDuring is a store that trims a trail to upTo entries the first time
// VerifyTrail reads its entries, as a concurrent POST …/audit/trim would.
type trimDuring struct {
	store.Store
	t    testing.TB
	upTo int
	once sync.Once
}

func (s *trimDuring) AuditEntries(ctx context.Context, id string, start, end int) ([]audit.Entry, error) {
	s.once.Do(func() {
		if _, err := s.Store.TrimAudit(ctx, id, s.upTo); err != nil {
			s.t.Errorf("trim to %d: %v", s.upTo, err)
		}
	})
	return s.Store.AuditEntries(ctx, id, start, end)
}

// TestVerifyTrailDuringTrim: a trim that removes entries VerifyTrail has yet
// to read does not make an intact trail look broken (it did: "index field
// is N" or "the entry is missing" at the old checkpoint), on both stores;
// the report is of the trail as trimmed. A real break is still reported.
func TestVerifyTrailDuringTrim(t *testing.T) {
	for _, sk := range storeKinds() {
		t.Run(sk.name, func(t *testing.T) {
			ctx := testContext(t)
			st := sk.open(t)
			doc := newIssuer(t).build(t, "permit read on '**'", nil)
			put(t, st, doc)
			const n = 40
			for k := range n {
				if err := appendEntry(ctx, st, doc.ID(), k); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.TrimAudit(ctx, doc.ID(), 10); err != nil {
				t.Fatal(err)
			}
			spy := &trimDuring{Store: st, t: t, upTo: 30}
			svc := newService(t, spy, nil)
			rep, err := svc.VerifyTrail(ctx, doc.ID())
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Valid || rep.Entries != n || rep.Checkpoint != 30 {
				t.Fatalf("verify across a trim from 10 to 30: %+v, want valid, %d entries, checkpoint 30", rep, n)
			}
			hs, err := st.AuditHashes(ctx, doc.ID(), 0, n)
			if err != nil {
				t.Fatal(err)
			}
			if rep.MerkleRoot != audit.MerkleRoot(hs) {
				t.Errorf("merkle root %s, want %s", rep.MerkleRoot, audit.MerkleRoot(hs))
			}

			// A trail whose entry does not match its stored hash is broken,
			// trim or not.
			tamper := &hashSpy{Store: &trimDuring{Store: st, t: t, upTo: 35}, t: t, reindex: map[int]int{36: 99}}
			rep, err = newService(t, tamper, nil).VerifyTrail(ctx, doc.ID())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Valid || rep.BrokenAt == nil || *rep.BrokenAt != 36 {
				t.Errorf("a broken trail across a trim: %+v, want broken at 36", rep)
			}
		})
	}
}
