package evaluate_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
)

// appendEntries appends n entries to covenant id's trail (appendEntry with
// k = 0 to n-1).
func appendEntries(t *testing.T, st store.AuditLog, id string, n int) {
	t.Helper()
	for k := range n {
		if err := appendEntry(testContext(t), st, id, k); err != nil {
			t.Fatal(err)
		}
	}
}

// tamperCase edits a trail of 10 entries in the backend; VerifyTrail must
// report the first break at brokenAt.
type tamperCase struct {
	name     string
	edit     func(ctx context.Context, t *testing.T, id string)
	brokenAt int
}

func checkTamper(t *testing.T, st store.Store, cases []tamperCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			doc := newIssuer(t).build(t, "permit read on '**'", nil)
			put(t, st, doc)
			svc := newService(t, st, nil)
			appendEntries(t, st, doc.ID(), 10)
			if rep, err := svc.VerifyTrail(ctx, doc.ID()); err != nil || !rep.Valid {
				t.Fatalf("before the edit: %+v %v", rep, err)
			}
			tc.edit(ctx, t, doc.ID())
			rep, err := svc.VerifyTrail(ctx, doc.ID())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Valid || rep.BrokenAt == nil || *rep.BrokenAt != tc.brokenAt {
				t.Fatalf("after the edit: %+v, want broken at %d", rep, tc.brokenAt)
			}
			// A proof is given only over hashes at their own index: one
			// before the break verifies, none is made from a shifted list.
			p, err := svc.Proof(ctx, doc.ID(), 0)
			if err != nil || !audit.VerifyProof(p) {
				t.Fatalf("proof of entry 0: %+v %v", p, err)
			}
		})
	}
}

