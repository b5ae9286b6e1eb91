package redisstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/store"
)

// Option configures a Store. Options are validated; a bad one makes New fail
// with an error wrapping store.ErrInvalidOption.
type Option func(*options) error

type options struct {
	prefix string
	jobTTL time.Duration
	sigTTL time.Duration
	now    func() time.Time
	// replicas and replicaWait: see WithReplicaWait.
	replicas    int
	replicaWait time.Duration
}

func defaultOptions() options {
	return options{
		prefix: "stele:",
		jobTTL: store.DefaultJobTTL,
		sigTTL: store.DefaultSigTTL,
		now:    time.Now,
	}
}

// WithKeyPrefix sets the prefix of every key ("stele:" by default). It must
// not contain '{' or '}', which would change the hash slot of job keys.
func WithKeyPrefix(prefix string) Option {
	return func(o *options) error {
		if strings.ContainsAny(prefix, "{}") {
			return fmt.Errorf("key prefix %q contains a brace: %w", prefix, store.ErrInvalidOption)
		}
		o.prefix = prefix
		return nil
	}
}

// WithJobTTL sets how long a job and its results live after their last
// change (store.DefaultJobTTL by default; at least a millisecond).
func WithJobTTL(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Millisecond {
			return fmt.Errorf("job TTL %v is under 1ms: %w", d, store.ErrInvalidOption)
		}
		o.jobTTL = d
		return nil
	}
}

// WithSigTTL sets how long a signature-cache entry lives
// (store.DefaultSigTTL by default; at least a millisecond).
func WithSigTTL(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Millisecond {
			return fmt.Errorf("signature cache TTL %v is under 1ms: %w", d, store.ErrInvalidOption)
		}
		o.sigTTL = d
		return nil
	}
}

// WithClock sets the clock used for job timestamps (time.Now by default).
// Expiry always follows the Redis server's clock.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("nil clock: %w", store.ErrInvalidOption)
		}
		o.now = now
		return nil
	}
}

// WithReplicaWait makes every recording of results (RecordResults,
// CommitChunk) wait, with WAIT on the connection that wrote them, until n
// replicas have them, at most timeout; fewer acknowledgements fail the call
// (the results stay written on the primary; a worker then hands its chunk
// back, and the redelivery finds them recorded). A worker acknowledges a
// chunk only after its results are recorded, so with n ≥ 1 a fail-over to a
// replica loses no acknowledged result. n = 0 (the default) does not wait:
// durability is then the primary's own (appendfsync). Not available on a
// Cluster. The timeout is 1ms to MaxReplicaWait: the WAIT is read with the
// client's read timeout (3 s by default).
func WithReplicaWait(n int, timeout time.Duration) Option {
	return func(o *options) error {
		if n < 0 || (n > 0 && (timeout < time.Millisecond || timeout > MaxReplicaWait)) {
			return fmt.Errorf("replica wait of %d replicas within %v (want 1ms to %v): %w", n, timeout, MaxReplicaWait, store.ErrInvalidOption)
		}
		o.replicas, o.replicaWait = n, timeout
		return nil
	}
}

// MaxReplicaWait is the longest timeout of WithReplicaWait.
const MaxReplicaWait = 2 * time.Second
