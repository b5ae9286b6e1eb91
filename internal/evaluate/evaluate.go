// Package evaluate decides agent actions against stored covenants and keeps
// the tamper-evident audit trail of every decision in the shared store.
//
// A Service loads a covenant from the store once per process, resolves its
// delegation chain, folds the chain's constraints into the effective policy
// (covenant.EffectiveConstraints) and keeps an audit.Monitor for it in a
// bounded LRU cache. Each evaluation is then one decision in memory plus the
// store's atomic rate-limit step (only when a limit statement matches) and
// one atomic audit append; every gateway process sharing the store writes
// one hash chain per covenant and counts one window per limit.
//
// The same Service answers the HTTP API (internal/gateway) and the NATS
// request-reply endpoint stele.evaluate (RegisterMicro).
//
// # Covenants outside their validity period
//
// A covenant whose expiresAt has passed, or whose activatesAt has not come
// yet, permits nothing: the evaluation is denied with severity critical and
// a reason naming the instant ("Covenant expired at …" / "Covenant is not
// active until …"), without evaluating the constraints or counting any rate
// limit, and the denial is still appended to the audit trail, so attempts to
// use a lapsed covenant are on record. The instants follow the verifier's
// not_expired and active checks (expired when now ≥ expiresAt; active when
// now ≥ activatesAt; an unparseable instant counts as expired / not active;
// a non-string bound is read as new Date(value) reads it, through
// covenant.Document.Expiry and Activation, so a numeric expiresAt counts).
//
// # Chains that broaden
//
// A covenant in a delegation chain where some link's child broadens its
// parent (covenant.ValidateChainNarrowing, the check verification's
// chain_narrowing makes) permits nothing either: the effective constraints
// are the union of the chain's permits, so the broadening permit would
// otherwise be granted though no ancestor delegated it. The evaluation is
// denied with severity critical, a reason naming the link, and recorded. So
// is one whose constraints, or an ancestor's, do not parse (such covenants
// are stored, being authentic, though they fail ccl_parses).
//
// A chain that narrows by ValidateNarrowing's pattern test can still permit
// more than an ancestor: a child may drop the condition of its parent's
// permit, or slip past a parent's deny with staggered wildcards. So every
// ancestor is also evaluated alone, and an action one of them refuses (by a
// deny of its own, by its default deny when it has permits, or because it
// has expired or is not active yet) is denied with severity critical, a
// reason naming the ancestor, and recorded, counting no rate limit.
//
// # Revoked keys
//
// With Config.Revocations, a covenant whose issuer key, the issuer key of an
// ancestor in its chain, or the key of one of its countersignatures is on
// the shared revocation list permits nothing either (as such a covenant fails
// verification): the evaluation is denied with severity critical and a reason naming
// the key, the instant and the reason of the revocation, and recorded. The
// list is cached per Service for Config.RevocationRefresh, so a revocation
// takes effect in every process within that time.
//
// The Service does not re-verify signatures: documents reach the store only
// through verification (PUT /v1/covenants, verify jobs, the signer).
package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/registry"
	"github.com/stele-go/stele/internal/store"
)

// Sentinel errors, matched with errors.Is. Errors about one member of a
// request are *Error values that wrap one of them and name the member.
var (
	// ErrInvalid marks a bad request (a missing or malformed member, an
	// oversized context, an out-of-range parameter).
	ErrInvalid = errors.New("evaluate: invalid request")
	// ErrMissing marks a required member that is absent (wraps ErrInvalid).
	ErrMissing = fmt.Errorf("evaluate: missing member: %w", ErrInvalid)
	// ErrMalformed marks a body that is not a JSON object (wraps
	// ErrInvalid).
	ErrMalformed = fmt.Errorf("evaluate: malformed JSON: %w", ErrInvalid)
	// ErrTooLarge marks a body over MaxRequestBytes (wraps ErrInvalid).
	ErrTooLarge = fmt.Errorf("evaluate: request too large: %w", ErrInvalid)
	// ErrUnknown marks a member the request does not have (wraps
	// ErrInvalid). A member given twice is ErrInvalid, as in the gateway's
	// other requests.
	ErrUnknown = fmt.Errorf("evaluate: unknown member: %w", ErrInvalid)
	// ErrNotFound marks an unknown covenant or audit entry.
	ErrNotFound = errors.New("evaluate: not found")
	// ErrTrimmed is returned by Export when the trail was trimmed past the
	// entries it was about to read.
	ErrTrimmed = errors.New("evaluate: trimmed during the export before they were read")
	// ErrInvalidConfig wraps every rejected Config.
	ErrInvalidConfig = errors.New("evaluate: invalid config")
)

