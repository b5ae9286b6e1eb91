package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// waiters wakes requests waiting for a job when its completion event
// arrives. Events travel on core NATS, which may drop a message, so a waiter
// also polls the store (see waitJob): the event only makes the answer fast.
type waiters struct {
	mu sync.Mutex
	m  map[string]map[chan *completion]struct{}
}

// completion is what a completion event tells a waiter: the job, and all its
// results when the event carried them (small jobs; see jobs.Event).
type completion struct {
	job     store.Job
	results []store.Result // nil when the event had none
}

func newWaiters() *waiters {
	return &waiters{m: make(map[string]map[chan *completion]struct{})}
}

// add registers interest in jobID; call the returned function to deregister.
// The channel receives the job as the completion event reported it (nil if
// the event could not be decoded).
func (w *waiters) add(jobID string) (<-chan *completion, func()) {
	ch := make(chan *completion, 1)
	w.mu.Lock()
	set := w.m[jobID]
	if set == nil {
		set = make(map[chan *completion]struct{})
		w.m[jobID] = set
	}
	set[ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(set, ch)
		// set is still w.m[jobID]: a set leaves the map only once empty.
		if len(set) == 0 {
			delete(w.m, jobID)
		}
		w.mu.Unlock()
	}
}

// notify wakes every waiter of jobID without blocking, handing it the job
// from the event payload. The payload is decoded only when someone waits.
func (w *waiters) notify(jobID string, payload []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	set := w.m[jobID]
	if len(set) == 0 {
		return
	}
	var done *completion
	var ev jobs.Event
	if err := json.Unmarshal(payload, &ev); err == nil && ev.Type == jobs.EventJobCompleted && ev.Job != nil && ev.Job.ID == jobID {
		done = &completion{job: *ev.Job}
		if completeResults(ev.Job, ev.Results) {
			done.results = ev.Results
		}
	}
	for ch := range set {
		select {
		case ch <- done:
		default:
		}
	}
}

// len returns the number of jobs with waiters (for tests).
func (w *waiters) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}

// Poll intervals of waitJob: the first poll comes soon (a lost event should
// cost little), later ones back off.
const (
	firstPoll = 50 * time.Millisecond
	maxPoll   = time.Second
)

// completeResults reports whether results are every result of job, in index
// order.
func completeResults(job *store.Job, results []store.Result) bool {
	if job.Status != store.StatusCompleted || len(results) != job.Total || job.Total == 0 {
		return false
	}
	for i := range results {
		if results[i].Index != i {
			return false
		}
	}
	return true
}

// waitJob waits until the job completes, at most d, and returns its latest
// state (completed or not) and, when the completion event carried them, all
// its results. It returns early, as at the deadline, once StopWaiting is
// called. wake delivers the completion event's job; the store is read
// only when the event carried none, on poll ticks and at the deadline.
func (s *Server) waitJob(ctx context.Context, jobID string, wake <-chan *completion, d time.Duration) (store.Job, []store.Result, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := firstPoll
	tick := time.NewTimer(poll)
	defer tick.Stop()
	for {
		select {
		case c := <-wake:
			if c != nil && c.job.Status == store.StatusCompleted {
				return c.job, c.results, nil
			}
		case <-tick.C:
			poll = min(2*poll, maxPoll)
			tick.Reset(poll)
		case <-deadline.C:
			job, err := s.getJob(ctx, jobID)
			return job, nil, err
		case <-s.stopWait:
			// Shutting down: answer now, as at the deadline.
			job, err := s.getJob(ctx, jobID)
			return job, nil, err
		case <-ctx.Done():
			return store.Job{}, nil, fmt.Errorf("wait for job %s: %w", jobID, ctx.Err())
		}
		job, err := s.getJob(ctx, jobID)
		if err != nil {
			return job, nil, err
		}
		if job.Status == store.StatusCompleted {
			return job, nil, nil
		}
	}
}

func (s *Server) getJob(ctx context.Context, jobID string) (store.Job, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	job, err := s.store.GetJob(ctx, jobID)
	if err != nil {
		return job, fmt.Errorf("get job %s: %w", jobID, err)
	}
	return job, nil
}
