package sqlitestore

import (
	"context"
	"errors"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
)

// Placeholders until the audit log and rate limits are implemented (this
// file is deleted then).

func (s *Store) AppendAudit(ctx context.Context, covenantID string, build func(prev audit.Head) (audit.Entry, error)) (audit.Entry, error) {
	return audit.Entry{}, errors.ErrUnsupported
}
func (s *Store) AuditHead(ctx context.Context, covenantID string) (audit.Head, error) {
	return audit.Head{}, errors.ErrUnsupported
}
func (s *Store) AuditEntries(ctx context.Context, covenantID string, start, end int) ([]audit.Entry, error) {
	return nil, errors.ErrUnsupported
}
func (s *Store) ResetAudit(ctx context.Context, covenantID string) error {
	return errors.ErrUnsupported
}
func (s *Store) AuditCheckpoint(ctx context.Context, covenantID string) (audit.Head, error) {
	return audit.Head{}, errors.ErrUnsupported
}
func (s *Store) TrimAudit(ctx context.Context, covenantID string, upTo int) (audit.Head, error) {
	return audit.Head{}, errors.ErrUnsupported
}
func (s *Store) AuditHashes(ctx context.Context, covenantID string, start, end int) ([]string, error) {
	return nil, errors.ErrUnsupported
}
func (s *Store) CheckRate(ctx context.Context, scope string, limit audit.Limit, now time.Time) (audit.RateStatus, error) {
	return audit.RateStatus{}, errors.ErrUnsupported
}
func (s *Store) AcquireRate(ctx context.Context, scope string, check audit.Limit, all []audit.Limit, now time.Time) (audit.RateStatus, error) {
	return audit.RateStatus{}, errors.ErrUnsupported
}
func (s *Store) RateStates(ctx context.Context, scope string) ([]audit.RateLimitState, error) {
	return nil, errors.ErrUnsupported
}
func (s *Store) ResetRates(ctx context.Context, scope string) error { return errors.ErrUnsupported }
