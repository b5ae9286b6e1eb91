package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/jstime"
)

// Mode says what a Monitor does with a denied action.
type Mode string

const (
	// Enforce records the denial and returns a *MonitorDeniedError.
	Enforce Mode = "enforce"
	// LogOnly records the denial with outcome EXECUTED and lets the action
	// proceed (Execute runs its handler).
	LogOnly Mode = "log_only"
)

// Input limits of a Monitor.
const (
	// MaxNameBytes bounds the action and resource strings.
	MaxNameBytes = 16 << 10
	// DefaultMaxContextBytes bounds the JSON size of an evaluation context
	// unless WithMaxContextBytes says otherwise.
	DefaultMaxContextBytes = 1 << 20
)

// Option configures a Monitor. An invalid option makes NewMonitor fail with
// an error wrapping ErrInvalidOption.
type Option func(*config) error

type config struct {
	mode            Mode
	log             Log
	limiter         RateLimiter
	now             func() time.Time
	onViolation     func(Entry)
	onAction        func(Entry)
	evaluator       *ccl.Evaluator
	logger          *slog.Logger
	maxContextBytes int
}

// WithMode selects Enforce (the default) or LogOnly.
func WithMode(m Mode) Option {
	return func(c *config) error {
		if m != Enforce && m != LogOnly {
			return fmt.Errorf("%w: mode %q", ErrInvalidOption, m)
		}
		c.mode = m
		return nil
	}
}

// WithLog stores the audit log in l instead of a private MemoryLog. Monitors
// of the same covenant that share l (or a shared store behind it) write one
// chain.
func WithLog(l Log) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil log", ErrInvalidOption)
		}
		c.log = l
		return nil
	}
}

// WithRateLimiter keeps rate-limit windows in r instead of a private
// MemoryRateLimiter.
func WithRateLimiter(r RateLimiter) Option {
	return func(c *config) error {
		if r == nil {
			return fmt.Errorf("%w: nil rate limiter", ErrInvalidOption)
		}
		c.limiter = r
		return nil
	}
}

// WithClock sets the clock used for timestamps and rate-limit windows.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		c.now = now
		return nil
	}
}

// WithOnViolation sets a function called synchronously with the entry of
// every denied action (onViolation), after it is logged. Callbacks run on the
// goroutine that called Evaluate or Execute, so they must be safe for
// concurrent use when the Monitor is.
func WithOnViolation(f func(Entry)) Option {
	return func(c *config) error { c.onViolation = f; return nil }
}

// WithOnAction sets a function called synchronously with every entry
// (onAction), after it is logged and after the violation callback.
func WithOnAction(f func(Entry)) Option {
	return func(c *config) error { c.onAction = f; return nil }
}

// WithEvaluator sets the CCL evaluator (for its logger and limits).
func WithEvaluator(e *ccl.Evaluator) Option {
	return func(c *config) error {
		if e == nil {
			return fmt.Errorf("%w: nil evaluator", ErrInvalidOption)
		}
		c.evaluator = e
		return nil
	}
}

// WithLogger sets the logger for denials (debug level). The default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.logger = l
		return nil
	}
}

// WithMaxContextBytes bounds the plain-JSON size of evaluation contexts.
func WithMaxContextBytes(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: max context bytes %d", ErrInvalidOption, n)
		}
		c.maxContextBytes = n
		return nil
	}
}

// Monitor decides actions under one covenant's constraints, applies their
// rate limits and records every decision in the covenant's audit log
// (Monitor, §6.1). A Monitor is safe for concurrent use; its state lives in
// its Log and RateLimiter.
type Monitor struct {
	covenantID string
	doc        *ccl.Document
	limits     []monitorLimit
	cfg        config
}

type monitorLimit struct {
	limit Limit
	spec  int
}

// NewMonitor parses constraints and returns a Monitor for covenantID. Both
// must be non-blank (ErrInvalidInput); a CCL syntax error is returned
// wrapped.
func NewMonitor(covenantID, constraints string, opts ...Option) (*Monitor, error) {
	if ccl.IsBlank(constraints) {
		return nil, fmt.Errorf("new monitor %s: constraints are blank: %w", covenantID, ErrInvalidInput)
	}
	doc, err := ccl.Parse(constraints)
	if err != nil {
		return nil, fmt.Errorf("new monitor %s: %w", covenantID, err)
	}
	return NewMonitorFromDocument(covenantID, doc, opts...)
}

