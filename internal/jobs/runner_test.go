package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// pipeline is an in-process cluster for tests: a JetStream server with the
// streams and the verifier consumer, and a store.
type pipeline struct {
	url  string
	nc   *nats.Conn
	js   jetstream.JetStream
	cons jetstream.Consumer
	st   store.Store
	pub  *jobs.Publisher
}

func newPipeline(t testing.TB, cc jobs.ConsumerConfig, popts ...jobs.PublisherOption) *pipeline {
	t.Helper()
	return newPipelineWith(t, newStore(t), cc, popts...)
}

// storeKinds are the stores the runner is tested with.
var storeKinds = []struct {
	name string
	open func(testing.TB) store.Store
}{
	{"redis", func(t testing.TB) store.Store { return newStore(t) }},
	{"sqlite", newSQLiteStore},
}

func newPipelineWith(t testing.TB, st store.Store, cc jobs.ConsumerConfig, popts ...jobs.PublisherOption) *pipeline {
	t.Helper()
	url, js := setup(t)
	ctx := testContext(t)
	cons, err := jobs.EnsureConsumer(ctx, js, store.KindVerify, cc)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jobs.NewPublisher(js, append([]jobs.PublisherOption{jobs.WithStaging(st)}, popts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline{url: url, nc: js.Conn(), js: js, cons: cons, st: st, pub: pub}
}

// submit creates the job record and publishes its items.
func (p *pipeline) submit(t testing.TB, job jobs.Job, items []jobs.Item) {
	t.Helper()
	ctx := testContext(t)
	if err := p.st.CreateJob(ctx, store.Job{ID: job.ID, Kind: job.Kind, Total: len(items)}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.pub.Publish(ctx, job, items); err != nil {
		t.Fatal(err)
	}
}

// startRunner runs a runner until the test ends (or stop is called) and
// returns the stop function, which drains and returns Run's error.
func (p *pipeline) startRunner(t testing.TB, st store.Jobs, h jobs.Handler, cfg jobs.RunnerConfig) (stop func() error) {
	t.Helper()
	if st == nil {
		st = p.st
	}
	if h == nil {
		h = p.verifyHandler(t, nil)
	}
	if cfg.FetchMaxWait == 0 {
		cfg.FetchMaxWait = 200 * time.Millisecond
	}
	if cfg.NakDelay == 0 {
		cfg.NakDelay = 50 * time.Millisecond
	}
	r, err := jobs.NewRunner(p.cons, p.js, st, h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func (p *pipeline) verifyHandler(t testing.TB, cache store.SigCache) *jobs.VerifyHandler {
	t.Helper()
	h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: p.st, SigCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// waitJob waits until the job is completed and returns it.
func (p *pipeline) waitJob(t testing.TB, id string) store.Job {
	t.Helper()
	ctx := testContext(t)
	deadline := time.Now().Add(45 * time.Second)
	for {
		job, err := p.st.GetJob(ctx, id)
		if err != nil {
			t.Fatalf("get job %s: %v", id, err)
		}
		if job.Status == store.StatusCompleted {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not completed: %+v", id, job)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *pipeline) results(t testing.TB, id string) []store.Result {
	t.Helper()
	ctx := testContext(t)
	var all []store.Result
	for off := 0; off >= 0; {
		page, next, err := p.st.Results(ctx, id, off, 100)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		off = next
	}
	return all
}

// consumerState returns the verifier consumer's pending counts.
func (p *pipeline) consumerState(t testing.TB) (ackPending int, pending uint64) {
	t.Helper()
	info, err := p.cons.Info(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.NumAckPending, info.NumPending
}

// streamEvents returns the events stored on STELE_EVENTS for a job.
func streamEvents(t testing.TB, js jetstream.JetStream, jobID string) (completed []jobs.Event, invalid []jobs.Event) {
	t.Helper()
	ctx := testContext(t)
	c, err := js.OrderedConsumer(ctx, jobs.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{jobs.SubjectJobEventPrefix + jobID, jobs.SubjectJobEventPrefix + jobID + ".>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev jobs.Event
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				t.Fatalf("event %s: %v", m.Subject(), err)
			}
			switch {
			case m.Subject() == jobs.JobEventSubject(jobID) && ev.Type == jobs.EventJobCompleted:
				completed = append(completed, ev)
			case m.Subject() == jobs.InvalidEventSubject(jobID) && ev.Type == jobs.EventDocumentInvalid:
				invalid = append(invalid, ev)
			case m.Subject() == jobs.DeadEventSubject(jobID) && ev.Type == jobs.EventChunkDead:
				// Dead chunks have tests of their own (deadletter_test.go).
			default:
				t.Errorf("unexpected event %s of type %q", m.Subject(), ev.Type)
			}
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return completed, invalid
		}
	}
}

// expectation is the expected outcome of one item.
type expectation struct {
	Valid  bool
	Failed []string // failed checks, sorted
	Error  string   // prefix of the item's error; "" when verified
}

// mixedJob returns items mixing the reference corpus (valid, expired,
// not yet active, tampered), malformed documents, failed items and
// references, with the expected outcome of each, and the corpus instant.
func mixedJob(t testing.TB, st store.Store) ([]jobs.Item, []expectation, time.Time) {
	t.Helper()
	docs, at := loadCorpus(t)
	var items []jobs.Item
	var want []expectation
	for _, d := range docs {
		items = append(items, jobs.Item{Ref: d.Name, Document: compact(t, d.JSON)})
		want = append(want, expectation{Valid: d.Valid, Failed: d.Failed})
	}
	// A document stored beforehand, referenced by ID.
	ref, err := covenant.Parse(docs[0].JSON)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutDocuments(testContext(t), []store.Document{{ID: ref.ID(), JSON: docs[0].JSON}}); err != nil {
		t.Fatal(err)
	}
	extra := []struct {
		item jobs.Item
		want expectation
	}{
		{jobs.Item{Ref: "by-id", DocumentID: ref.ID()}, expectation{Valid: docs[0].Valid, Failed: docs[0].Failed}},
		{jobs.Item{Ref: "unknown-id", DocumentID: strings.Repeat("ab", 32)}, expectation{Error: "document not found"}},
		{jobs.Item{Ref: "array", Document: json.RawMessage(`[1,2,3]`)}, expectation{Error: "malformed document: Covenant document must be a JSON object"}},
		{jobs.Item{Ref: "empty", Document: json.RawMessage(`{}`)}, expectation{Error: "malformed document: Missing or invalid required field: id"}},
		{jobs.Item{Ref: "no-nonce", Document: withoutMember(t, docs[0].JSON, "nonce")}, expectation{Error: "malformed document: Missing or invalid required field: nonce"}},
		{jobs.Item{Ref: "line-9", Error: "line 9: invalid JSON"}, expectation{Error: "line 9: invalid JSON"}},
		{jobs.Item{Ref: "nothing"}, expectation{Error: "item has no document"}},
		// Named two ways (a producer on NATS; the gateway refuses it).
		{jobs.Item{Ref: "both", Document: compact(t, docs[0].JSON), DocumentID: ref.ID()}, expectation{Error: "item has more than one of document, documentId and blob"}},
		{jobs.Item{Ref: "id-and-blob", DocumentID: ref.ID(), Blob: strings.Repeat("cd", 32)}, expectation{Error: "item has more than one of document, documentId and blob"}},
	}
	for _, e := range extra {
		items = append(items, e.item)
		want = append(want, e.want)
	}
	return items, want, at
}

func withoutMember(t testing.TB, doc []byte, member string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, member)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkResults compares results with the expectations and returns the
// expected counters.
func checkResults(t testing.TB, items []jobs.Item, results []store.Result, want []expectation) (valid, invalid, failed int) {
	t.Helper()
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d", len(results), len(want))
	}
	for i, r := range results {
		w := want[i]
		if r.Index != i || r.Ref != items[i].Ref {
			t.Errorf("result %d: index %d ref %q, want ref %q", i, r.Index, r.Ref, items[i].Ref)
		}
		switch {
		case w.Error != "":
			failed++
			if !strings.HasPrefix(r.Error, w.Error) || r.Valid || len(r.Checks) != 0 {
				t.Errorf("%s: error %q valid %v with %d checks, want error %q", items[i].Ref, r.Error, r.Valid, len(r.Checks), w.Error)
			}
		default:
			if w.Valid {
				valid++
			} else {
				invalid++
			}
			var gotFailed []string
			for _, c := range r.Checks {
				if !c.Passed {
					gotFailed = append(gotFailed, c.Name)
				}
			}
			if r.Error != "" || r.Valid != w.Valid || len(r.Checks) != 11 || !cmp.Equal(sorted(gotFailed), w.Failed, cmpEmpty) {
				t.Errorf("%s: valid %v failed %v (error %q, %d checks), want valid %v failed %v",
					items[i].Ref, r.Valid, gotFailed, r.Error, len(r.Checks), w.Valid, w.Failed)
			}
			if r.DocumentID == "" {
				t.Errorf("%s: no document ID in the result", items[i].Ref)
			}
		}
	}
	return valid, invalid, failed
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal([]string(a), []string(b))
})

func TestRunnerVerifiesReferenceCorpus(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			testRunnerVerifiesReferenceCorpus(t, newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{}, jobs.WithChunkItems(16)))
		})
	}
}

func testRunnerVerifiesReferenceCorpus(t *testing.T, p *pipeline) {
	items, want, at := mixedJob(t, p.st)
	job := jobs.Job{ID: "corpus", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}

	// Subscribe to the completion event the way the gateway waits.
	completedCh := make(chan *nats.Msg, 4)
	sub, err := p.nc.ChanSubscribe(jobs.JobEventSubject(job.ID), completedCh)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	p.submit(t, job, items)
	p.startRunner(t, nil, nil, jobs.RunnerConfig{Concurrency: 3})
	got := p.waitJob(t, job.ID)

	results := p.results(t, job.ID)
	valid, invalid, failed := checkResults(t, items, results, want)
	if got.Total != len(items) || got.Done != got.Total || got.Valid != valid || got.Invalid != invalid || got.Failed != failed {
		t.Errorf("job = %+v, want total %d valid %d invalid %d failed %d", got, len(items), valid, invalid, failed)
	}
	if valid == 0 || invalid == 0 || failed == 0 {
		t.Fatalf("the mix lacks a kind: valid %d invalid %d failed %d", valid, invalid, failed)
	}

	select {
	case m := <-completedCh:
		var ev jobs.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Job == nil || ev.Job.Done != len(items) {
			t.Errorf("completion event %s: %v", m.Data, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no completion event on core NATS")
	}
	// Every message acknowledged.
	waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })

	completed, invalidEvents := streamEvents(t, p.js, job.ID)
	if len(completed) != 1 || completed[0].Job.Valid != valid || completed[0].Job.Status != store.StatusCompleted {
		t.Errorf("completion events = %+v", completed)
	}
	if len(invalidEvents) != invalid {
		t.Errorf("%d invalid-document events, want %d", len(invalidEvents), invalid)
	}
	for _, ev := range invalidEvents {
		if ev.Result == nil || ev.Result.Valid || ev.Result.Error != "" || len(ev.Result.Checks) != 11 {
			t.Errorf("invalid event %+v", ev)
		}
	}
	checkStoredDocuments(t, p.st, items, results)
}

// checkStoredDocuments checks that exactly the authentic inline documents
// were stored, and that a tampered copy never replaced the original.
func checkStoredDocuments(t testing.TB, st store.Store, items []jobs.Item, results []store.Result) {
	t.Helper()
	ctx := testContext(t)
	for i, r := range results {
		if r.Error != "" || items[i].Document == nil {
			continue
		}
		authentic := true
		for _, c := range r.Checks {
			switch c.Name {
			case "id_match", "signature_valid", "countersignatures":
				authentic = authentic && c.Passed
			}
		}
		stored, err := st.GetDocument(ctx, r.DocumentID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if authentic {
				t.Errorf("%s: authentic document %s not stored", r.Ref, r.DocumentID)
			}
		case err != nil:
			t.Fatal(err)
		default:
			doc, err := covenant.Parse(stored)
			if err != nil {
				t.Fatalf("%s: stored document: %v", r.Ref, err)
			}
			res := covenant.Verify(doc)
			if !res.Valid && !authenticResult(res) {
				t.Errorf("%s: the document stored under %s is not authentic: %v", r.Ref, r.DocumentID, res.Failed())
			}
		}
	}
}

func authenticResult(r covenant.Result) bool {
	for _, c := range r.Checks {
		switch c.Name {
		case "id_match", "signature_valid", "countersignatures":
			if !c.Passed {
				return false
			}
		}
	}
	return len(r.Checks) == 11
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// flakyJobs records results, then reports a failure for the first call of
// every chunk: the results are durable, the ack never happens, so the
// chunk is redelivered, as after a crash between the write and the ack.
type flakyJobs struct {
	store.Jobs
	mu    sync.Mutex
	seen  map[int]bool // first index of the chunks already failed
	calls atomic.Int64
}

func (f *flakyJobs) RecordResults(ctx context.Context, jobID string, results []store.Result) (store.Progress, error) {
	f.calls.Add(1)
	prog, err := f.Jobs.RecordResults(ctx, jobID, results)
	if err != nil || len(results) == 0 {
		return prog, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.seen[results[0].Index] {
		f.seen[results[0].Index] = true
		return store.Progress{}, errors.New("flaky: connection reset after write")
	}
	return prog, nil
}

func TestRunnerRedeliveryDoesNotDoubleCount(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			testRunnerRedelivery(t, newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{}, jobs.WithChunkItems(10)))
		})
	}
}

