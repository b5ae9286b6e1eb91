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

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// Chunks from a producer that talks only to NATS and gets them wrong: none
// may tie up a worker, land in another kind's job, or leave a job it could
// complete unfinished. Real JetStream, SQLite and Redis, one chunk at a
// time, so that a chunk that held the worker would hold up the last job.
func TestHostileChunks(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{})
			ctx := testContext(t)
			if err := p.st.CreateJob(ctx, store.Job{ID: "signjob", Kind: store.KindSign, Total: 1}); err != nil {
				t.Fatal(err)
			}
			longRef := strings.Repeat("<", 200_000) // six bytes each once escaped
			chunks := []string{
				// Indices a trillion apart, twice: the second delivery
				// reads the stored results back for its events.
				`{"v":1,"jobId":"sparse","kind":"verify","chunk":0,"total":1099511627776,"items":[{"index":0,"error":"x"},{"index":1099511627775,"error":"y"}]}`,
				`{"v":1,"jobId":"sparse","kind":"verify","chunk":1,"total":1099511627776,"items":[{"index":0,"error":"x"},{"index":1099511627775,"error":"y"}]}`,
				// A verify chunk for a sign job.
				`{"v":1,"jobId":"signjob","kind":"verify","chunk":0,"items":[{"index":0,"error":"x"}]}`,
				// No kind; a total beyond MaxTotal.
				`{"v":1,"jobId":"nokind","kind":"","chunk":0,"total":1,"items":[{"index":0,"error":"x"}]}`,
				`{"v":1,"jobId":"huge","kind":"verify","chunk":0,"total":1099511627777,"items":[{"index":0,"error":"x"}]}`,
				// A ref too long for a result.
				`{"v":1,"jobId":"longref","kind":"verify","chunk":0,"total":2,"items":[{"index":0,"ref":"ok","error":"a"},{"index":1,"ref":"` + longRef + `","error":"b"}]}`,
				`{"v":1,"jobId":"after","kind":"verify","chunk":0,"total":1,"items":[{"index":0,"error":"z"}]}`,
			}
			for _, c := range chunks {
				if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(c)); err != nil {
					t.Fatal(err)
				}
			}
			var poisoned atomic.Int32
			p.startRunner(t, nil, nil, jobs.RunnerConfig{Concurrency: 1, FetchBatch: 1,
				OnPoison: func(context.Context, jetstream.Msg, error) { poisoned.Add(1) }})

			waitFor(t, func() bool { _, err := p.st.GetJob(ctx, "after"); return err == nil })
			waitFor(t, func() bool { _, err := p.st.GetJob(ctx, "longref"); return err == nil })
			if job := p.waitJob(t, "after"); job.Failed != 1 {
				t.Errorf("after: %+v", job)
			}
			job := p.waitJob(t, "longref")
			res := p.results(t, "longref")
			if job.Failed != 2 || len(res) != 2 || res[0].Error != "a" || res[0].Ref != "ok" ||
				res[1].Error != fmt.Sprintf("ref: longer than %d bytes", jobs.MaxItemRefBytes) || len(res[1].Ref) != jobs.MaxItemRefBytes {
				t.Errorf("longref: %+v, results %d", job, len(res))
			}
			if job, err := p.st.GetJob(ctx, "sparse"); err != nil || job.Done != 2 {
				t.Errorf("sparse: %+v, %v; want 2 done", job, err)
			}
			waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
			if job, err := p.st.GetJob(ctx, "signjob"); err != nil || job.Done != 0 || job.Kind != store.KindSign {
				t.Errorf("signjob: %+v, %v; want the sign job untouched", job, err)
			}
			for _, id := range []string{"nokind", "huge"} {
				if _, err := p.st.GetJob(ctx, id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: %v, want no job created", id, err)
				}
			}
			if n := poisoned.Load(); n != 3 {
				t.Errorf("%d chunks terminated, want 3 (signjob, nokind, huge)", n)
			}
		})
	}
}

