package jobs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// A producer that talks only to NATS publishes chunks naming the job's total;
// the worker creates the job record, and the job completes with every result
// counted once, across chunks and a redelivered chunk.
func TestRunnerCreatesJobFromChunkTotal(t *testing.T) {
	p := newPipeline(t, jobs.ConsumerConfig{})
	ctx := testContext(t)
	docs, at := loadCorpus(t)
	const id = "nats-only-1"
	chunks := [][]jobs.Item{
		{{Index: 0, Ref: "a", Document: compact(t, docs[0].JSON)}, {Index: 1, Ref: "b", Document: compact(t, docs[1].JSON)}},
		{{Index: 2, Ref: "c", Document: compact(t, docs[2].JSON)}},
	}
	for n, items := range chunks {
		b, err := json.Marshal(jobs.Chunk{V: 1, JobID: id, Kind: store.KindVerify, Chunk: n, Total: 3,
			At: at.Format("2006-01-02T15:04:05.000Z07:00"), Items: items})
		if err != nil {
			t.Fatal(err)
		}
		// The second chunk is published twice under different message IDs,
		// so the stream keeps both: the repeat must not count twice.
		for range 1 + n {
			if _, err := p.js.Publish(ctx, jobs.SubjectVerify, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{})
	waitFor(t, func() bool { _, err := p.st.GetJob(ctx, id); return err == nil })
	job := p.waitJob(t, id)
	if job.Kind != store.KindVerify || job.Total != 3 || job.Done != 3 {
		t.Fatalf("job = %+v, want a verify job of 3 items, all done", job)
	}
	got := p.results(t, id)
	if len(got) != 3 {
		t.Fatalf("%d results, want 3", len(got))
	}
	for i, r := range got {
		d := docs[i]
		if r.Index != i || r.Valid != d.Valid || r.Ref != chunks[i/2][i%2].Ref {
			t.Errorf("result %d = %+v, want valid=%v ref %q", i, r, d.Valid, chunks[i/2][i%2].Ref)
		}
	}
	waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
	if j, err := p.st.GetJob(ctx, id); err != nil || j.Done != 3 {
		t.Fatalf("after the repeat: job %+v, %v; want done 3", j, err)
	}
}

// A negative total is a bad message.
func TestDecodeChunkRejectsNegativeTotal(t *testing.T) {
	_, err := jobs.DecodeChunk([]byte(`{"v":1,"jobId":"x","kind":"verify","chunk":0,"total":-1,"items":[]}`))
	if err == nil {
		t.Fatal("negative total accepted")
	}
}

// A producer on NATS may write "at" with RFC 3339's lower-case "t" and "z"
// (section 5.6): the chunk verifies as of that instant, rather than being
// refused as a bad message.
func TestVerifyChunkAtLowerCase(t *testing.T) {
	ctx := testContext(t)
	docs, at := loadCorpus(t)
	// A clock far past the corpus: its documents that expire would fail
	// not_expired if "at" were not honoured.
	h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: newSQLiteStore(t), DiscardDocuments: true,
		Now: func() time.Time { return at.AddDate(100, 0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	docs = docs[:60] // the signed corpus, whose verdicts hold at GENERATED_AT
	items := make([]jobs.Item, len(docs))
	for i, d := range docs {
		items[i] = jobs.Item{Index: i, Document: compact(t, d.JSON)}
	}
	lower := strings.NewReplacer("T", "t", "Z", "z").Replace(at.UTC().Format(time.RFC3339Nano))
	results, err := h.HandleChunk(ctx, &jobs.Chunk{V: 1, JobID: "lower-at", Kind: store.KindVerify, At: lower, Items: items})
	if err != nil {
		t.Fatalf("at %q: %v", lower, err)
	}
	for i, r := range results {
		if r.Valid != docs[i].Valid {
			t.Errorf("%s: valid=%v (%s), want %v", docs[i].Name, r.Valid, r.Error, docs[i].Valid)
		}
	}
}
