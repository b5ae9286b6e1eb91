package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/store"
)

// A gateway that dies while it queues a job (kill -9 in the middle of a large
// upload) leaves the job's record with part of its items in the work queue:
// the job would wait for the others until it expired. In a cluster each
// gateway holds a queue lease on the jobs it is queueing (store.QueueLeases)
// and renews it as it publishes. A Reclaimer, which every cluster gateway
// runs, claims the leases that ran out. For each job it waits until the
// workers of the job's kind have passed every chunk of that kind that was in
// the queue when the lease was claimed; the items that still have no result
// then never reached the queue, and are recorded as failed, so that the job
// completes and its completion is announced.
//
// A gateway that was only stalled past its lease (stopped, cut off from the
// store) finds its lease gone at its next renewal and stops queueing; any
// chunk it published late finds its items settled already, and, results
// being recorded once, changes no counter.

// ReclaimedReason is the error of an item a Reclaimer recorded as failed.
const ReclaimedReason = "not queued: the gateway queueing this job stopped part-way; submit the item again"

// Defaults of a Reclaimer.
const (
	// DefaultQueueLease is the lifetime of a queue lease between renewals.
	DefaultQueueLease = 30 * time.Second
	// reclaimBatch is the number of leases claimed, and of failed results
	// recorded, per call.
	reclaimBatch = 1000
	// settleTimeout bounds each step of settling a job (recording a batch
	// of failed results and announcing the completion it brings, releasing
	// the lease), which a stop of the Reclaimer does not interrupt: once
	// recorded, a completion nobody announced would never be.
	settleTimeout = 30 * time.Second
)

// ReclaimStore is what a Reclaimer needs of the store.
type ReclaimStore interface {
	store.QueueLeases
	store.Announcements
	GetJob(ctx context.Context, id string) (store.Job, error)
	RecordResults(ctx context.Context, jobID string, results []store.Result) (store.Progress, error)
}

// Reclaimer settles the jobs whose queueing gateway stopped part-way; see
// the comment above. Create it with NewReclaimer, run it with Run.
type Reclaimer struct {
	js    jetstream.JetStream
	st    ReclaimStore
	owner string
	lease time.Duration
	poll  time.Duration
	log   *slog.Logger
}

// ReclaimerOption configures a Reclaimer.
type ReclaimerOption func(*Reclaimer) error

// WithQueueLease sets the lease lifetime the gateways use
// (DefaultQueueLease): the Reclaimer holds the leases it claims for as
// long, renewing them while it waits, and looks for leases that ran out a
// few times per lifetime. It must be at least 100ms.
func WithQueueLease(d time.Duration) ReclaimerOption {
	return func(r *Reclaimer) error {
		if d < 100*time.Millisecond {
			return fmt.Errorf("%w: queue lease %v under 100ms", ErrInvalidOption, d)
		}
		r.lease = d
		return nil
	}
}

// WithReclaimerLogger sets the logger (default slog.Default()).
func WithReclaimerLogger(l *slog.Logger) ReclaimerOption {
	return func(r *Reclaimer) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		r.log = l
		return nil
	}
}

// NewReclaimer returns a Reclaimer over js and st.
func NewReclaimer(js jetstream.JetStream, st ReclaimStore, opts ...ReclaimerOption) (*Reclaimer, error) {
	if js == nil || st == nil {
		return nil, fmt.Errorf("%w: nil JetStream or store", ErrInvalidOption)
	}
	owner, err := LeaseOwner("reclaimer")
	if err != nil {
		return nil, err
	}
	r := &Reclaimer{js: js, st: st, owner: owner, lease: DefaultQueueLease, log: slog.Default()}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	r.poll = min(r.lease/3, time.Second)
	return r, nil
}

// LeaseOwner returns a fresh owner token for queue leases: what, then 16
// random hex digits.
func LeaseOwner(what string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lease owner: %w", err)
	}
	return what + "-" + hex.EncodeToString(b[:]), nil
}

