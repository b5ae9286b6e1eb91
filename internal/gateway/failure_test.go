package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/syncbuf"
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
	srvURL := serveGateway(t, gateway.Config{Store: st, NATS: e.nc, Limits: lim, SpoolDir: t.TempDir(), Logger: quietLogger()})
	return srvURL
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

// completedJob stores a verify job of total items, each answered with a
// failed result.
func completedJob(t *testing.T, st store.Store, id string, total int) store.Job {
	t.Helper()
	ctx := testContext(t)
	job := store.Job{ID: id, Kind: store.KindVerify, Total: total}
	if err := st.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	results := make([]store.Result, total)
	for i := range results {
		results[i] = store.Result{Index: i, Ref: "r", Error: "x"}
	}
	if _, err := st.RecordResults(ctx, id, results); err != nil {
		t.Fatal(err)
	}
	return job
}

// TestResultsStreamBreaksOff: when reading a later page fails after the
// NDJSON stream has begun, the response is cut off, so the client sees an
// error instead of a stream that looks complete.
func TestResultsStreamBreaksOff(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	ctx := testContext(t)
	job := completedJob(t, e.st, "stream-breaks-off", 5)
	for _, failFrom := range []int64{0, 2} {
		fs := &faultyStore{Store: e.st, failResults: failFrom}
		url := serveOn(t, e, fs, gateway.Limits{MaxPageSize: 2})
		status, _, readErr := streamResults(t, ctx, url, job.ID)
		if status != http.StatusOK {
			t.Fatalf("fail from call %d: status %d", failFrom, status)
		}
		if failFrom == 0 && readErr != nil {
			t.Errorf("healthy store: reading the stream: %v", readErr)
		}
		if failFrom > 0 && readErr == nil {
			t.Errorf("store failing from call %d: the stream ended cleanly", failFrom)
		}
	}
}

// streamResults reads the NDJSON result stream of job jobID from the
// gateway at url: the status, the body, and the error that ended reading
// it (nil when it ended cleanly).
func streamResults(t *testing.T, ctx context.Context, url, jobID string) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/jobs/"+jobID+"/results", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// deadlineStore records, for every Results call, how long its context had
// left (0: no deadline).
type deadlineStore struct {
	store.Store
	mu   sync.Mutex
	left []time.Duration
}

func (s *deadlineStore) Results(ctx context.Context, id string, offset, limit int) ([]store.Result, int, error) {
	var left time.Duration
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	s.mu.Lock()
	s.left = append(s.left, left)
	s.mu.Unlock()
	return s.Store.Results(ctx, id, offset, limit)
}

