package sqlitestore

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/store"
)

// Option configures a Store. Options are validated; a bad one makes Open fail
// with an error wrapping store.ErrInvalidOption.
type Option func(*options) error

type options struct {
	jobTTL      time.Duration
	sigTTL      time.Duration
	now         func() time.Time
	janitor     time.Duration // 0: no janitor
	logger      *slog.Logger
	synchronous string
	readConns   int
}

func defaultOptions() options {
	return options{
		jobTTL:      store.DefaultJobTTL,
		sigTTL:      store.DefaultSigTTL,
		now:         time.Now,
		janitor:     time.Minute,
		logger:      slog.Default(),
		synchronous: "FULL",
		readConns:   4,
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

// WithClock sets the clock for timestamps and expiry (time.Now by default).
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("nil clock: %w", store.ErrInvalidOption)
		}
		o.now = now
		return nil
	}
}

// WithJanitorInterval sets how often the janitor deletes expired jobs,
// results and signature entries (a minute by default); 0 runs no janitor
// (call Purge instead). Expired rows are invisible as soon as they expire
// either way; the janitor only reclaims their space.
func WithJanitorInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("negative janitor interval %v: %w", d, store.ErrInvalidOption)
		}
		o.janitor = d
		return nil
	}
}

// WithLogger sets the logger of the janitor (slog.Default() by default).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("nil logger: %w", store.ErrInvalidOption)
		}
		o.logger = l
		return nil
	}
}

// WithSynchronous sets SQLite's synchronous mode: "FULL" (the default: a
// committed write survives a power loss) or "NORMAL" (faster; in WAL mode a
// commit survives a crash of the process but may be lost with power).
func WithSynchronous(mode string) Option {
	return func(o *options) error {
		m := strings.ToUpper(mode)
		if m != "FULL" && m != "NORMAL" {
			return fmt.Errorf("synchronous mode %q is not FULL or NORMAL: %w", mode, store.ErrInvalidOption)
		}
		o.synchronous = m
		return nil
	}
}

// WithReadConns sets the size of the read connection pool (4 by default).
// Writes always go through one connection: SQLite has one writer.
func WithReadConns(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("read connections %d < 1: %w", n, store.ErrInvalidOption)
		}
		o.readConns = n
		return nil
	}
}
