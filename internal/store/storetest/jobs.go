package storetest

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/store"
)

func testCreateJob(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	want := mustCreate(t, s, 3)
	diffJob(t, "after CreateJob", want, mustGetJob(t, s, want.ID))

	// Counters, status and CompletedAt of the argument are ignored; a zero
	// CreatedAt becomes the store's clock.
	id := newID(t, "job")
	before := time.Now()
	err := s.CreateJob(ctx(t), store.Job{
		ID: id, Kind: store.KindSign, Total: 2,
		Status: store.StatusCompleted, Done: 2, Valid: 1, Invalid: 1, CompletedAt: before,
	})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	got := mustGetJob(t, s, id)
	if got.CreatedAt.Before(before.Add(-time.Second)) || got.CreatedAt.After(after.Add(time.Second)) {
		t.Errorf("CreatedAt = %v, want within [%v, %v]", got.CreatedAt, before, after)
	}
	diffJob(t, "after CreateJob with extra fields", store.Job{
		ID: id, Kind: store.KindSign, Status: store.StatusQueued, Total: 2, CreatedAt: got.CreatedAt,
	}, got)
}

func testCreateJobExists(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	want := mustCreate(t, s, 4)
	mustRecord(t, s, want.ID, resultsRange(0, 1, ""))
	want.Status, want.Done, want.Valid = store.StatusRunning, 1, 1

	err := s.CreateJob(ctx(t), store.Job{ID: want.ID, Kind: store.KindVerify, Total: 9})
	wantErr(t, "CreateJob of an existing ID", err, store.ErrExists)
	diffJob(t, "existing job after a second CreateJob", want, mustGetJob(t, s, want.ID))
	if got := allResults(t, s, want.ID); len(got) != 1 {
		t.Errorf("existing job has %d results after a second CreateJob, want 1", len(got))
	}
}

func testCreateJobInvalid(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	for _, tc := range []struct {
		name string
		job  store.Job
	}{
		{"empty ID", store.Job{Kind: store.KindVerify, Total: 1}},
		{"long ID", store.Job{ID: strings.Repeat("x", store.MaxIDLen+1), Kind: store.KindVerify, Total: 1}},
		{"empty kind", store.Job{ID: newID(t, "job"), Total: 1}},
		{"negative total", store.Job{ID: newID(t, "job"), Kind: store.KindVerify, Total: -1}},
	} {
		err := s.CreateJob(ctx(t), tc.job)
		wantErr(t, "CreateJob with "+tc.name, err, store.ErrInvalid)
		if tc.job.ID != "" && len(tc.job.ID) <= store.MaxIDLen {
			_, err := s.GetJob(ctx(t), tc.job.ID)
			wantErr(t, "GetJob after CreateJob with "+tc.name, err, store.ErrNotFound)
		}
	}
}

func testEmptyJob(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 0)
	job.Status = store.StatusCompleted
	job.CompletedAt = job.CreatedAt
	diffJob(t, "empty job", job, mustGetJob(t, s, job.ID))
	rs, next, err := s.Results(ctx(t), job.ID, 0, 10)
	if err != nil || len(rs) != 0 || next != -1 {
		t.Errorf("Results of an empty job = %v, %d, %v; want none, -1, nil", rs, next, err)
	}
	_, err = s.RecordResults(ctx(t), job.ID, resultsRange(0, 1, ""))
	wantErr(t, "RecordResults into an empty job", err, store.ErrInvalid)
}

func testNotFound(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	id := newID(t, "missing")
	_, err := s.GetJob(ctx(t), id)
	wantErr(t, "GetJob", err, store.ErrNotFound)
	_, err = s.RecordResults(ctx(t), id, resultsRange(0, 1, ""))
	wantErr(t, "RecordResults", err, store.ErrNotFound)
	_, err = s.RecordResults(ctx(t), id, nil)
	wantErr(t, "RecordResults of nothing", err, store.ErrNotFound)
	_, _, err = s.Results(ctx(t), id, 0, 10)
	wantErr(t, "Results", err, store.ErrNotFound)
	_, err = s.GetDocument(ctx(t), id)
	wantErr(t, "GetDocument", err, store.ErrNotFound)
	// A failed RecordResults must not have created anything.
	_, err = s.GetJob(ctx(t), id)
	wantErr(t, "GetJob after RecordResults", err, store.ErrNotFound)
}