// A sign chunk without createdAt reads the job's recorded results before
// signing; indices far apart must cost one read each, not a walk of the gap.
func TestSignSparseIndices(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			st := sk.open(t)
			ctx, cancel := context.WithTimeout(testContext(t), 20*time.Second)
			defer cancel()
			const total = 1 << 40
			if err := st.CreateJob(ctx, store.Job{ID: "sparse-sign", Kind: store.KindSign, Total: total}); err != nil {
				t.Fatal(err)
			}
			h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: testKeyring(t, "k1"), Documents: st, Jobs: st})
			if err != nil {
				t.Fatal(err)
			}
			items := []jobs.Item{signItem(t, "", buildReq("k1", 1)), signItem(t, "", buildReq("k1", 2))}
			items[0].Index, items[1].Index = 1, total-1
			mctx := jobs.WithMessageInfo(ctx, jobs.MsgInfo{NumDelivered: 1, Timestamp: msgTime})
			res, err := h.HandleChunk(mctx, &jobs.Chunk{V: 1, JobID: "sparse-sign", Kind: store.KindSign, Items: items})
			if err != nil {
				t.Fatalf("HandleChunk: %v", err)
			}
			if !res[0].Valid || !res[1].Valid {
				t.Fatalf("results %+v", res)
			}
		})
	}
}

// A chunk repeating an index: the store keeps the first result, and the
// events follow it (no invalid-document event for an index stored valid).
func TestRepeatedIndexEvents(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{})
			ctx := testContext(t)
			k := testKey(t, "alice", false)
			doc, err := covenant.Build(covenant.BuildOptions{
				Issuer:      covenant.Party{ID: "alice", PublicKey: k.Public, Role: covenant.RoleIssuer},
				Beneficiary: covenant.Party{ID: "bob", PublicKey: benKey, Role: covenant.RoleBeneficiary},
				Constraints: "permit read on '/data/**'",
			}, k.PrivateKey())
			if err != nil {
				t.Fatal(err)
			}
			good := doc.AppendJSON(nil)
			tampered := bytes.Replace(good, []byte("/data/**"), []byte("/dat/**"), 1)
			job := jobs.Job{ID: "repeated", Kind: store.KindVerify}
			if err := p.st.CreateJob(ctx, store.Job{ID: job.ID, Kind: job.Kind, Total: 1}); err != nil {
				t.Fatal(err)
			}
			// Published as is: the publisher numbers items itself.
			chunk, err := json.Marshal(jobs.Chunk{V: 1, JobID: job.ID, Kind: job.Kind,
				Items: []jobs.Item{{Index: 0, Ref: "good", Document: good}, {Index: 0, Ref: "bad", Document: tampered}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.js.Publish(ctx, jobs.SubjectVerify, chunk); err != nil {
				t.Fatal(err)
			}
			p.startRunner(t, nil, nil, jobs.RunnerConfig{})
			if got := p.waitJob(t, job.ID); got.Valid != 1 {
				t.Fatalf("job %+v (results %+v), want the first (valid) result kept", got, p.results(t, job.ID))
			}
			var completed, invalid []jobs.Event
			waitFor(t, func() bool {
				completed, invalid = streamEvents(t, p.js, job.ID)
				return len(completed) > 0
			})
			waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
			if len(completed) != 1 || len(invalid) != 0 {
				t.Errorf("%d completion and %d invalid events (%+v), want 1 and 0", len(completed), len(invalid), invalid)
			}
		})
	}
}