// Run claims and settles jobs until ctx ends, then returns nil. Errors of
// the store or of JetStream are logged and retried; leases it holds when
// ctx ends run out and are claimed again, by this process or another.
func (r *Reclaimer) Run(ctx context.Context) error {
	scan := time.NewTicker(r.lease / 3)
	defer scan.Stop()
	for {
		for ctx.Err() == nil {
			n, err := r.ReclaimOnce(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.WarnContext(ctx, "reclaiming abandoned jobs failed; retrying", "err", err)
			}
			if err != nil || n < reclaimBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-scan.C:
		}
	}
}

// ReclaimOnce claims the leases that ran out (up to a batch) and settles
// their jobs, waiting as long as the workers need to pass the queue. It
// returns the number of leases claimed.
func (r *Reclaimer) ReclaimOnce(ctx context.Context) (int, error) {
	ids, err := r.st.ClaimQueueLeases(ctx, r.owner, r.lease, reclaimBatch)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	r.log.InfoContext(ctx, "claimed the queue leases of jobs whose gateway stopped queueing them", "jobs", len(ids))
	var mu sync.Mutex
	held := ids
	stop := r.keepLeases(ctx, func() []string { mu.Lock(); defer mu.Unlock(); return held })
	defer stop()
	// done stops renewing the lease of id, then releases it. held is
	// replaced, not changed in place: the renewals may be reading it.
	done := func(id string) {
		mu.Lock()
		held = slices.DeleteFunc(slices.Clone(held), func(x string) bool { return x == id })
		mu.Unlock()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
		defer cancel()
		r.release(rctx, id)
	}

	// Group the jobs by kind: each kind waits for the last chunk of its
	// kind in the queue once the leases are claimed, at or below which is
	// every chunk the stopped gateways published.
	byKind := make(map[store.JobKind][]store.Job)
	for _, id := range ids {
		job, err := r.st.GetJob(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound), err == nil && job.Status == store.StatusCompleted:
			// Never created (the gateway stopped before), expired, or
			// finished after all.
			done(id)
			continue
		case err != nil:
			return len(ids), fmt.Errorf("reclaim job %s: %w", id, err)
		}
		byKind[job.Kind] = append(byKind[job.Kind], job)
	}
	// Kinds wait for their own consumers side by side: a backlog of one
	// kind (or a kind no worker consumes yet) holds up only its own jobs.
	var (
		errMu sync.Mutex
		errs  []error
		wg    sync.WaitGroup
	)
	fail := func(err error) { errMu.Lock(); errs = append(errs, err); errMu.Unlock() }
	for kind, list := range byKind {
		wg.Go(func() {
			if err := r.waitPassed(ctx, kind); err != nil {
				fail(fmt.Errorf("reclaim %s jobs: %w", kind, err))
				return
			}
			for _, job := range list {
				if err := r.settle(ctx, job); err != nil {
					fail(err)
					continue
				}
				done(job.ID)
			}
		})
	}
	wg.Wait()
	return len(ids), errors.Join(errs...)
}

// keepLeases renews the leases held() returns every third of a lease until
// the returned function is called.
func (r *Reclaimer) keepLeases(ctx context.Context, held func() []string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, id := range held() {
				if err := r.st.RenewQueueLease(ctx, id, r.owner, r.lease); err != nil && ctx.Err() == nil {
					r.log.WarnContext(ctx, "renewing a reclaimed job's lease failed", "job", id, "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// waitPassed waits until the workers of kind have passed the last chunk of
// kind in the queue now.
func (r *Reclaimer) waitPassed(ctx context.Context, kind store.JobKind) error {
	subject, err := SubjectFor(kind)
	if err != nil {
		return err
	}
	stream, err := r.js.Stream(ctx, StreamJobs)
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamJobs, err)
	}
	last, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // nothing of kind in the queue
	}
	if err != nil {
		return fmt.Errorf("last %s chunk: %w", kind, err)
	}
	for {
		passed, err := QueuePassed(ctx, r.js, last.Sequence, kind)
		if err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "reading the work queue's progress failed", "err", err)
		}
		if passed {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.poll):
		}
	}
}

