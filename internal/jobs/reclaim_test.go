package jobs_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// TestReclaimerSettlesAbandonedJob: a gateway that took a job's lease and
// queued 20 of its 30 items, then stopped. Once the lease runs out, the
// reclaimer waits for the workers to pass the 20 queued items (no worker is
// running yet: it must not fail them meanwhile), then records the other 10
// as failed, so the job completes and its completion is announced. A job
// whose gateway still holds its lease is left alone.
func TestReclaimerSettlesAbandonedJob(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{}, jobs.WithChunkItems(7))
			ctx := testContext(t)
			items, want, at := mixedJob(t, p.st)
			items, want = items[:20], want[:20]

			abandoned := jobs.Job{ID: "abandoned", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
			if err := p.st.AcquireQueueLease(ctx, abandoned.ID, "stopped-gateway", 100*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if err := p.st.CreateJob(ctx, store.Job{ID: abandoned.ID, Kind: store.KindVerify, Total: 30}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.pub.Publish(ctx, abandoned, items); err != nil {
				t.Fatal(err)
			}
			live := jobs.Job{ID: "live", Kind: store.KindVerify, At: abandoned.At}
			if err := p.st.AcquireQueueLease(ctx, live.ID, "live-gateway", time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := p.st.CreateJob(ctx, store.Job{ID: live.ID, Kind: store.KindVerify, Total: 5}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.pub.Publish(ctx, live, items[:3]); err != nil {
				t.Fatal(err)
			}

			runReclaimer(t, p, 300*time.Millisecond)

			// The reclaimer claims the lease (the probe's renewal of 1ms does
			// not keep it), then waits for the queue.
			waitFor(t, func() bool {
				return errors.Is(p.st.RenewQueueLease(ctx, abandoned.ID, "stopped-gateway", time.Millisecond), store.ErrConflict)
			})
			time.Sleep(700 * time.Millisecond)
			if job, err := p.st.GetJob(ctx, abandoned.ID); err != nil || job.Done != 0 {
				t.Fatalf("before any worker ran: %+v, %v; want nothing recorded", job, err)
			}

			p.startRunner(t, nil, nil, jobs.RunnerConfig{Concurrency: 2})
			job := p.waitJob(t, abandoned.ID)
			if job.Total != 30 || job.Done != 30 || job.Failed < 10 {
				t.Fatalf("settled job: %+v", job)
			}
			results := p.results(t, abandoned.ID)
			if len(results) != 30 {
				t.Fatalf("%d results, want 30", len(results))
			}
			valid, invalid, failed := checkResults(t, items, results[:20], want)
			if job.Valid != valid || job.Invalid != invalid || job.Failed != failed+10 {
				t.Errorf("counters %+v, want valid %d invalid %d failed %d", job, valid, invalid, failed+10)
			}
			for _, r := range results[20:] {
				if r.Error != jobs.ReclaimedReason || r.Valid {
					t.Errorf("item %d: %+v, want the reclaimed failure", r.Index, r)
				}
			}
			var completed []jobs.Event
			waitFor(t, func() bool { completed, _ = streamEvents(t, p.js, abandoned.ID); return len(completed) > 0 })
			if len(completed) != 1 || completed[0].Job == nil || completed[0].Job.Done != 30 {
				t.Errorf("completion events: %+v", completed)
			}
			// The settled job's lease is free again.
			if err := p.st.AcquireQueueLease(ctx, abandoned.ID, "next", time.Minute); err != nil {
				t.Errorf("lease of the settled job: %v, want it released", err)
			}

			// The live job keeps its lease and waits for its last items.
			waitFor(t, func() bool { j, _ := p.st.GetJob(ctx, live.ID); return j.Done == 3 })
			time.Sleep(500 * time.Millisecond)
			if j, err := p.st.GetJob(ctx, live.ID); err != nil || j.Done != 3 || j.Status == store.StatusCompleted {
				t.Errorf("live job: %+v, %v; want 3 of 5 done and not settled", j, err)
			}
			if err := p.st.RenewQueueLease(ctx, live.ID, "live-gateway", time.Hour); err != nil {
				t.Errorf("live job's lease: %v", err)
			}
		})
	}
}

// runReclaimer runs a reclaimer with the lease lifetime lease on p's
// JetStream and store until the test ends, and checks that it stops
// cleanly.
func runReclaimer(t *testing.T, p *pipeline, lease time.Duration) {
	t.Helper()
	rec, err := jobs.NewReclaimer(p.js, p.st, jobs.WithQueueLease(lease))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- rec.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Reclaimer.Run: %v", err)
		}
	})
}

func TestNewReclaimerRejectsBadOptions(t *testing.T) {
	_, js := setup(t)
	st := newSQLiteStore(t)
	for _, opt := range []jobs.ReclaimerOption{jobs.WithQueueLease(50 * time.Millisecond), jobs.WithReclaimerLogger(nil)} {
		if _, err := jobs.NewReclaimer(js, st, opt); !errors.Is(err, jobs.ErrInvalidOption) {
			t.Errorf("NewReclaimer: %v, want ErrInvalidOption", err)
		}
	}
	if _, err := jobs.NewReclaimer(nil, st); !errors.Is(err, jobs.ErrInvalidOption) {
		t.Errorf("NewReclaimer(nil JetStream): %v, want ErrInvalidOption", err)
	}
}

