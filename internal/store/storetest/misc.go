package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/store"
)

func doc(t *testing.T, n int) store.Document {
	id := newID(t, "doc")
	return store.Document{
		ID:            id,
		JSON:          fmt.Appendf(nil, `{"id":%q,"n":%d,"constraints":"permit read on '**'"}`, id, n),
		IssuerID:      "issuer-" + fmt.Sprint(n%2),
		BeneficiaryID: "beneficiary",
		CreatedAt:     "2026-02-19T01:38:56.342Z",
		HasChain:      n%2 == 1,
		Tags:          []string{"t1", fmt.Sprintf("n%d", n)},
	}
}

func testDocuments(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	docs := []store.Document{doc(t, 0), doc(t, 1), doc(t, 2)}
	if err := s.PutDocuments(ctx(t), docs); err != nil {
		t.Fatalf("PutDocuments: %v", err)
	}
	for _, d := range docs {
		got, err := s.GetDocument(ctx(t), d.ID)
		if err != nil {
			t.Fatalf("GetDocument(%s): %v", d.ID, err)
		}
		if string(got) != string(d.JSON) {
			t.Errorf("GetDocument(%s) = %s, want %s", d.ID, got, d.JSON)
		}
	}
	missing := newID(t, "doc")
	got, err := s.GetDocuments(ctx(t), []string{docs[2].ID, missing, docs[0].ID, docs[2].ID, ""})
	if err != nil {
		t.Fatalf("GetDocuments: %v", err)
	}
	want := [][]byte{docs[2].JSON, nil, docs[0].JSON, docs[2].JSON, nil}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GetDocuments (-want +got):\n%s", d)
	}
	got, err = s.GetDocuments(ctx(t), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("GetDocuments(nil) = %v, %v; want none", got, err)
	}
	has, err := s.HasDocuments(ctx(t), []string{docs[2].ID, missing, docs[0].ID, docs[2].ID, ""})
	if err != nil {
		t.Fatalf("HasDocuments: %v", err)
	}
	if d := cmp.Diff([]bool{true, false, true, true, false}, has); d != "" {
		t.Errorf("HasDocuments (-want +got):\n%s", d)
	}
	has, err = s.HasDocuments(ctx(t), []string{docs[1].ID, docs[0].ID, docs[1].ID})
	if err != nil || !slices.Equal(has, []bool{true, true, true}) {
		t.Errorf("HasDocuments of stored documents = %v, %v; want all true", has, err)
	}
	has, err = s.HasDocuments(ctx(t), nil)
	if err != nil || len(has) != 0 {
		t.Errorf("HasDocuments(nil) = %v, %v; want none", has, err)
	}
	if err := s.PutDocuments(ctx(t), nil); err != nil {
		t.Errorf("PutDocuments(nil): %v", err)
	}

	// Putting an ID again overwrites it (a document that gained a
	// countersignature).
	again := docs[1]
	again.JSON = append(append([]byte(nil), again.JSON[:len(again.JSON)-1]...), `,"countersignatures":[]}`...)
	if err := s.PutDocuments(ctx(t), []store.Document{again}); err != nil {
		t.Fatal(err)
	}
	b, err := s.GetDocument(ctx(t), again.ID)
	if err != nil || string(b) != string(again.JSON) {
		t.Errorf("GetDocument after overwrite = %s, %v; want %s", b, err, again.JSON)
	}

	// Many documents, more than one batch of any reasonable implementation.
	var many []store.Document
	var ids []string
	for i := range 2500 {
		d := doc(t, i)
		many = append(many, d)
		ids = append(ids, d.ID)
	}
	if err := s.PutDocuments(ctx(t), many); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetDocuments(ctx(t), ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range many {
		if string(got[i]) != string(many[i].JSON) {
			t.Fatalf("GetDocuments of many: entry %d = %q, want %q", i, got[i], many[i].JSON)
		}
	}
	// A missing ID first and last: batches after one with an absent key
	// must still be read.
	ids = append(append([]string{missing}, ids...), missing)
	got, err = s.GetDocuments(ctx(t), ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("GetDocuments of many with missing ones: %d answers, %v", len(got), err)
	}
	has, err = s.HasDocuments(ctx(t), ids)
	if err != nil || len(has) != len(ids) {
		t.Fatalf("HasDocuments of many: %d answers, %v", len(has), err)
	}
	for i := range ids {
		stored := i > 0 && i <= len(many)
		if has[i] != stored || (got[i] != nil) != stored || (stored && string(got[i]) != string(many[i-1].JSON)) {
			t.Fatalf("many with missing ones: entry %d: has %v, got %q", i, has[i], got[i])
		}
	}
}

