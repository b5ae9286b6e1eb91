package jobs_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

// Countersignatures applied at the same moment by several signers, through
// different store handles (different processes), all land: each signer's
// write is a compare-and-swap over what it read, re-applied on a conflict.
func TestSignConcurrentCountersignaturesAllLand(t *testing.T) {
	const auditors = 8
	url, prefix := redistest.Start(t), redistest.KeyPrefix(t)
	open := func() store.Store {
		st, err := redisstore.Open(testContext(t), url, redisstore.WithKeyPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a, b := open(), open()
	ids := []string{"issuer"}
	for i := range auditors {
		ids = append(ids, fmt.Sprintf("aud%d", i))
	}
	kr := testKeyring(t, ids...)
	ha, err := jobs.NewSignHandler(jobs.SignConfig{Keys: kr, Documents: a})
	if err != nil {
		t.Fatal(err)
	}
	hb, err := jobs.NewSignHandler(jobs.SignConfig{Keys: kr, Documents: b})
	if err != nil {
		t.Fatal(err)
	}
	id := handle(t, ha, msgTime, signItem(t, "", buildReq("issuer", 1)))[0].DocumentID
	var wg sync.WaitGroup
	results := make([][]store.Result, auditors)
	errs := make([]error, auditors)
	for i := range auditors {
		h := ha
		if i%2 == 1 {
			h = hb
		}
		item := signItem(t, "", jobs.SignRequest{KeyID: fmt.Sprintf("aud%d", i), Countersign: id, Timestamp: "2026-05-01T00:00:00.000Z"})
		wg.Go(func() {
			ctx := jobs.WithMessageInfo(testContext(t), jobs.MsgInfo{NumDelivered: 1, Timestamp: msgTime})
			results[i], errs[i] = h.HandleChunk(ctx, &jobs.Chunk{V: 1, JobID: "direct", Kind: store.KindSign, Items: []jobs.Item{item}})
		})
	}
	wg.Wait()
	for i, rs := range results {
		if errs[i] != nil {
			t.Fatalf("auditor %d: %v", i, errs[i])
		}
		if len(rs) != 1 || !rs[0].Valid || rs[0].DocumentID != id {
			t.Fatalf("auditor %d: %+v", i, rs)
		}
	}
	doc, _ := storedCovenant(t, a, id)
	mustVerify(t, doc)
	got := map[string]bool{}
	for _, cs := range doc.Countersignatures() {
		if got[cs.SignerPublicKey] {
			t.Fatalf("key %s countersigned twice", cs.SignerPublicKey)
		}
		got[cs.SignerPublicKey] = true
	}
	for i := range auditors {
		k, _ := kr.Get(fmt.Sprintf("aud%d", i))
		if !got[k.Public] {
			t.Errorf("countersignature of aud%d lost (%d of %d present)", i, len(got), auditors)
		}
	}
}

// Signing the same request again (a retried job with the same nonce and
// createdAt, or a redelivery the job record does not cover) rebuilds the
// same covenant byte for byte; it must not replace the stored copy, which
// may have been countersigned since.
func TestSignAgainKeepsCountersignatures(t *testing.T) {
	st := newSQLiteStore(t)
	kr := testKeyring(t, "issuer", "aud")
	h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: kr, Documents: st})
	if err != nil {
		t.Fatal(err)
	}
	req := buildReq("issuer", 7)
	id := handle(t, h, msgTime, signItem(t, "", req))[0].DocumentID
	handle(t, h, msgTime, signItem(t, "", jobs.SignRequest{KeyID: "aud", Countersign: id, Timestamp: "2026-05-01T00:00:00.000Z"}))
	_, countersigned := storedCovenant(t, st, id)
	if again := handle(t, h, msgTime, signItem(t, "", req))[0]; again.DocumentID != id || !again.Valid {
		t.Fatalf("signed again: %+v, want %s", again, id)
	}
	doc, after := storedCovenant(t, st, id)
	if string(after) != string(countersigned) || len(doc.Countersignatures()) != 1 {
		t.Fatalf("signing again replaced the countersigned covenant:\n%s", after)
	}
}
