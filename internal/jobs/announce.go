package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/store"
)

// A job's completion event (stele.events.job.<jobID>) is what integrations
// and the other gateways' ?wait listen for, and it is published once, by
// whoever completes the job. When NATS does not take it (out of reach, the
// events stream refusing), the job goes into the store's outbox
// (store.Announcements) instead of being forgotten, and an Announcer, which
// every gateway runs, publishes it once NATS takes it again. The event's
// message ID makes an announcement repeated within the stream's duplicate
// window a duplicate; later, an integration may see a completion twice.

// Defaults of an Announcer.
const (
	// DefaultAnnounceInterval is how often an Announcer looks at the
	// outbox.
	DefaultAnnounceInterval = 5 * time.Second
	// announceBatch is how many deferred announcements one pass takes.
	announceBatch = 100
	// deferTimeout bounds adding a job to the outbox, on a context of its
	// own: the caller's may have run out while it tried to publish.
	deferTimeout = 10 * time.Second
	// announceTimeout bounds one deferred announcement.
	announceTimeout = 10 * time.Second
)

// AnnounceOrDefer announces the completion of job (completed), or, when
// NATS does not take it, adds the job to st's outbox for an Announcer and
// reports deferred. It fails only when both fail; the error then holds
// both causes, and the completion will not be announced.
func AnnounceOrDefer(ctx context.Context, js jetstream.JetStream, st store.Announcements, job store.Job) (deferred bool, err error) {
	err = AnnounceCompletion(ctx, js, job)
	if err == nil {
		return false, nil
	}
	if derr := deferAnnouncement(ctx, st, job.ID); derr != nil {
		return false, fmt.Errorf("%w; adding it to the outbox failed too: %w", err, derr)
	}
	return true, nil
}

// deferAnnouncement adds job jobID to st's outbox, on a context of its own
// bounded by deferTimeout: ctx may have run out while publishing was tried.
func deferAnnouncement(ctx context.Context, st store.Announcements, jobID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deferTimeout)
	defer cancel()
	return st.DeferAnnouncement(ctx, jobID)
}

// AnnounceStore is what an Announcer needs of the store.
type AnnounceStore interface {
	store.Announcements
	GetJob(ctx context.Context, id string) (store.Job, error)
}

// Announcer publishes the completions in the store's outbox; see the
// comment above. Create it with NewAnnouncer, run it with Run. Several
// Announcers may share an outbox.
type Announcer struct {
	js    jetstream.JetStream
	st    AnnounceStore
	every time.Duration
	log   *slog.Logger
}

// AnnouncerOption configures an Announcer.
type AnnouncerOption func(*Announcer) error

// WithAnnounceInterval sets how often the Announcer looks at the outbox
// (DefaultAnnounceInterval); it must be positive.
func WithAnnounceInterval(d time.Duration) AnnouncerOption {
	return func(a *Announcer) error {
		if d <= 0 {
			return fmt.Errorf("%w: announce interval %v", ErrInvalidOption, d)
		}
		a.every = d
		return nil
	}
}

// WithAnnouncerLogger sets the logger (default slog.Default()).
func WithAnnouncerLogger(l *slog.Logger) AnnouncerOption {
	return func(a *Announcer) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		a.log = l
		return nil
	}
}

// NewAnnouncer returns an Announcer over js and st.
func NewAnnouncer(js jetstream.JetStream, st AnnounceStore, opts ...AnnouncerOption) (*Announcer, error) {
	if js == nil || st == nil {
		return nil, fmt.Errorf("%w: nil JetStream or store", ErrInvalidOption)
	}
	a := &Announcer{js: js, st: st, every: DefaultAnnounceInterval, log: slog.Default()}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Run empties the outbox every interval until ctx ends, then returns nil.
// Failures are logged and retried at the next interval.
func (a *Announcer) Run(ctx context.Context) error {
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			n, err := a.AnnounceOnce(ctx)
			if err != nil && ctx.Err() == nil {
				a.log.WarnContext(ctx, "announcing deferred job completions failed; retrying", "err", err)
			}
			if err != nil || n < announceBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// AnnounceOnce takes up to a batch of the outbox, oldest first, announces
// each job's completion and drops it from the outbox; a job the store no
// longer holds (expired) or that is not completed is dropped unannounced.
// It stops at the first failure, leaving the rest for the next pass, and
// returns how many it dropped.
func (a *Announcer) AnnounceOnce(ctx context.Context) (int, error) {
	ids, err := a.st.DeferredAnnouncements(ctx, announceBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		job, err := a.st.GetJob(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			a.log.WarnContext(ctx, "a job whose completion was still to be announced expired first", "job", id)
		case err != nil:
			return n, fmt.Errorf("announce job %s: %w", id, err)
		case job.Status != store.StatusCompleted:
			a.log.WarnContext(ctx, "a job in the announcement outbox is not completed; dropped", "job", id, "status", job.Status)
		default:
			actx, cancel := context.WithTimeout(ctx, announceTimeout)
			err = AnnounceCompletion(actx, a.js, job)
			cancel()
			if err != nil {
				return n, err
			}
			a.log.InfoContext(ctx, "announced a job's completion that NATS had not taken at the time", "job", id)
		}
		if err := a.st.DropAnnouncement(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
