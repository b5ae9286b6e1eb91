package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// queueTimeout bounds creating and publishing a job once validation passed.
// Queueing runs detached from the request's context, so a client that hangs
// up mid-way cannot leave a job half-queued.
const queueTimeout = 2 * time.Minute

// jobView is a job as the API shows it: every member present,
// "completedAt" null until the job completes.
type jobView struct {
	store.Job
	CompletedAt *time.Time `json:"completedAt"` // hides store.Job's
}

func viewJob(j store.Job) jobView {
	v := jobView{Job: j}
	if !j.CompletedAt.IsZero() {
		v.CompletedAt = &j.CompletedAt
	}
	return v
}

// submitted is the answer to a queued job (202).
type submitted struct {
	jobView
	Links links `json:"links"`
}

// completedAnswer is the answer to a job that ?wait saw complete (200): the
// job with its first page of results, shaped as GET …/results shows them.
type completedAnswer struct {
	jobView
	Items []resultView `json:"items"`
	// Next is the offset of the next page of results when Items does not
	// hold them all, null otherwise.
	Next  *int  `json:"next"`
	Links links `json:"links"`
}

type links struct {
	Self    string `json:"self"`
	Results string `json:"results"`
}

func jobLinks(id string) links {
	return links{Self: "/v1/jobs/" + id, Results: "/v1/jobs/" + id + "/results"}
}

// newJobID returns a random job ID: 32 lower-case hex characters.
func newJobID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// handleVerify is POST /v1/verify.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r, "wait", "at", "chain")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wait, err := parseWait(q, s.lim.MaxWait)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	at, err := parseAtParam(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	chain, err := boolParam(q, "chain")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	mediaType := "application/json"
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mediaType, _, err = mime.ParseMediaType(ct); err != nil {
			s.fail(w, r, fieldError(ErrUnsupportedMedia, "Content-Type", "malformed Content-Type %q", ct))
			return
		}
	}
	switch {
	case mediaType == "application/json":
		s.verifyJSON(w, r, at, chain, wait)
	case isNDJSON(mediaType):
		s.verifyNDJSON(w, r, at, chain, wait)
	default:
		s.fail(w, r, fieldError(ErrUnsupportedMedia, "Content-Type", "unsupported %q: send application/json or application/x-ndjson", mediaType))
	}
}

// isNDJSON reports whether mediaType is one of the names of NDJSON that
// POST /v1/verify takes as an upload.
func isNDJSON(mediaType string) bool {
	switch mediaType {
	case "application/x-ndjson", "application/jsonl", "application/jsonlines":
		return true
	}
	return false
}

// verifyJSON validates a whole JSON request, then queues it. chain is
// ?chain=true; the body's "chain": true has the same effect.
func (s *Server) verifyJSON(w http.ResponseWriter, r *http.Request, at string, chain bool, wait time.Duration) {
	req, err := parseVerifyJSON(http.MaxBytesReader(w, r.Body, s.lim.MaxBodyBytes), s.lim)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.At != "" {
		if at != "" {
			s.fail(w, r, fieldError(ErrInvalidParameter, "at", "given both in the body and as ?at="))
			return
		}
		at = req.At
	}
	feed := func(ctx context.Context, cw *jobs.ChunkWriter) error {
		// parseVerifyJSON checked every document's syntax.
		for _, it := range req.Items {
			if err := cw.AddValidated(ctx, jobs.Item{Ref: it.Ref, Document: it.Document, DocumentID: it.DocumentID}); err != nil {
				return err
			}
		}
		return nil
	}
	s.queueAndAnswer(w, r, jobs.Job{Kind: store.KindVerify, At: at, Chain: chain || req.Chain}, len(req.Items), wait, feed)
}

