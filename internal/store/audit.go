package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
)

// AuditLog is the covenants' audit trails in the shared store: one hash chain
// per covenant ID, appended by every gateway process. Its first four methods
// are audit.Log's under store-specific names (AuditLogOf adapts it), with the
// same contract: in particular AppendAudit advances the head atomically
// across processes, so concurrent appends never fork the chain or lose an
// entry.
//
// A log can also be trimmed: the bodies of entries before a checkpoint are
// deleted and the checkpoint (the number of trimmed entries and the hash of
// the last one, as an audit.Head) is kept, so the remainder still verifies
// with audit.VerifyFrom(checkpoint, entries). The hashes of all entries,
// trimmed or not, are kept, so Merkle roots and inclusion proofs cover the
// whole log.
//
// AuditEntries returns only entries at or after the checkpoint (its range is
// clamped to [checkpoint.Len, head.Len)). ResetAudit deletes everything,
// checkpoint included.
type AuditLog interface {
	// AppendAudit is audit.Log.Append.
	AppendAudit(ctx context.Context, covenantID string, build func(prev audit.Head) (audit.Entry, error)) (audit.Entry, error)
	// AuditHead is audit.Log.Head.
	AuditHead(ctx context.Context, covenantID string) (audit.Head, error)
	// AuditEntries is audit.Log.Entries, clamped to the checkpoint.
	AuditEntries(ctx context.Context, covenantID string, start, end int) ([]audit.Entry, error)
	// ResetAudit is audit.Log.Reset.
	ResetAudit(ctx context.Context, covenantID string) error
	// AuditCheckpoint returns the trim point of covenantID's log: Len is the
	// number of trimmed entries and Hash the hash of the last one
	// (Head{0, audit.GenesisHash} for a log never trimmed).
	AuditCheckpoint(ctx context.Context, covenantID string) (audit.Head, error)
	// TrimAudit deletes the entries with index < upTo and returns the new
	// checkpoint. upTo beyond the head is ErrInvalid; upTo at or below the
	// current checkpoint changes nothing.
	TrimAudit(ctx context.Context, covenantID string, upTo int) (audit.Head, error)
	// AuditHashes returns the hashes of the entries with index in
	// [start, end) (end < 0: the head), including trimmed ones: the k-th is
	// that of entry start+k, so a hash missing from the store ends the list
	// before it.
	AuditHashes(ctx context.Context, covenantID string, start, end int) ([]string, error)
}

// RateLimits is audit.RateLimiter in the shared store, under store-specific
// names (RateLimiterOf adapts it): a limit's window is counted across every
// process, and AcquireRate's check-then-count is one atomic step.
type RateLimits interface {
	// CheckRate is audit.RateLimiter.Check.
	CheckRate(ctx context.Context, scope string, limit audit.Limit, now time.Time) (audit.RateStatus, error)
	// AcquireRate is audit.RateLimiter.Acquire.
	AcquireRate(ctx context.Context, scope string, check audit.Limit, all []audit.Limit, now time.Time) (audit.RateStatus, error)
	// RateStates is audit.RateLimiter.States.
	RateStates(ctx context.Context, scope string) ([]audit.RateLimitState, error)
	// ResetRates is audit.RateLimiter.Reset.
	ResetRates(ctx context.Context, scope string) error
}

// CheckRateArgs validates the arguments of a RateLimits call: scope as an
// ID, and every limit's count and period finite (what a window can hold).
// all is checked only for an acquire (it is ignored otherwise). Errors wrap
// ErrInvalid. The implementations share it so that they agree.
func CheckRateArgs(scope string, check audit.Limit, all []audit.Limit, acquire bool) error {
	if err := CheckID("scope", scope); err != nil {
		return err
	}
	limits := []audit.Limit{check}
	if acquire {
		limits = append(limits, all...)
	}
	for _, l := range limits {
		if math.IsNaN(l.Count) || math.IsInf(l.Count, 0) || math.IsNaN(l.PeriodSeconds) || math.IsInf(l.PeriodSeconds, 0) {
			return fmt.Errorf("limit %q: count %v per %v seconds is not finite: %w", l.Action, l.Count, l.PeriodSeconds, ErrInvalid)
		}
	}
	return nil
}

// AuditLogOf adapts a store's AuditLog to audit.Log (for audit.WithLog).
func AuditLogOf(l AuditLog) audit.Log { return auditLog{l} }

type auditLog struct{ l AuditLog }

func (a auditLog) Append(ctx context.Context, id string, build func(audit.Head) (audit.Entry, error)) (audit.Entry, error) {
	return a.l.AppendAudit(ctx, id, build)
}
func (a auditLog) Head(ctx context.Context, id string) (audit.Head, error) {
	return a.l.AuditHead(ctx, id)
}
func (a auditLog) Entries(ctx context.Context, id string, start, end int) ([]audit.Entry, error) {
	return a.l.AuditEntries(ctx, id, start, end)
}
func (a auditLog) Reset(ctx context.Context, id string) error { return a.l.ResetAudit(ctx, id) }

// RateLimiterOf adapts a store's RateLimits to audit.RateLimiter (for
// audit.WithRateLimiter).
func RateLimiterOf(r RateLimits) audit.RateLimiter { return rateLimiter{r} }

type rateLimiter struct{ r RateLimits }

func (a rateLimiter) Check(ctx context.Context, scope string, l audit.Limit, now time.Time) (audit.RateStatus, error) {
	return a.r.CheckRate(ctx, scope, l, now)
}
func (a rateLimiter) Acquire(ctx context.Context, scope string, check audit.Limit, all []audit.Limit, now time.Time) (audit.RateStatus, error) {
	return a.r.AcquireRate(ctx, scope, check, all, now)
}
func (a rateLimiter) States(ctx context.Context, scope string) ([]audit.RateLimitState, error) {
	return a.r.RateStates(ctx, scope)
}
func (a rateLimiter) Reset(ctx context.Context, scope string) error {
	return a.r.ResetRates(ctx, scope)
}
