package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/store"
)

// checkCommitted checks that docs are stored and the signature outcomes
// read back as valid.
func checkCommitted(t *testing.T, s store.Store, what string, docs []store.Document, keys [][32]byte, valid []bool) {
	t.Helper()
	ids := make([]string, len(docs))
	want := make([][]byte, len(docs))
	for i, d := range docs {
		ids[i], want[i] = d.ID, d.JSON
	}
	got, err := s.GetDocuments(ctx(t), ids)
	if err != nil {
		t.Fatalf("%s: GetDocuments: %v", what, err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s: documents (-want +got):\n%s", what, d)
	}
	sigs, err := s.GetSigs(ctx(t), keys)
	if err != nil {
		t.Fatalf("%s: GetSigs: %v", what, err)
	}
	wantSigs := make([]byte, len(keys))
	for i, v := range valid {
		wantSigs[i] = store.SigInvalid
		if v {
			wantSigs[i] = store.SigValid
		}
	}
	if d := cmp.Diff(wantSigs, sigs); d != "" {
		t.Errorf("%s: signature outcomes (-want +got):\n%s", what, d)
	}
}

func testCommitChunk(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 6)
	docs := []store.Document{doc(t, 0), doc(t, 1)}
	keys := sigKeys(t, 3)
	valid := []bool{true, false, true}
	first := resultsRange(0, 4, "first")

	w := store.ChunkWrites{Documents: docs, SigKeys: keys, SigValid: valid, Results: first}
	p, err := s.CommitChunk(ctx(t), job.ID, w)
	if err != nil {
		t.Fatalf("CommitChunk: %v", err)
	}
	running := job
	running.Status, running.Done, running.Valid, running.Invalid, running.Failed = store.StatusRunning, 4, 2, 1, 1
	if p.Completed || p.Recorded != 4 {
		t.Errorf("partial chunk: Completed %v, Recorded %d; want false, 4", p.Completed, p.Recorded)
	}
	diffJob(t, "progress after the first chunk", running, p.Job)
	checkCommitted(t, s, "after the first chunk", docs, keys, valid)

	// A redelivered chunk changes nothing and reports the same counters,
	// even with other results for the same indices.
	again := w
	again.Results = make([]store.Result, len(first))
	for i := range again.Results {
		again.Results[i] = result(i, store.OutcomeFailed, "again")
	}
	p, err = s.CommitChunk(ctx(t), job.ID, again)
	if err != nil {
		t.Fatalf("CommitChunk again: %v", err)
	}
	if p.Completed || p.Recorded != 0 {
		t.Errorf("redelivered chunk: Completed %v, Recorded %d; want false, 0", p.Completed, p.Recorded)
	}
	diffJob(t, "progress after a redelivery", running, p.Job)
	diffJob(t, "job after a redelivery", running, mustGetJob(t, s, job.ID))

	// The last chunk, with nothing to store but results, completes the job.
	last := resultsRange(4, 6, "last")
	p, err = s.CommitChunk(ctx(t), job.ID, store.ChunkWrites{Results: last})
	if err != nil {
		t.Fatalf("CommitChunk last: %v", err)
	}
	if !p.Completed {
		t.Error("completing chunk did not report Completed")
	}
	done := running
	done.Status, done.Done, done.Valid, done.Invalid = store.StatusCompleted, 6, 3, 2
	diffJob(t, "progress after the last chunk", done, p.Job)
	if d := cmp.Diff(append(first, last...), allResults(t, s, job.ID), resultOpts); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	p, err = s.CommitChunk(ctx(t), job.ID, store.ChunkWrites{Results: last})
	if err != nil || p.Completed {
		t.Errorf("redelivered completing chunk: completed %v, err %v; want false, nil", p.Completed, err)
	}
}

func testCommitChunkInvalid(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 2)
	d := doc(t, 0)
	keys := sigKeys(t, 2)
	bad := map[string]store.ChunkWrites{
		"mismatched signature lengths": {SigKeys: keys, SigValid: []bool{true}, Documents: []store.Document{d}, Results: resultsRange(0, 1, "x")},
		"document without JSON":        {SigKeys: keys, SigValid: []bool{true, true}, Documents: []store.Document{{ID: d.ID}}, Results: resultsRange(0, 1, "x")},
		"negative index":               {SigKeys: keys, SigValid: []bool{true, true}, Documents: []store.Document{d}, Results: []store.Result{{Index: -1}}},
	}
	for name, w := range bad {
		_, err := s.CommitChunk(ctx(t), job.ID, w)
		wantErr(t, name, err, store.ErrInvalid)
	}
	_, err := s.CommitChunk(ctx(t), "", store.ChunkWrites{Results: resultsRange(0, 1, "x")})
	wantErr(t, "empty job ID", err, store.ErrInvalid)
	// Nothing of the refused calls was written.
	if got, err := s.GetDocuments(ctx(t), []string{d.ID}); err != nil || got[0] != nil {
		t.Errorf("document after refused commits: %q, %v; want none", got, err)
	}
	if got, err := s.GetSigs(ctx(t), keys); err != nil || got[0] != store.SigUnknown || got[1] != store.SigUnknown {
		t.Errorf("signature outcomes after refused commits: %v, %v; want unknown", got, err)
	}

	// An index beyond the job records no result.
	_, err = s.CommitChunk(ctx(t), job.ID, store.ChunkWrites{Results: []store.Result{result(0, store.OutcomeValid, ""), result(2, store.OutcomeValid, "")}})
	wantErr(t, "index beyond the job", err, store.ErrInvalid)
	diffJob(t, "job after an index beyond it", job, mustGetJob(t, s, job.ID))
	if got := allResults(t, s, job.ID); len(got) != 0 {
		t.Errorf("results after an index beyond the job: %v", got)
	}

	// An unknown job is ErrNotFound.
	_, err = s.CommitChunk(ctx(t), newID(t, "job"), store.ChunkWrites{Results: resultsRange(0, 1, "x")})
	wantErr(t, "unknown job", err, store.ErrNotFound)
}

func testCommitChunkLarge(t *testing.T, newStore NewStore) {
	// More results and documents than one round trip carries: the backend
	// may split the work, and every part still lands once.
	s := newStore(t, Config{})
	const n = 2500
	job := mustCreate(t, s, n)
	docs := make([]store.Document, 1200)
	for i := range docs {
		docs[i] = doc(t, i)
	}
	keys := sigKeys(t, 1500)
	valid := make([]bool, len(keys))
	for i := range valid {
		valid[i] = i%3 != 0
	}
	rs := resultsRange(0, n, "large")
	p, err := s.CommitChunk(ctx(t), job.ID, store.ChunkWrites{Documents: docs, SigKeys: keys, SigValid: valid, Results: rs})
	if err != nil {
		t.Fatalf("CommitChunk: %v", err)
	}
	if !p.Completed || p.Job.Done != n {
		t.Errorf("progress = %+v, want completed with %d done", p, n)
	}
	checkCommitted(t, s, "large chunk", docs, keys, valid)
	got := allResults(t, s, job.ID)
	if len(got) != n {
		t.Fatalf("%d results, want %d", len(got), n)
	}
	for i := range got {
		if got[i].Index != i || got[i].Ref != "large" {
			t.Fatalf("result %d = %+v", i, got[i])
		}
	}
}