func testRunnerRedelivery(t *testing.T, p *pipeline) {
	items, want, at := mixedJob(t, p.st)
	job := jobs.Job{ID: "redeliver", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
	p.submit(t, job, items)

	flaky := &flakyJobs{Jobs: p.st, seen: map[int]bool{}}
	p.startRunner(t, flaky, nil, jobs.RunnerConfig{Concurrency: 2})
	got := p.waitJob(t, job.ID)
	waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })

	chunks := (len(items) + 9) / 10
	if n := flaky.calls.Load(); n < int64(2*chunks) {
		t.Errorf("%d RecordResults calls for %d chunks each delivered twice", n, chunks)
	}
	valid, invalid, failed := checkResults(t, items, p.results(t, job.ID), want)
	if got.Done != len(items) || got.Valid != valid || got.Invalid != invalid || got.Failed != failed {
		t.Errorf("after redeliveries job = %+v, want done %d valid %d invalid %d failed %d", got, len(items), valid, invalid, failed)
	}
	completed, invalidEvents := streamEvents(t, p.js, job.ID)
	if len(completed) != 1 {
		t.Errorf("%d completion events, want 1 (duplicates dropped)", len(completed))
	}
	if len(invalidEvents) != invalid {
		t.Errorf("%d invalid events, want %d (duplicates dropped)", len(invalidEvents), invalid)
	}
}