func testRecordResults(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 5)

	// queued -> running: one valid, one invalid, one failed.
	rs1 := []store.Result{
		result(0, store.OutcomeValid, "a"),
		result(3, store.OutcomeInvalid, "b"),
		result(1, store.OutcomeFailed, "c"),
	}
	p := mustRecord(t, s, job.ID, rs1)
	running := job
	running.Status, running.Done, running.Valid, running.Invalid, running.Failed = store.StatusRunning, 3, 1, 1, 1
	if p.Completed {
		t.Error("first RecordResults reported Completed")
	}
	diffJob(t, "progress after the first results", running, p.Job)
	diffJob(t, "GetJob after the first results", running, mustGetJob(t, s, job.ID))

	// running -> completed.
	rs2 := []store.Result{result(4, store.OutcomeValid, "d"), result(2, store.OutcomeValid, "e")}
	p = mustRecord(t, s, job.ID, rs2)
	done := running
	done.Status, done.Done, done.Valid = store.StatusCompleted, 5, 3
	if !p.Completed {
		t.Error("last RecordResults did not report Completed")
	}
	diffJob(t, "progress after the last results", done, p.Job)
	got := mustGetJob(t, s, job.ID)
	diffJob(t, "GetJob after the last results", done, got)
	if !p.Job.CompletedAt.Equal(got.CompletedAt) || got.CompletedAt.Before(got.CreatedAt) {
		t.Errorf("CompletedAt: progress %v, stored %v, created %v", p.Job.CompletedAt, got.CompletedAt, got.CreatedAt)
	}

	want := []store.Result{rs1[0], rs1[2], rs2[1], rs1[1], rs2[0]}
	if d := cmp.Diff(want, allResults(t, s, job.ID), resultOpts); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
}

func testRecordResultsIdempotent(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 8)
	first := resultsRange(0, 8, "first")
	p := mustRecord(t, s, job.ID, first[:5])
	if p.Completed || p.Recorded != 5 {
		t.Fatalf("partial results: Completed %v, Recorded %d; want false, 5", p.Completed, p.Recorded)
	}
	before := mustGetJob(t, s, job.ID)

	// A redelivery of the same results changes nothing.
	p = mustRecord(t, s, job.ID, first[:5])
	if p.Completed || p.Recorded != 0 {
		t.Errorf("redelivered results: Completed %v, Recorded %d; want false, 0", p.Completed, p.Recorded)
	}
	diffJob(t, "progress after a redelivery", before, p.Job)
	diffJob(t, "job after a redelivery", before, mustGetJob(t, s, job.ID))

	// Different results for recorded indices are ignored: the first stands,
	// even when their outcome differs.
	other := make([]store.Result, 5)
	for i := range other {
		other[i] = result(i, store.OutcomeFailed, "second")
	}
	mustRecord(t, s, job.ID, other)
	diffJob(t, "job after conflicting results", before, mustGetJob(t, s, job.ID))
	if d := cmp.Diff(first[:5], allResults(t, s, job.ID), resultOpts); d != "" {
		t.Errorf("results after conflicting results (-want +got):\n%s", d)
	}

	// Completing with an overlapping batch counts only the new indices.
	p = mustRecord(t, s, job.ID, first[3:])
	if !p.Completed || p.Recorded != 3 {
		t.Errorf("completing batch: Completed %v, Recorded %d; want true, 3", p.Completed, p.Recorded)
	}
	want := before
	want.Status, want.Done, want.Valid, want.Invalid, want.Failed = store.StatusCompleted, 8, 4, 2, 2
	diffJob(t, "job after the completing batch", want, p.Job)
	// Redelivering the completing batch does not complete it again.
	p = mustRecord(t, s, job.ID, first[3:])
	if p.Completed {
		t.Error("redelivered completing batch reported Completed again")
	}
	diffJob(t, "job after redelivering the completing batch", want, mustGetJob(t, s, job.ID))
	if d := cmp.Diff(first, allResults(t, s, job.ID), resultOpts); d != "" {
		t.Errorf("final results (-want +got):\n%s", d)
	}
}

