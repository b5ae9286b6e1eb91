package evaluate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// redisEnv is one Redis server with two stores on it (two processes).
type redisEnv struct {
	url    string
	prefix string
	a, b   *redisstore.Store
}

func newRedisEnv(t *testing.T) *redisEnv {
	t.Helper()
	e := &redisEnv{url: redistest.Start(t), prefix: redistest.KeyPrefix(t)}
	e.a = e.open(t)
	e.b = e.open(t)
	return e
}

func (e *redisEnv) open(t *testing.T) *redisstore.Store {
	t.Helper()
	st, err := redisstore.Open(testContext(t), e.url, redisstore.WithKeyPrefix(e.prefix))
	if err != nil {
		t.Fatalf("redisstore: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// storeKind opens a fresh store of one kind for a test.
type storeKind struct {
	name string
	open func(t *testing.T) store.Store
}

// storeKinds are the two stores: Redis (a server of the test's own and a
// fresh key prefix) and SQLite (a file of the test's own).
func storeKinds() []storeKind {
	return []storeKind{
		{"redis", func(t *testing.T) store.Store { return newRedisEnv(t).a }},
		{"sqlite", func(t *testing.T) store.Store {
			st, err := sqlitestore.Open(testContext(t), filepath.Join(t.TempDir(), "s.db"), sqlitestore.WithSynchronous("NORMAL"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	}
}

func newService(t *testing.T, st store.Store, now func() time.Time) *evaluate.Service {
	t.Helper()
	svc, err := evaluate.New(evaluate.Config{Documents: st, Audit: st, Limits: st, Now: now, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// issuer is a signing key with its party.
type issuer struct {
	key *keys.PrivateKey
}

func newIssuer(t testing.TB) issuer {
	k, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return issuer{k}
}

// build signs a covenant with constraints, applying mod to the options.
func (is issuer) build(t testing.TB, constraints string, mod func(*covenant.BuildOptions)) *covenant.Document {
	t.Helper()
	ben := newIssuer(t)
	opts := covenant.BuildOptions{
		Issuer:      covenant.Party{ID: "alice", PublicKey: is.key.PublicHex(), Role: covenant.RoleIssuer},
		Beneficiary: covenant.Party{ID: "agent", PublicKey: ben.key.PublicHex(), Role: covenant.RoleBeneficiary},
		Constraints: constraints,
	}
	if mod != nil {
		mod(&opts)
	}
	d, err := covenant.Build(opts, is.key)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return d
}

func put(t testing.TB, st store.Documents, docs ...*covenant.Document) {
	t.Helper()
	var sd []store.Document
	for _, d := range docs {
		sd = append(sd, store.Document{ID: d.ID(), JSON: d.AppendJSON(nil), IssuerID: "alice", BeneficiaryID: "agent", CreatedAt: d.CreatedAt()})
	}
	if err := st.PutDocuments(testContext(t), sd); err != nil {
		t.Fatalf("put documents: %v", err)
	}
}

const policy = `permit read on '/data/**'
deny write on '/system/**' severity critical
permit write on '/data/**' when role = 'admin'
deny delete on '**'`

// TestEvaluateMatchesCCL checks decisions against ccl.Evaluate over the
// same constraints, with one audit entry per evaluation, on both stores.
func TestEvaluateMatchesCCL(t *testing.T) {
	for _, sk := range storeKinds() {
		t.Run(sk.name, func(t *testing.T) {
			st := sk.open(t)
			ctx := testContext(t)
			doc := newIssuer(t).build(t, policy, nil)
			put(t, st, doc)
			svc := newService(t, st, nil)
			pol, err := ccl.Parse(policy)
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct{ action, resource, context string }{
				{"read", "/data/x/y", ""},
				{"read", "/other", ""},
				{"write", "/system/boot", ""},
				{"write", "/data/a", `{"role":"admin"}`},
				{"write", "/data/a", `{"role":"guest"}`},
				{"write", "/data/a", `null`},
				{"delete", "/data/a", ""},
				{"exec", "/bin/sh", `{}`},
			}
			for i, c := range cases {
				d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: doc.ID(), Action: c.action, Resource: c.resource, Context: json.RawMessage(c.context)})
				if err != nil {
					t.Fatalf("case %d: %v", i, err)
				}
				var cobj *canon.Object
				if c.context != "" && c.context != "null" {
					v, _ := canon.Parse([]byte(c.context))
					cobj = v.(*canon.Object)
				}
				want := ccl.Evaluate(pol, c.action, c.resource, cobj)
				if d.Permitted != want.Permitted || d.Reason != want.Reason || d.Severity != want.Severity {
					t.Errorf("case %d %s %s: got %+v, ccl says %+v", i, c.action, c.resource, d, want)
				}
				if (d.MatchedRule == nil) != (want.MatchedRule == nil) ||
					d.MatchedRule != nil && (d.MatchedRule.Line != want.MatchedRule.Line || d.MatchedRule.Type != string(want.MatchedRule.Type)) {
					t.Errorf("case %d: matched rule %+v, ccl says %+v", i, d.MatchedRule, want.MatchedRule)
				}
				if d.AuditEntry.Index != i || len(d.AuditEntry.Hash) != 64 {
					t.Errorf("case %d: audit entry %+v", i, d.AuditEntry)
				}
			}
			rep, err := svc.VerifyTrail(ctx, doc.ID())
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Valid || rep.Entries != len(cases) {
				t.Fatalf("trail: %+v", rep)
			}
			page, err := svc.Entries(ctx, doc.ID(), 2, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Entries) != 3 || page.Entries[0].Index != 2 || page.Next == nil || *page.Next != 5 {
				t.Fatalf("page: %d entries, next %v", len(page.Entries), page.Next)
			}
			if page.Entries[1].Action != cases[3].action || page.Entries[1].Outcome != audit.Executed {
				t.Errorf("entry 3: %+v", page.Entries[1])
			}
		})
	}
}

// TestRateLimitAcrossProcesses evaluates 1,000 times concurrently through
// two services on two stores sharing one Redis (two gateway processes)
// against `limit … 100 per 1 minute`: exactly 100 are permitted, and the
// trail of all 1,000 verifies, proves and detects an edit.
func TestRateLimitAcrossProcesses(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	doc := newIssuer(t).build(t, "permit api.call on '**'\nlimit api.call 100 per 1 minutes", nil)
	put(t, env.a, doc)
	svcs := []*evaluate.Service{newService(t, env.a, nil), newService(t, env.b, nil)}

	const n = 1000
	var permitted, denied atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			d, err := svcs[i%2].Evaluate(ctx, evaluate.Request{CovenantID: doc.ID(), Action: "api.call", Resource: fmt.Sprintf("/r/%d", i)})
			if err != nil {
				errs <- err
				return
			}
			if d.Permitted {
				permitted.Add(1)
			} else {
				denied.Add(1)
				if d.Reason != "Rate limit exceeded for action 'api.call'" || d.Severity != ccl.SeverityHigh {
					errs <- fmt.Errorf("denial %+v", d)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if permitted.Load() != 100 || denied.Load() != n-100 {
		t.Fatalf("permitted %d, denied %d; want 100 and %d", permitted.Load(), denied.Load(), n-100)
	}

	rep, err := svcs[1].VerifyTrail(ctx, doc.ID())
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := env.a.AuditHashes(ctx, doc.ID(), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Valid || rep.Entries != n || rep.BrokenAt != nil || rep.MerkleRoot != audit.MerkleRoot(hashes) || len(hashes) != n {
		t.Fatalf("trail %+v (%d hashes)", rep, len(hashes))
	}
	// Every index 0..n-1 exactly once, and 100 EXECUTED.
	executed := 0
	err = svcs[0].Export(ctx, doc.ID(), 0, func(e *audit.Entry) error {
		if e.Outcome == audit.Executed {
			executed++
		}
		return nil
	})
	if err != nil || executed != 100 {
		t.Fatalf("export: %v, %d executed", err, executed)
	}
	for _, i := range []int{0, 1, 517, n - 1} {
		p, err := svcs[0].Proof(ctx, doc.ID(), i)
		if err != nil {
			t.Fatal(err)
		}
		if !audit.VerifyProof(p) || p.Root != rep.MerkleRoot || p.EntryHash != hashes[i] {
			t.Fatalf("proof of %d does not verify: %+v", i, p)
		}
	}
	if _, err := svcs[0].Proof(ctx, doc.ID(), n); !errors.Is(err, evaluate.ErrNotFound) {
		t.Fatalf("proof beyond the head: %v", err)
	}

	// Trim, then the remainder still verifies and the root is unchanged.
	h, err := svcs[0].Trim(ctx, doc.ID(), 400)
	if err != nil || h.Len != 400 || h.Hash != hashes[399] {
		t.Fatalf("trim: %+v %v", h, err)
	}
	rep2, err := svcs[1].VerifyTrail(ctx, doc.ID())
	if err != nil || !rep2.Valid || rep2.MerkleRoot != rep.MerkleRoot || rep2.Checkpoint != 400 || rep2.Entries != n {
		t.Fatalf("after trim: %+v %v", rep2, err)
	}
	if _, err := svcs[0].Trim(ctx, doc.ID(), n+1); !errors.Is(err, evaluate.ErrInvalid) {
		t.Fatalf("trim beyond the head: %v", err)
	}

	// Edit entry 700 in Redis: verification reports it.
	rc := redis.NewClient(mustOptions(t, env.url))
	t.Cleanup(func() { rc.Close() })
	key := env.prefix + "{audit:" + doc.ID() + "}:entries"
	pos := int64(700 - 400)
	raw, err := rc.LIndex(ctx, key, pos).Result()
	if err != nil {
		t.Fatalf("read entry: %v", err)
	}
	if !strings.Contains(raw, `"index":700`) {
		t.Fatalf("list position %d holds %s", pos, raw)
	}
	edited := strings.Replace(raw, `"resource":"/r/`, `"resource":"/x/`, 1)
	if edited == raw {
		t.Fatalf("nothing to edit in %s", raw)
	}
	if err := rc.LSet(ctx, key, pos, edited).Err(); err != nil {
		t.Fatal(err)
	}
	rep3, err := svcs[0].VerifyTrail(ctx, doc.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rep3.Valid || rep3.BrokenAt == nil || *rep3.BrokenAt != 700 {
		t.Fatalf("after an edit of entry 700: %+v", rep3)
	}
	// Deleting the last entry's body is detected too.
	if err := rc.LSet(ctx, key, pos, raw).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.RPop(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	rep4, err := svcs[0].VerifyTrail(ctx, doc.ID())
	if err != nil || rep4.Valid || rep4.BrokenAt == nil || *rep4.BrokenAt != n-1 {
		t.Fatalf("after losing the last entry: %+v %v", rep4, err)
	}
}

func mustOptions(t *testing.T, url string) *redis.Options {
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestLapsedCovenant: an expired or not yet active covenant denies, and the
// denial is audited.
func TestLapsedCovenant(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	is := newIssuer(t)
	expired := is.build(t, "permit read on '**'", func(o *covenant.BuildOptions) { o.ExpiresAt = "2020-01-01T00:00:00.000Z" })
	future := is.build(t, "permit read on '**'", func(o *covenant.BuildOptions) { o.ActivatesAt = "2999-01-01T00:00:00.000Z" })
	live := is.build(t, "permit read on '**'", func(o *covenant.BuildOptions) {
		o.ExpiresAt, o.ActivatesAt = "2999-01-01T00:00:00.000Z", "2020-01-01T00:00:00.000Z"
	})
	put(t, env.a, expired, future, live)
	svc := newService(t, env.a, nil)
	for _, c := range []struct {
		doc    *covenant.Document
		permit bool
		reason string
	}{
		{expired, false, "Covenant expired at 2020-01-01T00:00:00.000Z"},
		{future, false, "Covenant is not active until 2999-01-01T00:00:00.000Z"},
		{live, true, "Permitted by rule: permit read on '**'"},
	} {
		d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: c.doc.ID(), Action: "read", Resource: "/a", Context: json.RawMessage(`{"k":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Permitted != c.permit || !c.permit && (d.Reason != c.reason || d.Severity != ccl.SeverityCritical || d.MatchedRule != nil) {
			t.Errorf("%s: %+v", c.reason, d)
		}
		es, err := env.a.AuditEntries(ctx, c.doc.ID(), 0, -1)
		if err != nil || len(es) != 1 || es[0].Result.Permitted != c.permit || es[0].Hash != d.AuditEntry.Hash {
			t.Fatalf("%s: audit %+v %v", c.reason, es, err)
		}
		if !c.permit && (es[0].Outcome != audit.Denied || es[0].Result.Reason != c.reason) {
			t.Errorf("%s: entry %+v", c.reason, es[0])
		}
		if err := audit.VerifyIntegrity(es); err != nil {
			t.Error(err)
		}
	}
}

// TestLapsedCovenantNonStringBounds: an expiresAt or activatesAt that is not
// a string is still a bound, read as the reference's not_expired and active
// checks read it (new Date(value): a number is epoch milliseconds). A signed
// covenant with a numeric expiresAt in the past fails verification, so it
// must not permit actions either (it did: only string bounds were read).
func TestLapsedCovenantNonStringBounds(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	is := newIssuer(t)
	withBounds := func(set func(o *canon.Object)) *covenant.Document {
		t.Helper()
		o := canon.CloneObject(is.build(t, "permit read on '**'", nil).Object())
		set(o)
		unsigned, err := covenant.FromObject(o)
		if err != nil {
			t.Fatal(err)
		}
		d, err := covenant.Resign(unsigned, is.key)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	expired := withBounds(func(o *canon.Object) { o.Set("expiresAt", 1577836800000.0) })    // 2020-01-01
	pending := withBounds(func(o *canon.Object) { o.Set("activatesAt", 32503680000000.0) }) // 3000-01-01
	lapsedTrue := withBounds(func(o *canon.Object) { o.Set("expiresAt", true) })            // 1 ms after the epoch
	live := withBounds(func(o *canon.Object) {
		o.Set("expiresAt", 32503680000000.0)
		o.Set("activatesAt", 1577836800000.0)
	})
	put(t, env.a, expired, pending, lapsedTrue, live)
	svc := newService(t, env.a, nil)
	for _, c := range []struct {
		doc    *covenant.Document
		permit bool
		reason string
	}{
		{expired, false, "Covenant expired at 1577836800000"},
		{pending, false, "Covenant is not active until 32503680000000"},
		{lapsedTrue, false, "Covenant expired at true"},
		{live, true, ""},
	} {
		// Verification and evaluation agree on the document.
		if r := covenant.Verify(c.doc); r.Valid != c.permit {
			t.Fatalf("%s: verification valid=%v, failed %v", c.reason, r.Valid, r.Failed())
		}
		d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: c.doc.ID(), Action: "read", Resource: "/a"})
		if err != nil {
			t.Fatal(err)
		}
		if d.Permitted != c.permit || !c.permit && d.Reason != c.reason {
			t.Errorf("%q: permitted=%v reason=%q", c.reason, d.Permitted, d.Reason)
		}
	}
}

// TestHugeLimitNumbers: a limit whose count or period is a digit string too
// long for a double is Infinity in the reference (parseInt), where a count of
// Infinity is never reached and a period of Infinity never ends (§6.3). Such
// a covenant verifies, so its evaluations must be decided, not fail on the
// store's refusal of non-finite numbers; both stores.
func TestHugeLimitNumbers(t *testing.T) {
	huge := strings.Repeat("9", 400)
	sqlite, err := sqlitestore.Open(testContext(t), filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlite.Close() })
	for _, st := range []struct {
		name string
		s    store.Store
	}{{"redis", newRedisEnv(t).a}, {"sqlite", sqlite}} {
		t.Run(st.name, func(t *testing.T) {
			ctx := testContext(t)
			is := newIssuer(t)
			infCount := is.build(t, "permit read on '**'\nlimit read "+huge+" per 1 minutes", nil)
			infPeriod := is.build(t, "permit read on '**'\nlimit read 2 per "+huge+" days", nil)
			put(t, st.s, infCount, infPeriod)
			svc := newService(t, st.s, nil)
			for _, c := range []struct {
				doc  *covenant.Document
				want []bool
			}{
				{infCount, []bool{true, true, true}},
				{infPeriod, []bool{true, true, false}},
			} {
				for i, want := range c.want {
					d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: c.doc.ID(), Action: "read", Resource: "/a"})
					if err != nil {
						t.Fatalf("%s call %d: %v", c.doc.Constraints()[:30], i+1, err)
					}
					if d.Permitted != want {
						t.Errorf("%s call %d: permitted=%v (%s), want %v", c.doc.Constraints()[:30], i+1, d.Permitted, d.Reason, want)
					}
				}
			}
		})
	}
}

// TestBlankActionIsJavaScriptTrim: an action is blank when the reference's
// Monitor finds it so (String.prototype.trim(): U+FEFF is whitespace, U+0085
// is not); a non-blank action is evaluated and audited.
func TestBlankActionIsJavaScriptTrim(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	doc := newIssuer(t).build(t, "permit ** on '**'", nil)
	put(t, env.a, doc)
	svc := newService(t, env.a, nil)
	if _, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: doc.ID(), Action: "\ufeff ", Resource: "/a"}); !errors.Is(err, evaluate.ErrInvalid) {
		t.Errorf("BOM-only action: %v, want ErrInvalid", err)
	}
	d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: doc.ID(), Action: "\u0085", Resource: "/a"})
	if err != nil || !d.Permitted {
		t.Errorf("NEL action: %+v %v, want permitted", d, err)
	}
}

// TestChainEffectiveConstraints: a child's evaluation applies its parent's
// deny (the merged policy), and a missing parent refuses evaluation.
func TestChainEffectiveConstraints(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	is := newIssuer(t)
	parent := is.build(t, "permit read on '/data/**'\ndeny read on '/data/secret/**'", nil)
	// The child narrows its parent (a child repeating the parent's
	// permit on '/data/**' would not: that permit overlaps the parent's
	// deny; see TestChainThatBroadensPermitsNothing).
	child := is.build(t, "permit read on '/data/open/**'\ndeny read on '/data/secret/**'", func(o *covenant.BuildOptions) {
		o.Chain = &covenant.ChainRef{ParentID: parent.ID(), Relation: "restricts", Depth: 1}
	})
	orphan := is.build(t, "permit read on '/data/**'", func(o *covenant.BuildOptions) {
		o.Chain = &covenant.ChainRef{ParentID: strings.Repeat("ab", 32), Relation: "restricts", Depth: 1}
	})
	put(t, env.a, parent, child, orphan)
	svc := newService(t, env.a, nil)
	eff, err := covenant.EffectiveConstraints(child, []*covenant.Document{parent})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{"/data/secret/k", "/data/open"} {
		d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: child.ID(), Action: "read", Resource: res})
		if err != nil {
			t.Fatal(err)
		}
		want := ccl.Evaluate(eff, "read", res, nil)
		if d.Permitted != want.Permitted || d.Reason != want.Reason {
			t.Errorf("%s: %+v, want %+v", res, d, want)
		}
	}
	if d, _ := svc.Evaluate(ctx, evaluate.Request{CovenantID: child.ID(), Action: "read", Resource: "/data/secret/k"}); d.Permitted {
		t.Error("the parent's deny does not apply to the child")
	}
	_, err = svc.Evaluate(ctx, evaluate.Request{CovenantID: orphan.ID(), Action: "read", Resource: "/data/x"})
	var e *evaluate.Error
	if !errors.Is(err, evaluate.ErrNotFound) || !errors.As(err, &e) || !strings.Contains(e.Message, strings.Repeat("ab", 32)) {
		t.Fatalf("orphan: %v", err)
	}
}

// TestChainThatBroadensPermitsNothing: the effective constraints are the
// union of the chain's permits, so a child whose permits go beyond its
// parent's must not be evaluated on them: every action on it (and on its
// descendants) is a recorded critical denial naming the link, while a chain
// that narrows is evaluated as usual.
func TestChainThatBroadensPermitsNothing(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	is := newIssuer(t)
	root := is.build(t, "permit read on '/data/**'", nil)
	broad := is.build(t, "permit read on '/**'", func(o *covenant.BuildOptions) {
		o.Chain = &covenant.ChainRef{ParentID: root.ID(), Relation: "restricts", Depth: 1}
	})
	grandchild := is.build(t, "permit read on '/etc/**'", func(o *covenant.BuildOptions) {
		o.Chain = &covenant.ChainRef{ParentID: broad.ID(), Relation: "restricts", Depth: 2}
	})
	narrow := is.build(t, "permit read on '/data/x/**'", func(o *covenant.BuildOptions) {
		o.Chain = &covenant.ChainRef{ParentID: root.ID(), Relation: "restricts", Depth: 1}
	})
	put(t, env.a, root, broad, grandchild, narrow)
	svc := newService(t, env.a, nil)
	entries := map[string]int{} // audit entries so far, by covenant
	for _, c := range []struct {
		name string
		doc  *covenant.Document
		res  string
	}{{"broadening child", broad, "/etc/passwd"}, {"broadening child, inside the root", broad, "/data/x/1"}, {"grandchild of a broadening link", grandchild, "/etc/passwd"}} {
		d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: c.doc.ID(), Action: "read", Resource: c.res})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d.Permitted || d.Severity != ccl.SeverityCritical || !strings.Contains(d.Reason, broad.ID()+" broadens its parent "+root.ID()) {
			t.Errorf("%s: %+v, want a critical denial naming the link %s -> %s", c.name, d, broad.ID(), root.ID())
		}
		if want := entries[c.doc.ID()]; d.AuditEntry.Index != want || d.AuditEntry.Hash == "" {
			t.Errorf("%s: audit entry %+v, want the denial recorded as entry %d", c.name, d.AuditEntry, want)
		}
		entries[c.doc.ID()]++
	}
	d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: narrow.ID(), Action: "read", Resource: "/data/x/1"})
	if err != nil || !d.Permitted {
		t.Errorf("narrowing child: %+v, %v; want permitted", d, err)
	}
}

// TestUnparsableConstraintsPermitNothing: a covenant whose constraints do
// not parse is authentic and so stored (verification fails only its
// ccl_parses check); evaluating it, or a child of it, is a recorded
// critical denial naming the covenant, not a server error.
func TestUnparsableConstraintsPermitNothing(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	is := newIssuer(t)
	good := is.build(t, "permit read on '/data/**'", nil)
	o := canon.CloneObject(good.Object())
	o.Set("constraints", "permit read on")
	unsigned, err := covenant.FromObject(o)
	if err != nil {
		t.Fatal(err)
	}
	root, err := covenant.Resign(unsigned, is.key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := covenant.NewVerifier()
	if err != nil {
		t.Fatal(err)
	}
	if res := v.Verify(root); !authenticOnly(res) {
		t.Fatalf("the crafted root should be authentic with only ccl_parses failing: %+v", res.Checks)
	}
	child := is.build(t, "permit read on '/data/x/**'", func(o *covenant.BuildOptions) {
		o.Chain = &covenant.ChainRef{ParentID: root.ID(), Relation: "restricts", Depth: 1}
	})
	put(t, env.a, root, child)
	svc := newService(t, env.a, nil)
	for _, doc := range []*covenant.Document{root, child} {
		d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: doc.ID(), Action: "read", Resource: "/data/x/1"})
		if err != nil {
			t.Fatalf("%s: %v", doc.ID(), err)
		}
		if d.Permitted || d.Severity != ccl.SeverityCritical || !strings.Contains(d.Reason, "constraints of "+root.ID()+" do not parse") {
			t.Errorf("%s: %+v, want a critical denial naming %s", doc.ID(), d, root.ID())
		}
		if d.AuditEntry.Hash == "" {
			t.Errorf("%s: the denial is not recorded: %+v", doc.ID(), d.AuditEntry)
		}
	}
}

// authenticOnly reports whether res fails ccl_parses and nothing else.
func authenticOnly(res covenant.Result) bool {
	for _, c := range res.Checks {
		if c.Passed != (c.Name != "ccl_parses") {
			return false
		}
	}
	return len(res.Checks) == 11
}

// TestBadRequests: each bad member is named.
func TestBadRequests(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	doc := newIssuer(t).build(t, "permit read on '**'", nil)
	put(t, env.a, doc)
	svc := newService(t, env.a, nil)
	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	for _, c := range []struct {
		body     string
		field    string
		sentinel error
	}{
		{`[]`, "", evaluate.ErrMalformed},
		{`{"covenantId":1}`, "covenantId", evaluate.ErrInvalid},
		{`{"action":"read"}`, "covenantId", evaluate.ErrMissing},
		{`{"covenantId":"` + doc.ID() + `"}`, "action", evaluate.ErrMissing},
		{`{"covenantId":"xyz","action":"read"}`, "covenantId", evaluate.ErrInvalid},
		{`{"covenantId":"` + strings.Repeat("0", 64) + `","action":"read"}`, "covenantId", evaluate.ErrNotFound},
		{`{"covenantId":"` + doc.ID() + `","action":"  "}`, "action", evaluate.ErrInvalid},
		{`{"covenantId":"` + doc.ID() + `","action":"read","context":[1]}`, "context", evaluate.ErrInvalid},
		{`{"covenantId":"` + doc.ID() + `","action":"read","context":"x"}`, "context", evaluate.ErrInvalid},
		{`{"covenantId":"` + doc.ID() + `","action":"read","context":` + deep + `}`, "context", evaluate.ErrInvalid},
		{`{"covenantId":"` + doc.ID() + `","action":"read","resource":"` + strings.Repeat("r", 17<<10) + `"}`, "resource", evaluate.ErrInvalid},
		{strings.Repeat(" ", evaluate.MaxRequestBytes+1), "", evaluate.ErrTooLarge},
		// Strict members: no unknown, differently cased or repeated ones,
		// nothing after the object.
		{`{"covenantId":"` + doc.ID() + `","action":"read","actor":"x"}`, "actor", evaluate.ErrUnknown},
		{`{"COVENANTID":"` + doc.ID() + `","action":"read"}`, "COVENANTID", evaluate.ErrUnknown},
		{`{"covenantId":"` + doc.ID() + `","action":"read","action":"write"}`, "action", evaluate.ErrInvalid},
		{`{"covenantId":"` + doc.ID() + `","action":"read"} {}`, "", evaluate.ErrMalformed},
		{`{"covenantId":"` + doc.ID() + `","action":"read"`, "", evaluate.ErrMalformed},
		{`{"covenantId":"` + doc.ID() + `","action":"read",}`, "", evaluate.ErrMalformed},
		{``, "", evaluate.ErrMalformed},
	} {
		req, err := evaluate.ParseRequest([]byte(c.body))
		if err == nil {
			_, err = svc.Evaluate(ctx, req)
		}
		var e *evaluate.Error
		if !errors.As(err, &e) || e.Field != c.field || !errors.Is(err, c.sentinel) {
			t.Errorf("%.60s: %v (field %q), want field %q and %v", c.body, err, fieldOf(e), c.field, c.sentinel)
		}
	}
	if hd, _ := env.a.AuditHead(ctx, doc.ID()); hd.Len != 0 {
		t.Errorf("rejected requests were audited: %+v", hd)
	}
	// The audit API names bad parameters too.
	if _, err := svc.Entries(ctx, "nope", 0, 10); !errors.Is(err, evaluate.ErrInvalid) {
		t.Errorf("entries of a bad id: %v", err)
	}
	if _, err := svc.VerifyTrail(ctx, strings.Repeat("1", 64)); !errors.Is(err, evaluate.ErrNotFound) {
		t.Errorf("verify of an unknown covenant: %v", err)
	}
}

func fieldOf(e *evaluate.Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

// TestCacheLoadsOnce: concurrent first evaluations of one covenant parse it
// once, and the cache is bounded.
func TestCacheBounded(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	is := newIssuer(t)
	var docs []*covenant.Document
	for range 5 {
		docs = append(docs, is.build(t, "permit read on '**'", nil))
	}
	put(t, env.a, docs...)
	counting := &countingDocs{Documents: env.a}
	svc, err := evaluate.New(evaluate.Config{Documents: counting, Audit: env.a, Limits: env.a, CacheSize: 2, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: docs[0].ID(), Action: "read", Resource: "/a"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := counting.gets.Load(); n != 1 {
		t.Fatalf("20 concurrent evaluations read the covenant %d times, want 1", n)
	}
	for _, d := range docs {
		if _, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: d.ID(), Action: "read", Resource: "/a"}); err != nil {
			t.Fatal(err)
		}
	}
	before := counting.gets.Load()
	if _, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: docs[4].ID(), Action: "read", Resource: "/a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: docs[0].ID(), Action: "read", Resource: "/a"}); err != nil {
		t.Fatal(err)
	}
	if got := counting.gets.Load() - before; got != 1 {
		t.Fatalf("a recent covenant hit and an evicted one reloaded: %d reads, want 1", got)
	}
}

type countingDocs struct {
	store.Documents
	gets atomic.Int64
}

func (c *countingDocs) GetDocument(ctx context.Context, id string) ([]byte, error) {
	c.gets.Add(1)
	return c.Documents.GetDocument(ctx, id)
}

// BenchmarkParseRequest: decoding a typical POST /v1/evaluate body.
func BenchmarkParseRequest(b *testing.B) {
	body := []byte(`{"covenantId":"` + strings.Repeat("a", 64) + `","action":"api.call","resource":"/v1/items/42","context":{"role":"admin","region":"eu"}}`)
	for b.Loop() {
		if _, err := evaluate.ParseRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}
