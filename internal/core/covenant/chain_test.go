package covenant

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/keys"
)

// buildChain builds root -> child -> grandchild, each narrowing its parent.
func buildChain(t *testing.T) []*Document {
	t.Helper()
	k := []*keys.PrivateKey{seedKey(t, 1), seedKey(t, 2), seedKey(t, 3), seedKey(t, 4)}
	texts := []string{
		"permit read on '/data/**'\npermit write on '/data/**'",
		"permit read on '/data/**'\ndeny read on '/data/secret/**'",
		"permit read on '/data/public/**'",
	}
	var docs []*Document
	for i, text := range texts {
		opts := BuildOptions{
			Issuer:      Party{ID: fmt.Sprint("party", i), PublicKey: k[i].PublicHex(), Role: RoleIssuer},
			Beneficiary: Party{ID: fmt.Sprint("party", i+1), PublicKey: k[i+1].PublicHex(), Role: RoleBeneficiary},
			Constraints: text,
		}
		if i > 0 {
			opts.Chain = &ChainRef{ParentID: docs[i-1].ID(), Relation: "delegates", Depth: float64(i)}
		}
		docs = append(docs, mustBuild(t, opts, k[i]))
	}
	return docs
}

func ids(docs []*Document) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.ID())
	}
	return out
}

func TestResolveChain(t *testing.T) {
	ctx := context.Background()
	docs := buildChain(t)
	root, child, grand := docs[0], docs[1], docs[2]
	r := NewMemoryResolver(root, child, grand, nil)

	got, err := ResolveChain(ctx, grand, r, MaxChainDepth)
	if err != nil {
		t.Fatal(err)
	}
	if !equalStrings(ids(got), ids([]*Document{child, root})) {
		t.Errorf("ancestors %v, want child then root", ids(got))
	}
	for depth, want := range map[int]int{0: 0, 1: 1, 2: 2, 5: 2} {
		got, err := ResolveChain(ctx, grand, r, depth)
		if err != nil || len(got) != want {
			t.Errorf("maxDepth %d: %d ancestors (%v), want %d", depth, len(got), err, want)
		}
	}
	if got, _ := ResolveChain(ctx, root, r, MaxChainDepth); len(got) != 0 {
		t.Errorf("root has ancestors %v", ids(got))
	}
	// A missing parent ends the walk.
	partial := NewMemoryResolver(child)
	if got, err := ResolveChain(ctx, grand, partial, MaxChainDepth); err != nil || !equalStrings(ids(got), []string{child.ID()}) {
		t.Errorf("missing root: %v %v", ids(got), err)
	}
	if _, err := partial.Resolve(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MemoryResolver miss: %v", err)
	}

	for _, bad := range []struct {
		doc *Document
		r   Resolver
		n   int
	}{{nil, r, 1}, {grand, nil, 1}, {grand, r, -1}} {
		if _, err := ResolveChain(ctx, bad.doc, bad.r, bad.n); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("bad input %+v: %v", bad, err)
		}
	}
}

// mapResolver serves arbitrary documents under arbitrary ids, to build
// cycles (impossible with honest content-addressed ids) and failures.
type mapResolver struct {
	docs  map[string]*Document
	err   error
	calls int
}

func (m *mapResolver) Resolve(_ context.Context, id string) (*Document, error) {
	m.calls++
	if m.err != nil {
		return nil, m.err
	}
	return m.docs[id], nil // (nil, nil) when unknown
}

func withIDAndParent(t *testing.T, id, parent string) *Document {
	t.Helper()
	opts, key := basicOptions(t)
	d := mustBuild(t, opts, key)
	return mutate(t, d, func(o *canon.Object) {
		o.Set("id", id)
		if parent != "" {
			o.Set("chain", mustObject(t, `{"parentId":"`+parent+`","relation":"delegates","depth":1}`))
		}
	})
}

