package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/store"
)

// StreamConfig sizes the two streams. The zero value means the defaults noted
// on each field.
type StreamConfig struct {
	// Replicas of both streams (default 1; 3 in a clustered deployment).
	Replicas int
	// Storage of the jobs stream (default file storage).
	Storage jetstream.StorageType
	// JobsMaxBytes and JobsMaxMsgs bound the work queue; when full, new
	// chunks are refused (discard-new) and publishers get ErrQueueFull.
	// Defaults 1 GiB and 1,000,000 messages.
	JobsMaxBytes int64
	JobsMaxMsgs  int64
	// Duplicates is the window in which a re-published chunk (same
	// Nats-Msg-Id) is dropped (default 2 minutes).
	Duplicates time.Duration
	// EventsMaxAge, EventsMaxBytes bound the events stream (defaults 24 h and
	// 256 MiB; old events are discarded first).
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
	// DeadMaxAge, DeadMaxBytes bound the dead letters (STELE_DEAD;
	// defaults 14 days and 1 GiB; the oldest are discarded first).
	DeadMaxAge   time.Duration
	DeadMaxBytes int64
}

func (c StreamConfig) withDefaults() (StreamConfig, error) {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.JobsMaxBytes == 0 {
		c.JobsMaxBytes = 1 << 30
	}
	if c.JobsMaxMsgs == 0 {
		c.JobsMaxMsgs = 1_000_000
	}
	if c.Duplicates == 0 {
		c.Duplicates = 2 * time.Minute
	}
	if c.EventsMaxAge == 0 {
		c.EventsMaxAge = 24 * time.Hour
	}
	if c.EventsMaxBytes == 0 {
		c.EventsMaxBytes = 256 << 20
	}
	if c.DeadMaxAge == 0 {
		c.DeadMaxAge = 14 * 24 * time.Hour
	}
	if c.DeadMaxBytes == 0 {
		c.DeadMaxBytes = 1 << 30
	}
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return c, fmt.Errorf("%w: replicas %d not in 1..5", ErrInvalidOption, c.Replicas)
	case c.JobsMaxBytes < 0 || c.JobsMaxMsgs < 0 || c.EventsMaxBytes < 0 || c.DeadMaxBytes < 0:
		return c, fmt.Errorf("%w: negative stream limit", ErrInvalidOption)
	case c.Duplicates < 0 || c.EventsMaxAge < 0 || c.DeadMaxAge < 0:
		return c, fmt.Errorf("%w: negative duration", ErrInvalidOption)
	}
	return c, nil
}

// JobsStreamConfig returns the STELE_JOBS configuration EnsureStreams applies.
func JobsStreamConfig(cfg StreamConfig) (jetstream.StreamConfig, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return jetstream.StreamConfig{}, err
	}
	return jetstream.StreamConfig{
		Name:        StreamJobs,
		Description: "Stele work queue: job chunks",
		Subjects:    []string{SubjectVerify, SubjectSign},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     c.Storage,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    c.JobsMaxBytes,
		MaxMsgs:     c.JobsMaxMsgs,
		Duplicates:  c.Duplicates,
		Replicas:    c.Replicas,
	}, nil
}

// EventsStreamConfig returns the STELE_EVENTS configuration EnsureStreams
// applies.
func EventsStreamConfig(cfg StreamConfig) (jetstream.StreamConfig, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return jetstream.StreamConfig{}, err
	}
	return jetstream.StreamConfig{
		Name:        StreamEvents,
		Description: "Stele events for integrations",
		Subjects:    []string{SubjectEvents},
		Retention:   jetstream.LimitsPolicy,
		Storage:     c.Storage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.EventsMaxAge,
		MaxBytes:    c.EventsMaxBytes,
		Duplicates:  c.Duplicates,
		Replicas:    c.Replicas,
	}, nil
}

// EnsureStreams creates STELE_JOBS, STELE_EVENTS and STELE_DEAD, or updates
// them to cfg.
// It is idempotent and safe to call from several processes at once: every
// process of a cluster calls it at start-up and whichever comes first creates
// the streams.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	jobs, err := JobsStreamConfig(cfg)
	if err != nil {
		return err
	}
	events, err := EventsStreamConfig(cfg)
	if err != nil {
		return err
	}
	dead, err := DeadStreamConfig(cfg)
	if err != nil {
		return err
	}
	for _, sc := range []jetstream.StreamConfig{jobs, events, dead} {
		if err := upsertStream(ctx, js, sc); err != nil {
			return err
		}
	}
	return nil
}

// upsertStream is CreateOrUpdateStream that tolerates losing a creation race
// to another process: when the create fails because the name was just taken,
// the update is retried.
func upsertStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		// A stream that already has this configuration is left alone:
		// every process calls this at start-up, and updating a stream (even
		// to the same configuration) is work for the servers, an advisory,
		// and, with many processes starting at once, concurrent updates of
		// one stream.
		if s, serr := js.Stream(ctx, sc.Name); serr == nil && sameStreamConfig(s.CachedInfo().Config, sc) {
			return nil
		}
		_, err = js.CreateOrUpdateStream(ctx, sc)
		if err == nil || !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
	}
	return nil
}