func TestRunnerCrashBeforeAck(t *testing.T) {
	// A worker takes a chunk, records its results and dies before the ack;
	// after AckWait the chunk goes to a live runner, which changes nothing
	// and acknowledges it.
	p := newPipeline(t, jobs.ConsumerConfig{AckWait: time.Second}, jobs.WithChunkItems(100))
	items, want, at := mixedJob(t, p.st)
	job := jobs.Job{ID: "crash", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
	p.submit(t, job, items)

	ctx := testContext(t)
	batch, err := p.cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	msg := <-batch.Messages()
	if msg == nil {
		t.Fatalf("no message: %v", batch.Error())
	}
	c, err := jobs.DecodeChunk(msg.Data())
	if err != nil {
		t.Fatal(err)
	}
	results, err := p.verifyHandler(t, nil).HandleChunk(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	before, err := p.st.RecordResults(ctx, job.ID, results)
	if err != nil {
		t.Fatal(err)
	}
	if before.Job.Done != len(c.Items) {
		t.Fatalf("dead worker recorded %d results, want %d", before.Job.Done, len(c.Items))
	}
	// The worker is gone: no ack. A live runner takes over.
	p.startRunner(t, nil, nil, jobs.RunnerConfig{Concurrency: 2})
	got := p.waitJob(t, job.ID)
	waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
	valid, invalid, failed := checkResults(t, items, p.results(t, job.ID), want)
	if got.Done != len(items) || got.Valid != valid || got.Invalid != invalid || got.Failed != failed {
		t.Errorf("job = %+v, want done %d valid %d invalid %d failed %d", got, len(items), valid, invalid, failed)
	}
	md, err := msg.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if md.NumDelivered != 1 {
		t.Errorf("first delivery count %d", md.NumDelivered)
	}
}

// gatedHandler blocks every chunk until released and counts them.
type gatedHandler struct {
	inner   jobs.Handler
	started chan int // chunk numbers as they start
	release chan struct{}
	handled atomic.Int64
}

func (g *gatedHandler) HandleChunk(ctx context.Context, c *jobs.Chunk) ([]store.Result, error) {
	g.started <- c.Chunk
	<-g.release
	g.handled.Add(1)
	return g.inner.HandleChunk(ctx, c)
}

func TestRunnerDrainsOnCancel(t *testing.T) {
	p := newPipeline(t, jobs.ConsumerConfig{}, jobs.WithChunkItems(2))
	items := docItems(t, 40) // 20 chunks
	_, at := loadCorpus(t)
	job := jobs.Job{ID: "drain", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
	p.submit(t, job, items)

	g := &gatedHandler{inner: p.verifyHandler(t, nil), started: make(chan int, 100), release: make(chan struct{})}
	stop := p.startRunner(t, nil, g, jobs.RunnerConfig{Concurrency: 2, FetchBatch: 2})
	// Both processors busy: the runner holds chunks it has not finished.
	<-g.started
	<-g.started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(300 * time.Millisecond) // let the shutdown begin while work is in hand
	select {
	case err := <-stopped:
		t.Fatalf("Run returned with chunks in hand: %v", err)
	default:
	}
	close(g.release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run after drain: %v", err)
	}

	handled := int(g.handled.Load())
	// Acks are sent without waiting for the server's confirmation, and the
	// server applies them to the consumer asynchronously after Shutdown's
	// flush: give it a moment (well within the 30 s ack wait, after which an
	// unacknowledged chunk would stop counting as pending).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ack, _ := p.consumerState(t)
		if ack == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d chunks left unacknowledged after the drain", ack)
		}
	}
	_, pending := p.consumerState(t)
	if handled < 2 || handled+int(pending) != 20 {
		t.Errorf("handled %d chunks, %d still queued; want the rest of 20 queued", handled, pending)
	}
	job2, err := p.st.GetJob(testContext(t), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job2.Done != 2*handled || job2.Status != store.StatusRunning {
		t.Errorf("after draining %d chunks the job is %+v", handled, job2)
	}
}

func TestRunnerTerminatesPoison(t *testing.T) {
	p := newPipeline(t, jobs.ConsumerConfig{})
	ctx := testContext(t)
	var mu sync.Mutex
	var poisoned []string
	onPoison := func(_ context.Context, msg jetstream.Msg, err error) {
		mu.Lock()
		defer mu.Unlock()
		if !errors.Is(err, jobs.ErrBadMessage) {
			t.Errorf("poison error %v does not match ErrBadMessage", err)
		}
		poisoned = append(poisoned, string(msg.Data()))
	}
	bad := []string{
		`not json`,
		`{"v":1,"jobId":"a.b","kind":"verify","chunk":0,"items":[]}`,
		`{"v":0,"jobId":"x","kind":"verify","chunk":0,"items":[]}`,
		`{"v":1,"jobId":"x","kind":"sign","chunk":0,"items":[]}`,
		`{"v":1,"jobId":"x","kind":"verify","chunk":0,"at":"soon","items":[]}`,
	}
	for _, b := range bad {
		if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{OnPoison: onPoison})
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(poisoned) == len(bad) })
	waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(sorted(bad), sorted(poisoned)); diff != "" {
		t.Errorf("poisoned messages (-want +got):\n%s", diff)
	}
}

