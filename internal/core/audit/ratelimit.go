package audit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/stele-go/stele/internal/core/ccl"
)

// Limit is one CCL limit statement as a Monitor applies it: at most Count
// permitted actions matching Action per fixed window of PeriodSeconds.
type Limit struct {
	Action        string
	Count         float64
	PeriodSeconds float64
}

// LimitOf returns the Limit of a limit statement.
//
// A count or period written with more digits than a double holds is
// Infinity, as the reference's parseInt makes it: a count of Infinity is
// never reached and a window of Infinity never ends. Both are given as
// math.MaxFloat64, which decides the same way (no count of actions reaches
// it, and MaxFloat64 seconds in milliseconds is again +Inf) but is a finite
// number that every RateLimiter can store.
func LimitOf(s *ccl.Statement) Limit {
	return Limit{Action: s.Action, Count: finite(s.Count), PeriodSeconds: finite(s.PeriodSeconds)}
}

// finite replaces +Inf by math.MaxFloat64 (CCL numbers are never negative
// or NaN).
func finite(f float64) float64 {
	if math.IsInf(f, 1) {
		return math.MaxFloat64
	}
	return f
}

// RateLimitState is the window of one limit pattern. Limit and PeriodSeconds
// are fixed when the state is created; Count and PeriodStart change as
// actions are counted and windows reset.
type RateLimitState struct {
	Action        string
	Count         int64
	PeriodStart   time.Time // millisecond precision
	PeriodSeconds float64
	Limit         float64
}

// RateStatus is the result of a rate-limit check.
type RateStatus struct {
	// Exceeded is true when the window's count has reached its limit.
	Exceeded bool
	// Remaining is max(0, limit - count) before this action; +Inf when no
	// limit applies.
	Remaining float64
}

// unlimited is the status when no limit statement matches.
func unlimited() RateStatus { return RateStatus{Remaining: math.Inf(1)} }

// RateLimiter stores the Monitor's rate-limit windows (§6.3), one set per
// scope (the covenant id). Windows are keyed by the limit's action pattern
// string: statements with the same pattern share one window. A window is
// created on first use with count 0, starting now, and reset (count 0,
// starting now) whenever now - start >= period. Implementations must be safe
// for concurrent use; each method must be atomic with respect to the others
// on the same scope.
type RateLimiter interface {
	// Check creates or resets the window of limit as needed and reports
	// whether it is exhausted, without counting anything.
	Check(ctx context.Context, scope string, limit Limit, now time.Time) (RateStatus, error)
	// Acquire is the Monitor's check-then-count, done atomically: it checks
	// the window of check as Check does and, unless it is exceeded, counts
	// one action in the window of every limit in all (creating or resetting
	// each as needed; a pattern listed twice is counted twice, as in the
	// reference). It returns the status of check before counting.
	Acquire(ctx context.Context, scope string, check Limit, all []Limit, now time.Time) (RateStatus, error)
	// States lists the windows of scope in creation order.
	States(ctx context.Context, scope string) ([]RateLimitState, error)
	// Reset deletes the windows of scope.
	Reset(ctx context.Context, scope string) error
}

// MemoryRateLimiter is a RateLimiter held in process memory. The zero value
// is ready to use; it must not be copied after first use.
type MemoryRateLimiter struct {
	mu     sync.Mutex
	scopes map[string]*windows
}

type windows struct {
	order []string
	byKey map[string]*RateLimitState
}

var _ RateLimiter = (*MemoryRateLimiter)(nil)

// NewMemoryRateLimiter returns an empty MemoryRateLimiter.
func NewMemoryRateLimiter() *MemoryRateLimiter { return &MemoryRateLimiter{} }

// window returns the current window of l in scope, creating or resetting it.
// The caller holds the lock.
func (m *MemoryRateLimiter) window(scope string, l Limit, nowMs int64) *RateLimitState {
	if m.scopes == nil {
		m.scopes = make(map[string]*windows)
	}
	w := m.scopes[scope]
	if w == nil {
		w = &windows{byKey: make(map[string]*RateLimitState)}
		m.scopes[scope] = w
	}
	s := w.byKey[l.Action]
	if s == nil {
		s = &RateLimitState{Action: l.Action, PeriodStart: time.UnixMilli(nowMs), PeriodSeconds: l.PeriodSeconds, Limit: l.Count}
		w.byKey[l.Action] = s
		w.order = append(w.order, l.Action)
	}
	if WindowExpired(s.PeriodStart.UnixMilli(), s.PeriodSeconds, nowMs) {
		s.Count = 0
		s.PeriodStart = time.UnixMilli(nowMs)
	}
	return s
}

// WindowExpired reports whether a window that started at startMs with the
// given period is over at nowMs: now - start >= period (the Monitor's rule;
// ccl.CheckRateLimit uses >).
func WindowExpired(startMs int64, periodSeconds float64, nowMs int64) bool {
	return float64(nowMs-startMs) >= periodSeconds*1000
}

// StatusOf returns the status of a window holding count actions against limit.
func StatusOf(count int64, limit float64) RateStatus {
	return RateStatus{Exceeded: float64(count) >= limit, Remaining: math.Max(0, limit-float64(count))}
}

// Check implements RateLimiter.
func (m *MemoryRateLimiter) Check(ctx context.Context, scope string, limit Limit, now time.Time) (RateStatus, error) {
	if err := ctx.Err(); err != nil {
		return RateStatus{}, fmt.Errorf("rate limit check %s: %w", scope, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.window(scope, limit, now.UnixMilli())
	return StatusOf(s.Count, s.Limit), nil
}

// Acquire implements RateLimiter.
func (m *MemoryRateLimiter) Acquire(ctx context.Context, scope string, check Limit, all []Limit, now time.Time) (RateStatus, error) {
	if err := ctx.Err(); err != nil {
		return RateStatus{}, fmt.Errorf("rate limit acquire %s: %w", scope, err)
	}
	nowMs := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.window(scope, check, nowMs)
	st := StatusOf(s.Count, s.Limit)
	if st.Exceeded {
		return st, nil
	}
	for _, l := range all {
		m.window(scope, l, nowMs).Count++
	}
	return st, nil
}

// States implements RateLimiter.
func (m *MemoryRateLimiter) States(ctx context.Context, scope string) ([]RateLimitState, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rate limit states %s: %w", scope, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.scopes[scope]
	if w == nil {
		return nil, nil
	}
	out := make([]RateLimitState, len(w.order))
	for i, k := range w.order {
		out[i] = *w.byKey[k]
	}
	return out, nil
}

// Reset implements RateLimiter.
func (m *MemoryRateLimiter) Reset(ctx context.Context, scope string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rate limit reset %s: %w", scope, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.scopes, scope)
	return nil
}
