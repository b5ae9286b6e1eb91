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

// outageJobs is a real job store that can be taken away: while down, every
// call fails as a store that cannot be reached does.
type outageJobs struct {
	store.Jobs
	down  atomic.Bool
	calls atomic.Int64 // calls made while down
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (o *outageJobs) fail() bool {
	if o.down.Load() {
		o.calls.Add(1)
		return true
	}
	return false
}

func (o *outageJobs) CreateJob(ctx context.Context, job store.Job) error {
	if o.fail() {
		return errUnreachable
	}
	return o.Jobs.CreateJob(ctx, job)
}

func (o *outageJobs) GetJob(ctx context.Context, id string) (store.Job, error) {
	if o.fail() {
		return store.Job{}, errUnreachable
	}
	return o.Jobs.GetJob(ctx, id)
}

func (o *outageJobs) RecordResults(ctx context.Context, jobID string, results []store.Result) (store.Progress, error) {
	if o.fail() {
		return store.Progress{}, errUnreachable
	}
	return o.Jobs.RecordResults(ctx, jobID, results)
}

func (o *outageJobs) Results(ctx context.Context, jobID string, offset, limit int) ([]store.Result, int, error) {
	if o.fail() {
		return nil, 0, errUnreachable
	}
	return o.Jobs.Results(ctx, jobID, offset, limit)
}

// TestRunnerStoreOutageOutlastsDeliveries: a store outage longer than the
// consumer's deliveries take (MaxDeliver × the retry delays) must not use
// them up. Before, every chunk was fetched, failed and handed back again
// and again while the store was away, reached its last delivery, could not
// even have its failures recorded and became a dead letter: the job stayed
// short of its total for good. Now a runner that finds its store unreachable
// stops fetching until the store answers again, and the job completes with
// the verdicts it would have had without the outage.
func TestRunnerStoreOutageOutlastsDeliveries(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			const maxDeliver = 3
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{MaxDeliver: maxDeliver}, jobs.WithChunkItems(10))
			items, want, at := mixedJob(t, p.st)
			job := jobs.Job{ID: "outage", Kind: store.KindVerify, At: at.Format(time.RFC3339Nano)}
			p.submit(t, job, items)

			st := &outageJobs{Jobs: p.st}
			st.down.Store(true)
			p.startRunner(t, st, nil, jobs.RunnerConfig{Concurrency: 2, NoDeadLetters: true})
			// Long enough for every chunk to have been delivered
			// maxDeliver times over, were the runner still fetching.
			time.Sleep(3 * time.Second)
			if st.calls.Load() == 0 {
				t.Fatal("the runner never reached the store during the outage")
			}
			st.down.Store(false)

			ctx := testContext(t)
			deadline := time.Now().Add(20 * time.Second)
			var got store.Job
			for {
				var err error
				got, err = p.st.GetJob(ctx, job.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status == store.StatusCompleted {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("job not completed %v after the store came back: %+v", 20*time.Second, got)
				}
				time.Sleep(20 * time.Millisecond)
			}
			valid, invalid, failed := checkResults(t, items, p.results(t, job.ID), want)
			if got.Done != len(items) || got.Valid != valid || got.Invalid != invalid || got.Failed != failed {
				t.Errorf("job = %+v, want done %d valid %d invalid %d failed %d", got, len(items), valid, invalid, failed)
			}
			completed, _ := streamEvents(t, p.js, job.ID)
			if len(completed) != 1 {
				t.Errorf("%d completion events, want 1", len(completed))
			}
		})
	}
}