// queueAndAnswer creates a job of spec's kind and options (its ID is
// generated here), publishes its items through feed and answers 202, or 200
// with the results when ?wait saw the job complete.
func (s *Server) queueAndAnswer(w http.ResponseWriter, r *http.Request, spec jobs.Job, total int, wait time.Duration, feed func(context.Context, *jobs.ChunkWriter) error) {
	jobID := newJobID()
	spec.ID = jobID
	var wake <-chan *completion
	if wait > 0 {
		var done func()
		wake, done = s.waiters.add(jobID) // before the job exists: no event can be missed
		defer done()
	}
	job, err := s.queue(r.Context(), spec, total, feed)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// From here on the job is queued: whatever goes wrong while waiting for
	// it, the client gets its ID (202), never an error that would read as
	// "not queued" and invite a second submission.
	if wait > 0 {
		latest, results, err := s.waitJob(r.Context(), jobID, wake, wait)
		switch {
		case err != nil && r.Context().Err() != nil:
			// The client left: nobody reads the answer.
			s.log.DebugContext(r.Context(), "client left while waiting for its job", "job", jobID)
		case err != nil:
			s.log.WarnContext(r.Context(), "waiting for a queued job failed; answering 202", "job", jobID, "err", err)
		case latest.Status == store.StatusCompleted:
			if s.answerCompleted(w, r, latest, results) {
				return
			}
			job = latest
		default:
			job = latest
		}
	}
	s.answerQueued(w, job)
}

// answerQueued writes the 202 answer of a queued job.
func (s *Server) answerQueued(w http.ResponseWriter, job store.Job) {
	w.Header().Set("Location", "/v1/jobs/"+job.ID)
	writeJSON(w, http.StatusAccepted, submitted{jobView: viewJob(job), Links: jobLinks(job.ID)})
}

// queue creates the record of the job spec describes (its ID, kind and
// chunk options), then publishes its items. Both happen on a context
// detached from the request, so that once validation has passed the job is
// queued completely or the error is reported.
func (s *Server) queue(reqCtx context.Context, spec jobs.Job, total int, feed func(context.Context, *jobs.ChunkWriter) error) (store.Job, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(reqCtx), queueTimeout)
	defer cancel()
	start := time.Now()
	jobID := spec.ID
	// The record as the store keeps it (CreatedAt in UTC), so that the 202
	// answer and GET /v1/jobs/{id} agree.
	job, err := store.NewJob(store.Job{ID: jobID, Kind: spec.Kind, Total: total}, s.now())
	if err != nil {
		return job, fmt.Errorf("queue job %s: %w: %w", jobID, err, ErrInternal)
	}
	// The writer checks the job's options: one the publisher refuses must
	// fail the request before a job record exists, not leave a record whose
	// items can never be queued.
	cw, err := s.pub.NewChunkWriter(spec)
	if err != nil {
		return job, fmt.Errorf("queue job %s: %w: %w", jobID, err, ErrInternal)
	}
	if !s.nc.IsConnected() {
		// Fail before creating a job that could not be queued.
		return job, s.unavailable(reqCtx, fmt.Errorf("queue job %s: NATS %s", jobID, s.nc.Status()))
	}
	ctx, mark, err := s.holdQueueing(ctx, jobID)
	if err != nil {
		return job, err
	}
	if err := s.store.CreateJob(ctx, job); err != nil {
		mark(true)
		return job, s.unavailable(reqCtx, fmt.Errorf("create job %s: %w", jobID, err))
	}
	// abandon settles a job whose queueing failed after queued items
	// (unqueued); its mark stays when that could not record the rest.
	abandon := func(queued int, err error) (store.Job, error) {
		if errors.Is(context.Cause(ctx), errLeaseLost) {
			err = &Error{Err: ErrUnavailable, Message: msgLeaseLost}
		}
		settled, err := s.unqueued(reqCtx, job, queued, err)
		mark(settled)
		return job, err
	}
	if err := feed(ctx, cw); err != nil {
		cw.Abort()
		return abandon(cw.Queued(), fmt.Errorf("queue job %s: %w", jobID, err))
	}
	stats, err := cw.Close(ctx)
	if err != nil {
		return abandon(cw.Queued(), fmt.Errorf("queue job %s: %w", jobID, err))
	}
	if stats.Items != total {
		return abandon(min(stats.Items, total), fmt.Errorf("queue job %s: published %d items of %d: %w", jobID, stats.Items, total, ErrInternal))
	}
	if lost := mark(true); lost {
		// Every item reached the queue, but not all before the lease was
		// taken: the reclaimer records those published after its claim
		// as not queued.
		return job, &Error{Err: ErrUnavailable, Message: msgLeaseLost, JobID: jobID}
	}
	s.log.DebugContext(reqCtx, "job queued", "job", jobID, "kind", spec.Kind, "items", stats.Items, "chunks", stats.Chunks,
		"staged", stats.Staged, "duration", time.Since(start))
	job.Status = store.StatusQueued
	return job, nil
}

