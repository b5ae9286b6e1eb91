package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// A chunk that can never be processed, or that fails on its last delivery,
// must still let its job complete: its items are settled as failed and the
// message leaves the work queue. Real JetStream, SQLite and Redis.

// settledJob waits for the job, checks that the work queue is empty and
// that every result in wantFailed failed with a message naming why.
func (p *pipeline) settledJob(t *testing.T, id string, wantFailed []int, why string) store.Job {
	t.Helper()
	job := p.waitJob(t, id)
	waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
	s, err := p.js.Stream(testContext(t), jobs.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		info, err := s.Info(testContext(t))
		return err == nil && info.State.Msgs == 0
	})
	byIndex := map[int]store.Result{}
	for _, r := range p.results(t, id) {
		byIndex[r.Index] = r
	}
	for _, i := range wantFailed {
		r, ok := byIndex[i]
		if !ok || r.Valid || !strings.Contains(r.Error, "chunk could not be processed") || !strings.Contains(r.Error, why) {
			t.Errorf("item %d: %+v (present %v), want it failed naming %q", i, r, ok, why)
		}
	}
	return job
}

// TestBadChunkSettlesItsItems: a chunk with an index beyond its job's total
// cannot be recorded; its other items are settled as failed and the job
// completes.
func TestBadChunkSettlesItsItems(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{})
			ctx := testContext(t)
			if err := p.st.CreateJob(ctx, store.Job{ID: "beyond", Kind: store.KindVerify, Total: 2}); err != nil {
				t.Fatal(err)
			}
			// The chunk claims a larger total than its job's: the job's
			// decides which items can be settled.
			chunk := `{"v":1,"jobId":"beyond","kind":"verify","chunk":0,"total":9,"items":[{"index":0,"ref":"a","error":"x"},{"index":1,"ref":"b","error":"y"},{"index":5,"error":"z"}]}`
			if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(chunk)); err != nil {
				t.Fatal(err)
			}
			p.startRunner(t, nil, nil, jobs.RunnerConfig{})
			job := p.settledJob(t, "beyond", []int{0, 1}, "names a total of 9, job beyond has 2")
			if job.Done != 2 || job.Failed != 2 {
				t.Errorf("job %+v, want 2 done, both failed", job)
			}
		})
	}
}

// TestUnprocessableChunkSettles: a handler's ErrBadMessage (a chunk no
// retry can process) settles the chunk's items instead of dropping them.
func TestUnprocessableChunkSettles(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{})
	p.submit(t, jobs.Job{ID: "unprocessable", Kind: store.KindVerify}, []jobs.Item{{Error: "x"}, {Error: "y"}, {Error: "z"}})
	var calls atomic.Int64
	h := jobs.HandlerFunc(func(ctx context.Context, c *jobs.Chunk) ([]store.Result, error) {
		calls.Add(1)
		return nil, fmt.Errorf("odd chunk: %w", jobs.ErrBadMessage)
	})
	p.startRunner(t, nil, h, jobs.RunnerConfig{})
	job := p.settledJob(t, "unprocessable", []int{0, 1, 2}, "odd chunk")
	if job.Failed != 3 || calls.Load() != 1 {
		t.Errorf("job %+v after %d handler calls, want 3 failed after 1", job, calls.Load())
	}
}

// TestLastDeliverySettles: a chunk whose handler fails on every delivery is
// settled as failed on the consumer's last one (MaxDeliver), not dropped
// with its job left short forever.
func TestLastDeliverySettles(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			const maxDeliver = 3
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{MaxDeliver: maxDeliver})
			p.submit(t, jobs.Job{ID: "flaky", Kind: store.KindVerify}, []jobs.Item{{Error: "x"}, {Error: "y"}})
			var calls atomic.Int64
			h := jobs.HandlerFunc(func(ctx context.Context, c *jobs.Chunk) ([]store.Result, error) {
				calls.Add(1)
				return nil, errors.New("store hiccup")
			})
			p.startRunner(t, nil, h, jobs.RunnerConfig{Concurrency: 1})
			job := p.settledJob(t, "flaky", []int{0, 1}, "store hiccup")
			if job.Failed != 2 || calls.Load() != maxDeliver {
				t.Errorf("job %+v after %d handler calls, want 2 failed after %d", job, calls.Load(), maxDeliver)
			}
			completed, _ := streamEvents(t, p.js, "flaky")
			if len(completed) != 1 {
				t.Errorf("%d completion events, want 1", len(completed))
			}
		})
	}
}

// unreadableDirectory is a key directory that cannot be read.
type unreadableDirectory struct{}