func testDocumentsInvalid(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	good := doc(t, 0)
	for _, tc := range []struct {
		name string
		doc  store.Document
	}{
		{"empty ID", store.Document{JSON: []byte(`{}`)}},
		{"long ID", store.Document{ID: strings.Repeat("d", store.MaxIDLen+1), JSON: []byte(`{}`)}},
		{"empty JSON", store.Document{ID: newID(t, "doc")}},
	} {
		err := s.PutDocuments(ctx(t), []store.Document{good, tc.doc})
		wantErr(t, "PutDocuments with "+tc.name, err, store.ErrInvalid)
		_, err = s.GetDocument(ctx(t), good.ID)
		wantErr(t, "GetDocument after PutDocuments with "+tc.name, err, store.ErrNotFound)
	}
	_, err := s.GetDocument(ctx(t), "")
	wantErr(t, "GetDocument with an empty ID", err, store.ErrInvalid)
}

func sigKeys(t *testing.T, n int) [][32]byte {
	seed := newID(t, "sig")
	keys := make([][32]byte, n)
	for i := range keys {
		keys[i] = sha256.Sum256(fmt.Appendf(nil, "%s/%d", seed, i))
	}
	return keys
}

func testSigCache(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	keys := sigKeys(t, 6)
	got, err := s.GetSigs(ctx(t), keys)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]byte{0, 0, 0, 0, 0, 0}, got); d != "" {
		t.Errorf("GetSigs of unknown keys (-want +got):\n%s", d)
	}
	if err := s.PutSigs(ctx(t), keys[:4], []bool{true, false, true, false}); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetSigs(ctx(t), [][32]byte{keys[5], keys[0], keys[1], keys[2], keys[3], keys[4], keys[1]})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{store.SigUnknown, store.SigValid, store.SigInvalid, store.SigValid, store.SigInvalid, store.SigUnknown, store.SigInvalid}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GetSigs after PutSigs (-want +got):\n%s", d)
	}
	err = s.PutSigs(ctx(t), keys[4:], []bool{true})
	wantErr(t, "PutSigs with mismatched lengths", err, store.ErrInvalid)
	got, err = s.GetSigs(ctx(t), keys[4:])
	if err != nil || !cmp.Equal(got, []byte{0, 0}) {
		t.Errorf("GetSigs after a refused PutSigs = %v, %v; want [0 0]", got, err)
	}
	got, err = s.GetSigs(ctx(t), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("GetSigs(nil) = %v, %v", got, err)
	}

	// Many keys at once.
	many := sigKeys(t, 3000)
	valid := make([]bool, len(many))
	wantMany := make([]byte, len(many))
	for i := range many {
		valid[i] = i%3 != 0
		wantMany[i] = store.SigInvalid
		if valid[i] {
			wantMany[i] = store.SigValid
		}
	}
	if err := s.PutSigs(ctx(t), many, valid); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetSigs(ctx(t), many)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantMany, got); d != "" {
		t.Errorf("GetSigs of many (-want +got):\n%s", d)
	}
}

func testCanceled(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 2)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"Ping":   func() error { return s.Ping(c) },
		"GetJob": func() error { _, err := s.GetJob(c, job.ID); return err },
		"CreateJob": func() error {
			return s.CreateJob(c, store.Job{ID: newID(t, "job"), Kind: store.KindVerify, Total: 1})
		},
		"RecordResults": func() error { _, err := s.RecordResults(c, job.ID, resultsRange(0, 1, "")); return err },
		"Results":       func() error { _, _, err := s.Results(c, job.ID, 0, 10); return err },
		"PutDocuments":  func() error { return s.PutDocuments(c, []store.Document{doc(t, 1)}) },
		"GetDocument":   func() error { _, err := s.GetDocument(c, "x"); return err },
		"GetDocuments":  func() error { _, err := s.GetDocuments(c, []string{"x"}); return err },
		"GetSigs":       func() error { _, err := s.GetSigs(c, sigKeys(t, 1)); return err },
		"PutSigs":       func() error { return s.PutSigs(c, sigKeys(t, 1), []bool{true}) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: err = %v, want context.Canceled", name, err)
		}
	}
	diffJob(t, "job after canceled calls", job, mustGetJob(t, s, job.ID))
}

