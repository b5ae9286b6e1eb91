package registry_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/registry"
	"github.com/stele-go/stele/internal/store"
)

// countingRevs counts RevokedKeys calls.
type countingRevs struct {
	store.Revocations
	calls atomic.Int64
	asked []string
}

func (c *countingRevs) RevokedKeys(ctx context.Context, keys []string) (map[string]store.Revocation, error) {
	c.calls.Add(1)
	c.asked = append(c.asked, keys...)
	return c.Revocations.RevokedKeys(ctx, keys)
}

func TestRevoked(t *testing.T) {
	for _, o := range stores {
		t.Run(o.name, func(t *testing.T) {
			ctx := testContext(t)
			st := o.open(t)
			at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			bad, badCounter, good := key(t, 1), key(t, 2), key(t, 3)
			for _, r := range []store.Revocation{
				{PublicKey: bad.PublicHex(), KeyID: "ops-2025", Reason: "compromised", RevokedAt: at},
				{PublicKey: badCounter.PublicHex(), Reason: "lost", RevokedAt: at},
			} {
				if err := st.RevokeKey(ctx, r); err != nil {
					t.Fatalf("RevokeKey: %v", err)
				}
			}
			byBad := build(t, bad, childCCL, nil)
			byGood := build(t, good, childCCL, nil)
			countersigned, err := covenant.Countersign(byGood, badCounter, covenant.RoleAuditor)
			if err != nil {
				t.Fatal(err)
			}
			cleanCountersigned, err := covenant.Countersign(byGood, key(t, 4), covenant.RoleAuditor)
			if err != nil {
				t.Fatal(err)
			}
			both, err := covenant.Countersign(byBad, badCounter, covenant.RoleAuditor)
			if err != nil {
				t.Fatal(err)
			}

			revs := &countingRevs{Revocations: st}
			docs := []*covenant.Document{byBad, byGood, nil, countersigned, cleanCountersigned, both, byBad}
			checks, err := registry.Revoked(ctx, revs, docs)
			if err != nil {
				t.Fatal(err)
			}
			if n := revs.calls.Load(); n != 1 || len(revs.asked) != 4 {
				t.Errorf("%d RevokedKeys calls for %d keys, want 1 call for the 4 distinct keys", n, len(revs.asked))
			}
			wantIssuer := "issuer key " + bad.PublicHex()[:16] + "… (ops-2025) was revoked at 2026-03-01T12:00:00Z: compromised"
			wantCounter := "countersigner key " + badCounter.PublicHex()[:16] + "… was revoked at 2026-03-01T12:00:00Z: lost"
			for i, want := range []string{wantIssuer, "", "", wantCounter, "", wantIssuer + "; " + wantCounter, wantIssuer} {
				c := checks[i]
				switch {
				case want == "" && c != nil:
					t.Errorf("doc %d: unexpected check %+v", i, *c)
				case want != "" && (c == nil || c.Name != registry.CheckKeyNotRevoked || c.Passed || c.Message != want):
					t.Errorf("doc %d: check %+v, want failing key_not_revoked %q", i, c, want)
				}
			}

			// Nothing to look up: no round trip.
			revs2 := &countingRevs{Revocations: st}
			if checks, err := registry.Revoked(ctx, revs2, []*covenant.Document{nil}); err != nil || checks[0] != nil || revs2.calls.Load() != 0 {
				t.Errorf("no documents: %v, %v, %d calls", checks, err, revs2.calls.Load())
			}
		})
	}
}