// NewMonitorFromDocument is NewMonitor for constraints already parsed. doc
// must not be modified afterwards.
func NewMonitorFromDocument(covenantID string, doc *ccl.Document, opts ...Option) (*Monitor, error) {
	if ccl.IsBlank(covenantID) {
		return nil, fmt.Errorf("new monitor: covenant id is blank: %w", ErrInvalidInput)
	}
	if doc == nil {
		return nil, fmt.Errorf("new monitor %s: nil constraints document: %w", covenantID, ErrInvalidInput)
	}
	cfg := config{mode: Enforce, now: time.Now, maxContextBytes: DefaultMaxContextBytes}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("new monitor %s: %w", covenantID, err)
		}
	}
	if cfg.log == nil {
		cfg.log = NewMemoryLog()
	}
	if cfg.limiter == nil {
		cfg.limiter = NewMemoryRateLimiter()
	}
	if cfg.evaluator == nil {
		cfg.evaluator = &ccl.Evaluator{}
	}
	m := &Monitor{covenantID: covenantID, doc: doc, cfg: cfg}
	for _, s := range doc.Limits {
		m.limits = append(m.limits, monitorLimit{limit: LimitOf(s), spec: ccl.Specificity(s.Action, "")})
	}
	return m, nil
}

// CovenantID returns the id of the monitored covenant.
func (m *Monitor) CovenantID() string { return m.covenantID }

// Mode returns the monitor's mode.
func (m *Monitor) Mode() Mode { return m.cfg.mode }

func (m *Monitor) logger() *slog.Logger {
	if m.cfg.logger != nil {
		return m.cfg.logger
	}
	return slog.Default()
}

// matchingLimits returns the most specific limit matching action (the first
// on ties) and every matching limit, in document order.
func (m *Monitor) matchingLimits(action string) (best Limit, all []Limit, ok bool) {
	bestSpec := -1
	for _, l := range m.limits {
		if !ccl.MatchAction(l.limit.Action, action) {
			continue
		}
		all = append(all, l.limit)
		if l.spec > bestSpec {
			best, bestSpec = l.limit, l.spec
		}
	}
	return best, all, bestSpec >= 0
}

// decision is an evaluated action before it is logged.
type decision struct {
	ts       string
	ctx      *canon.Object
	result   ccl.Result
	rateDeny bool
}

// decide validates the input, evaluates it and applies the rate limit,
// counting the action when it is permitted.
func (m *Monitor) decide(ctx context.Context, op, action, resource string, c *canon.Object) (decision, error) {
	if ccl.IsBlank(action) {
		return decision{}, fmt.Errorf("%s: action is blank: %w", op, ErrInvalidInput)
	}
	if len(action) > MaxNameBytes || len(resource) > MaxNameBytes {
		return decision{}, fmt.Errorf("%s: action or resource longer than %d bytes: %w", op, MaxNameBytes, ErrInvalidInput)
	}
	if c != nil {
		if n := canon.JSONSize(c); n > m.cfg.maxContextBytes {
			return decision{}, fmt.Errorf("%s %s: context is %d bytes, limit %d: %w", op, action, n, m.cfg.maxContextBytes, ErrInvalidInput)
		}
	}
	if err := ctx.Err(); err != nil {
		return decision{}, fmt.Errorf("%s %s: %w", op, action, err)
	}
	// The log keeps its own copy, so a caller changing c later cannot
	// change what was recorded.
	c = canon.CloneObject(c)
	if c == nil {
		c = canon.NewObject(0)
	}
	now := m.cfg.now()
	d := decision{ts: jstime.Format(now), ctx: c}
	d.result = m.cfg.evaluator.Evaluate(m.doc, action, resource, c)
	if d.result.Permitted {
		if best, all, ok := m.matchingLimits(action); ok {
			st, err := m.cfg.limiter.Acquire(ctx, m.covenantID, best, all, now)
			if err != nil {
				return decision{}, fmt.Errorf("%s %s: %w", op, action, err)
			}
			if st.Exceeded {
				d.rateDeny = true
				d.result = ccl.Result{
					Permitted:   false,
					MatchedRule: d.result.MatchedRule,
					Reason:      fmt.Sprintf("Rate limit exceeded for action '%s'", action),
					Severity:    ccl.SeverityHigh,
				}
			}
		}
	}
	return d, nil
}

