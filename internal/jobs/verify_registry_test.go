package jobs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// regKey returns the test key whose seed is 00…0n.
func regKey(t testing.TB, n byte) *keys.PrivateKey {
	t.Helper()
	seed := make([]byte, 32)
	seed[31] = n
	k, err := keys.NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// regBuild signs a covenant with k, constraints and an optional parent.
func regBuild(t testing.TB, k *keys.PrivateKey, constraints string, parent *covenant.Document) *covenant.Document {
	t.Helper()
	opts := covenant.BuildOptions{
		Issuer:      covenant.Party{ID: "issuer-" + k.PublicHex()[:8], PublicKey: k.PublicHex(), Role: covenant.RoleIssuer},
		Beneficiary: covenant.Party{ID: "agent", PublicKey: regKey(t, 99).PublicHex(), Role: covenant.RoleBeneficiary},
		Constraints: constraints,
	}
	if parent != nil {
		opts.Chain = &covenant.ChainRef{ParentID: parent.ID(), Relation: "restricts", Depth: 1}
		if ref, ok := parent.Chain(); ok {
			opts.Chain.Depth = ref.Depth + 1
		}
	}
	d, err := covenant.Build(opts, k)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// chainOfThree is root → child → grandchild; the grandchild broadens the
// child (it permits write, which the child does not).
func chainOfThree(t testing.TB) [3]*covenant.Document {
	root := regBuild(t, regKey(t, 1), "permit read on '/data/**'\npermit write on '/data/**'\ndeny delete on '**'", nil)
	child := regBuild(t, regKey(t, 2), "permit read on '/data/**'", root)
	grandchild := regBuild(t, regKey(t, 3), "permit read on '/data/public/**'\npermit write on '/data/public/**'", child)
	return [3]*covenant.Document{root, child, grandchild}
}

func inlineItems(docs ...*covenant.Document) []jobs.Item {
	items := make([]jobs.Item, len(docs))
	for i, d := range docs {
		items[i] = jobs.Item{Index: i, Ref: fmt.Sprint("doc-", i), Document: d.AppendJSON(nil)}
	}
	return items
}

// checkNames lists the names of a result's checks that failed, and the
// number of checks.
func failedChecks(r store.Result) (names []string, n int) {
	for _, c := range r.Checks {
		if !c.Passed {
			names = append(names, c.Name)
		}
	}
	return names, len(r.Checks)
}

func TestVerifyJobChain(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{}, jobs.WithChunkItems(8))
			p.startRunner(t, nil, nil, jobs.RunnerConfig{})
			three := chainOfThree(t)
			orphan := regBuild(t, regKey(t, 4), "permit read on '/data/**'", regBuild(t, regKey(t, 5), "permit read on '/**'", nil))

			// chain:true with the three in one chunk, before any is stored:
			// the parents resolve from the chunk itself.
			p.submit(t, jobs.Job{ID: "chain", Kind: store.KindVerify, Chain: true}, inlineItems(three[0], three[1], three[2], orphan))
			p.waitJob(t, "chain")
			res := p.results(t, "chain")
			for i := range 2 {
				if failed, n := failedChecks(res[i]); !res[i].Valid || n != 11 || failed != nil {
					t.Errorf("chain:true item %d: valid %v, %d checks, failed %v; want valid with 11", i, res[i].Valid, n, failed)
				}
			}
			gc := res[2]
			if failed, n := failedChecks(gc); gc.Valid || n != 12 || len(failed) != 1 || failed[0] != "chain_narrowing" ||
				!strings.Contains(gc.Checks[11].Message, three[2].ID()+" broadens its parent "+three[1].ID()) {
				t.Errorf("grandchild: %+v; want invalid with a failing chain_narrowing", gc)
			}
			orphanParent, _ := orphan.Chain()
			if failed, n := failedChecks(res[3]); res[3].Valid || n != 12 || len(failed) != 1 || failed[0] != "chain_resolved" ||
				res[3].Checks[11].Message != "parent "+orphanParent.ParentID+" not found" {
				t.Errorf("orphan: %+v; want invalid with a failing chain_resolved", res[3])
			}

			// chain:false: the three verify, the orphan too (and they are stored).
			p.submit(t, jobs.Job{ID: "nochain", Kind: store.KindVerify}, inlineItems(three[0], three[1], three[2], orphan))
			p.waitJob(t, "nochain")
			for i, r := range p.results(t, "nochain") {
				if failed, n := failedChecks(r); !r.Valid || n != 11 || failed != nil {
					t.Errorf("chain:false item %d: valid %v, %d checks, failed %v; want valid with 11", i, r.Valid, n, failed)
				}
			}

			// By reference, one item per chunk: the ancestors come from the
			// store (stored by the first job).
			p.submit(t, jobs.Job{ID: "byref", Kind: store.KindVerify, Chain: true}, []jobs.Item{
				{Index: 0, DocumentID: three[2].ID()}, {Index: 1, DocumentID: three[1].ID()},
			})
			p.waitJob(t, "byref")
			res = p.results(t, "byref")
			if failed, _ := failedChecks(res[0]); res[0].Valid || len(failed) != 1 || failed[0] != "chain_narrowing" {
				t.Errorf("grandchild by reference: %+v", res[0])
			}
			if !res[1].Valid || len(res[1].Checks) != 11 {
				t.Errorf("child by reference: %+v", res[1])
			}
		})
	}
}