// stopOnCompletion ends the reclaimer's context as soon as a RecordResults
// call completes a job: a shutdown arriving between the store's answer and
// the announcement.
type stopOnCompletion struct {
	jobs.ReclaimStore
	stop context.CancelFunc
}

func (s *stopOnCompletion) RecordResults(ctx context.Context, jobID string, results []store.Result) (store.Progress, error) {
	prog, err := s.ReclaimStore.RecordResults(ctx, jobID, results)
	if prog.Completed {
		s.stop()
	}
	return prog, err
}

// TestReclaimerAnnouncesOnShutdown: a reclaimer stopped right after its
// recording completed a job still announces the completion; nobody else
// would (the job is completed, so the next reclaimer only releases its
// lease), and the waiters and event consumers would never learn of it. It
// releases the lease of the job it settled.
func TestReclaimerAnnouncesOnShutdown(t *testing.T) {
	_, js := setup(t)
	st := newSQLiteStore(t)
	ctx := testContext(t)
	const id = "stopped-before-queueing"
	if err := st.AcquireQueueLease(ctx, id, "stopped-gateway", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateJob(ctx, store.Job{ID: id, Kind: store.KindVerify, Total: 5}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	rctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec, err := jobs.NewReclaimer(js, &stopOnCompletion{ReclaimStore: st, stop: cancel}, jobs.WithQueueLease(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Run(rctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	job, err := st.GetJob(ctx, id)
	if err != nil || job.Status != store.StatusCompleted || job.Failed != 5 {
		t.Fatalf("job %+v, %v; want completed with its 5 items failed", job, err)
	}
	if completed, _ := streamEvents(t, js, id); len(completed) != 1 {
		t.Errorf("%d completion events, want 1", len(completed))
	}
	if err := st.AcquireQueueLease(ctx, id, "next", time.Minute); err != nil {
		t.Errorf("lease of the settled job: %v, want it released", err)
	}
}

// renewCounter counts the renewals that found the lease not held.
type renewCounter struct {
	jobs.ReclaimStore
	refused atomic.Int64
}

func (s *renewCounter) RenewQueueLease(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	err := s.ReclaimStore.RenewQueueLease(ctx, jobID, owner, ttl)
	if errors.Is(err, store.ErrConflict) {
		s.refused.Add(1)
	}
	return err
}

// TestReclaimerKeepsOnlyHeldLeases: the lease of a job that was never
// created is released at once; while the reclaimer waits for the queue on
// the other jobs it claimed, it does not renew the lease it released.
func TestReclaimerKeepsOnlyHeldLeases(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{})
	ctx := testContext(t)
	items, _, at := mixedJob(t, p.st)
	waiting := jobs.Job{ID: "waiting", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
	for _, id := range []string{waiting.ID, "never-created"} {
		if err := p.st.AcquireQueueLease(ctx, id, "stopped-gateway", time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.st.CreateJob(ctx, store.Job{ID: waiting.ID, Kind: store.KindVerify, Total: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.pub.Publish(ctx, waiting, items[:3]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	st := &renewCounter{ReclaimStore: p.st}
	rec, err := jobs.NewReclaimer(p.js, st, jobs.WithQueueLease(150*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// No worker runs: the reclaimer waits for the queue until rctx ends.
	if n, err := rec.ReclaimOnce(rctx); n != 2 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReclaimOnce = %d, %v; want 2 claimed and the wait cut short", n, err)
	}
	if n := st.refused.Load(); n != 0 {
		t.Errorf("%d renewals of a lease the reclaimer no longer held", n)
	}
}

// TestReclaimerKindsDoNotWaitForEachOther: a sign job whose chunk no signer
// takes holds up only itself; an abandoned verify job claimed with it is
// settled as soon as the verifiers have passed the queue.
func TestReclaimerKindsDoNotWaitForEachOther(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{})
	ctx := testContext(t)
	if _, err := jobs.EnsureConsumer(ctx, p.js, store.KindSign, jobs.ConsumerConfig{}); err != nil {
		t.Fatal(err)
	}
	items, _, at := mixedJob(t, p.st)
	for _, j := range []struct {
		id    string
		kind  store.JobKind
		total int
	}{{"sign-waiting", store.KindSign, 3}, {"verify-abandoned", store.KindVerify, 5}} {
		if err := p.st.AcquireQueueLease(ctx, j.id, "stopped-gateway", 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := p.st.CreateJob(ctx, store.Job{ID: j.id, Kind: j.kind, Total: j.total}); err != nil {
			t.Fatal(err)
		}
	}
	// A chunk of the sign job that nobody consumes.
	if _, err := p.js.Publish(ctx, jobs.SubjectSign, []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	verify := jobs.Job{ID: "verify-abandoned", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
	if _, err := p.pub.Publish(ctx, verify, items[:2]); err != nil {
		t.Fatal(err)
	}
	p.startRunner(t, nil, nil, jobs.RunnerConfig{Concurrency: 2})
	time.Sleep(100 * time.Millisecond) // both leases have run out
	runReclaimer(t, p, 300*time.Millisecond)
	job := p.waitJob(t, verify.ID)
	if job.Done != 5 || job.Failed != 3 {
		t.Errorf("verify job %+v: want 2 verified and 3 not queued", job)
	}
	if j, err := p.st.GetJob(ctx, "sign-waiting"); err != nil || j.Status == store.StatusCompleted {
		t.Errorf("sign job %+v, %v: want it still waiting for its chunk", j, err)
	}
}