func testRecordResultsDuplicateIndex(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 2)
	a := result(0, store.OutcomeValid, "a")
	b := result(0, store.OutcomeFailed, "b")
	p := mustRecord(t, s, job.ID, []store.Result{a, b})
	want := job
	want.Status, want.Done, want.Valid = store.StatusRunning, 1, 1
	if p.Completed {
		t.Error("duplicate index completed a job of 2")
	}
	diffJob(t, "job after a duplicate index", want, p.Job)
	if d := cmp.Diff([]store.Result{a}, allResults(t, s, job.ID), resultOpts); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
}

func testRecordResultsInvalid(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 3)
	huge := result(1, store.OutcomeFailed, "")
	huge.Error = strings.Repeat("e", store.MaxResultSize)
	for _, tc := range []struct {
		name string
		rs   []store.Result
	}{
		{"index = total", []store.Result{result(0, store.OutcomeValid, ""), result(3, store.OutcomeValid, "")}},
		{"negative index", []store.Result{result(0, store.OutcomeValid, ""), result(-1, store.OutcomeValid, "")}},
		{"oversized result", []store.Result{result(0, store.OutcomeValid, ""), huge}},
		// Large enough to be split into several steps by a store.
		{"index = total in a large batch", largeBatchEndingWith(3000, 3, 3)},
	} {
		_, err := s.RecordResults(ctx(t), job.ID, tc.rs)
		wantErr(t, "RecordResults with "+tc.name, err, store.ErrInvalid)
		diffJob(t, "job after RecordResults with "+tc.name, job, mustGetJob(t, s, job.ID))
		if got := allResults(t, s, job.ID); len(got) != 0 {
			t.Errorf("RecordResults with %s wrote %d results", tc.name, len(got))
		}
	}
	_, err := s.RecordResults(ctx(t), "", resultsRange(0, 1, ""))
	wantErr(t, "RecordResults with an empty job ID", err, store.ErrInvalid)
}

func testRecordResultsEmpty(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 2)
	p := mustRecord(t, s, job.ID, nil)
	if p.Completed {
		t.Error("no results reported Completed")
	}
	diffJob(t, "progress of no results", job, p.Job)
	diffJob(t, "job after no results", job, mustGetJob(t, s, job.ID))
}

func testRecordResultsLarge(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	const n = 5000
	job := mustCreate(t, s, n)
	all := resultsRange(0, n, "large")
	p := mustRecord(t, s, job.ID, all[:n-1])
	if p.Completed {
		t.Fatal("incomplete large batch reported Completed")
	}
	// One more time with everything: only the last index is new.
	p = mustRecord(t, s, job.ID, all)
	if !p.Completed {
		t.Error("completing large batch did not report Completed")
	}
	want := job
	want.Status, want.Done, want.Valid, want.Invalid, want.Failed = store.StatusCompleted, n, n/2, n/4, n/4
	diffJob(t, "large job", want, mustGetJob(t, s, job.ID))
	page, next, err := s.Results(ctx(t), job.ID, 0, store.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	if next != -1 {
		t.Errorf("next = %d, want -1", next)
	}
	if d := cmp.Diff(all, page, resultOpts); d != "" {
		t.Errorf("large results (-want +got):\n%s", d)
	}
}

// testConcurrentCompletion races writers that each record every result of a
// job, in their own random chunking and order, with their own Ref: exactly
// one call must report Completed, the counters must be exact, and each index
// must hold one writer's result.
func testConcurrentCompletion(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	const (
		jobs    = 4
		total   = 240
		writers = 6
	)
	for j := range jobs {
		job := mustCreate(t, s, total)
		var (
			mu         sync.Mutex
			completed  int
			wg         sync.WaitGroup
			firstError error
		)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(j), uint64(w)))
				rs := resultsRange(0, total, string(rune('A'+w)))
				rng.Shuffle(len(rs), func(a, b int) { rs[a], rs[b] = rs[b], rs[a] })
				for len(rs) > 0 {
					n := min(len(rs), 1+rng.IntN(40))
					p, err := s.RecordResults(ctx(t), job.ID, rs[:n])
					mu.Lock()
					if err != nil && firstError == nil {
						firstError = err
					}
					if p.Completed {
						completed++
					}
					mu.Unlock()
					rs = rs[n:]
				}
			}()
		}
		wg.Wait()
		if firstError != nil {
			t.Fatalf("RecordResults: %v", firstError)
		}
		if completed != 1 {
			t.Errorf("job %d: %d callers saw Completed, want exactly 1", j, completed)
		}
		want := job
		want.Status, want.Done, want.Valid, want.Invalid, want.Failed = store.StatusCompleted, total, total/2, total/4, total/4
		diffJob(t, "raced job", want, mustGetJob(t, s, job.ID))
		got := allResults(t, s, job.ID)
		if len(got) != total {
			t.Fatalf("raced job has %d results, want %d", len(got), total)
		}
		for i, r := range got {
			w := result(i, outcomeOf(i), r.Ref)
			if len(r.Ref) != 1 || r.Ref[0] < 'A' || r.Ref[0] >= 'A'+writers {
				t.Errorf("result %d has ref %q, not a writer's", i, r.Ref)
			}
			if d := cmp.Diff(w, r, resultOpts); d != "" {
				t.Errorf("result %d (-want +got):\n%s", i, d)
			}
		}
	}
}

