package gateway_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/keyring"
	"github.com/stele-go/stele/internal/store"
)

// startSigner runs a signer (the jobs runner with the sign handler) holding
// ring on the environment's NATS and store until the test ends, and
// advertises its keys.
func (e *testEnv) startSigner(t *testing.T, ring *keyring.Keyring) {
	t.Helper()
	ctx := testContext(t)
	if err := ring.Advertise(ctx, e.st, time.Now()); err != nil {
		t.Fatalf("Advertise: %v", err)
	}
	h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: ring, Documents: e.st, Revocations: e.st, Jobs: e.st, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e.startWorker(t, store.KindSign, h)
}

// testRing is a keyring of testKey(t, n) under the given IDs.
func testRing(t *testing.T, ids map[string]byte) *keyring.Keyring {
	t.Helper()
	var ks []*keyring.Key
	for id, n := range ids {
		k, err := keyring.NewKey(id, testKey(t, n), false)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	ring, err := keyring.New(ks...)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// TestSignThroughSigner signs, countersigns and revokes through a real
// signer with ?wait, on both stores: the covenants come back stored and
// valid, a bad constraint fails its item with the CCL position, and once the
// key is revoked it signs nothing and its covenants no longer verify.
func TestSignThroughSigner(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnvOn(t, gateway.Limits{}, kind)
			ctx := testContext(t)
			e.startSigner(t, testRing(t, map[string]byte{"issuer": 1, "auditor": 2}))
			v, err := covenant.NewVerifier()
			if err != nil {
				t.Fatal(err)
			}
			bob := testKey(t, 9).PublicHex()
			item := func(ref, constraints, extra string) string {
				return `{"ref":"` + ref + `","keyId":"issuer","issuer":{"id":"alice"},"beneficiary":{"id":"bob","publicKey":"` + bob +
					`"},"constraints":` + mustJSON(constraints) + extra + `}`
			}

			// A parent first, then a child of it, a bad constraint and
			// an unknown key in one job.
			status, _, body := do(t, "POST", e.url+"/v1/sign?wait=30s", ctJSON, []byte(`{"items":[`+
				item("root", "permit read on '/data/**'", `,"metadata":{"tags":["fleet"]}`)+`]}`))
			if status != 200 {
				t.Fatalf("sign root: %d %s", status, body)
			}
			root := decode[jobAnswer](t, body)
			if root.Status != store.StatusCompleted || len(root.Items) != 1 || !root.Items[0].Valid || root.Items[0].DocumentID == "" {
				t.Fatalf("root answer %s", body)
			}
			rootID := root.Items[0].DocumentID
			status, _, body = do(t, "POST", e.url+"/v1/sign?wait=30s", ctJSON, []byte(`{"items":[`+
				item("child", "permit read on '/data/public/**'", `,"parentId":"`+rootID+`","relation":"restricts"`)+","+
				item("bad", "permit read on '/x'\ndeny", "")+","+
				strings.Replace(item("ghost", "permit read on '/x'", ""), `"keyId":"issuer"`, `"keyId":"ghost"`, 1)+`]}`))
			if status != 200 {
				t.Fatalf("sign batch: %d %s", status, body)
			}
			batch := decode[jobAnswer](t, body)
			if batch.Valid != 1 || batch.Failed != 2 || len(batch.Items) != 3 {
				t.Fatalf("batch answer %s", body)
			}
			child := batch.Items[0]
			if !child.Valid || child.Ref != "child" {
				t.Errorf("child %+v", child)
			}
			if !regexp.MustCompile(`^invalid_ccl: line 2, column \d+: `).MatchString(batch.Items[1].Error) {
				t.Errorf("bad constraint: %+v", batch.Items[1])
			}
			if !strings.HasPrefix(batch.Items[2].Error, "unknown_key: ") {
				t.Errorf("unknown key: %+v", batch.Items[2])
			}
			for _, id := range []string{rootID, child.DocumentID} {
				raw, err := e.st.GetDocument(ctx, id)
				if err != nil {
					t.Fatalf("signed covenant %s not stored: %v", id, err)
				}
				doc, err := covenant.Parse(raw)
				if err != nil {
					t.Fatal(err)
				}
				if res := v.Verify(doc); !res.Valid || doc.Issuer().PublicKey != testKey(t, 1).PublicHex() {
					t.Errorf("covenant %s: valid %v (%v), issuer %+v", id, res.Valid, res.Failed(), doc.Issuer())
				}
			}
			status, _, body = do(t, "GET", e.url+"/v1/covenants/"+child.DocumentID+"/chain", "", nil)
			if a := decode[chainAnswer](t, body); status != 200 || !a.Valid || a.Depth != 1 || a.Ancestors[0].ID != rootID {
				t.Errorf("chain of the signed child: %d %s", status, body)
			}

			// Countersign the root.
			status, _, body = do(t, "POST", e.url+"/v1/countersign?wait=30s", ctJSON, []byte(`{"documentId":"`+rootID+`","keyId":"auditor"}`))
			if a := decode[jobAnswer](t, body); status != 200 || a.Valid != 1 || a.Items[0].DocumentID != rootID {
				t.Fatalf("countersign: %d %s", status, body)
			}
			raw, err := e.st.GetDocument(ctx, rootID)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := covenant.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if cs := doc.Countersignatures(); len(cs) != 1 || cs[0].SignerPublicKey != testKey(t, 2).PublicHex() || !v.Verify(doc).Valid {
				t.Errorf("countersigned root: %+v", cs)
			}

			// Revoke the issuer key: it signs nothing more, and its
			// covenants are refused by PUT.
			status, _, body = do(t, "POST", e.url+"/v1/revocations", ctJSON, []byte(`{"keyId":"issuer","reason":"rotated after a leak"}`))
			if status != 201 {
				t.Fatalf("revoke: %d %s", status, body)
			}
			status, _, body = do(t, "POST", e.url+"/v1/sign?wait=30s", ctJSON, []byte(`{"items":[`+item("late", "permit read on '/x'", "")+`]}`))
			if a := decode[jobAnswer](t, body); status != 200 || a.Failed != 1 || !strings.HasPrefix(a.Items[0].Error, "revoked_key: ") {
				t.Errorf("sign with a revoked key: %d %s", status, body)
			}
			status, body = e.put(t, "", raw)
			expectInvalid(t, "PUT of a covenant signed by a revoked key", status, body, "key_not_revoked")
		})
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
