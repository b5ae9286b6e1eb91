package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// How the gateway behaves when the store fails or races it part-way
// through a request: real NATS and a real store, wrapped to fail or race on
// cue.

// faultyStore fails or interferes with chosen calls of a real store.
type faultyStore struct {
	store.Store
	failGetJob   atomic.Bool
	resultsCalls atomic.Int64
	failResults  int64 // Results fails from this call on (0: never)
	// beforeGetDocument runs before each GetDocument; when it returns
	// handled, its answer is the call's.
	beforeGetDocument func(id string) (doc []byte, err error, handled bool)
}

var errInjected = errors.New("injected store failure")

func (s *faultyStore) GetJob(ctx context.Context, id string) (store.Job, error) {
	if s.failGetJob.Load() {
		return store.Job{}, errInjected
	}
	return s.Store.GetJob(ctx, id)
}

func (s *faultyStore) Results(ctx context.Context, id string, offset, limit int) ([]store.Result, int, error) {
	if n := s.resultsCalls.Add(1); s.failResults > 0 && n >= s.failResults {
		return nil, 0, errInjected
	}
	return s.Store.Results(ctx, id, offset, limit)
}

func (s *faultyStore) GetDocument(ctx context.Context, id string) ([]byte, error) {
	if s.beforeGetDocument != nil {
		if doc, err, handled := s.beforeGetDocument(id); handled {
			return doc, err
		}
	}
	return s.Store.GetDocument(ctx, id)
}

// serveOn mounts a second gateway over st (sharing e's NATS) and returns its
// URL.
func serveOn(t *testing.T, e *testEnv, st store.Store, lim gateway.Limits) string {
	t.Helper()
	gw, err := gateway.New(gateway.Config{Store: st, NATS: e.nc, Limits: lim, SpoolDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestWaitFailureStillAnswers202: once a job is queued, a store failure
// while waiting for it must not read as "not queued": the answer is the
// 202 with the job's ID and Location, and the job's chunk is in the stream.
func TestWaitFailureStillAnswers202(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	fs := &faultyStore{Store: e.st}
	fs.failGetJob.Store(true)
	url := serveOn(t, e, fs, gateway.Limits{})
	status, hdr, body := do(t, http.MethodPost, url+"/v1/verify?wait=300ms", ctJSON, []byte(`{"items":[{"ref":"a","document":{"x":1}}]}`))
	if status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", status, body)
	}
	var ans struct {
		JobID  string `json:"jobId"`
		Status string `json:"status"`
		Total  int    `json:"total"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	if ans.JobID == "" || ans.Status != "queued" || ans.Total != 1 || hdr.Get("Location") != "/v1/jobs/"+ans.JobID {
		t.Fatalf("answer %s, Location %q", body, hdr.Get("Location"))
	}
	chunks := e.chunks(t)
	if len(chunks) != 1 || chunks[0].JobID != ans.JobID {
		t.Fatalf("stream holds %d chunks, want the job's one", len(chunks))
	}
}

// TestResultsStreamBreaksOff: when reading a later page fails after the
// NDJSON stream has begun, the response is cut off, so the client sees an
// error instead of a stream that looks complete.
func TestResultsStreamBreaksOff(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	ctx := testContext(t)
	job := store.Job{ID: "stream-breaks-off", Kind: store.KindVerify, Total: 5}
	if err := e.st.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	results := make([]store.Result, job.Total)
	for i := range results {
		results[i] = store.Result{Index: i, Ref: "r", Error: "x"}
	}
	if _, err := e.st.RecordResults(ctx, job.ID, results); err != nil {
		t.Fatal(err)
	}
	for _, failFrom := range []int64{0, 2} {
		fs := &faultyStore{Store: e.st, failResults: failFrom}
		url := serveOn(t, e, fs, gateway.Limits{MaxPageSize: 2})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/jobs/"+job.ID+"/results", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, readErr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("fail from call %d: status %d", failFrom, resp.StatusCode)
		}
		if failFrom == 0 && readErr != nil {
			t.Errorf("healthy store: reading the stream: %v", readErr)
		}
		if failFrom > 0 && readErr == nil {
			t.Errorf("store failing from call %d: the stream ended cleanly", failFrom)
		}
	}
}

// TestPutRaceKeepsCountersignature: a plain copy stored by another writer
// between the PUT's existence check and its create-only write must not make
// the PUT's countersigned copy vanish behind a 201.
func TestPutRaceKeepsCountersignature(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	ctx := testContext(t)
	doc := buildDoc(t, testKey(t, 1), buildOpts{})
	signed, err := covenant.Countersign(doc, testKey(t, 7), "auditor")
	if err != nil {
		t.Fatal(err)
	}
	var raced atomic.Bool
	fs := &faultyStore{Store: e.st, beforeGetDocument: func(id string) ([]byte, error, bool) {
		if id != doc.ID() || raced.Swap(true) {
			return nil, nil, false
		}
		// The existence check finds nothing; meanwhile a worker stores the
		// plain copy, create-only, as verify workers do.
		if err := e.st.PutDocuments(ctx, []store.Document{jobs.StoredDocument(doc)}); err != nil {
			t.Error(err)
		}
		return nil, store.ErrNotFound, true
	}}
	url := serveOn(t, e, fs, gateway.Limits{})
	status, _, body := do(t, http.MethodPut, url+"/v1/covenants", ctJSON, docJSON(signed))
	if status != http.StatusOK {
		t.Errorf("PUT after a racing store: status %d, want 200 (the stored copy extended): %s", status, body)
	}
	got, err := e.st.GetDocument(ctx, doc.ID())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(docJSON(signed)) {
		t.Errorf("the stored copy lacks the PUT's countersignature:\n%s", got)
	}
}