// TestTamperSQLite edits audit_entries directly: a deleted row is reported
// at its index, also when the rows after it are renumbered to close the gap.
func TestTamperSQLite(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := sqlitestore.Open(ctx, path, sqlitestore.WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	exec := func(stmts ...string) func(context.Context, *testing.T, string) {
		return func(ctx context.Context, t *testing.T, id string) {
			for _, q := range stmts {
				if _, err := db.ExecContext(ctx, q, id); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}
	}
	const where = ` WHERE covenant_id = ?1 AND idx = `
	checkTamper(t, st, []tamperCase{
		{"deleted", exec(`DELETE FROM audit_entries` + where + `3`), 3},
		{"deleted last", exec(`DELETE FROM audit_entries` + where + `9`), 9},
		{"deleted and renumbered", exec(
			`DELETE FROM audit_entries`+where+`3`,
			`UPDATE audit_entries SET idx = idx + 100 WHERE covenant_id = ?1 AND idx > 3`,
			`UPDATE audit_entries SET idx = idx - 101 WHERE covenant_id = ?1 AND idx > 100`), 3},
		{"reordered", exec(
			`UPDATE audit_entries SET idx = 100`+where+`4`,
			`UPDATE audit_entries SET idx = 4`+where+`5`,
			`UPDATE audit_entries SET idx = 5`+where+`100`), 4},
		{"duplicated", exec(`UPDATE audit_entries SET body = (SELECT body FROM audit_entries` + where + `3), hash = (SELECT hash FROM audit_entries` + where + `3)` + where + `4`), 4},
		{"altered", exec(`UPDATE audit_entries SET body = replace(body, '/r/6', '/x/6')` + where + `6`), 6},
	})

	// Proofs stop at a missing row instead of shifting the hashes after it.
	doc := newIssuer(t).build(t, "permit read on '**'", nil)
	put(t, st, doc)
	svc := newService(t, st, nil)
	appendEntries(t, st, doc.ID(), 10)
	exec(`DELETE FROM audit_entries`+where+`3`)(ctx, t, doc.ID())
	for _, i := range []int{3, 7, 9} {
		if p, err := svc.Proof(ctx, doc.ID(), i); !errors.Is(err, evaluate.ErrNotFound) {
			t.Errorf("proof of entry %d after row 3 was deleted: %+v %v; want not found", i, p, err)
		}
	}
}

// TestTamperRedis edits the entries list directly.
func TestTamperRedis(t *testing.T) {
	env := newRedisEnv(t)
	rc := redis.NewClient(mustOptions(t, env.url))
	t.Cleanup(func() { rc.Close() })
	list := func(id string) string { return env.prefix + "{audit:" + id + "}:entries" }
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	checkTamper(t, env.a, []tamperCase{
		{"deleted", func(ctx context.Context, t *testing.T, id string) {
			must(t, rc.LSet(ctx, list(id), 3, "gone").Err())
			must(t, rc.LRem(ctx, list(id), 1, "gone").Err())
		}, 3},
		{"deleted first", func(ctx context.Context, t *testing.T, id string) { must(t, rc.LPop(ctx, list(id)).Err()) }, 0},
		{"reordered", func(ctx context.Context, t *testing.T, id string) {
			a, err := rc.LIndex(ctx, list(id), 4).Result()
			must(t, err)
			b, err := rc.LIndex(ctx, list(id), 5).Result()
			must(t, err)
			must(t, rc.LSet(ctx, list(id), 4, b).Err())
			must(t, rc.LSet(ctx, list(id), 5, a).Err())
		}, 4},
		{"duplicated", func(ctx context.Context, t *testing.T, id string) {
			a, err := rc.LIndex(ctx, list(id), 3).Result()
			must(t, err)
			must(t, rc.LInsertAfter(ctx, list(id), a, a).Err())
		}, 4},
	})
}

// TestHeldEntryDetectsLostTail: a store that lost the last entries of a
// trail with its head (a failover to a replica that had not received them)
// holds a trail that verifies by itself; a caller holding an entry it was
// given finds the loss, and finds the trail rewritten once it has grown
// past that index again. Each store is a fresh one holding the first 7 of
// the 10 entries the first one holds.
func TestHeldEntryDetectsLostTail(t *testing.T) {
	for _, sk := range storeKinds() {
		t.Run(sk.name, func(t *testing.T) {
			ctx := testContext(t)
			doc := newIssuer(t).build(t, "permit read on '**'", nil)
			before := sk.open(t)
			put(t, before, doc)
			appendEntries(t, before, doc.ID(), 10)
			hashes, err := before.AuditHashes(ctx, doc.ID(), 0, 10)
			if err != nil || len(hashes) != 10 {
				t.Fatalf("hashes: %q, %v", hashes, err)
			}
			last, kept := evaluate.EntryRef{Index: 9, Hash: hashes[9]}, evaluate.EntryRef{Index: 6, Hash: hashes[6]}

			after := sk.open(t)
			put(t, after, doc)
			appendEntries(t, after, doc.ID(), 7) // the same first 7 entries
			svc := newService(t, after, nil)
			check := func(what string, wantBroken int, held ...evaluate.EntryRef) {
				t.Helper()
				rep, err := svc.VerifyTrail(ctx, doc.ID(), held...)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				switch {
				case wantBroken < 0 && !rep.Valid:
					t.Errorf("%s: %+v, want valid", what, rep)
				case wantBroken >= 0 && (rep.Valid || rep.BrokenAt == nil || *rep.BrokenAt != wantBroken):
					t.Errorf("%s: %+v, want broken at %d", what, rep, wantBroken)
				}
			}
			check("the cut trail alone", -1)
			check("holding entry 6", -1, kept)
			check("holding entry 9", 7, last)
			check("holding entries 6 and 9", 7, kept, last)

			// The trail moves on with other entries at 7 to 9.
			for k := range 3 {
				if err := appendEntry(ctx, after, doc.ID(), 100+k); err != nil {
					t.Fatal(err)
				}
			}
			check("the regrown trail alone", -1)
			check("regrown, holding entry 6", -1, kept)
			check("regrown, holding entry 9", 9, last)
		})
	}

	// Bad held entries name the parameter.
	st := newRedisEnv(t).a
	doc := newIssuer(t).build(t, "permit read on '**'", nil)
	put(t, st, doc)
	svc := newService(t, st, nil)
	h := strings.Repeat("a", 64)
	for _, c := range []struct {
		held  []evaluate.EntryRef
		field string
	}{
		{[]evaluate.EntryRef{{Index: -1, Hash: h}}, "index"},
		{[]evaluate.EntryRef{{Index: 0, Hash: "abc"}}, "hash"},
		{[]evaluate.EntryRef{{Index: 0, Hash: h}, {Index: 0, Hash: strings.Repeat("b", 64)}}, "hash"},
	} {
		_, err := svc.VerifyTrail(testContext(t), doc.ID(), c.held...)
		var ee *evaluate.Error
		if !errors.As(err, &ee) || !errors.Is(err, evaluate.ErrInvalid) || ee.Field != c.field {
			t.Errorf("held %+v: %v, want an invalid %s", c.held, err, c.field)
		}
	}
}