// settle records every item of job that has no result as failed
// (SettleItems) and logs what it did.
func (r *Reclaimer) settle(ctx context.Context, job store.Job) error {
	failed, err := SettleItems(ctx, r.js, r.st, job.ID, job.Total, ReclaimedReason)
	if err != nil {
		return err
	}
	r.log.WarnContext(ctx, "settled a job whose gateway stopped queueing it", "job", job.ID, "kind", job.Kind,
		"total", job.Total, "notQueued", failed)
	return nil
}

// ResultRecorder is what SettleItems needs of the store.
type ResultRecorder interface {
	RecordResults(ctx context.Context, jobID string, results []store.Result) (store.Progress, error)
	store.Announcements
}

// SettleItems records every item of job jobID, of total items, that has no
// result as failed with reason (the results recorded first stand), and
// announces the job's completion when that completes it (or, when NATS
// does not take it, adds the job to the store's outbox for an Announcer);
// it returns the number of results it recorded. It works in batches, each
// recorded and announced on a context of its own bounded by settleTimeout:
// when ctx ends it stops between batches, never between the recording that
// completes the job and its announcement (once recorded, a completion
// nobody announced would never be). A job no longer in the store (expired)
// is nil.
func SettleItems(ctx context.Context, js jetstream.JetStream, st ResultRecorder, jobID string, total int, reason string) (int, error) {
	recorded := 0
	for lo := 0; lo < total; lo += reclaimBatch {
		if err := ctx.Err(); err != nil {
			return recorded, fmt.Errorf("settle job %s: %w", jobID, err)
		}
		n, err := recordBatch(ctx, js, st, jobID, FailedResults(lo, min(lo+reclaimBatch, total), reason))
		if errors.Is(err, store.ErrNotFound) {
			return recorded, nil
		}
		if err != nil {
			return recorded, fmt.Errorf("settle job %s: %w", jobID, err)
		}
		recorded += n
	}
	return recorded, nil
}

// FailedResults returns a failed result saying reason for each index from
// lo up to hi.
func FailedResults(lo, hi int, reason string) []store.Result {
	results := make([]store.Result, 0, max(hi-lo, 0))
	for i := lo; i < hi; i++ {
		results = append(results, store.Result{Index: i, Error: reason})
	}
	return results
}

// recordBatch records results of job jobID and, when that completes the
// job, announces it; both on a context of their own, which ctx ending does
// not cut short.
func recordBatch(ctx context.Context, js jetstream.JetStream, st ResultRecorder, jobID string, results []store.Result) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	prog, err := st.RecordResults(ctx, jobID, results)
	if err != nil {
		return 0, err
	}
	if prog.Completed {
		if _, err := AnnounceOrDefer(ctx, js, st, prog.Job); err != nil {
			return prog.Recorded, fmt.Errorf("announce completion: %w", err)
		}
	}
	return prog.Recorded, nil
}

func (r *Reclaimer) release(ctx context.Context, id string) {
	err := r.st.ReleaseQueueLease(ctx, id, r.owner)
	switch {
	case errors.Is(err, store.ErrConflict):
		// It ran out while this reclaimer worked, and another claimed
		// it: that one finds the job settled.
		r.log.DebugContext(ctx, "a reclaimed job's lease was claimed again before its release", "job", id)
	case err != nil && ctx.Err() == nil:
		r.log.WarnContext(ctx, "releasing a reclaimed job's lease failed", "job", id, "err", err)
	}
}

// QueuePassed reports whether the consumer of each kind has nothing left up
// to the stream sequence seq: nothing pending at all, or its acknowledgement
// floor at seq or beyond.
func QueuePassed(ctx context.Context, js jetstream.JetStream, seq uint64, kinds ...store.JobKind) (bool, error) {
	if seq == 0 {
		return true, nil
	}
	for _, kind := range kinds {
		name, err := ConsumerName(kind)
		if err != nil {
			return false, err
		}
		c, err := js.Consumer(ctx, StreamJobs, name)
		if err != nil {
			return false, fmt.Errorf("consumer %s: %w", name, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return false, fmt.Errorf("consumer %s: %w", name, err)
		}
		if (info.NumPending > 0 || info.NumAckPending > 0) && info.AckFloor.Stream < seq {
			return false, nil
		}
	}
	return true, nil
}
