package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
)

// A process that dies while its gateway queues a job (kill -9 in the middle
// of a large upload) leaves the job's record with only part of its items in
// the work queue: the job would wait for the others until it expired. The
// gateway marks each job it is queueing with a file in DIR/queueing
// (gateway.Config.QueueingDir). At start, the files left name the jobs
// whose queueing was interrupted; once the workers have passed every chunk
// that was in the queue at start, the items of those jobs that still have
// no result were never queued, and are recorded as failed so that the jobs
// complete. The all-in-one alone publishes to its queue, so no chunk of
// those jobs can arrive later.

// interruptedReason is the error of an item whose queueing was interrupted.
const interruptedReason = "not queued: the all-in-one stopped while this job was being queued; submit the item again"

// settleRetry is how often settling polls the queue and retries a failure.
const settleRetry = time.Second

// interruptedJobs returns the job IDs marked in dir, creating dir if need
// be. Files that cannot name a job are removed.
func interruptedJobs(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if store.CheckID("job", e.Name()) != nil || !e.Type().IsRegular() {
			os.RemoveAll(filepath.Join(dir, e.Name()))
			continue
		}
		ids = append(ids, e.Name())
	}
	return ids, nil
}

// settleInterrupted waits until the workers have passed lastSeq, the last
// chunk in the queue at start, then records the items of the jobs ids that
// have no result as failed and removes their marks from dir. It returns
// early when ctx ends (the marks stay, for the next start).
func (in *Instance) settleInterrupted(ctx context.Context, js jetstream.JetStream, st *sqlitestore.Store, dir string, ids []string, lastSeq uint64) {
	for {
		passed, err := jobs.QueuePassed(ctx, js, lastSeq, store.KindVerify, store.KindSign)
		if err != nil && ctx.Err() == nil {
			in.log.Warn("reading the work queue's progress failed", "err", err)
		}
		if passed {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(settleRetry):
		}
	}
	for _, id := range ids {
		for {
			err := settleJob(ctx, js, st, id)
			if err == nil {
				if err := os.Remove(filepath.Join(dir, id)); err != nil {
					in.log.Warn("removing the mark of a settled job failed", "job", id, "err", err)
				}
				break
			}
			if ctx.Err() != nil {
				return
			}
			in.log.Warn("settling a job whose queueing was interrupted failed; retrying", "job", id, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(settleRetry):
			}
		}
	}
}

// settleJob records the items of job id that have no result as failed.
func settleJob(ctx context.Context, js jetstream.JetStream, st *sqlitestore.Store, id string) error {
	job, err := st.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil // never created, or expired
	}
	if err != nil {
		return err
	}
	_, err = jobs.SettleItems(ctx, js, st, id, job.Total, interruptedReason)
	return err
}