// unqueued handles a job whose record exists but whose items from queued
// on may not have been published (the queue filled up, NATS went away, a
// bug): those items are recorded as failed, so that the job completes with
// the items that did reach the queue instead of waiting for the others
// forever, and the error returned names the job. A failed item that was
// queued after all keeps whichever result is recorded first.
//
// settled reports whether every item is now queued or recorded: when it is
// false, the job will not complete unless someone records the rest.
func (s *Server) unqueued(reqCtx context.Context, job store.Job, queued int, err error) (settled bool, _ error) {
	s.log.ErrorContext(reqCtx, "queueing failed part-way", "job", job.ID, "queued", queued, "total", job.Total, "err", err)
	var apiErr *Error
	msg := queueFailure(err)
	if errors.As(err, &apiErr) {
		msg = apiErr.Message
	}
	// On a context of its own: publishing may have failed because the
	// queueing context ran out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(reqCtx), unqueuedTimeout)
	defer cancel()
	reason := "not queued: " + msg
	settled = true
	for lo := queued; lo < job.Total; lo += unqueuedBatch {
		results := jobs.FailedResults(lo, min(lo+unqueuedBatch, job.Total), reason)
		var prog store.Progress
		var rerr error
		for attempt := 1; attempt <= 3; attempt++ {
			if prog, rerr = s.store.RecordResults(ctx, job.ID, results); rerr == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		if rerr != nil {
			s.log.ErrorContext(reqCtx, "recording the unqueued items as failed failed; the job will not complete", "job", job.ID, "err", rerr)
			settled = false
			break
		}
		if prog.Completed {
			// The workers were done with the queued items: this call
			// completed the job, and nobody else will announce it. The
			// wait for the stream's acknowledgement is short: queueing
			// failed, most likely because NATS does not answer, and the
			// client is waiting for the 503; a completion NATS does not
			// take in time goes to the store's outbox, and a gateway's
			// jobs.Announcer publishes it once NATS answers.
			actx, acancel := context.WithTimeout(ctx, announceTimeout)
			deferred, aerr := jobs.AnnounceOrDefer(actx, s.js, s.store, prog.Job)
			acancel()
			switch {
			case aerr != nil:
				s.log.ErrorContext(reqCtx, "announcing the completion of a partly queued job failed", "job", job.ID, "err", aerr)
			case deferred:
				s.log.WarnContext(reqCtx, "NATS did not take the completion of a partly queued job; it is announced once it does", "job", job.ID)
			}
		}
	}
	status, _ := statusAndCode(err)
	if apiErr == nil || status >= 500 {
		apiErr = &Error{Err: ErrUnavailable}
	}
	switch {
	case !settled:
		msg = fmt.Sprintf("%s (job %s: items from %d on may not have been queued)", msg, job.ID, queued)
	case queued > 0:
		msg = fmt.Sprintf("%s (items 0 to %d of job %s were queued; the other %d are recorded as failed)", msg, queued-1, job.ID, job.Total-queued)
	}
	return settled, &Error{Err: apiErr.Err, Field: apiErr.Field, Message: msg, JobID: job.ID}
}

// holdQueueing marks jobID as being queued, until the returned function is
// called with done true once its queueing has settled (every item queued or
// recorded as failed); with done false the mark stays, for the job to be
// settled by whoever finds it. The function reports whether the queue lease
// was found taken, by a renewal or, when done is true, by the release that
// the store refuses: the items published meanwhile may then be settled as
// not queued by a reclaimer.
//
// With a QueueingDir the mark is a file there, which the all-in-one's next
// start settles. Otherwise it is a queue lease in the store, renewed while
// the job is queued; the context returned ends, with errLeaseLost as its
// cause, when the lease is found taken by a jobs.Reclaimer (this gateway
// stalled past it), and queueing must stop.
func (s *Server) holdQueueing(ctx context.Context, jobID string) (context.Context, func(done bool) (lost bool), error) {
	if s.queueing != "" {
		mark, err := s.markQueueing(jobID)
		if err != nil {
			return ctx, nil, err
		}
		return ctx, func(done bool) bool { mark(done); return false }, nil
	}
	owner, err := jobs.LeaseOwner("gateway")
	if err == nil {
		err = s.store.AcquireQueueLease(ctx, jobID, owner, s.lease)
	}
	if err != nil {
		s.log.Error("taking the queue lease of a job failed", "job", jobID, "err", err)
		return ctx, nil, &Error{Err: ErrUnavailable, Message: msgNotQueued}
	}
	lctx, cancel := context.WithCancelCause(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		// Every third of the lease; after a failed renewal, every tenth,
		// so that a store slow for a while does not let the lease run out.
		t := time.NewTimer(s.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
			err := s.store.RenewQueueLease(lctx, jobID, owner, s.lease)
			switch {
			case errors.Is(err, store.ErrConflict):
				s.log.Error(logLeaseTaken, "job", jobID, "lease", s.lease)
				cancel(errLeaseLost)
				return
			case err != nil && lctx.Err() == nil:
				s.log.Warn("renewing the queue lease of a job failed; retrying", "job", jobID, "err", err)
				t.Reset(s.lease / 10)
			default:
				t.Reset(s.lease / 3)
			}
		}
	}()
	return lctx, func(done bool) bool {
		cancel(nil)
		<-stopped
		if errors.Is(context.Cause(lctx), errLeaseLost) {
			return true
		}
		if !done {
			return false
		}
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), unqueuedTimeout)
		defer rcancel()
		// The renewals are periodic: the lease may have been taken since
		// the last one. The release, refused then, tells.
		err := s.store.ReleaseQueueLease(rctx, jobID, owner)
		switch {
		case errors.Is(err, store.ErrConflict):
			s.log.Error(logLeaseTaken, "job", jobID, "lease", s.lease)
			return true
		case err != nil:
			s.log.Warn("releasing the queue lease of a queued job failed; a reclaimer will find it settled", "job", jobID, "err", err)
		}
		return false
	}, nil
}