// Error is a request error naming the offending member ("covenantId",
// "context", "index", …). Err is one of the sentinels above.
type Error struct {
	Err     error
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) *Error {
	return &Error{Err: ErrInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Limits of a request.
const (
	// MaxRequestBytes bounds the JSON of one evaluation request.
	MaxRequestBytes = 64 << 10
	// MaxContextDepth bounds the nesting of the context object.
	MaxContextDepth = 64
	// DefaultCacheSize is the number of covenants whose parsed policy a
	// Service keeps when Config.CacheSize is 0.
	DefaultCacheSize = 10_000
	// MaxChainDepth is the number of ancestors followed when computing the
	// effective constraints.
	MaxChainDepth = 16
)

// Config wires a Service.
type Config struct {
	// Documents is where covenants are read (required).
	Documents store.Documents
	// Audit holds the audit trails (required).
	Audit store.AuditLog
	// Limits counts the limit statements' windows (required).
	Limits store.RateLimits
	// Resolver finds the ancestors of a covenant; by default
	// registry.NewResolver(Documents).
	Resolver covenant.Resolver
	// Now is the clock of decisions, audit timestamps and rate windows
	// (default time.Now).
	Now func() time.Time
	// CacheSize bounds the covenants kept parsed (default DefaultCacheSize).
	CacheSize int
	// Revocations, when set, is the shared revocation list: a covenant whose
	// issuer key, or an ancestor's, is revoked permits nothing. The Service
	// keeps a copy re-read every RevocationRefresh (default
	// DefaultRevocationRefresh), so a revocation takes effect within that
	// time in every process (at once after RevocationsChanged).
	Revocations       store.Revocations
	RevocationRefresh time.Duration
	// Logger receives denials (debug) and failures (default slog.Default()).
	Logger *slog.Logger
}

// Service evaluates actions and serves audit trails. It is safe for
// concurrent use.
type Service struct {
	docs    store.Documents
	audit   store.AuditLog
	limits  store.RateLimits
	log     audit.Log
	limiter audit.RateLimiter
	res     covenant.Resolver
	now     func() time.Time
	logger  *slog.Logger
	cache   *monitorCache
	revs    *revocations // nil: no revocation list

	hashPage, verifyPage int // trail page sizes (trail.go)
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Documents == nil || cfg.Audit == nil || cfg.Limits == nil {
		return nil, fmt.Errorf("%w: documents, audit log and rate limits are required", ErrInvalidConfig)
	}
	if cfg.CacheSize < 0 || cfg.RevocationRefresh < 0 {
		return nil, fmt.Errorf("%w: negative cache size or revocation refresh", ErrInvalidConfig)
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Resolver == nil {
		cfg.Resolver = registry.NewResolver(cfg.Documents)
	}
	s := &Service{
		docs:    cfg.Documents,
		audit:   cfg.Audit,
		limits:  cfg.Limits,
		log:     store.AuditLogOf(cfg.Audit),
		limiter: store.RateLimiterOf(cfg.Limits),
		res:     cfg.Resolver,
		now:     cfg.Now,
		logger:  cfg.Logger,

		hashPage:   defaultHashPage,
		verifyPage: defaultVerifyPage,
	}
	if cfg.Revocations != nil {
		if cfg.RevocationRefresh == 0 {
			cfg.RevocationRefresh = DefaultRevocationRefresh
		}
		s.revs = newRevocations(cfg.Revocations, cfg.RevocationRefresh, cfg.Now)
	}
	s.cache = newMonitorCache(cfg.CacheSize, s.load)
	return s, nil
}

// Request is one evaluation: the JSON body of POST /v1/evaluate and of a
// stele.evaluate request.
type Request struct {
	CovenantID string `json:"covenantId"`
	Action     string `json:"action"`
	Resource   string `json:"resource"`
	// Context is a JSON object (absent or null: {}).
	Context json.RawMessage `json:"context,omitempty"`
}

// Decision is the answer to an evaluation.
type Decision struct {
	Permitted bool `json:"permitted"`
	// Severity is the matched rule's severity ("" for a default deny).
	Severity string `json:"severity"`
	Reason   string `json:"reason"`
	// MatchedRule is the statement that decided, nil for a default deny and
	// for a covenant outside its validity period.
	MatchedRule *MatchedRule `json:"matchedRule"`
	// AuditEntry locates the entry recording the decision.
	AuditEntry EntryRef `json:"auditEntry"`
}

// MatchedRule identifies a CCL statement.
type MatchedRule struct {
	Type     string `json:"type"`
	Action   string `json:"action"`
	Resource string `json:"resource"`
	Line     int    `json:"line"`
}

// EntryRef is an audit entry's index and hash.
type EntryRef struct {
	Index int    `json:"index"`
	Hash  string `json:"hash"`
}

// ParseRequest decodes a request body (at most MaxRequestBytes) and checks
// its members; errors are *Error naming the member (field "" for a body
// that is not a JSON object). The body is one JSON object whose members are
// among covenantId, action, resource and context, spelled exactly so and
// each given at most once: anything else is refused (ErrUnknown for another
// member, ErrInvalid for one given twice), so that no request means one
// thing here and another to a proxy in front.
func ParseRequest(data []byte) (Request, error) {
	var r Request
	if len(data) > MaxRequestBytes {
		return r, &Error{Err: ErrTooLarge, Message: fmt.Sprintf("request body of %d bytes exceeds %d", len(data), MaxRequestBytes)}
	}
	malformed := func(err error) (Request, error) {
		return r, &Error{Err: ErrMalformed, Message: "body must be a JSON object: " + err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil {
		return malformed(err)
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return r, &Error{Err: ErrMalformed, Message: "body must be a JSON object"}
	}
	var seen [4]bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return malformed(err)
		}
		key, _ := tok.(string)
		var dst any
		var slot int
		switch key {
		case "covenantId":
			dst, slot = &r.CovenantID, 0
		case "action":
			dst, slot = &r.Action, 1
		case "resource":
			dst, slot = &r.Resource, 2
		case "context":
			dst, slot = &r.Context, 3
		default:
			return r, &Error{Err: ErrUnknown, Field: key, Message: "is not a member of an evaluation request (covenantId, action, resource, context)"}
		}
		if seen[slot] {
			return r, &Error{Err: ErrInvalid, Field: key, Message: "is given twice"}
		}
		seen[slot] = true
		if err := dec.Decode(dst); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return r, invalid(key, "must be a JSON %s", jsonKindOf(key))
			}
			return malformed(err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return r, &Error{Err: ErrMalformed, Message: "body must be one JSON object, with nothing after it"}
	}
	if r.CovenantID == "" {
		return r, &Error{Err: ErrMissing, Field: "covenantId", Message: "is required"}
	}
	if r.Action == "" {
		return r, &Error{Err: ErrMissing, Field: "action", Message: "is required"}
	}
	return r, nil
}

func jsonKindOf(field string) string {
	if field == "context" {
		return "object"
	}
	return "string"
}

// checkID returns id in lower case if it is 64 hex digits; field names it
// in the error.
func checkID(field, id string) (string, error) {
	if len(id) != 64 {
		return "", invalid(field, "must be a covenant ID: 64 hex characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", invalid(field, "must be a covenant ID: 64 hex characters")
		}
	}
	return strings.ToLower(id), nil
}

// parseContext parses a request's context member.
func parseContext(raw json.RawMessage) (*canon.Object, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	v, err := canon.ParseLimits(raw, canon.Limits{MaxBytes: MaxRequestBytes, MaxDepth: MaxContextDepth})
	if err != nil {
		return nil, invalid("context", "%v", err)
	}
	o, ok := v.(*canon.Object)
	if !ok || o == nil {
		return nil, invalid("context", "must be a JSON object")
	}
	return o, nil
}

// Evaluate decides req.Action on req.Resource under the effective
// constraints of req.CovenantID's chain, applying its rate limits across
// every process sharing the store, and appends the decision to the
// covenant's audit trail. A denial is a Decision, not an error. Errors:
// *Error wrapping ErrInvalid (naming the member) or ErrNotFound (field
// "covenantId"), else a store or context failure, in which case nothing may
// be assumed permitted.
func (s *Service) Evaluate(ctx context.Context, req Request) (Decision, error) {
	id, err := checkID("covenantId", req.CovenantID)
	if err != nil {
		return Decision{}, err
	}
	if ccl.IsBlank(req.Action) {
		return Decision{}, invalid("action", "must not be blank")
	}
	if len(req.Action) > audit.MaxNameBytes {
		return Decision{}, invalid("action", "longer than %d bytes", audit.MaxNameBytes)
	}
	if len(req.Resource) > audit.MaxNameBytes {
		return Decision{}, invalid("resource", "longer than %d bytes", audit.MaxNameBytes)
	}
	c, err := parseContext(req.Context)
	if err != nil {
		return Decision{}, err
	}
	m, err := s.cache.get(ctx, id)
	if err != nil {
		return Decision{}, err
	}
	now := s.now()
	reason := m.outside(now)
	if reason == "" {
		reason = m.invalid
	}
	if reason == "" {
		if reason, err = s.revokedReason(ctx, id, m); err != nil {
			return Decision{}, fmt.Errorf("evaluate %s on covenant %s: %w", req.Action, id, err)
		}
	}
	if reason == "" {
		reason = m.chainRefusal(now, req.Action, req.Resource, c)
	}
	if reason != "" {
		e, err := s.recordLapsed(ctx, id, req.Action, req.Resource, c, now, reason)
		if err != nil {
			return Decision{}, err
		}
		return decisionOf(e), nil
	}
	e, err := m.mon.Evaluate(ctx, req.Action, req.Resource, c)
	var denied *audit.MonitorDeniedError
	switch {
	case err == nil, errors.As(err, &denied):
		return decisionOf(e), nil
	case errors.Is(err, audit.ErrInvalidInput):
		// The members were checked above, so what the monitor refuses is
		// the context (too large once canonically encoded).
		return Decision{}, &Error{Err: ErrInvalid, Field: "context", Message: err.Error()}
	default:
		return Decision{}, fmt.Errorf("evaluate %s on covenant %s: %w", req.Action, id, err)
	}
}

func decisionOf(e audit.Entry) Decision {
	d := Decision{
		Permitted:  e.Result.Permitted,
		Severity:   e.Result.Severity,
		Reason:     e.Result.Reason,
		AuditEntry: EntryRef{Index: e.Index, Hash: e.Hash},
	}
	if r := e.Result.MatchedRule; r != nil {
		d.MatchedRule = &MatchedRule{Type: string(r.Type), Action: r.Action, Resource: r.Resource, Line: r.Line}
	}
	return d
}

// recordLapsed appends the denial of an action on a covenant outside its
// validity period; the entry has the shape a Monitor writes.
func (s *Service) recordLapsed(ctx context.Context, id, action, resource string, c *canon.Object, now time.Time, reason string) (audit.Entry, error) {
	c = canon.CloneObject(c)
	if c == nil {
		c = canon.NewObject(0)
	}
	ts := jstime.Format(now)
	e, err := s.audit.AppendAudit(ctx, id, func(prev audit.Head) (audit.Entry, error) {
		e := audit.Entry{
			Index:        prev.Len,
			Timestamp:    ts,
			Action:       action,
			Resource:     resource,
			Context:      c,
			Result:       audit.Result{Permitted: false, Reason: reason, Severity: ccl.SeverityCritical},
			Outcome:      audit.Denied,
			PreviousHash: prev.Hash,
		}
		return e.Seal(), nil
	})
	if err != nil {
		return audit.Entry{}, fmt.Errorf("record %s on covenant %s: %w", action, id, err)
	}
	s.logger.Debug("action denied", "covenant", id, "action", action, "resource", resource, "reason", reason)
	return e, nil
}
