package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/store"
)

// Rate-limit windows live in rate_windows (schema_audit.go), one row per
// scope and action pattern; every call is one write transaction, so it is
// atomic with respect to other processes sharing the file. Rows are kept
// until ResetRates: there is one per limit pattern of each covenant used.

// rateWindow is one row of rate_windows.
type rateWindow struct {
	count   int64
	startMs int64
	period  float64
	limit   float64
}

// window returns the current window of l in scope, creating or resetting
// it (and writing that change) as audit.MemoryRateLimiter does.
func window(ctx context.Context, tx *sql.Tx, scope string, l audit.Limit, nowMs int64) (rateWindow, error) {
	var w rateWindow
	err := tx.QueryRowContext(ctx,
		`SELECT count, start_ms, period, lim FROM rate_windows WHERE scope = ? AND action = ?`, scope, l.Action).
		Scan(&w.count, &w.startMs, &w.period, &w.limit)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		w = rateWindow{startMs: nowMs, period: l.PeriodSeconds, limit: l.Count}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO rate_windows (scope, action, seq, count, start_ms, period, lim)
			 VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM rate_windows WHERE scope = ?), 0, ?, ?, ?)`,
			scope, l.Action, scope, nowMs, l.PeriodSeconds, l.Count)
		return w, err
	case err != nil:
		return w, err
	}
	if audit.WindowExpired(w.startMs, w.period, nowMs) {
		w.count, w.startMs = 0, nowMs
		_, err = tx.ExecContext(ctx, `UPDATE rate_windows SET count = 0, start_ms = ? WHERE scope = ? AND action = ?`,
			nowMs, scope, l.Action)
	}
	return w, err
}

// CheckRate is audit.RateLimiter.Check; see store.RateLimits.
func (s *Store) CheckRate(ctx context.Context, scope string, limit audit.Limit, now time.Time) (audit.RateStatus, error) {
	st, err := s.rate(ctx, scope, limit, nil, false, now)
	if err != nil {
		return audit.RateStatus{}, fmt.Errorf("sqlitestore: rate limit check %s: %w", scope, err)
	}
	return st, nil
}

// AcquireRate is audit.RateLimiter.Acquire, in one write transaction.
func (s *Store) AcquireRate(ctx context.Context, scope string, check audit.Limit, all []audit.Limit, now time.Time) (audit.RateStatus, error) {
	st, err := s.rate(ctx, scope, check, all, true, now)
	if err != nil {
		return audit.RateStatus{}, fmt.Errorf("sqlitestore: rate limit acquire %s: %w", scope, err)
	}
	return st, nil
}

func (s *Store) rate(ctx context.Context, scope string, check audit.Limit, all []audit.Limit, acquire bool, now time.Time) (audit.RateStatus, error) {
	if err := store.CheckRateArgs(scope, check, all, acquire); err != nil {
		return audit.RateStatus{}, err
	}
	nowMs := now.UnixMilli()
	var st audit.RateStatus
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		w, err := window(ctx, tx, scope, check, nowMs)
		if err != nil {
			return err
		}
		st = audit.StatusOf(w.count, w.limit)
		if !acquire || st.Exceeded {
			return nil
		}
		for _, l := range all {
			if _, err := window(ctx, tx, scope, l, nowMs); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE rate_windows SET count = count + 1 WHERE scope = ? AND action = ?`,
				scope, l.Action); err != nil {
				return err
			}
		}
		return nil
	})
	return st, err
}

// RateStates lists the windows of scope in creation order.
func (s *Store) RateStates(ctx context.Context, scope string) ([]audit.RateLimitState, error) {
	if err := store.CheckID("scope", scope); err != nil {
		return nil, fmt.Errorf("sqlitestore: rate limit states: %w", err)
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT action, count, start_ms, period, lim FROM rate_windows WHERE scope = ? ORDER BY seq`, scope)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: rate limit states %s: %w", scope, err)
	}
	defer rows.Close()
	var out []audit.RateLimitState
	for rows.Next() {
		var st audit.RateLimitState
		var start int64
		if err := rows.Scan(&st.Action, &st.Count, &start, &st.PeriodSeconds, &st.Limit); err != nil {
			return nil, fmt.Errorf("sqlitestore: rate limit states %s: %w", scope, err)
		}
		st.PeriodStart = time.UnixMilli(start)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: rate limit states %s: %w", scope, err)
	}
	return out, nil
}

// ResetRates deletes the windows of scope.
func (s *Store) ResetRates(ctx context.Context, scope string) error {
	if err := store.CheckID("scope", scope); err != nil {
		return fmt.Errorf("sqlitestore: rate limit reset: %w", err)
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM rate_windows WHERE scope = ?`, scope); err != nil {
		return fmt.Errorf("sqlitestore: rate limit reset %s: %w", scope, err)
	}
	return nil
}
