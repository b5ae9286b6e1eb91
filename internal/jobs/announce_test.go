package jobs_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// completeJob creates job id of total items and records them all, as
// valid: the returned job is completed.
func completeJob(t *testing.T, st store.Store, id string, total int) store.Job {
	t.Helper()
	ctx := testContext(t)
	if err := st.CreateJob(ctx, store.Job{ID: id, Kind: store.KindVerify, Total: total}); err != nil {
		t.Fatal(err)
	}
	results := make([]store.Result, total)
	for i := range results {
		results[i] = store.Result{Index: i, Valid: true}
	}
	prog, err := st.RecordResults(ctx, id, results)
	if err != nil || !prog.Completed {
		t.Fatalf("record %s: %+v, %v", id, prog, err)
	}
	return prog.Job
}

// runAnnouncer runs an Announcer polling every 50ms until the test ends.
func runAnnouncer(t *testing.T, p *pipeline) {
	t.Helper()
	a, err := jobs.NewAnnouncer(p.js, p.st, jobs.WithAnnounceInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Announcer.Run: %v", err)
		}
	})
}

// outbox returns the store's deferred announcements.
func outbox(t *testing.T, st store.Store) []string {
	t.Helper()
	ids, err := st.DeferredAnnouncements(testContext(t), store.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestDeferredAnnouncement: a completion the events stream does not take
// goes to the store's outbox, and an Announcer publishes it once the
// stream is back; jobs of the outbox that expired or are not completed are
// dropped unannounced.
func TestDeferredAnnouncement(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{})
			ctx := testContext(t)
			job := completeJob(t, p.st, "deferred", 3)
			if err := p.js.DeleteStream(ctx, jobs.StreamEvents); err != nil {
				t.Fatal(err)
			}
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			deferred, err := jobs.AnnounceOrDefer(actx, p.js, p.st, job)
			cancel()
			if err != nil || !deferred {
				t.Fatalf("AnnounceOrDefer without the events stream = %v, %v; want deferred", deferred, err)
			}
			// Two that are dropped unannounced: a job never created (or
			// expired) and one still running.
			if err := p.st.CreateJob(ctx, store.Job{ID: "running", Kind: store.KindVerify, Total: 2}); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"gone", "running"} {
				if err := p.st.DeferAnnouncement(ctx, id); err != nil {
					t.Fatal(err)
				}
			}

			runAnnouncer(t, p)
			time.Sleep(300 * time.Millisecond)
			if got := outbox(t, p.st); !slices.Equal(got, []string{"deferred", "gone", "running"}) {
				t.Fatalf("outbox while the stream is missing = %q, want all three kept", got)
			}
			if err := jobs.EnsureStreams(ctx, p.js, jobs.StreamConfig{}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return len(outbox(t, p.st)) == 0 })
			completed, _ := streamEvents(t, p.js, "deferred")
			if len(completed) != 1 || completed[0].Job == nil || completed[0].Job.Done != 3 || completed[0].Job.Status != store.StatusCompleted {
				t.Errorf("completion events of the deferred job: %+v, want one, completed with 3 done", completed)
			}
			for _, id := range []string{"gone", "running"} {
				if completed, _ := streamEvents(t, p.js, id); len(completed) != 0 {
					t.Errorf("job %s announced: %+v", id, completed)
				}
			}
		})
	}
}

// TestRunnerDefersCompletionOnLastDelivery: a worker that cannot publish a
// job's completion on the chunk's last delivery keeps it in the outbox
// rather than acknowledging without it.
func TestRunnerDefersCompletionOnLastDelivery(t *testing.T) {
	p := newPipelineWith(t, newSQLiteStore(t), jobs.ConsumerConfig{MaxDeliver: 1})
	ctx := testContext(t)
	items, _, at := mixedJob(t, p.st)
	if err := p.js.DeleteStream(ctx, jobs.StreamEvents); err != nil {
		t.Fatal(err)
	}
	p.submit(t, jobs.Job{ID: "last", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}, items[:5])
	p.startRunner(t, nil, nil, jobs.RunnerConfig{Concurrency: 1})
	job := p.waitJob(t, "last")
	if job.Done != 5 {
		t.Fatalf("job %+v", job)
	}
	waitFor(t, func() bool { return slices.Equal(outbox(t, p.st), []string{"last"}) })

	if err := jobs.EnsureStreams(ctx, p.js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	runAnnouncer(t, p)
	waitFor(t, func() bool { return len(outbox(t, p.st)) == 0 })
	if completed, _ := streamEvents(t, p.js, "last"); len(completed) != 1 || completed[0].Job.Done != 5 {
		t.Errorf("completion events: %+v, want one", completed)
	}
}

func TestNewAnnouncerRejectsBadOptions(t *testing.T) {
	p := newPipeline(t, jobs.ConsumerConfig{})
	for _, opt := range []jobs.AnnouncerOption{jobs.WithAnnounceInterval(0), jobs.WithAnnouncerLogger(nil)} {
		if _, err := jobs.NewAnnouncer(p.js, p.st, opt); !errors.Is(err, jobs.ErrInvalidOption) {
			t.Errorf("NewAnnouncer: %v, want ErrInvalidOption", err)
		}
	}
	if _, err := jobs.NewAnnouncer(nil, p.st); !errors.Is(err, jobs.ErrInvalidOption) {
		t.Errorf("NewAnnouncer(nil JetStream): %v", err)
	}
}
