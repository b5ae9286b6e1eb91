package evaluate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/evaluate"
)

// TestChainAncestorsMustAllow: a child that passes ccl.ValidateNarrowing
// (which compares patterns only) can still have effective constraints, the
// reference's union, that permit what its parent refuses. Evaluation
// refuses what any ancestor refuses on its own: a permit whose condition
// the child dropped, a deny the child's permit slips past with staggered
// wildcards, and everything once an ancestor has expired. What every link
// permits stays permitted, and an ancestor without permits restricts only
// through its denies.
func TestChainAncestorsMustAllow(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	is := newIssuer(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := now
	child := func(parent *covenant.Document, constraints string) *covenant.Document {
		return is.build(t, constraints, func(o *covenant.BuildOptions) {
			o.Chain = &covenant.ChainRef{ParentID: parent.ID(), Relation: "restricts", Depth: 1}
		})
	}
	conditional := is.build(t, "permit read on '/data/**' when role = 'admin'", nil)
	dropsCondition := child(conditional, "permit read on '/data/**'")
	staggered := is.build(t, "permit read on '/a/**'\ndeny read on '/a/b/**'", nil)
	slipsPast := child(staggered, "permit read on '/a/*/c'")
	expiring := is.build(t, "permit read on '/data/**'", func(o *covenant.BuildOptions) {
		o.ExpiresAt = jstime.Format(now.Add(time.Hour))
	})
	underExpiring := child(expiring, "permit read on '/data/x'")
	deniesOnly := is.build(t, "deny read on '/secret/**'", nil)
	underDeniesOnly := child(deniesOnly, "permit read on '/data/**'")
	grandchild := child(dropsCondition, "permit read on '/data/x/**'")
	put(t, env.a, conditional, dropsCondition, staggered, slipsPast, expiring, underExpiring, deniesOnly, underDeniesOnly, grandchild)
	for _, d := range []*covenant.Document{dropsCondition, slipsPast, underExpiring, underDeniesOnly, grandchild} {
		anc, err := covenant.ResolveChain(ctx, d, covenant.NewMemoryResolver(conditional, dropsCondition, staggered, expiring, deniesOnly), 16)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := covenant.ValidateChainNarrowing(d, anc[0]); err != nil || !res.Valid {
			t.Fatalf("%s does not narrow its parent (%+v, %v); the test needs chains that pass", d.ID(), res, err)
		}
	}
	svc := newService(t, env.a, func() time.Time { return clock })
	cases := []struct {
		name     string
		doc      *covenant.Document
		resource string
		context  string
		at       time.Time
		refuser  string // "" when permitted
	}{
		{"condition dropped, parent's condition false", dropsCondition, "/data/x", `{"role":"guest"}`, now, conditional.ID()},
		{"condition dropped, no context", dropsCondition, "/data/x", ``, now, conditional.ID()},
		{"condition dropped, parent's condition true", dropsCondition, "/data/x", `{"role":"admin"}`, now, ""},
		{"grandchild, grandparent's condition false", grandchild, "/data/x/1", `{"role":"guest"}`, now, conditional.ID()},
		{"grandchild, grandparent's condition true", grandchild, "/data/x/1", `{"role":"admin"}`, now, ""},
		{"staggered wildcards past the parent's deny", slipsPast, "/a/b/c", ``, now, staggered.ID()},
		{"staggered wildcards elsewhere", slipsPast, "/a/z/c", ``, now, ""},
		{"parent not expired", underExpiring, "/data/x", ``, now, ""},
		{"parent expired", underExpiring, "/data/x", ``, now.Add(2 * time.Hour), expiring.ID()},
		{"parent without permits", underDeniesOnly, "/data/x", ``, now, ""},
	}
	for _, c := range cases {
		clock = c.at
		req := evaluate.Request{CovenantID: c.doc.ID(), Action: "read", Resource: c.resource}
		if c.context != "" {
			req.Context = []byte(c.context)
		}
		d, err := svc.Evaluate(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.refuser == "" {
			if !d.Permitted {
				t.Errorf("%s: %+v, want permitted", c.name, d)
			}
			continue
		}
		if d.Permitted || d.Severity != ccl.SeverityCritical || !strings.Contains(d.Reason, "ancestor "+c.refuser) || d.AuditEntry.Hash == "" {
			t.Errorf("%s: %+v, want a recorded critical denial naming ancestor %s", c.name, d, c.refuser)
		}
	}
}