func testResults(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 10)
	all := resultsRange(0, 10, "r")
	mustRecord(t, s, job.ID, all)
	for _, tc := range []struct {
		offset, limit int
		want          []store.Result
		next          int
	}{
		{0, 4, all[0:4], 4},
		{4, 4, all[4:8], 8},
		{8, 4, all[8:10], -1},
		{6, 4, all[6:10], -1},
		{0, 10, all, -1},
		{0, 11, all, -1},
		{9, 1, all[9:], -1},
		{10, 5, nil, -1},
		{500, 5, nil, -1},
	} {
		got, next, err := s.Results(ctx(t), job.ID, tc.offset, tc.limit)
		if err != nil {
			t.Errorf("Results(%d, %d): %v", tc.offset, tc.limit, err)
			continue
		}
		if next != tc.next {
			t.Errorf("Results(%d, %d): next = %d, want %d", tc.offset, tc.limit, next, tc.next)
		}
		if d := cmp.Diff(tc.want, got, resultOpts); d != "" {
			t.Errorf("Results(%d, %d) (-want +got):\n%s", tc.offset, tc.limit, d)
		}
	}
}

func testResultsGaps(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 10)
	var even []store.Result
	for i := 0; i < 10; i += 2 {
		even = append(even, result(i, outcomeOf(i), ""))
	}
	mustRecord(t, s, job.ID, even)
	got, next, err := s.Results(ctx(t), job.ID, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	if next != 4 {
		t.Errorf("next = %d, want 4", next)
	}
	if d := cmp.Diff(even[:2], got, resultOpts); d != "" {
		t.Errorf("page of a job with gaps (-want +got):\n%s", d)
	}
	got, next, err = s.Results(ctx(t), job.ID, 1, 1)
	if err != nil || len(got) != 0 || next != 2 {
		t.Errorf("Results(1, 1) = %v, %d, %v; want none, 2, nil", got, next, err)
	}
	if d := cmp.Diff(even, allResults(t, s, job.ID), resultOpts); d != "" {
		t.Errorf("all results of a job with gaps (-want +got):\n%s", d)
	}
}

func testResultsInvalidPage(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	job := mustCreate(t, s, 3)
	for _, tc := range [][2]int{{-1, 1}, {0, 0}, {0, -5}, {0, store.MaxPageSize + 1}} {
		_, _, err := s.Results(ctx(t), job.ID, tc[0], tc[1])
		wantErr(t, "Results with a bad page", err, store.ErrInvalid)
	}
}

// largeBatchEndingWith returns n results cycling over the indices of a job of
// total, followed by one for index last.
func largeBatchEndingWith(n, total, last int) []store.Result {
	rs := make([]store.Result, 0, n+1)
	for i := range n {
		rs = append(rs, result(i%total, outcomeOf(i%total), ""))
	}
	return append(rs, result(last, store.OutcomeValid, ""))
}