// errLeaseLost is the cause of a queueing context whose lease was taken.
var errLeaseLost = errors.New("queue lease taken")

// logLeaseTaken is the log message of a gateway that finds its queue lease
// taken.
const logLeaseTaken = "the queue lease of a job being queued was taken: this gateway stalled past it, and another settles the job"

// markQueueing creates the QueueingDir file of jobID and returns the
// function that removes it once the job's queueing has settled (done
// true); with done false the file stays, for the next start to settle the
// job.
func (s *Server) markQueueing(jobID string) (func(done bool), error) {
	path := filepath.Join(s.queueing, jobID)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		s.log.Error("marking a job as being queued failed", "job", jobID, "err", err)
		return nil, &Error{Err: ErrUnavailable, Message: msgNotQueued}
	}
	return func(done bool) {
		if !done {
			return
		}
		if err := os.Remove(path); err != nil {
			s.log.Warn("removing the mark of a queued job failed", "job", jobID, "err", err)
		}
	}, nil
}

// unqueuedTimeout bounds recording the unqueued items of a job as failed.
const unqueuedTimeout = 30 * time.Second

// announceTimeout bounds the wait for the acknowledgement of the completion
// event of a job that unqueued completed.
const announceTimeout = 2 * time.Second

// unqueuedBatch is the number of failed results recorded per call by
// unqueued.
const unqueuedBatch = 1000