func (unreadableDirectory) AdvertiseKeys(context.Context, []store.SigningKey) error { return nil }
func (unreadableDirectory) SigningKeys(context.Context) (map[string]store.SigningKey, error) {
	return nil, errors.New("undecodable record")
}

// TestSignUnreadableDirectorySettles: when the key directory cannot be
// read, an item naming a key this signer lacks is handed back while another
// signer might hold it (the advertised-key bound), then fails with
// unknown_key: it never fails transiently on every delivery.
func TestSignUnreadableDirectorySettles(t *testing.T) {
	h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: testKeyring(t, "k1"), Documents: newSQLiteStore(t),
		Directory: unreadableDirectory{}, MaxUnknownKeyDeliveries: 2, MaxAdvertisedKeyDeliveries: 5})
	if err != nil {
		t.Fatal(err)
	}
	items := []jobs.Item{signItem(t, "", buildReq("nobody", 1))}
	for delivered := uint64(1); delivered <= 6; delivered++ {
		ctx := jobs.WithMessageInfo(testContext(t), jobs.MsgInfo{NumDelivered: delivered, Timestamp: msgTime})
		res, err := h.HandleChunk(ctx, &jobs.Chunk{V: 1, JobID: "dir", Kind: store.KindSign, Items: items})
		switch {
		case delivered < 5:
			if !errors.Is(err, jobs.ErrRetryChunk) {
				t.Errorf("delivery %d: %v, want the chunk handed back", delivered, err)
			}
		case err != nil || len(res) != 1 || !strings.HasPrefix(res[0].Error, jobs.SignErrUnknownKey):
			t.Errorf("delivery %d: %v, %+v; want the item failed with %s", delivered, err, res, jobs.SignErrUnknownKey)
		}
	}
}

// TestLegacyStagedDocument: a chunk staged by a version that kept staged
// bytes as a document named "blob:<sha256>" still verifies (a rolling
// upgrade).
func TestLegacyStagedDocument(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{})
	ctx := testContext(t)
	docs, at := loadCorpus(t)
	d := docs[0]
	sum := sha256.Sum256(d.JSON)
	h := hex.EncodeToString(sum[:])
	if err := p.st.PutDocuments(ctx, []store.Document{{ID: "blob:" + h, JSON: d.JSON}}); err != nil {
		t.Fatal(err)
	}
	if err := p.st.CreateJob(ctx, store.Job{ID: "legacy", Kind: store.KindVerify, Total: 1}); err != nil {
		t.Fatal(err)
	}
	chunk := fmt.Sprintf(`{"v":1,"jobId":"legacy","kind":"verify","at":%q,"chunk":0,"items":[{"index":0,"ref":"old","blob":%q}]}`,
		at.Format(time.RFC3339Nano), h)
	if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(chunk)); err != nil {
		t.Fatal(err)
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{})
	p.waitJob(t, "legacy")
	res := p.results(t, "legacy")
	if len(res) != 1 || res[0].Error != "" || res[0].DocumentID != d.ID || res[0].Valid != d.Valid {
		t.Errorf("result %+v, want the verdict of %s (valid %v)", res, d.Name, d.Valid)
	}
}

// TestExpiredJobNotRecreated: a chunk naming its job's total creates the
// job when it has no record, but not once the chunk is older than the job
// TTL: its job existed and expired, and a new record would count only the
// chunks still to come. The chunk is then dropped.
func TestExpiredJobNotRecreated(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{MaxDeliver: 2})
	ctx := testContext(t)
	for _, id := range []string{"old", "young"} {
		chunk := fmt.Sprintf(`{"v":1,"jobId":%q,"kind":"verify","chunk":3,"total":5,"items":[{"index":3,"error":"x"}]}`, id)
		if _, err := p.js.Publish(ctx, jobs.SubjectVerify, []byte(chunk)); err != nil {
			t.Fatal(err)
		}
		if id == "old" {
			time.Sleep(3 * time.Second)
		}
	}
	// The job TTL lies between the two messages' ages.
	p.startRunner(t, nil, nil, jobs.RunnerConfig{JobTTL: 2 * time.Second, NakDelay: 10 * time.Millisecond})
	waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
	if _, err := p.st.GetJob(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the chunk older than the job TTL created its job: %v", err)
	}
	job, err := p.st.GetJob(ctx, "young")
	if err != nil || job.Total != 5 || job.Done != 1 {
		t.Errorf("the younger chunk's job: %+v, %v; want created with 1 of 5 done", job, err)
	}
}