func TestRunnerHandsBackNewerSchema(t *testing.T) {
	p := newPipeline(t, jobs.ConsumerConfig{})
	ctx := testContext(t)
	var poisoned atomic.Int64
	if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(`{"v":99,"jobId":"future","kind":"verify","chunk":0,"items":[]}`)); err != nil {
		t.Fatal(err)
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{
		NakDelay: 10 * time.Millisecond,
		OnPoison: func(context.Context, jetstream.Msg, error) { poisoned.Add(1) },
	})
	// The message comes back again and again instead of being terminated.
	waitFor(t, func() bool {
		info, err := p.cons.Info(ctx)
		return err == nil && info.NumRedelivered > 0 || info != nil && info.Delivered.Consumer >= 3
	})
	if poisoned.Load() != 0 {
		t.Error("a message of a newer schema was terminated")
	}
}

// countingCache counts signature-cache traffic.
type countingCache struct {
	store.SigCache
	gets, hits, puts atomic.Int64
}

func (c *countingCache) GetSigs(ctx context.Context, keys [][32]byte) ([]byte, error) {
	out, err := c.SigCache.GetSigs(ctx, keys)
	c.gets.Add(int64(len(keys)))
	for _, o := range out {
		if o != 0 {
			c.hits.Add(1)
		}
	}
	return out, err
}

