package jobs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// editJSON decodes a document's JSON, applies edit and encodes it again.
func editJSON(t testing.TB, doc []byte, edit func(m map[string]any)) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cacheVariants are copies of a countersigned covenant that share its ID,
// signature or keys with it, each of which must get its own signature
// verdict rather than one cached for another.
func cacheVariants(t testing.TB) []jobs.Item {
	t.Helper()
	issuer, counter, other := regKey(t, 21), regKey(t, 22), regKey(t, 23)
	base := regBuild(t, issuer, "permit read on '/data/**'", nil)
	cs, err := covenant.Countersign(base, counter, covenant.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}
	otherDoc := regBuild(t, other, "permit read on '/data/**'", nil)
	otherCS, err := covenant.Countersign(otherDoc, counter, covenant.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}
	b, c := base.AppendJSON(nil), cs.AppendJSON(nil)
	party := func(m map[string]any) map[string]any { return m["issuer"].(map[string]any) }
	firstCS := func(m map[string]any) map[string]any { return m["countersignatures"].([]any)[0].(map[string]any) }
	variants := []json.RawMessage{
		b, c,
		editJSON(t, b, func(m map[string]any) { m["constraints"] = "permit write on '/**'" }),
		editJSON(t, b, func(m map[string]any) { party(m)["publicKey"] = other.PublicHex() }),
		editJSON(t, b, func(m map[string]any) { party(m)["publicKey"] = strings.ToUpper(issuer.PublicHex()) }),
		editJSON(t, b, func(m map[string]any) { m["signature"] = strings.ToUpper(m["signature"].(string)) }),
		editJSON(t, b, func(m map[string]any) { m["signature"] = otherDoc.Signature() }),
		editJSON(t, c, func(m map[string]any) { m["countersignatures"] = []any{} }),
		editJSON(t, c, func(m map[string]any) { firstCS(m)["signerPublicKey"] = strings.ToUpper(counter.PublicHex()) }),
		editJSON(t, c, func(m map[string]any) { firstCS(m)["signature"] = strings.ToUpper(firstCS(m)["signature"].(string)) }),
		editJSON(t, c, func(m map[string]any) { firstCS(m)["signerPublicKey"] = other.PublicHex() }),
		editJSON(t, c, func(m map[string]any) {
			firstCS(m)["signature"] = otherCS.Countersignatures()[0].Signature
		}),
		editJSON(t, c, func(m map[string]any) {
			var o map[string]any
			if err := json.Unmarshal(otherCS.AppendJSON(nil), &o); err != nil {
				t.Fatal(err)
			}
			m["countersignatures"] = append(m["countersignatures"].([]any), o["countersignatures"].([]any)[0])
		}),
		editJSON(t, c, func(m map[string]any) { m["expiresAt"] = "2020-01-01T00:00:00.000Z" }),
	}
	items := make([]jobs.Item, len(variants))
	for i, v := range variants {
		items[i] = jobs.Item{Index: i, Ref: string(rune('a' + i)), Document: v}
	}
	return items
}

func TestVerifyCacheNeverReusedForOtherBytes(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			ctx := testContext(t)
			items := cacheVariants(t)
			at := time.Now().UTC()
			verify := func(h *jobs.VerifyHandler, items []jobs.Item) []store.Result {
				t.Helper()
				res, err := h.HandleChunk(ctx, &jobs.Chunk{V: 1, JobID: "c", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano), Items: items})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			plain, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: sk.open(t), DiscardDocuments: true})
			if err != nil {
				t.Fatal(err)
			}
			want := make([]store.Result, len(items))
			for i := range items {
				want[i] = verify(plain, items[i:i+1])[0]
			}
			st := sk.open(t)
			cache := &countingCache{SigCache: st}
			cached, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: st, SigCache: cache})
			if err != nil {
				t.Fatal(err)
			}
			// One at a time, in each order, then all at once, twice.
			for i := range items {
				got := verify(cached, items[i:i+1])[0]
				if d := cmp.Diff(want[i], got); d != "" {
					t.Errorf("item %d first: (-uncached +cached)\n%s", i, d)
				}
			}
			for i := len(items) - 1; i >= 0; i-- {
				got := verify(cached, items[i:i+1])[0]
				if d := cmp.Diff(want[i], got); d != "" {
					t.Errorf("item %d reversed: (-uncached +cached)\n%s", i, d)
				}
			}
			for range 2 {
				if d := cmp.Diff(want, verify(cached, items)); d != "" {
					t.Errorf("batch: (-uncached +cached)\n%s", d)
				}
			}
			if cache.hits.Load() == 0 {
				t.Error("no cache hits")
			}
			// A key revoked after its signatures were cached: the cached
			// pass does not make the document valid.
			if err := st.RevokeKey(ctx, store.Revocation{PublicKey: regKey(t, 21).PublicHex(), Reason: "compromised", RevokedAt: at}); err != nil {
				t.Fatal(err)
			}
			revoking, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: st, SigCache: cache, Revocations: st})
			if err != nil {
				t.Fatal(err)
			}
			hits := cache.hits.Load()
			res := verify(revoking, items[:2])
			for i, r := range res {
				if failed, _ := failedChecks(r); r.Valid || len(failed) != 1 || failed[0] != "key_not_revoked" {
					t.Errorf("item %d after revocation: %+v; want invalid by key_not_revoked", i, r)
				}
			}
			if cache.hits.Load() == hits {
				t.Error("the revoked documents' signatures were not cache hits")
			}
			for i, r := range want {
				t.Logf("%d valid=%v failed=%v", i, r.Valid, func() (f []string) {
					for _, c := range r.Checks {
						if !c.Passed {
							f = append(f, c.Name+": "+c.Message)
						}
					}
					return
				}())
			}
		})
	}
}
