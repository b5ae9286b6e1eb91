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