func (c *countingCache) PutSigs(ctx context.Context, keys [][32]byte, valid []bool) error {
	c.puts.Add(int64(len(keys)))
	return c.SigCache.PutSigs(ctx, keys, valid)
}

func TestRunnerSignatureCache(t *testing.T) {
	p := newPipeline(t, jobs.ConsumerConfig{}, jobs.WithChunkItems(32))
	cache := &countingCache{SigCache: p.st}
	p.startRunner(t, nil, p.verifyHandler(t, cache), jobs.RunnerConfig{Concurrency: 2})

	var runs [2][]store.Result
	for i := range runs {
		items, want, at := mixedJob(t, p.st)
		job := jobs.Job{ID: fmt.Sprintf("cache-%d", i), Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
		p.submit(t, job, items)
		p.waitJob(t, job.ID)
		runs[i] = p.results(t, job.ID)
		checkResults(t, items, runs[i], want)
		if i == 0 {
			if cache.puts.Load() == 0 || cache.hits.Load() == cache.gets.Load() {
				t.Errorf("first run: %d lookups, %d hits, %d stored", cache.gets.Load(), cache.hits.Load(), cache.puts.Load())
			}
			cache.gets.Store(0)
			cache.hits.Store(0)
			cache.puts.Store(0)
		}
	}
	if cache.gets.Load() == 0 || cache.hits.Load() != cache.gets.Load() || cache.puts.Load() != 0 {
		t.Errorf("second run: %d lookups, %d hits, %d stored; want every lookup a hit", cache.gets.Load(), cache.hits.Load(), cache.puts.Load())
	}
	if diff := cmp.Diff(runs[0], runs[1]); diff != "" {
		t.Errorf("results differ with a warm cache (-cold +warm):\n%s", diff)
	}
}

func TestRunnerStagedDocument(t *testing.T) {
	p := newPipeline(t, jobs.ConsumerConfig{}, jobs.WithChunkBytes(2048))
	docs, at := loadCorpus(t)
	// Corpus documents over 2 KiB travel by reference.
	var items []jobs.Item
	var want []expectation
	for _, d := range docs[:60] {
		items = append(items, jobs.Item{Ref: d.Name, Document: d.JSON})
		want = append(want, expectation{Valid: d.Valid, Failed: d.Failed})
	}
	job := jobs.Job{ID: "staged", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
	if err := p.st.CreateJob(testContext(t), store.Job{ID: job.ID, Kind: job.Kind, Total: len(items)}); err != nil {
		t.Fatal(err)
	}
	stats, err := p.pub.Publish(testContext(t), job, items)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Staged == 0 || stats.Staged == len(items) {
		t.Fatalf("want some documents staged, some inline: %+v", stats)
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{})
	p.waitJob(t, job.ID)
	results := p.results(t, job.ID)
	checkResults(t, items, results, want)
	checkStoredDocuments(t, p.st, items, results)
	// Staging is not storing: the registry lists the authentic documents
	// the verification stored, never a staged copy (which was written
	// before anything verified it).
	page, err := p.st.ListDocuments(testContext(t), store.DocumentQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	verified := map[string]bool{}
	for _, r := range results {
		verified[r.DocumentID] = true
	}
	for _, d := range page.Documents {
		if !verified[d.ID] {
			t.Errorf("listed %s (issuer %q), which is no verified document of the job", d.ID, d.IssuerID)
		}
	}
}

func TestNewRunnerRejectsBadConfig(t *testing.T) {
	p := newPipeline(t, jobs.ConsumerConfig{})
	h := p.verifyHandler(t, nil)
	for _, cfg := range []jobs.RunnerConfig{
		{Concurrency: -1},
		{FetchBatch: 20_000},
		{FetchMaxWait: time.Millisecond},
		{NakDelay: -time.Second},
	} {
		if _, err := jobs.NewRunner(p.cons, p.js, p.st, h, cfg); !errors.Is(err, jobs.ErrInvalidOption) {
			t.Errorf("NewRunner(%+v): %v, want ErrInvalidOption", cfg, err)
		}
	}
	if _, err := jobs.NewRunner(nil, p.js, p.st, h, jobs.RunnerConfig{}); !errors.Is(err, jobs.ErrInvalidOption) {
		t.Errorf("nil consumer: %v", err)
	}
	if _, err := jobs.NewVerifyHandler(jobs.VerifyConfig{}); !errors.Is(err, jobs.ErrInvalidOption) {
		t.Errorf("verify handler without store: %v", err)
	}
}

// committingStore counts how a store is written to.
type committingStore struct {
	store.Store
	commits, sigPuts, docPuts, records *atomic.Int64
	docsCommitted                      *atomic.Int64
}

func (c committingStore) CommitChunk(ctx context.Context, jobID string, w store.ChunkWrites) (store.Progress, error) {
	c.commits.Add(1)
	c.docsCommitted.Add(int64(len(w.Documents)))
	return c.Store.CommitChunk(ctx, jobID, w)
}

func (c committingStore) PutSigs(ctx context.Context, keys [][32]byte, valid []bool) error {
	c.sigPuts.Add(1)
	return c.Store.PutSigs(ctx, keys, valid)
}

func (c committingStore) PutDocuments(ctx context.Context, docs []store.Document) error {
	c.docPuts.Add(1)
	return c.Store.PutDocuments(ctx, docs)
}

func (c committingStore) RecordResults(ctx context.Context, jobID string, rs []store.Result) (store.Progress, error) {
	c.records.Add(1)
	return c.Store.RecordResults(ctx, jobID, rs)
}

func TestRunnerCommitsChunkWrites(t *testing.T) {
	// With one store as the handler's documents and cache and the runner's
	// job store, every chunk's writes go through one CommitChunk, and the
	// documents and signature outcomes still land.
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{}, jobs.WithChunkItems(16))
			cs := committingStore{Store: p.st, commits: new(atomic.Int64), sigPuts: new(atomic.Int64), docPuts: new(atomic.Int64), records: new(atomic.Int64),
				docsCommitted: new(atomic.Int64)}
			h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: cs, SigCache: cs})
			if err != nil {
				t.Fatal(err)
			}
			p.startRunner(t, cs, h, jobs.RunnerConfig{Concurrency: 2})
			cache := &countingCache{SigCache: p.st}
			var runs [2][]store.Result
			var docsWritten [2]int64
			var items []jobs.Item
			var at time.Time
			for i := range runs {
				var want []expectation
				items, want, at = mixedJob(t, p.st)
				job := jobs.Job{ID: fmt.Sprintf("commit-%d", i), Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
				before := cs.docsCommitted.Load()
				p.submit(t, job, items)
				p.waitJob(t, job.ID)
				docsWritten[i] = cs.docsCommitted.Load() - before
				runs[i] = p.results(t, job.ID)
				checkResults(t, items, runs[i], want)
				checkStoredDocuments(t, p.st, items, runs[i])
				if i == 0 {
					// Every signature outcome of the first run is cached.
					mustVerifyAllCached(t, cache, items, at)
				}
			}
			// The second run, all cache hits, writes no document: every one
			// is stored already (writes are create-only, so a stored copy
			// would stay whatever was sent).
			if docsWritten[0] < 50 || docsWritten[1] != 0 {
				t.Errorf("documents committed: %d in the first run, %d in the second; want all 61, then none", docsWritten[0], docsWritten[1])
			}
			// A stored document sent again with its members in another
			// order has the same ID and signatures (all cache hits) but
			// other bytes: it is not written either.
			var doc *covenant.Document
			plain, err := covenant.NewVerifier()
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if d, err := covenant.Parse(it.Document); err == nil && len(d.Countersignatures()) == 0 {
					if res := plain.At(at).Verify(d); res.Valid {
						doc = d
						break
					}
				}
			}
			if doc == nil {
				t.Fatal("no valid document in the corpus")
			}
			reordered := withoutMember(t, doc.AppendJSON(nil), "")
			again, err := covenant.Parse(reordered)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(again.AppendJSON(nil), doc.AppendJSON(nil)) || again.ID() != doc.ID() {
				t.Fatalf("reordering did not change the bytes only: %s", reordered)
			}
			prior, err := p.st.GetDocument(testContext(t), doc.ID())
			if err != nil {
				t.Fatal(err)
			}
			before := cs.docsCommitted.Load()
			job := jobs.Job{ID: "commit-reordered", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
			p.submit(t, job, []jobs.Item{{Ref: "reordered", Document: reordered}})
			p.waitJob(t, job.ID)
			if r := p.results(t, job.ID); len(r) != 1 || !r[0].Valid {
				t.Fatalf("reordered document: %+v", r)
			}
			if n := cs.docsCommitted.Load() - before; n != 0 {
				t.Errorf("reordered document: %d documents committed, want none", n)
			}
			// The stored copy stays (a worker never replaces a stored
			// covenant, which could drop countersignatures added since).
			if got, err := p.st.GetDocument(testContext(t), doc.ID()); err != nil || !bytes.Equal(got, prior) {
				t.Errorf("stored after the reordered copy: %s, %v; want it unchanged: %s", got, err, prior)
			}
			chunks := int64((len(runs[0]) + 15) / 16)
			if n := cs.commits.Load(); n < 2*chunks {
				t.Errorf("%d commits for %d chunks", n, 2*chunks)
			}
			if s, d, r := cs.sigPuts.Load(), cs.docPuts.Load(), cs.records.Load(); s+d+r != 0 {
				t.Errorf("writes outside the commit: %d PutSigs, %d PutDocuments, %d RecordResults", s, d, r)
			}
			if diff := cmp.Diff(runs[0], runs[1]); diff != "" {
				t.Errorf("results differ with a warm cache (-cold +warm):\n%s", diff)
			}
		})
	}
}

