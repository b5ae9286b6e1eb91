package evaluate_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/store"
)

// TestRevokedIssuerKey: once an issuer key is revoked, its covenant and
// every covenant below it in a chain permit nothing (after the Service's
// revocation copy refreshes), and the denials are recorded.
func TestRevokedIssuerKey(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	root, other := newIssuer(t), newIssuer(t)
	parent := root.build(t, "permit read on '**'", nil)
	child := other.build(t, "permit read on '**'", func(o *covenant.BuildOptions) {
		o.Chain = &covenant.ChainRef{ParentID: parent.ID(), Relation: "restricts", Depth: 1}
	})
	unrelated := other.build(t, "permit read on '**'", nil)
	put(t, env.a, parent, child, unrelated)

	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixMilli())
	now := func() time.Time { return time.UnixMilli(clock.Load()) }
	svc, err := evaluate.New(evaluate.Config{Documents: env.a, Audit: env.a, Limits: env.a, Revocations: env.a,
		RevocationRefresh: time.Minute, Now: now, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	eval := func(doc *covenant.Document) evaluate.Decision {
		t.Helper()
		d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: doc.ID(), Action: "read", Resource: "/x"})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, d := range []*covenant.Document{parent, child, unrelated} {
		if !eval(d).Permitted {
			t.Fatalf("%s denied before any revocation", d.ID())
		}
	}
	revokedAt := time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)
	if err := env.b.RevokeKey(ctx, store.Revocation{PublicKey: root.key.PublicHex(), KeyID: "root", Reason: "key leaked", RevokedAt: revokedAt}); err != nil {
		t.Fatal(err)
	}
	// Within the refresh period the copy still stands ...
	if !eval(parent).Permitted {
		t.Fatal("revocation applied before the copy's refresh period ended")
	}
	// ... and after it, the revocation applies everywhere below the key.
	clock.Add(time.Minute.Milliseconds())
	for _, c := range []struct {
		doc     *covenant.Document
		whose   string
		entries int // evaluations so far
	}{{parent, "The covenant's issuer key", 3}, {child, "An ancestor covenant's issuer key", 2}} {
		d := eval(c.doc)
		if d.Permitted || d.Severity != ccl.SeverityCritical || !strings.HasPrefix(d.Reason, c.whose) ||
			!strings.Contains(d.Reason, "(root) was revoked at 2026-11-27T11:00:00Z: key leaked") || !strings.Contains(d.Reason, root.key.PublicHex()[:16]) {
			t.Errorf("%s: %+v", c.whose, d)
		}
		es, err := env.a.AuditEntries(ctx, c.doc.ID(), 0, -1)
		if err != nil || len(es) != c.entries || es[len(es)-1].Outcome != audit.Denied || es[len(es)-1].Result.Reason != d.Reason {
			t.Fatalf("audit of %s: %+v %v", c.whose, es, err)
		}
	}
	if !eval(unrelated).Permitted {
		t.Error("a covenant of an unrevoked key is denied")
	}
}

// TestRevokedCountersignerKey: a covenant countersigned by a key that is
// then revoked permits nothing, as it fails verification
// (key_not_revoked), including when the countersignature was added to the
// stored covenant after this process cached the covenant's policy.
func TestRevokedCountersignerKey(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	is, auditor := newIssuer(t), newIssuer(t)
	doc := is.build(t, "permit read on '**'", nil)
	signed, err := covenant.Countersign(doc, auditor.key, "auditor")
	if err != nil {
		t.Fatal(err)
	}
	late := is.build(t, "permit write on '**'", nil)
	put(t, env.a, signed, late)

	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixMilli())
	now := func() time.Time { return time.UnixMilli(clock.Load()) }
	svc, err := evaluate.New(evaluate.Config{Documents: env.a, Audit: env.a, Limits: env.a, Revocations: env.a,
		RevocationRefresh: time.Minute, Now: now, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	eval := func(doc *covenant.Document, action string) evaluate.Decision {
		t.Helper()
		d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: doc.ID(), Action: action, Resource: "/x"})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if !eval(signed, "read").Permitted || !eval(late, "write").Permitted {
		t.Fatal("denied before any revocation")
	}
	// The auditor countersigns late after its policy is cached here.
	lateSigned, err := covenant.Countersign(late, auditor.key, "auditor")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.b.SwapDocument(ctx, late.ID(), late.AppendJSON(nil), lateSigned.AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	if err := env.b.RevokeKey(ctx, store.Revocation{PublicKey: auditor.key.PublicHex(), KeyID: "auditor-1", Reason: "auditor key leaked",
		RevokedAt: time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute.Milliseconds())
	for _, c := range []struct {
		doc    *covenant.Document
		action string
	}{{signed, "read"}, {late, "write"}} {
		d := eval(c.doc, c.action)
		if d.Permitted || d.Severity != ccl.SeverityCritical || !strings.HasPrefix(d.Reason, "A countersigner key ") ||
			!strings.Contains(d.Reason, auditor.key.PublicHex()[:16]+"… (auditor-1) was revoked") || !strings.Contains(d.Reason, "auditor key leaked") {
			t.Errorf("%s: %+v", c.action, d)
		}
	}
}
