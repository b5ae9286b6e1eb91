package evaluate_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/store"
)

// An issuer key written in upper-case hex in the covenant is still found on
// the (lower-case) revocation list.
func TestRevokedUpperCaseIssuerKey(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	is := newIssuer(t)
	doc := is.build(t, "permit read on '**'", func(o *covenant.BuildOptions) {
		o.Issuer.PublicKey = strings.ToUpper(o.Issuer.PublicKey)
	})
	put(t, env.a, doc)
	if err := env.a.RevokeKey(ctx, store.Revocation{PublicKey: is.key.PublicHex(), Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	svc, err := evaluate.New(evaluate.Config{Documents: env.a, Audit: env.a, Limits: env.a, Revocations: env.a, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: doc.ID(), Action: "read", Resource: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Permitted || !strings.Contains(d.Reason, "revoked") {
		t.Fatalf("covenant of a revoked key written in upper case: %+v", d)
	}
}

// A chain longer than MaxChainDepth is refused rather than evaluated without
// its farthest ancestors (whose restrictions would be lost).
func TestChainBeyondDepthRefused(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	is := newIssuer(t)
	root := is.build(t, "deny read on '**'", nil)
	chain := []*covenant.Document{root}
	for range evaluate.MaxChainDepth + 1 {
		parent := chain[len(chain)-1]
		chain = append(chain, is.build(t, "permit read on '**'", func(o *covenant.BuildOptions) {
			o.Chain = &covenant.ChainRef{ParentID: parent.ID(), Relation: "restricts", Depth: 1}
		}))
	}
	put(t, env.a, chain...)
	svc := newService(t, env.a, nil)
	within := chain[evaluate.MaxChainDepth] // MaxChainDepth ancestors: the root included
	if d, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: within.ID(), Action: "read", Resource: "/x"}); err != nil || d.Permitted {
		t.Fatalf("chain of %d ancestors: %+v, %v; want the root's deny", evaluate.MaxChainDepth, d, err)
	}
	leaf := chain[len(chain)-1]
	_, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: leaf.ID(), Action: "read", Resource: "/x"})
	var e *evaluate.Error
	if !errors.As(err, &e) || e.Field != "covenantId" || !strings.Contains(e.Message, "longer than") {
		t.Fatalf("chain beyond the limit: %v, want a refusal naming covenantId", err)
	}
}

// A page far beyond the end is empty, with no next cursor (no overflow).
func TestEntriesBeyondTheEnd(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	doc := newIssuer(t).build(t, "permit read on '**'", nil)
	put(t, env.a, doc)
	svc := newService(t, env.a, func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })
	if _, err := svc.Evaluate(ctx, evaluate.Request{CovenantID: doc.ID(), Action: "read", Resource: "/x", Context: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, from := range []int{1, 2, math.MaxInt - 5, math.MaxInt} {
		p, err := svc.Entries(ctx, doc.ID(), from, evaluate.MaxPageSize)
		if err != nil || len(p.Entries) != 0 || p.Next != nil {
			t.Errorf("Entries from %d: %+v, %v; want an empty last page", from, p, err)
		}
	}
	p, err := svc.Entries(ctx, doc.ID(), 0, 1)
	if err != nil || len(p.Entries) != 1 || p.Next != nil {
		t.Errorf("Entries from 0: %+v, %v", p, err)
	}
}