func testPingClose(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// ttl is the short lifetime of the TTL subtests: long enough to be far from
// scheduling noise on a loaded machine, short enough for a test.
const ttl = 2 * time.Second

func testJobTTL(t *testing.T, newStore NewStore) {
	t.Parallel()
	s := newStore(t, Config{JobTTL: ttl, SigTTL: time.Hour})
	a := mustCreate(t, s, 2)
	b := mustCreate(t, s, 2)
	mustRecord(t, s, a.ID, resultsRange(0, 1, "a"))
	d := doc(t, 7)
	if err := s.PutDocuments(ctx(t), []store.Document{d}); err != nil {
		t.Fatal(err)
	}

	time.Sleep(ttl * 6 / 10)
	// Recording results restarts b's lifetime.
	mustRecord(t, s, b.ID, resultsRange(0, 1, "b"))
	time.Sleep(ttl * 6 / 10)

	// a expired (last change 1.2 TTL ago); b has not (0.6 TTL ago).
	_, err := s.GetJob(ctx(t), a.ID)
	wantErr(t, "GetJob of an expired job", err, store.ErrNotFound)
	_, _, err = s.Results(ctx(t), a.ID, 0, 10)
	wantErr(t, "Results of an expired job", err, store.ErrNotFound)
	_, err = s.RecordResults(ctx(t), a.ID, resultsRange(1, 2, "a"))
	wantErr(t, "RecordResults of an expired job", err, store.ErrNotFound)
	bJob := mustGetJob(t, s, b.ID)
	if bJob.Done != 1 {
		t.Errorf("refreshed job: Done = %d, want 1", bJob.Done)
	}
	if got := allResults(t, s, b.ID); len(got) != 1 {
		t.Errorf("refreshed job has %d results, want 1", len(got))
	}
	// Documents do not expire.
	if _, err := s.GetDocument(ctx(t), d.ID); err != nil {
		t.Errorf("GetDocument after the job TTL: %v", err)
	}

	// An expired ID can be created again, with no trace of its results.
	if err := s.CreateJob(ctx(t), store.Job{ID: a.ID, Kind: store.KindVerify, Total: 2, CreatedAt: createdAt}); err != nil {
		t.Fatalf("CreateJob of an expired ID: %v", err)
	}
	diffJob(t, "re-created job", a, mustGetJob(t, s, a.ID))
	if got := allResults(t, s, a.ID); len(got) != 0 {
		t.Errorf("re-created job has %d results, want 0", len(got))
	}
	p := mustRecord(t, s, a.ID, resultsRange(0, 1, "new"))
	if p.Job.Done != 1 {
		t.Errorf("re-created job: Done = %d after one result, want 1", p.Job.Done)
	}

	// b expires in turn.
	deadline := time.Now().Add(3 * ttl)
	for {
		_, err := s.GetJob(ctx(t), b.ID)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("refreshed job never expired")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, _, err = s.Results(ctx(t), b.ID, 0, 10)
	wantErr(t, "Results of the expired refreshed job", err, store.ErrNotFound)
}

func testSigTTL(t *testing.T, newStore NewStore) {
	t.Parallel()
	s := newStore(t, Config{JobTTL: time.Hour, SigTTL: ttl})
	keys := sigKeys(t, 2)
	if err := s.PutSigs(ctx(t), keys[:1], []bool{true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl * 6 / 10)
	if err := s.PutSigs(ctx(t), keys[1:], []bool{false}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSigs(ctx(t), keys)
	if err != nil || !cmp.Equal(got, []byte{store.SigValid, store.SigInvalid}) {
		t.Errorf("GetSigs before expiry = %v, %v", got, err)
	}
	time.Sleep(ttl * 6 / 10)
	got, err = s.GetSigs(ctx(t), keys)
	if err != nil || !cmp.Equal(got, []byte{store.SigUnknown, store.SigInvalid}) {
		t.Errorf("GetSigs after the first expired = %v, %v; want [0 2]", got, err)
	}
}
