// Package storetest is the conformance suite every store.Store implementation
// passes. A store's tests call Run with a constructor for fresh stores on a
// real backend (a redis-server, a SQLite file); each subtest states the
// store's state before an action and compares the state after it with
// cmp.Diff.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stele-go/stele/internal/store"
)

// Config asks NewStore for non-default lifetimes; zero means the store's
// default.
type Config struct {
	JobTTL time.Duration
	SigTTL time.Duration
	// Twin, when set, asks for a second handle on Twin's data, as another
	// process would open it (a new client with Twin's key prefix, the same
	// SQLite file); the TTL fields are then ignored.
	Twin store.Store
}

// NewStore returns a fresh, empty store (or one whose contents cannot collide
// with other calls, such as a unique key prefix) configured by cfg, and
// arranges for it to be closed at the end of t.
type NewStore func(t *testing.T, cfg Config) store.Store

// Run runs the suite against stores made by newStore. The TTL subtests take
// a few seconds of wall time and run in parallel with each other.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore NewStore)
	}{
		{"CreateJob", testCreateJob},
		{"CreateJobExists", testCreateJobExists},
		{"CreateJobInvalid", testCreateJobInvalid},
		{"EmptyJob", testEmptyJob},
		{"NotFound", testNotFound},
		{"RecordResults", testRecordResults},
		{"RecordResultsIdempotent", testRecordResultsIdempotent},
		{"RecordResultsDuplicateIndex", testRecordResultsDuplicateIndex},
		{"RecordResultsInvalid", testRecordResultsInvalid},
		{"RecordResultsEmpty", testRecordResultsEmpty},
		{"RecordResultsLarge", testRecordResultsLarge},
		{"ConcurrentCompletion", testConcurrentCompletion},
		{"Results", testResults},
		{"ResultsGaps", testResultsGaps},
		{"ResultsInvalidPage", testResultsInvalidPage},
		{"QueueLeases", testQueueLeases},
		{"Announcements", testAnnouncements},
		{"Documents", testDocuments},
		{"Blobs", testBlobs},
		{"BlobTTL", testBlobTTL},
		{"DocumentsInvalid", testDocumentsInvalid},
		{"SwapDocument", testSwapDocument},
		{"CreateOnly", testCreateOnly},
		{"ListDocuments", testListDocuments},
		{"ListDocumentsTies", testListDocumentsTies},
		{"ListDocumentsLimits", testListDocumentsLimits},
		{"ListDocumentsManyTags", testListDocumentsManyTags},
		{"Revocations", testRevocations},
		{"KeyDirectory", testKeyDirectory},
		{"SigCache", testSigCache},
		{"CommitChunk", testCommitChunk},
		{"CommitChunkInvalid", testCommitChunkInvalid},
		{"CommitChunkLarge", testCommitChunkLarge},
		{"Canceled", testCanceled},
		{"PingClose", testPingClose},
		{"JobTTL", testJobTTL},
		{"SigTTL", testSigTTL},
		{"AuditLikeMemory", testAuditLikeMemory},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditBuildErrors", testAuditBuildErrors},
		{"AuditHeadMoved", testAuditHeadMoved},
		{"AuditTrim", testAuditTrim},
		{"AuditReset", testAuditReset},
		{"AuditInvalid", testAuditInvalid},
		{"AuditClose", testAuditClose},
		{"RateConcurrent", testRateConcurrent},
		{"RateWindowReset", testRateWindowReset},
		{"RateLikeMemory", testRateLikeMemory},
		{"RateInvalid", testRateInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore) })
	}
}

// ctx returns a context bounded by the test's deadline-friendly timeout.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// newID returns a random ID so that stores shared between subtests never see
// a collision.
func newID(t testing.TB, prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// createdAt is a fixed creation time with a non-UTC zone and sub-second
// digits, to check that times round-trip exactly.
var createdAt = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("X", 3600))

func mustCreate(t *testing.T, s store.Store, total int) store.Job {
	t.Helper()
	job := store.Job{ID: newID(t, "job"), Kind: store.KindVerify, Total: total, CreatedAt: createdAt}
	if err := s.CreateJob(ctx(t), job); err != nil {
		t.Fatalf("CreateJob(%+v): %v", job, err)
	}
	return store.Job{ID: job.ID, Kind: job.Kind, Status: store.StatusQueued, Total: total, CreatedAt: createdAt}
}

func mustGetJob(t *testing.T, s store.Store, id string) store.Job {
	t.Helper()
	job, err := s.GetJob(ctx(t), id)
	if err != nil {
		t.Fatalf("GetJob(%s): %v", id, err)
	}
	return job
}

// result makes the result of item i with the given outcome.
func result(i int, o store.Outcome, ref string) store.Result {
	r := store.Result{Index: i, Ref: ref, DocumentID: fmt.Sprintf("%064x", i)}
	switch o {
	case store.OutcomeValid:
		r.Valid = true
		r.Checks = []store.Check{{Name: "signature_valid", Passed: true, Message: "Signature is valid"}}
	case store.OutcomeInvalid:
		r.Checks = []store.Check{
			{Name: "signature_valid", Passed: false, Message: "Signature verification failed"},
			{Name: "not_expired", Passed: true, Message: "Document has not expired"},
		}
	case store.OutcomeFailed:
		r.DocumentID = ""
		r.Error = "malformed document: unexpected end of JSON input"
	}
	return r
}

// outcomeOf spreads outcomes over indices: valid, invalid, valid, failed, …
func outcomeOf(i int) store.Outcome {
	switch i % 4 {
	case 1:
		return store.OutcomeInvalid
	case 3:
		return store.OutcomeFailed
	default:
		return store.OutcomeValid
	}
}

func resultsRange(lo, hi int, ref string) []store.Result {
	var rs []store.Result
	for i := lo; i < hi; i++ {
		rs = append(rs, result(i, outcomeOf(i), ref))
	}
	return rs
}

func mustRecord(t *testing.T, s store.Store, jobID string, rs []store.Result) store.Progress {
	t.Helper()
	p, err := s.RecordResults(ctx(t), jobID, rs)
	if err != nil {
		t.Fatalf("RecordResults(%s, %d results): %v", jobID, len(rs), err)
	}
	return p
}

// allResults reads every result of a job page by page.
func allResults(t *testing.T, s store.Store, jobID string) []store.Result {
	t.Helper()
	var all []store.Result
	for off := 0; off != -1; {
		page, next, err := s.Results(ctx(t), jobID, off, 7)
		if err != nil {
			t.Fatalf("Results(%s, %d, 7): %v", jobID, off, err)
		}
		if next != -1 && next != off+7 {
			t.Fatalf("Results(%s, %d, 7): next = %d", jobID, off, next)
		}
		all = append(all, page...)
		off = next
	}
	return all
}

var resultOpts = cmp.Options{cmpopts.EquateEmpty()}

// jobOpts compares jobs, ignoring CompletedAt's exact value (the store's
// clock) but not whether it is set.
var jobOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

func diffJob(t *testing.T, what string, want, got store.Job) {
	t.Helper()
	if want.Status == store.StatusCompleted && want.CompletedAt.IsZero() {
		if got.CompletedAt.IsZero() {
			t.Errorf("%s: completed job has no CompletedAt", what)
		}
		want.CompletedAt = got.CompletedAt
	}
	if d := cmp.Diff(want, got, jobOpts); d != "" {
		t.Errorf("%s: job mismatch (-want +got):\n%s", what, d)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}