// unavailable logs err and returns the client-facing 503.
func (s *Server) unavailable(ctx context.Context, err error) error {
	s.log.ErrorContext(ctx, "queueing failed", "err", err)
	return &Error{Err: ErrUnavailable, Message: queueFailure(err)}
}

// Messages of a job that could not be queued.
const (
	msgNotQueued = "the job could not be queued; retry later"
	msgQueueFull = "the job queue is full; retry later"
	msgLeaseLost = "queueing stalled past its lease and the job was settled without its remaining items; retry them"
)

// queueFailure is the client's message for a queueing error.
func queueFailure(err error) string {
	if errors.Is(err, jobs.ErrQueueFull) {
		return msgQueueFull
	}
	return msgNotQueued
}

// answerCompleted writes a completed job with its first page of results:
// all is every result of the job when the completion event carried them
// (nil otherwise: they are read from the store). It reports false, having
// written nothing, when the results cannot be read.
func (s *Server) answerCompleted(w http.ResponseWriter, r *http.Request, job store.Job, all []store.Result) bool {
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	limit := min(max(job.Total, 1), s.lim.MaxPageSize)
	var items []store.Result
	var next int
	if all != nil && len(all) <= limit {
		items, next = all, store.NextOffset(0, limit, job.Total)
	} else {
		var err error
		items, next, err = s.store.Results(ctx, job.ID, 0, limit)
		if err != nil {
			s.log.WarnContext(r.Context(), "reading a completed job's results failed; answering 202", "job", job.ID, "err", err)
			return false
		}
	}
	ans := completedAnswer{jobView: viewJob(job), Items: viewResults(items), Links: jobLinks(job.ID)}
	if next >= 0 {
		ans.Next = &next
	}
	writeJSON(w, http.StatusOK, ans)
	return true
}

// parseWait reads ?wait=DURATION ("5s", "250ms"; a bare number is seconds),
// capped at max.
func parseWait(q url.Values, max time.Duration) (time.Duration, error) {
	v := q.Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil && writtenAsDuration(v) {
		// A duration longer than Go can hold (about 292 years) is
		// longer than the maximum wait too.
		d, err = max, nil
	}
	if err != nil {
		secs, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return 0, fieldError(ErrInvalidParameter, "wait", "must be a duration such as 5s or 500ms")
		}
		d = time.Duration(min(secs, max.Seconds()) * float64(time.Second))
	}
	if d < 0 {
		return 0, fieldError(ErrInvalidParameter, "wait", "must not be negative")
	}
	return min(d, max), nil
}

// writtenAsDuration reports whether v is written as a Go duration
// ("3000000h", "1.5h30m"): one that time.ParseDuration refuses all the same
// is out of its range.
func writtenAsDuration(v string) bool {
	return regexp.MustCompile(`^\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`).MatchString(v)
}

// plusHint is what to add to the message refusing a time given in a query
// string when v holds a space: an offset's '+' typed as is
// (?at=2026-11-26T22:02:18+01:00), which the query string decodes as a
// space.
func plusHint(v string) string {
	if strings.Contains(v, " ") {
		return "; a '+' in a query string reads as a space: write it %2B"
	}
	return ""
}

// boolParam reads a boolean query parameter ("true" or "false"; absent is
// false).
func boolParam(q url.Values, name string) (bool, error) {
	switch v := q.Get(name); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, fieldError(ErrInvalidParameter, name, "must be true or false")
	}
}

// parseAtParam reads ?at=RFC3339.
func parseAtParam(q url.Values) (string, error) {
	v := q.Get("at")
	if v == "" {
		return "", nil
	}
	at, err := parseAtString("at", v)
	if err != nil {
		var apiErr *Error
		if errors.As(err, &apiErr) {
			apiErr.Err = ErrInvalidParameter
			apiErr.Message += plusHint(v)
		}
		return "", err
	}
	return at, nil
}