// A chunk repeating an index whose handler hands it back with partial
// results answering both items of that index (as the sign handler does
// when another item's key is elsewhere): the partial results are recorded
// (the first of the index kept) and the chunk is handed back, not failed as
// if the handler had answered an item twice.
func TestRepeatedIndexPartialResults(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{})
	ctx := testContext(t)
	if err := p.st.CreateJob(ctx, store.Job{ID: "partial", Kind: store.KindVerify, Total: 2}); err != nil {
		t.Fatal(err)
	}
	chunk, err := json.Marshal(jobs.Chunk{V: 1, JobID: "partial", Kind: store.KindVerify,
		Items: []jobs.Item{{Index: 0, Ref: "first"}, {Index: 0, Ref: "second"}, {Index: 1, Ref: "later"}}})
	if err != nil {
		t.Fatal(err)
	}
	var deliveries atomic.Int32
	var recordedFirst atomic.Bool
	h := jobs.HandlerFunc(func(ctx context.Context, c *jobs.Chunk) ([]store.Result, error) {
		results := []store.Result{{Index: 0, Ref: "first", Error: "a"}, {Index: 0, Ref: "second", Error: "b"}}
		if deliveries.Add(1) == 1 {
			return results, jobs.RetryChunk(10*time.Millisecond, "index 1 waits")
		}
		res, _, err := p.st.Results(ctx, "partial", 0, 2)
		recordedFirst.Store(err == nil && len(res) == 1 && res[0].Ref == "first")
		return append(results, store.Result{Index: 1, Ref: "later", Error: "c"}), nil
	})
	if _, err := p.js.Publish(ctx, jobs.SubjectVerify, chunk); err != nil {
		t.Fatal(err)
	}
	p.startRunner(t, nil, h, jobs.RunnerConfig{NakDelay: time.Minute})
	if job := p.waitJob(t, "partial"); job.Failed != 2 || !recordedFirst.Load() || deliveries.Load() != 2 {
		t.Errorf("job %+v after %d deliveries (first delivery's results recorded: %v), want 2 failed after 2, the first recorded",
			job, deliveries.Load(), recordedFirst.Load())
	}
	if res := p.results(t, "partial"); len(res) != 2 || res[0].Error != "a" {
		t.Errorf("results %+v, want the first of index 0 kept", res)
	}
}

// createsOnFirstRead is a job store in which another worker creates job id
// (with kind and total) just after the first read of its record found
// none: the race of two chunks of a new job that disagree.
type createsOnFirstRead struct {
	store.Store
	id    string
	other store.Job
	once  sync.Once
}

func (s *createsOnFirstRead) GetJob(ctx context.Context, id string) (store.Job, error) {
	job, err := s.Store.GetJob(ctx, id)
	if id == s.id && errors.Is(err, store.ErrNotFound) {
		s.once.Do(func() {
			if cerr := s.Store.CreateJob(ctx, s.other); cerr != nil {
				panic(cerr)
			}
		})
	}
	return job, err
}

// Two chunks of a new job that disagree about its kind or total, processed
// at once by two workers: whichever creates the record first, the other is
// checked against it (refused, or its items settled as failed), never
// recorded as if it agreed.
func TestNewJobRace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		other store.Job
		check func(store.Job) bool
	}{
		{"kind", store.Job{Kind: store.KindSign, Total: 1}, func(j store.Job) bool { return j.Done == 0 }},
		{"total", store.Job{Kind: store.KindVerify, Total: 2}, func(j store.Job) bool { return j.Done == 1 && j.Failed == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{})
			ctx := testContext(t)
			id := "race-" + tc.name
			other := tc.other
			other.ID = id
			st := &createsOnFirstRead{Store: p.st, id: id, other: other}
			chunk := `{"v":1,"jobId":"` + id + `","kind":"verify","chunk":0,"total":1,"items":[{"index":0,"error":"x"}]}`
			if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(chunk)); err != nil {
				t.Fatal(err)
			}
			p.startRunner(t, st, nil, jobs.RunnerConfig{})
			ev := deadEvent(t, p.js, id)
			job, err := p.st.GetJob(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if job.Kind != other.Kind || job.Total != other.Total || !tc.check(job) {
				t.Errorf("job %+v (chunk kept as a dead letter: %s), want the chunk checked against the record %+v", job, ev.Dead.Reason, other)
			}
		})
	}
}