// record appends the entry for d to the log.
func (m *Monitor) record(ctx context.Context, action, resource string, d decision, outcome Outcome, errMsg *string) (Entry, error) {
	e, err := m.cfg.log.Append(ctx, m.covenantID, func(prev Head) (Entry, error) {
		e := Entry{
			Index:     prev.Len,
			Timestamp: d.ts,
			Action:    action,
			Resource:  resource,
			Context:   d.ctx,
			Result: Result{
				Permitted:   d.result.Permitted,
				Reason:      d.result.Reason,
				Severity:    d.result.Severity,
				MatchedRule: RuleOf(d.result.MatchedRule),
			},
			Outcome:      outcome,
			Error:        errMsg,
			PreviousHash: prev.Hash,
		}
		return e.Seal(), nil
	})
	if err != nil {
		return Entry{}, fmt.Errorf("record %s on %s: %w", action, resource, err)
	}
	return e, nil
}

func (m *Monitor) notify(e Entry, violation bool) {
	if violation && m.cfg.onViolation != nil {
		m.cfg.onViolation(e.Clone())
	}
	if m.cfg.onAction != nil {
		m.cfg.onAction(e.Clone())
	}
}

func (m *Monitor) denied(action, resource string, d decision, e Entry) error {
	m.logger().Debug("action denied",
		slog.String("covenant", m.covenantID), slog.String("action", action),
		slog.String("resource", resource), slog.String("reason", d.result.Reason),
		slog.Bool("rate_limited", d.rateDeny))
	return &MonitorDeniedError{
		Action:      action,
		Resource:    resource,
		MatchedRule: d.result.MatchedRule,
		Severity:    d.result.Severity,
		Reason:      d.result.Reason,
		Entry:       e,
	}
}

// Evaluate decides action on resource with context c (nil means {}), as the
// reference's evaluate (§6.1):
//
//  1. the constraints are evaluated;
//  2. if the action is permitted but the most specific matching limit's
//     window is exhausted, the result becomes a denial with reason "Rate
//     limit exceeded for action '<action>'", severity high, and the permit as
//     matched rule; otherwise every matching limit counts the action;
//  3. an entry is appended with outcome EXECUTED when permitted, DENIED when
//     denied (EXECUTED in LogOnly mode);
//  4. the violation callback runs for a denial, then the action callback.
//
// It returns the entry. A denial in Enforce mode also returns a
// *MonitorDeniedError (errors.Is(err, ErrDenied)). Any other error (bad
// input, a failing Log or RateLimiter, a cancelled ctx) means the action was
// not decided, or not recorded, and must be treated as denied.
func (m *Monitor) Evaluate(ctx context.Context, action, resource string, c *canon.Object) (Entry, error) {
	d, err := m.decide(ctx, "evaluate", action, resource, c)
	if err != nil {
		return Entry{}, err
	}
	outcome := Executed
	if !d.result.Permitted && m.cfg.mode == Enforce {
		outcome = Denied
	}
	e, err := m.record(ctx, action, resource, d, outcome, nil)
	if err != nil {
		return Entry{}, err
	}
	m.notify(e, !d.result.Permitted)
	if !d.result.Permitted && m.cfg.mode == Enforce {
		return e, m.denied(action, resource, d, e)
	}
	return e, nil
}

// Execute decides action as Evaluate does and, unless it is denied in Enforce
// mode, runs fn (execute, §6.1). In LogOnly mode fn runs even for a denied
// action, as in the reference.
//
// A denial in Enforce mode is logged with outcome DENIED, both callbacks run,
// and Execute returns the entry and a *MonitorDeniedError without running fn.
// Otherwise the entry is appended after fn returns, with outcome EXECUTED and,
// if fn failed, Error set to its message; the violation callback runs only
// when fn succeeded and the action was denied (LogOnly), the action callback
// always. fn's error is returned wrapped. A panic in fn propagates and
// nothing is logged for that call.
func (m *Monitor) Execute(ctx context.Context, action, resource string, c *canon.Object, fn func(context.Context) error) (Entry, error) {
	if fn == nil {
		return Entry{}, fmt.Errorf("execute %s: nil handler: %w", action, ErrInvalidInput)
	}
	d, err := m.decide(ctx, "execute", action, resource, c)
	if err != nil {
		return Entry{}, err
	}
	if !d.result.Permitted && m.cfg.mode == Enforce {
		e, err := m.record(ctx, action, resource, d, Denied, nil)
		if err != nil {
			return Entry{}, err
		}
		m.notify(e, true)
		return e, m.denied(action, resource, d, e)
	}
	runErr := fn(ctx)
	var msg *string
	if runErr != nil {
		s := runErr.Error()
		msg = &s
	}
	e, err := m.record(ctx, action, resource, d, Executed, msg)
	if err != nil {
		if runErr != nil {
			return Entry{}, fmt.Errorf("execute %s on %s: handler: %w; and %w", action, resource, runErr, err)
		}
		return Entry{}, err
	}
	m.notify(e, runErr == nil && !d.result.Permitted)
	if runErr != nil {
		return e, fmt.Errorf("execute %s on %s: %w", action, resource, runErr)
	}
	return e, nil
}