func TestResolveChainCycles(t *testing.T) {
	ctx := context.Background()
	a, b, c := withIDAndParent(t, "A", "B"), withIDAndParent(t, "B", "C"), withIDAndParent(t, "C", "A")
	m := &mapResolver{docs: map[string]*Document{"A": a, "B": b, "C": c}}
	got, err := ResolveChain(ctx, a, m, 100)
	if err != nil || !equalStrings(ids(got), []string{"B", "C"}) {
		t.Errorf("cycle: %v %v", ids(got), err)
	}
	self := withIDAndParent(t, "S", "S")
	if got, _ := ResolveChain(ctx, self, m, 100); len(got) != 0 {
		t.Errorf("self cycle: %v", ids(got))
	}
	// A resolver serving a document under another id: the walk goes on
	// from what it returned, the visited set uses the returned ids.
	liar := &mapResolver{docs: map[string]*Document{"B": c, "A": a}}
	if got, _ := ResolveChain(ctx, a, liar, 100); !equalStrings(ids(got), []string{"C"}) {
		t.Errorf("liar: %v", ids(got))
	}
	// (nil, nil) means not found.
	if got, err := ResolveChain(ctx, a, &mapResolver{}, 5); err != nil || len(got) != 0 {
		t.Errorf("empty resolver: %v %v", ids(got), err)
	}
	// Other errors propagate.
	boom := errors.New("store down")
	if _, err := ResolveChain(ctx, a, &mapResolver{err: boom}, 5); !errors.Is(err, boom) {
		t.Errorf("resolver error: %v", err)
	}
	// A cancelled context stops the walk before asking the resolver.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	m.calls = 0
	if _, err := ResolveChain(cctx, a, m, 5); !errors.Is(err, context.Canceled) || m.calls != 0 {
		t.Errorf("cancelled: %v after %d calls", err, m.calls)
	}
}

func TestEffectiveConstraints(t *testing.T) {
	docs := buildChain(t)
	root, child, grand := docs[0], docs[1], docs[2]
	eff, err := EffectiveConstraints(child, []*Document{root})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action, resource string
		permitted        bool
	}{
		{"read", "/data/x", true},
		{"read", "/data/secret/key", false},
		{"write", "/data/x", true}, // merge is a union: the root's permit survives
		{"delete", "/data/x", false},
	} {
		if got := ccl.Evaluate(eff, tc.action, tc.resource, nil).Permitted; got != tc.permitted {
			t.Errorf("%s %s: permitted=%v, want %v", tc.action, tc.resource, got, tc.permitted)
		}
	}
	// Root-first folding: merge(merge(root, child), grand).
	rp, _ := root.Policy()
	cp, _ := child.Policy()
	gp, _ := grand.Policy()
	want := ccl.Serialize(ccl.Merge(ccl.Merge(rp, cp), gp))
	eff, err = EffectiveConstraints(grand, []*Document{child, root})
	if err != nil {
		t.Fatal(err)
	}
	if got := ccl.Serialize(eff); got != want {
		t.Errorf("effective policy\n%s\nwant\n%s", got, want)
	}
	// No ancestors: the document's own policy.
	eff, _ = EffectiveConstraints(root, nil)
	if ccl.Serialize(eff) != ccl.Serialize(rp) {
		t.Error("root alone")
	}
	broken := mutate(t, root, func(o *canon.Object) { o.Set("constraints", "nonsense") })
	if _, err := EffectiveConstraints(child, []*Document{broken}); err == nil {
		t.Error("unparsable ancestor accepted")
	}
	var se *ccl.SyntaxError
	if _, err := EffectiveConstraints(child, []*Document{broken}); !errors.As(err, &se) {
		t.Errorf("error %v does not unwrap to the syntax error", err)
	}
	if _, err := EffectiveConstraints(child, []*Document{nil}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("nil ancestor: %v", err)
	}
}

func TestValidateChainNarrowing(t *testing.T) {
	docs := buildChain(t)
	res, err := ValidateChainNarrowing(docs[2], docs[1])
	if err != nil || !res.Valid {
		t.Errorf("grandchild narrows child: %+v %v", res, err)
	}
	res, err = ValidateChainNarrowing(docs[0], docs[2]) // reversed: broadens
	if err != nil || res.Valid || len(res.Violations) == 0 {
		t.Errorf("reversed: %+v %v", res, err)
	}
	broken := mutate(t, docs[0], func(o *canon.Object) { o.Set("constraints", "") })
	if _, err := ValidateChainNarrowing(docs[1], broken); err == nil {
		t.Error("unparsable parent accepted")
	}
	if _, err := ValidateChainNarrowing(nil, docs[0]); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("nil: %v", err)
	}
}