// TestResultsStreamPagesHaveBudget: every page of an NDJSON result stream
// is read under a request's budget, so that a store that stops answering
// (a frozen server: the client's retries of one pipeline take 40 s) fails
// the stream instead of holding it; before, the pages were read on the
// request's context, which has no deadline.
func TestResultsStreamPagesHaveBudget(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	job := completedJob(t, e.st, "stream-budget", 5)
	ds := &deadlineStore{Store: e.st}
	url := serveOn(t, e, ds, gateway.Limits{MaxPageSize: 2})
	status, body, err := streamResults(t, testContext(t), url, job.ID)
	if err != nil || status != http.StatusOK || strings.Count(string(body), "\n") != 5 {
		t.Fatalf("status %d, %d lines (%v), want 200 with 5", status, strings.Count(string(body), "\n"), err)
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if len(ds.left) != 3 {
		t.Errorf("%d page reads, want 3", len(ds.left))
	}
	for i, left := range ds.left {
		if left <= 0 || left > 10*time.Second {
			t.Errorf("page %d read with %v left, want a deadline within 10s", i, left)
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

// shrinkQueue sets the work queue's byte limit.
func shrinkQueue(t *testing.T, e *testEnv, maxBytes int64) {
	t.Helper()
	ctx := testContext(t)
	s, err := e.js.Stream(ctx, jobs.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxBytes = maxBytes
	if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// padded returns n JSON documents of about size bytes each.
func padded(n, size int) []string {
	docs := make([]string, n)
	for i := range docs {
		docs[i] = fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("p", size))
	}
	return docs
}

// verifyBody is a POST /v1/verify JSON body with docs as its items.
func verifyBody(docs []string) []byte {
	items := make([]string, len(docs))
	for i, d := range docs {
		items[i] = fmt.Sprintf(`{"ref":"r%d","document":%s}`, i, d)
	}
	return []byte(`{"items":[` + strings.Join(items, ",") + `]}`)
}

// fillQueue publishes a job of about size bytes (no worker takes it).
func fillQueue(t *testing.T, e *testEnv, size int) {
	t.Helper()
	status, _, body := do(t, http.MethodPost, e.url+"/v1/verify", ctJSON, verifyBody(padded(size/3000, 3000)))
	if status != http.StatusAccepted {
		t.Fatalf("filling the queue: status %d: %.300s", status, body)
	}
}

// TestUploadToFullQueue: an NDJSON upload to a work queue without room for
// it is refused before any job exists.
func TestUploadToFullQueue(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	shrinkQueue(t, e, 1<<20)
	fillQueue(t, e, 750<<10)
	before := len(e.chunks(t))
	status, _, body := do(t, http.MethodPost, e.url+"/v1/verify", ctNDJSON, []byte(strings.Join(padded(500, 2000), "\n")))
	expectError(t, "upload to a full queue", status, body, http.StatusServiceUnavailable, "unavailable", "")
	if n := len(e.chunks(t)); n != before {
		t.Errorf("%d chunks queued for a refused upload", n-before)
	}
}

// TestQueueFullAtOnce: a JSON job none of whose chunks the full queue takes
// is completed at once, every item failed "not queued", and announced (no
// worker ever sees it to do so).
func TestQueueFullAtOnce(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	shrinkQueue(t, e, 1<<20)
	fillQueue(t, e, 900<<10)
	status, _, body := do(t, http.MethodPost, e.url+"/v1/verify", ctJSON, []byte(`{"items":[{"ref":"a","document":{"pad":"`+strings.Repeat("p", 200<<10)+`"}}]}`))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %.300s", status, body)
	}
	var ans struct{ Error struct{ JobID string } }
	if err := json.Unmarshal(body, &ans); err != nil || ans.Error.JobID == "" {
		t.Fatalf("answer %s: %v", body, err)
	}
	job, err := e.st.GetJob(testContext(t), ans.Error.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != store.StatusCompleted || job.Failed != 1 {
		t.Errorf("job %+v, want completed with its item failed", job)
	}
	ctx := testContext(t)
	cons, err := e.js.OrderedConsumer(ctx, jobs.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{jobs.JobEventSubject(job.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("no completion event: %v", err)
	}
	var ev jobs.Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil || ev.Type != jobs.EventJobCompleted || ev.Job == nil || ev.Job.Failed != 1 {
		t.Errorf("event %s: %v", msg.Data(), err)
	}
}

// TestQueueFillsPartWay: when the queue fills up while a job is being
// published, the client gets a 503 naming the job, the items that did not
// reach the queue are recorded as failed, and the job completes once the
// queued ones are verified: nothing is left waiting forever.
func TestQueueFillsPartWay(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	shrinkQueue(t, e, 2<<20)
	docs := padded(2000, 3000) // ~6 MB of chunks
	status, hdr, body := do(t, http.MethodPost, e.url+"/v1/verify", ctJSON, verifyBody(docs))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %.300s", status, body)
	}
	var ans struct {
		Error struct {
			Code, Message, JobID string
		}
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	id := ans.Error.JobID
	if ans.Error.Code != "unavailable" || id == "" || hdr.Get("Location") != "/v1/jobs/"+id || !strings.Contains(ans.Error.Message, "queue is full") {
		t.Fatalf("answer %s, Location %q", body, hdr.Get("Location"))
	}
	queued := 0
	for _, c := range e.chunks(t) {
		queued += len(c.Items)
	}
	if queued == 0 || queued >= len(docs) {
		t.Fatalf("%d of %d items queued; the test needs a queue that fills part-way", queued, len(docs))
	}
	job, err := e.st.GetJob(testContext(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if job.Failed != len(docs)-queued || job.Done != job.Failed {
		t.Errorf("before any verification: %+v, want the %d unqueued items failed", job, len(docs)-queued)
	}
	e.startVerifier(t)
	deadline := time.Now().Add(30 * time.Second)
	for job.Status != store.StatusCompleted && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if job, err = e.st.GetJob(testContext(t), id); err != nil {
			t.Fatal(err)
		}
	}
	if job.Status != store.StatusCompleted || job.Done != len(docs) || job.Failed != len(docs) {
		// Every item fails: the queued ones as malformed covenants, the
		// others as not queued.
		t.Errorf("job %+v, want completed with all %d items failed", job, len(docs))
	}
}

// TestBodyIdleTimeout: a client that stops sending its body mid-way is
// answered 400 once the body idle timeout passes (JSON and NDJSON), instead
// of holding the connection; a body that keeps coming is read whole.
func TestBodyIdleTimeout(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	url := serveOn(t, e, e.st, gateway.Limits{BodyIdleTimeout: 300 * time.Millisecond})
	addr := strings.TrimPrefix(url, "http://")
	// The answer names the body, and not the addresses of the connection
	// (the error of the read that timed out names both ends).
	host, _, _ := net.SplitHostPort(addr)
	for _, rt := range []struct{ method, path, ct string }{
		{"POST", "/v1/verify", ctJSON}, {"POST", "/v1/verify", ctNDJSON}, {"POST", "/v1/sign", ctJSON},
		{"POST", "/v1/evaluate", ctJSON}, {"PUT", "/v1/covenants", ctJSON},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: gw\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n{\"items\":[", rt.method, rt.path, rt.ct)
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s %s: no answer to a stalled body: %v", rt.path, rt.ct, err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"field":"body"`) ||
			strings.Contains(string(body), host) || strings.Contains(string(body), "tcp") {
			t.Errorf("%s %s: stalled body answered %d %s, want 400 naming the body and no address", rt.path, rt.ct, resp.StatusCode, body)
		}
	}
	// A route that never reads the body (here the unknown-path fallback)
	// answers too: the server's read of the leftover body is bounded.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "POST /v1/nowhere HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("unread stalled body: no answer: %v", err)
	}
	resp.Body.Close()
	conn.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unread stalled body: status %d, want 404", resp.StatusCode)
	}
	// A body sent in pieces, each within the timeout, is read whole.
	pr, pw := io.Pipe()
	go func() {
		defer pw.Close()
		for _, piece := range []string{`{"items":[{"ref":"a",`, `"document":{"x":1}}`, `]}`} {
			time.Sleep(100 * time.Millisecond)
			if _, err := io.WriteString(pw, piece); err != nil {
				return
			}
		}
	}()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, url+"/v1/verify", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctJSON)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("a slow but steady body: %d %s, want 202", resp.StatusCode, body)
	}
}

// TestOperatorToken: with an admin token, the operator routes (sign,
// countersign, revocations, audit trim) refuse requests without it (401,
// naming Authorization) and accept it as a bearer token; the other routes
// stay open.
func TestOperatorToken(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	srvURL := serveGateway(t, gateway.Config{Store: e.st, NATS: e.nc, SpoolDir: t.TempDir(), Logger: quietLogger(), AdminToken: "s3cret"})
	id := strings.Repeat("a", 64)
	routes := []struct{ method, path, body string }{
		{http.MethodPost, "/v1/sign", `{"items":[]}`},
		{http.MethodPost, "/v1/countersign", `{}`},
		{http.MethodPost, "/v1/revocations", `{}`},
		{http.MethodPost, "/v1/covenants/" + id + "/audit/trim", `{"upTo":0}`},
	}
	for _, rt := range routes {
		for _, auth := range []string{"", "Bearer wrong", "Basic s3cret", "Bearer s3cret2", "s3cret"} {
			var hdr []string
			if auth != "" {
				hdr = []string{"Authorization", auth}
			}
			status, h, body := do(t, rt.method, srvURL+rt.path, ctJSON, []byte(rt.body), hdr...)
			expectError(t, rt.path+" with "+auth, status, body, http.StatusUnauthorized, "unauthorized", "Authorization")
			if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q", rt.path, h.Get("WWW-Authenticate"))
			}
		}
		// The right token gets past the gate (to the route's own checks).
		status, _, body := do(t, rt.method, srvURL+rt.path, ctJSON, []byte(rt.body), "Authorization", "Bearer s3cret")
		if status == http.StatusUnauthorized {
			t.Errorf("%s with the token: %d %s", rt.path, status, body)
		}
	}
	// Open routes need no token.
	status, _, body := do(t, http.MethodGet, srvURL+"/v1/revocations", "", nil)
	if status != http.StatusOK {
		t.Errorf("GET /v1/revocations without a token: %d %s", status, body)
	}
	status, _, body = do(t, http.MethodPost, srvURL+"/v1/verify", ctJSON, []byte(`{"items":[{"ref":"a","document":{"x":1}}]}`))
	if status != http.StatusAccepted {
		t.Errorf("POST /v1/verify without a token: %d %s", status, body)
	}
}

// TestWriteIdleTimeout: a client that asks for a result stream and stops
// reading it is cut off once the write idle timeout passes, instead of
// holding the request for as long as it keeps the connection open; a
// client that reads gets the whole stream, and a connection that idled past
// the timeout between two requests still serves the next one (the
// server's "100 Continue" included).
func TestWriteIdleTimeout(t *testing.T) {
	ctx := testContext(t)
	e := newEnv(t, gateway.Limits{})
	url := serveOn(t, e, e.st, gateway.Limits{WriteIdleTimeout: 300 * time.Millisecond})
	addr := strings.TrimPrefix(url, "http://")
	// About 24 MB of results: more than the socket buffers of both ends.
	const n = 240
	job, err := store.NewJob(store.Job{ID: "writeidle", Kind: store.KindVerify, Total: n}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	results := make([]store.Result, n)
	for i := range results {
		results[i] = store.Result{Index: i, Error: strings.Repeat("e", 100<<10)}
	}
	if _, err := e.st.RecordResults(ctx, job.ID, results); err != nil {
		t.Fatal(err)
	}
	request := "GET /v1/jobs/writeidle/results HTTP/1.1\r\nHost: gw\r\nAccept: application/x-ndjson\r\n\r\n"

	// A client that stops reading.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("stalled client: %d bytes, %v", len(got), err)
	if err == nil || strings.Count(string(got), "\n") >= n {
		t.Errorf("a client that stopped reading got the whole stream (%d lines, %v): it was not cut off", strings.Count(string(got), "\n"), err)
	}

	// A client that reads gets every result.
	status, _, body := do(t, http.MethodGet, url+"/v1/jobs/writeidle/results", "", nil, "Accept", ctNDJSON)
	if status != http.StatusOK || strings.Count(string(body), "\n") != n {
		t.Errorf("a reading client: status %d, %d lines, want %d", status, strings.Count(string(body), "\n"), n)
	}

	// A connection idle past the timeout between requests.
	conn2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	_ = conn2.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn2)
	fmt.Fprint(conn2, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	time.Sleep(time.Second)
	payload := `{"items":[{"ref":"a","document":{"x":1}}]}`
	fmt.Fprintf(conn2, "POST /v1/verify HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(payload))
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, "100") {
		t.Fatalf("after an idle connection: %q, %v; want 100 Continue", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line after it
		t.Fatal(err)
	}
	fmt.Fprint(conn2, payload)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("after an idle connection: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("after an idle connection: status %d, want 202", resp.StatusCode)
	}
}

// TestBodyMinRate: a body that keeps arriving within the idle timeout, but
// a byte at a time, is cut off (400 naming the body and the rate) once it
// falls below the minimum rate after the grace of one idle timeout, for
// JSON and NDJSON; with MaxUploads 1 the trickling upload then no longer
// holds the only place.
func TestBodyMinRate(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	url := serveOn(t, e, e.st, gateway.Limits{BodyIdleTimeout: 2 * time.Second, MinBodyRate: 1000, MaxUploads: 1})
	addr := strings.TrimPrefix(url, "http://")
	for _, ct := range []string{ctJSON, ctNDJSON} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /v1/verify HTTP/1.1\r\nHost: gw\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n{", ct)
		stop := make(chan struct{})
		go func() { // a byte every 100 ms: never idle for the 2 s idle timeout
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		close(stop)
		if err != nil {
			t.Fatalf("%s: no answer to a trickling body: %v", ct, err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "bytes/s") || !strings.Contains(string(body), `"field":"body"`) {
			t.Errorf("%s: trickling body answered %d %s, want 400 naming the body and the rate", ct, resp.StatusCode, body)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: cut off after %s", ct, d)
		}
	}
	// The upload's place is free again.
	if status, _, body := do(t, "POST", url+"/v1/verify", ctNDJSON, []byte("{}\n")); status != http.StatusAccepted {
		t.Errorf("upload after the trickle: %d %s, want 202", status, body)
	}
}

// clientGoneStore holds the second Results call of a request until the
// request's context ends (its client went away), then fails with it.
type clientGoneStore struct {
	store.Store
	calls  atomic.Int64
	second chan struct{}
}

func (s *clientGoneStore) Results(ctx context.Context, jobID string, offset, limit int) ([]store.Result, int, error) {
	if s.calls.Add(1) == 2 {
		close(s.second)
		<-ctx.Done()
		return nil, 0, fmt.Errorf("results of job %s: %w", jobID, ctx.Err())
	}
	return s.Store.Results(ctx, jobID, offset, limit)
}

// TestResultsStreamClientGone: a client that leaves in the middle of an
// NDJSON results stream is no failure of the gateway's, so nothing is
// logged as an error (as for an audit export).
func TestResultsStreamClientGone(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	ctx := testContext(t)
	job := completedJob(t, e.st, "stream-client-gone", 5)
	var logs syncbuf.Buffer
	cs := &clientGoneStore{Store: e.st, second: make(chan struct{})}
	gw, err := gateway.New(gateway.Config{Store: cs, NATS: e.nc, Limits: gateway.Limits{MaxPageSize: 2}, SpoolDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	srv := httptest.NewServer(gw.Handler()) // closed below, which waits for the handler
	t.Cleanup(srv.Close)
	rctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, srv.URL+"/v1/jobs/"+job.ID+"/results", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-cs.second
	cancel()
	resp.Body.Close()
	srv.Close() // waits for the handler
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a client leaving mid-stream was logged as an error:\n%s", logs.String())
	}
}