// CheckRateLimit reports the window of the most specific limit matching
// action without counting (checkRateLimit); it creates or resets the window
// as the reference does. With no matching limit it reports Remaining +Inf.
func (m *Monitor) CheckRateLimit(ctx context.Context, action string) (RateStatus, error) {
	best, _, ok := m.matchingLimits(action)
	if !ok {
		return unlimited(), nil
	}
	st, err := m.cfg.limiter.Check(ctx, m.covenantID, best, m.cfg.now())
	if err != nil {
		return RateStatus{}, fmt.Errorf("check rate limit %s: %w", action, err)
	}
	return st, nil
}

// RateLimitStates lists the covenant's rate-limit windows (getRateLimitState).
func (m *Monitor) RateLimitStates(ctx context.Context) ([]RateLimitState, error) {
	s, err := m.cfg.limiter.States(ctx, m.covenantID)
	if err != nil {
		return nil, fmt.Errorf("rate limit states: %w", err)
	}
	return s, nil
}

// Snapshot is a copy of an audit log with its Merkle root (getAuditLog).
type Snapshot struct {
	CovenantID string
	Entries    []Entry
	MerkleRoot string
	Count      int
}

// AuditLog returns the whole log and its Merkle root.
func (m *Monitor) AuditLog(ctx context.Context) (Snapshot, error) {
	es, err := m.entries(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{CovenantID: m.covenantID, Entries: es, MerkleRoot: MerkleRoot(hashes(es)), Count: len(es)}, nil
}

// AuditEntry returns entry i (getAuditEntry); ok is false when out of range.
func (m *Monitor) AuditEntry(ctx context.Context, i int) (e Entry, ok bool, err error) {
	if i < 0 {
		return Entry{}, false, nil
	}
	es, err := m.cfg.log.Entries(ctx, m.covenantID, i, i+1)
	if err != nil {
		return Entry{}, false, fmt.Errorf("audit entry %d: %w", i, err)
	}
	if len(es) == 0 {
		return Entry{}, false, nil
	}
	return es[0], true, nil
}

// VerifyIntegrity checks the whole log (verifyAuditLogIntegrity); see the
// package function.
func (m *Monitor) VerifyIntegrity(ctx context.Context) error {
	es, err := m.entries(ctx)
	if err != nil {
		return err
	}
	if err := VerifyIntegrity(es); err != nil {
		return fmt.Errorf("audit log %s: %w", m.covenantID, err)
	}
	return nil
}

// MerkleRoot returns the Merkle root of the log (computeMerkleRoot).
func (m *Monitor) MerkleRoot(ctx context.Context) (string, error) {
	es, err := m.entries(ctx)
	if err != nil {
		return "", err
	}
	return MerkleRoot(hashes(es)), nil
}

// MerkleProof returns the inclusion proof of entry i (generateMerkleProof);
// an index out of range fails with ErrInvalidInput.
func (m *Monitor) MerkleProof(ctx context.Context, i int) (Proof, error) {
	es, err := m.entries(ctx)
	if err != nil {
		return Proof{}, err
	}
	p, err := NewProof(hashes(es), i)
	if err != nil {
		return Proof{}, fmt.Errorf("audit log %s: %w", m.covenantID, err)
	}
	return p, nil
}

// Reset clears the covenant's log and rate-limit windows (reset).
func (m *Monitor) Reset(ctx context.Context) error {
	if err := m.cfg.log.Reset(ctx, m.covenantID); err != nil {
		return fmt.Errorf("reset monitor %s: %w", m.covenantID, err)
	}
	if err := m.cfg.limiter.Reset(ctx, m.covenantID); err != nil {
		return fmt.Errorf("reset monitor %s: %w", m.covenantID, err)
	}
	return nil
}

func (m *Monitor) entries(ctx context.Context) ([]Entry, error) {
	es, err := m.cfg.log.Entries(ctx, m.covenantID, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("audit log %s: %w", m.covenantID, err)
	}
	return es, nil
}

func hashes(es []Entry) []string {
	h := make([]string, len(es))
	for i := range es {
		h[i] = es[i].Hash
	}
	return h
}