func TestVerifyRevokedKeys(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			ctx := testContext(t)
			st := sk.open(t)
			bad, badCounter, good := regKey(t, 11), regKey(t, 12), regKey(t, 13)
			at := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
			if err := st.RevokeKey(ctx, store.Revocation{PublicKey: bad.PublicHex(), KeyID: "k-old", Reason: "compromised", RevokedAt: at}); err != nil {
				t.Fatalf("RevokeKey: %v", err)
			}
			if err := st.RevokeKey(ctx, store.Revocation{PublicKey: badCounter.PublicHex(), Reason: "laptop lost", RevokedAt: at}); err != nil {
				t.Fatalf("RevokeKey: %v", err)
			}
			byBad := regBuild(t, bad, "permit read on '/**'", nil)
			byGood := regBuild(t, good, "permit read on '/**'", nil)
			countersigned, err := covenant.Countersign(regBuild(t, good, "permit write on '/**'", nil), badCounter, covenant.RoleAuditor)
			if err != nil {
				t.Fatal(err)
			}
			h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: st, Revocations: st})
			if err != nil {
				t.Fatal(err)
			}
			res, err := h.HandleChunk(ctx, &jobs.Chunk{V: 1, JobID: "rev", Kind: store.KindVerify, Items: inlineItems(byBad, byGood, countersigned)})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				"issuer key " + bad.PublicHex()[:16] + "… (k-old) was revoked at 2026-04-01T00:00:00Z: compromised",
				"",
				"countersigner key " + badCounter.PublicHex()[:16] + "… was revoked at 2026-04-01T00:00:00Z: laptop lost",
			}
			for i, w := range want {
				r := res[i]
				failed, n := failedChecks(r)
				if w == "" {
					if !r.Valid || n != 11 || failed != nil {
						t.Errorf("item %d: valid %v, %d checks, failed %v; want valid with exactly 11", i, r.Valid, n, failed)
					}
					continue
				}
				if r.Valid || n != 12 || len(failed) != 1 || failed[0] != "key_not_revoked" || r.Checks[11].Message != w {
					t.Errorf("item %d: %+v; want invalid with key_not_revoked %q", i, r, w)
				}
			}
			// Revoked documents are not stored; the valid one is.
			for _, d := range []*covenant.Document{byBad, countersigned} {
				if _, err := st.GetDocument(ctx, d.ID()); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("document signed by a revoked key stored: %v", err)
				}
			}
			if _, err := st.GetDocument(ctx, byGood.ID()); err != nil {
				t.Errorf("valid document not stored: %v", err)
			}

			// Without a revocation list, the same documents verify.
			plain, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: st})
			if err != nil {
				t.Fatal(err)
			}
			res, err = plain.HandleChunk(ctx, &jobs.Chunk{V: 1, JobID: "plain", Kind: store.KindVerify, Items: inlineItems(byBad, countersigned)})
			if err != nil || !res[0].Valid || !res[1].Valid || len(res[0].Checks) != 11 {
				t.Errorf("without revocations: %+v, %v", res, err)
			}
		})
	}
}