// mustVerifyAllCached verifies the parseable documents of items through
// cache and checks that every signature lookup hits.
func mustVerifyAllCached(t *testing.T, cache *countingCache, items []jobs.Item, at time.Time) {
	t.Helper()
	v, err := covenant.NewVerifier(covenant.WithSignatureCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	var docs []*covenant.Document
	for _, it := range items {
		if d, err := covenant.Parse(it.Document); err == nil {
			docs = append(docs, d)
		}
	}
	v.At(at).VerifyBatch(docs)
	if g, h := cache.gets.Load(), cache.hits.Load(); g == 0 || g != h {
		t.Errorf("signature cache after the first run: %d lookups, %d hits; want every lookup a hit", g, h)
	}
}

func TestRunnerCompletionEventCarriesSmallJobResults(t *testing.T) {
	// A job of one chunk announces its results with its completion; a job
	// of several chunks does not (no chunk has them all).
	p := newPipeline(t, jobs.ConsumerConfig{}, jobs.WithChunkItems(40))
	p.startRunner(t, nil, nil, jobs.RunnerConfig{Concurrency: 2})
	items, _, at := mixedJob(t, p.st)
	small := jobs.Job{ID: "event-small", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
	p.submit(t, small, items[:30])
	large := jobs.Job{ID: "event-large", Kind: store.KindVerify, At: small.At}
	p.submit(t, large, items)
	for _, tc := range []struct {
		job         jobs.Job
		withResults bool
	}{{small, true}, {large, false}} {
		p.waitJob(t, tc.job.ID)
		var completed []jobs.Event
		waitFor(t, func() bool { completed, _ = streamEvents(t, p.js, tc.job.ID); return len(completed) > 0 })
		if len(completed) != 1 {
			t.Fatalf("%s: %d completion events", tc.job.ID, len(completed))
		}
		got := completed[0].Results
		if !tc.withResults {
			if got != nil {
				t.Errorf("%s: completion event carries %d results, want none", tc.job.ID, len(got))
			}
			continue
		}
		if diff := cmp.Diff(p.results(t, tc.job.ID), got); diff != "" {
			t.Errorf("%s: event results differ from the stored ones (-stored +event):\n%s", tc.job.ID, diff)
		}
	}
}
