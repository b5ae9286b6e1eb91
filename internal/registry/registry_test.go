package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/registry"
	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// key returns the test key whose seed is 00…0n.
func key(t testing.TB, n byte) *keys.PrivateKey {
	t.Helper()
	seed := make([]byte, 32)
	seed[31] = n
	k, err := keys.NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// build signs a covenant with issuer key k, constraints and an optional
// parent.
func build(t testing.TB, k *keys.PrivateKey, constraints string, parent *covenant.Document) *covenant.Document {
	t.Helper()
	opts := covenant.BuildOptions{
		Issuer:      covenant.Party{ID: "issuer-" + k.PublicHex()[:8], PublicKey: k.PublicHex(), Role: covenant.RoleIssuer},
		Beneficiary: covenant.Party{ID: "agent", PublicKey: key(t, 99).PublicHex(), Role: covenant.RoleBeneficiary},
		Constraints: constraints,
	}
	if parent != nil {
		depth := 1.0
		if ref, ok := parent.Chain(); ok {
			depth = ref.Depth + 1
		}
		opts.Chain = &covenant.ChainRef{ParentID: parent.ID(), Relation: "restricts", Depth: depth}
	}
	d, err := covenant.Build(opts, k)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func stored(d *covenant.Document) store.Document {
	sd := store.Document{ID: d.ID(), JSON: d.AppendJSON(nil), IssuerID: d.Issuer().ID,
		BeneficiaryID: d.Beneficiary().ID, CreatedAt: d.CreatedAt()}
	_, sd.HasChain = d.Chain()
	return sd
}

func put(t testing.TB, st store.Documents, docs ...*covenant.Document) {
	t.Helper()
	sds := make([]store.Document, len(docs))
	for i, d := range docs {
		sds[i] = stored(d)
	}
	if err := st.PutDocuments(testContext(t), sds); err != nil {
		t.Fatalf("put documents: %v", err)
	}
}

type opener struct {
	name string
	open func(t testing.TB) store.Store
}

var stores = []opener{
	{"redis", func(t testing.TB) store.Store {
		t.Helper()
		st, err := redisstore.Open(testContext(t), redistest.Start(t), redisstore.WithKeyPrefix(redistest.KeyPrefix(t)))
		if err != nil {
			t.Fatalf("redisstore: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"sqlite", func(t testing.TB) store.Store {
		t.Helper()
		st, err := sqlitestore.Open(testContext(t), filepath.Join(t.TempDir(), "stele.db"))
		if err != nil {
			t.Fatalf("sqlitestore: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// countingDocs counts the store's document reads.
type countingDocs struct {
	store.Documents
	gets, getMany atomic.Int64
}

func (c *countingDocs) GetDocument(ctx context.Context, id string) ([]byte, error) {
	c.gets.Add(1)
	return c.Documents.GetDocument(ctx, id)
}

func (c *countingDocs) GetDocuments(ctx context.Context, ids []string) ([][]byte, error) {
	c.getMany.Add(1)
	return c.Documents.GetDocuments(ctx, ids)
}

const (
	rootCCL       = "permit read on '/data/**'\npermit write on '/data/**'\ndeny delete on '**'"
	childCCL      = "permit read on '/data/**'"
	grandchildCCL = "permit read on '/data/public/**'\npermit write on '/data/public/**'"
)

// threeLevels stores root → child → grandchild, where the grandchild
// broadens the child (it permits write, which the child does not).
func threeLevels(t testing.TB, st store.Documents) (root, child, grandchild *covenant.Document) {
	t.Helper()
	root = build(t, key(t, 1), rootCCL, nil)
	child = build(t, key(t, 2), childCCL, root)
	grandchild = build(t, key(t, 3), grandchildCCL, child)
	put(t, st, root, child, grandchild)
	return root, child, grandchild
}

func TestChain(t *testing.T) {
	for _, o := range stores {
		t.Run(o.name, func(t *testing.T) {
			ctx := testContext(t)
			st := o.open(t)
			root, child, grandchild := threeLevels(t, st)
			r := registry.NewResolver(st)

			info, err := registry.Chain(ctx, r, grandchild.ID(), 0)
			if err != nil {
				t.Fatalf("Chain(grandchild): %v", err)
			}
			if info.Valid || info.Depth != 2 || info.ID != grandchild.ID() {
				t.Errorf("grandchild: valid %v depth %d id %s, want invalid, 2, %s", info.Valid, info.Depth, info.ID, grandchild.ID())
			}
			if got := []string{info.Ancestors[0].ID, info.Ancestors[1].ID}; !slices.Equal(got, []string{child.ID(), root.ID()}) {
				t.Errorf("ancestors %v, want child then root", got)
			}
			if a := info.Ancestors[1]; a.Depth != 2 || a.Constraints != rootCCL || a.Issuer.PublicKey != key(t, 1).PublicHex() {
				t.Errorf("root ancestor: %+v", a)
			}
			if len(info.Narrowing) != 2 {
				t.Fatalf("narrowing: %+v", info.Narrowing)
			}
			bad, good := info.Narrowing[0], info.Narrowing[1]
			if bad.Valid || bad.Child != grandchild.ID() || bad.Parent != child.ID() || len(bad.Violations) != 1 ||
				!strings.Contains(bad.Violations[0], "write") {
				t.Errorf("grandchild link: %+v", bad)
			}
			if !good.Valid || good.Child != child.ID() || good.Parent != root.ID() || len(good.Violations) != 0 {
				t.Errorf("child link: %+v", good)
			}
			// Merged down the chain: the root's deny survives.
			if !strings.Contains(info.EffectiveConstraints, "deny delete on '**'") || info.Effective == nil {
				t.Errorf("effective constraints %q", info.EffectiveConstraints)
			}

			info, err = registry.Chain(ctx, r, child.ID(), 0)
			if err != nil || !info.Valid || info.Depth != 1 || len(info.Narrowing) != 1 {
				t.Errorf("Chain(child) = %+v, %v; want valid at depth 1", info, err)
			}
			info, err = registry.Chain(ctx, r, root.ID(), 0)
			if err != nil || !info.Valid || info.Depth != 0 || len(info.Ancestors) != 0 || info.EffectiveConstraints == "" {
				t.Errorf("Chain(root) = %+v, %v; want valid at depth 0", info, err)
			}
		})
	}
}

func TestChainJSON(t *testing.T) {
	ctx := testContext(t)
	st := stores[0].open(t)
	root, child, _ := threeLevels(t, st)
	info, err := registry.Chain(ctx, registry.NewResolver(st), child.ID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"ancestors", "depth", "effectiveConstraints", "id", "narrowing", "valid"}; !slices.Equal(keys, want) {
		t.Errorf("members %v, want %v", keys, want)
	}
	anc := got["ancestors"].([]any)[0].(map[string]any)
	issuer := anc["issuer"].(map[string]any)
	if anc["id"] != root.ID() || anc["depth"] != 1.0 || anc["constraints"] != rootCCL || issuer["publicKey"] != key(t, 1).PublicHex() || issuer["id"] == "" {
		t.Errorf("ancestor JSON %v", anc)
	}
	link := got["narrowing"].([]any)[0].(map[string]any)
	if link["child"] != child.ID() || link["parent"] != root.ID() || link["valid"] != true || link["violations"] == nil {
		t.Errorf("link JSON %v (violations must be [] not null)", link)
	}
}

func TestChainErrors(t *testing.T) {
	ctx := testContext(t)
	st := stores[0].open(t)
	root := build(t, key(t, 1), rootCCL, nil)
	child := build(t, key(t, 2), childCCL, root)
	grandchild := build(t, key(t, 3), childCCL, child)
	put(t, st, child, grandchild) // the root is missing
	r := registry.NewResolver(st)

	_, err := registry.Chain(ctx, r, grandchild.ID(), 0)
	if !errors.Is(err, registry.ErrChainBroken) || !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), root.ID()) {
		t.Errorf("missing root: %v, want ErrChainBroken, ErrNotFound naming %s", err, root.ID())
	}
	var nf *registry.NotFoundError
	if !errors.As(err, &nf) || nf.ID != root.ID() {
		t.Errorf("missing root: NotFoundError %+v", nf)
	}

	_, err = registry.Chain(ctx, r, root.ID(), 0)
	if !errors.Is(err, store.ErrNotFound) || errors.Is(err, registry.ErrChainBroken) {
		t.Errorf("unknown covenant: %v, want ErrNotFound only", err)
	}

	put(t, st, root)
	if _, err := registry.Chain(ctx, r, grandchild.ID(), 1); !errors.Is(err, registry.ErrChainBroken) || !strings.Contains(err.Error(), "more than 1") {
		t.Errorf("maxDepth 1 over two ancestors: %v", err)
	}
	if _, err := registry.Chain(ctx, r, grandchild.ID(), 2); err != nil {
		t.Errorf("maxDepth 2 over two ancestors: %v", err)
	}

	// A resolver that serves a document under its parent's ID loops.
	loop := resolverFunc(func(_ context.Context, id string) (*covenant.Document, error) {
		if id == child.ID() || id == "x" {
			return grandchild, nil
		}
		return nil, covenant.ErrNotFound
	})
	if _, err := registry.Chain(ctx, loop, "x", 0); !errors.Is(err, registry.ErrChainBroken) || !strings.Contains(err.Error(), "own ancestor") {
		t.Errorf("cycle: %v", err)
	}
	failing := resolverFunc(func(context.Context, string) (*covenant.Document, error) {
		return nil, errors.New("connection refused")
	})
	if _, err := registry.Chain(ctx, failing, "x", 0); err == nil || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("resolver failure: %v", err)
	}
}

type resolverFunc func(ctx context.Context, id string) (*covenant.Document, error)

func (f resolverFunc) Resolve(ctx context.Context, id string) (*covenant.Document, error) {
	return f(ctx, id)
}

func TestResolver(t *testing.T) {
	ctx := testContext(t)
	st := stores[1].open(t)
	root, child, grandchild := threeLevels(t, st)
	cd := &countingDocs{Documents: st}
	r := registry.NewResolver(cd, registry.WithCacheSize(2))

	for range 3 {
		d, err := r.Resolve(ctx, root.ID())
		if err != nil || d.ID() != root.ID() {
			t.Fatalf("Resolve(root) = %v, %v", d, err)
		}
	}
	if n := cd.gets.Load(); n != 1 {
		t.Errorf("three resolves of one ID read the store %d times, want 1", n)
	}
	if _, err := r.Resolve(ctx, strings.Repeat("0", 64)); !errors.Is(err, covenant.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown ID: %v", err)
	}

	// One call for the IDs not cached; nil where absent; the LRU keeps 2.
	got, err := r.ResolveMany(ctx, []string{root.ID(), child.ID(), "nope", grandchild.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].ID() != root.ID() || got[1].ID() != child.ID() || got[2] != nil || got[3].ID() != grandchild.ID() {
		t.Errorf("ResolveMany = %v", got)
	}
	if n := cd.getMany.Load(); n != 1 {
		t.Errorf("ResolveMany read the store %d times, want 1", n)
	}
	if _, err := r.Resolve(ctx, grandchild.ID()); err != nil || cd.gets.Load() != 2 {
		t.Errorf("cached grandchild: %v, gets %d", err, cd.gets.Load())
	}
	if _, err := r.Resolve(ctx, root.ID()); err != nil || cd.gets.Load() != 3 {
		t.Errorf("root should have been evicted from a cache of 2: %v, gets %d", err, cd.gets.Load())
	}

	// A byte budget smaller than two documents keeps only the latest.
	cb := &countingDocs{Documents: st}
	rb := registry.NewResolver(cb, registry.WithCacheBytes(len(root.AppendJSON(nil))+len(child.AppendJSON(nil))-1))
	for _, id := range []string{root.ID(), child.ID(), child.ID(), root.ID()} {
		if _, err := rb.Resolve(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if n := cb.gets.Load(); n != 3 {
		t.Errorf("byte-bounded cache: %d reads, want 3 (root evicted by child)", n)
	}

	// A document stored under another ID is corrupt.
	bogus := stored(root)
	bogus.ID = strings.Repeat("ab", 32)
	if err := st.PutDocuments(ctx, []store.Document{bogus}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(ctx, bogus.ID); !errors.Is(err, registry.ErrCorrupt) {
		t.Errorf("Resolve of a misfiled document: %v, want ErrCorrupt", err)
	}
	if _, err := r.ResolveMany(ctx, []string{bogus.ID}); !errors.Is(err, registry.ErrCorrupt) {
		t.Errorf("ResolveMany of a misfiled document: %v, want ErrCorrupt", err)
	}
}

func TestCheckChains(t *testing.T) {
	for _, o := range stores {
		t.Run(o.name, func(t *testing.T) {
			ctx := testContext(t)
			st := o.open(t)
			root, child, grandchild := threeLevels(t, st)
			orphan := build(t, key(t, 4), childCCL, build(t, key(t, 5), rootCCL, nil))
			misfiled := stored(root)
			misfiled.ID = strings.Repeat("cd", 32)
			if err := st.PutDocuments(ctx, []store.Document{misfiled}); err != nil {
				t.Fatal(err)
			}
			corruptChild, err := covenant.Build(covenant.BuildOptions{
				Issuer:      covenant.Party{ID: "i", PublicKey: key(t, 7).PublicHex(), Role: covenant.RoleIssuer},
				Beneficiary: covenant.Party{ID: "b", PublicKey: key(t, 8).PublicHex(), Role: covenant.RoleBeneficiary},
				Constraints: childCCL,
				Chain:       &covenant.ChainRef{ParentID: misfiled.ID, Relation: "restricts", Depth: 1},
			}, key(t, 7))
			if err != nil {
				t.Fatal(err)
			}
			cd := &countingDocs{Documents: st}
			r := registry.NewResolver(cd)

			docs := []*covenant.Document{root, child, grandchild, nil, orphan, corruptChild}
			checks, err := r.CheckChains(ctx, docs, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if checks[0] != nil || checks[1] != nil || checks[3] != nil {
				t.Errorf("root, child, nil: %v %v %v, want no checks", checks[0], checks[1], checks[3])
			}
			if c := checks[2]; len(c) != 1 || c[0].Name != registry.CheckChainNarrowing || c[0].Passed ||
				!strings.Contains(c[0].Message, grandchild.ID()+" broadens its parent "+child.ID()) {
				t.Errorf("grandchild: %+v", c)
			}
			wantOrphan := "parent " + parentOf(orphan) + " not found"
			if c := checks[4]; len(c) != 1 || c[0].Name != registry.CheckChainResolved || c[0].Message != wantOrphan {
				t.Errorf("orphan: %+v, want %q", c, wantOrphan)
			}
			if c := checks[5]; len(c) != 1 || c[0].Name != registry.CheckChainResolved || !strings.Contains(c[0].Message, "corrupt") {
				t.Errorf("child of a corrupt document: %+v", c)
			}
			// The grandchild's second level (the root) was already read for
			// the child's first: one read for the whole batch.
			if n := cd.getMany.Load(); n != 1 || cd.gets.Load() != 0 {
				t.Errorf("store reads: %d batch, %d single; want 1 batch", n, cd.gets.Load())
			}
			// Only the grandchild, through a fresh resolver: one read per level.
			cd1 := &countingDocs{Documents: st}
			checks, err = registry.NewResolver(cd1).CheckChains(ctx, []*covenant.Document{grandchild, grandchild}, nil, 0)
			if err != nil || len(checks[0]) != 1 || len(checks[1]) != 1 || cd1.getMany.Load() != 2 {
				t.Errorf("grandchild twice: %v, %v, %d reads; want 2 reads", checks, err, cd1.getMany.Load())
			}

			// Documents of the batch resolve without the store; a missing
			// grandparent is named as such.
			cd2 := &countingDocs{Documents: st}
			fresh := build(t, key(t, 9), rootCCL, nil)
			kid := build(t, key(t, 10), childCCL, fresh)
			grandkid := build(t, key(t, 11), childCCL, kid)
			checks, err = registry.NewResolver(cd2).CheckChains(ctx, []*covenant.Document{grandkid, kid}, []*covenant.Document{kid, fresh}, 0)
			if err != nil || checks[0] != nil || checks[1] != nil || cd2.getMany.Load() != 0 {
				t.Errorf("local chain: %v, %v, %d store reads", checks, err, cd2.getMany.Load())
			}
			checks, err = registry.NewResolver(cd2).CheckChains(ctx, []*covenant.Document{grandkid}, []*covenant.Document{kid}, 0)
			want := "ancestor " + fresh.ID() + " (parent of " + kid.ID() + ") not found"
			if err != nil || len(checks[0]) != 1 || checks[0][0].Message != want {
				t.Errorf("missing grandparent: %v, %v; want %q", checks, err, want)
			}
			checks, err = registry.NewResolver(cd2).CheckChains(ctx, []*covenant.Document{grandkid}, []*covenant.Document{kid, fresh}, 1)
			if err != nil || len(checks[0]) != 1 || checks[0][0].Name != registry.CheckChainResolved || !strings.Contains(checks[0][0].Message, "more than 1") {
				t.Errorf("maxDepth 1: %v, %v", checks, err)
			}
		})
	}
}

func parentOf(d *covenant.Document) string {
	ref, _ := d.Chain()
	return ref.ParentID
}

func TestCheckChainsStoreFailure(t *testing.T) {
	st := stores[1].open(t)
	_, _, grandchild := threeLevels(t, st)
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	if _, err := registry.NewResolver(st).CheckChains(ctx, []*covenant.Document{grandchild}, nil, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
