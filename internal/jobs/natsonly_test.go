package jobs_test

import (
	"encoding/json"
	"testing"

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