// sameStreamConfig reports whether the stream configuration have already
// holds every member that want sets. The server reports an unset limit as
// -1 where the configuration we send leaves it 0: both mean no limit, and
// taking them for a difference would update the stream at every start-up,
// an update the server refuses when the disk has less free space than the
// streams' MaxBytes reserve (the all-in-one could then not restart).
func sameStreamConfig(have, want jetstream.StreamConfig) bool {
	return have.Description == want.Description && slices.Equal(have.Subjects, want.Subjects) &&
		have.Retention == want.Retention && have.Storage == want.Storage && have.Discard == want.Discard &&
		have.MaxAge == want.MaxAge && sameLimit(have.MaxBytes, want.MaxBytes) && sameLimit(have.MaxMsgs, want.MaxMsgs) &&
		have.Duplicates == want.Duplicates && max(have.Replicas, 1) == max(want.Replicas, 1)
}

// sameLimit compares two stream limits, where 0 and -1 both mean none.
func sameLimit(have, want int64) bool {
	return max(have, 0) == max(want, 0)
}

// ConsumerConfig tunes a worker kind's durable pull consumer. The zero value
// means the defaults noted on each field.
type ConsumerConfig struct {
	// AckWait is how long a delivered chunk may stay unacknowledged before it
	// is redelivered (default 30 s). A chunk takes milliseconds to verify, so
	// this only matters when a worker dies.
	AckWait time.Duration
	// MaxDeliver bounds deliveries of one chunk (default 10, and
	// DefaultSignMaxDeliver for sign jobs, whose chunks are also handed
	// back while they look for the signer holding a key). On the last
	// delivery a chunk that fails again has its items recorded as failed
	// and is terminated (see Runner), so that its job completes; -1 means
	// no bound (a failing chunk is retried until it succeeds).
	MaxDeliver int
	// MaxAckPending bounds chunks delivered and not yet acknowledged across
	// all workers of the kind (default 1024).
	MaxAckPending int
	// Replicas of the consumer (default: the stream's).
	Replicas int
}

// DefaultSignMaxDeliver is the default MaxDeliver of the signer consumer:
// above the sign handler's default bound on the deliveries of an item whose
// key another signer holds, so such items fail with unknown_key rather than
// being dropped.
const DefaultSignMaxDeliver = DefaultMaxAdvertisedKeyDeliveries + 10

// ConsumerName returns the durable consumer name of a worker kind: "verifier"
// for verify jobs, "signer" for sign jobs.
func ConsumerName(kind store.JobKind) (string, error) {
	switch kind {
	case store.KindVerify:
		return "verifier", nil
	case store.KindSign:
		return "signer", nil
	}
	return "", fmt.Errorf("jobs: consumer for kind %q: %w", kind, ErrInvalidOption)
}

// WorkerConsumerConfig returns the consumer configuration EnsureConsumer
// applies for kind.
func WorkerConsumerConfig(kind store.JobKind, cfg ConsumerConfig) (jetstream.ConsumerConfig, error) {
	name, err := ConsumerName(kind)
	if err != nil {
		return jetstream.ConsumerConfig{}, err
	}
	subject, err := SubjectFor(kind)
	if err != nil {
		return jetstream.ConsumerConfig{}, err
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.MaxDeliver == 0 {
		cfg.MaxDeliver = 10
		if kind == store.KindSign {
			cfg.MaxDeliver = DefaultSignMaxDeliver
		}
	}
	if cfg.MaxAckPending == 0 {
		cfg.MaxAckPending = 1024
	}
	switch {
	case cfg.AckWait < time.Second:
		return jetstream.ConsumerConfig{}, fmt.Errorf("%w: ack wait %v below 1s", ErrInvalidOption, cfg.AckWait)
	case cfg.MaxDeliver < 1 && cfg.MaxDeliver != -1:
		return jetstream.ConsumerConfig{}, fmt.Errorf("%w: max deliver %d", ErrInvalidOption, cfg.MaxDeliver)
	case cfg.MaxAckPending < 1:
		return jetstream.ConsumerConfig{}, fmt.Errorf("%w: max ack pending %d", ErrInvalidOption, cfg.MaxAckPending)
	case cfg.Replicas < 0:
		return jetstream.ConsumerConfig{}, fmt.Errorf("%w: replicas %d", ErrInvalidOption, cfg.Replicas)
	}
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "Stele " + name + " workers",
		FilterSubject: subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxDeliver,
		MaxAckPending: cfg.MaxAckPending,
		Replicas:      cfg.Replicas,
	}, nil
}

// EnsureConsumer creates or updates the durable pull consumer of a worker kind
// on STELE_JOBS and returns it. Like EnsureStreams it is idempotent and safe
// to call concurrently; the streams must exist.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, kind store.JobKind, cfg ConsumerConfig) (jetstream.Consumer, error) {
	cc, err := WorkerConsumerConfig(kind, cfg)
	if err != nil {
		return nil, err
	}
	var cons jetstream.Consumer
	for attempt := 0; attempt < 3; attempt++ {
		cons, err = js.CreateOrUpdateConsumer(ctx, StreamJobs, cc)
		if err == nil || !errors.Is(err, jetstream.ErrConsumerExists) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", cc.Durable, err)
	}
	return cons, nil
}
