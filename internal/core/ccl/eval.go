package ccl

import (
	"fmt"
	"log/slog"

	"github.com/stele-go/stele/internal/core/canon"
)

// DefaultDenyReason is Result.Reason when no permit or deny applies.
const DefaultDenyReason = "No matching rules found; default deny"

// Result is the outcome of Evaluate. MatchedRule is the winning statement, nil
// on default deny; Severity is the winner's severity ("" on default deny);
// Reason is the reference's text ("Matched <type> rule for <action pattern> on
// <resource pattern>" or DefaultDenyReason).
type Result struct {
	Permitted   bool
	MatchedRule *Statement
	Reason      string
	Severity    string
}

// Evaluator evaluates policies. Its only state is configuration, so one
// Evaluator may be shared by any number of goroutines. The zero Evaluator is
// ready to use and logs to slog.Default().
type Evaluator struct {
	logger *slog.Logger
}

// Option configures an Evaluator. An invalid option makes NewEvaluator fail
// with an error matching ErrInvalidOption.
type Option func(*Evaluator) error

// WithLogger sets the logger that receives warnings, such as a `matches` test
// that ran out of time. By default the evaluator uses slog.Default() as it is
// when the warning is logged.
func WithLogger(l *slog.Logger) Option {
	return func(e *Evaluator) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		e.logger = l
		return nil
	}
}

// NewEvaluator returns an Evaluator configured by opts.
func NewEvaluator(opts ...Option) (*Evaluator, error) {
	e := &Evaluator{}
	for _, o := range opts {
		if err := o(e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *Evaluator) log() *slog.Logger {
	if e.logger != nil {
		return e.logger
	}
	return slog.Default()
}

// Evaluate decides action on resource under doc with the zero Evaluator; see
// (*Evaluator).Evaluate.
func Evaluate(doc *Document, action, resource string, ctx *canon.Object) Result {
	var e Evaluator
	return e.Evaluate(doc, action, resource, ctx)
}

// Evaluate decides whether action on resource is permitted under doc, with ctx
// (nil means an empty object) as the context for conditions (PROTOCOL.md
// §4.6). A permit or deny applies when its action and resource patterns match
// and its condition, if any, holds. Of the applicable statements the most
// specific wins; on equal specificity a deny beats a permit; otherwise the
// earlier wins (permits in source order, then denies). No applicable
// statement is a default deny. Require and limit statements never affect the
// decision.
//
// For a parsed document Evaluate allocates nothing unless a condition needs
// to (a `matches` test, or `in` on a number).
func (e *Evaluator) Evaluate(doc *Document, action, resource string, ctx *canon.Object) Result {
	if doc == nil {
		return Result{Reason: DefaultDenyReason}
	}
	norm := trimSlashes(resource)
	var best *Statement
	bestSpec := -1
	// One scan finds the first element of the reference's stable sort:
	// a statement wins over the current best when it is more specific, or
	// equally specific and a deny where the best is not.
	consider := func(list []*Statement) {
		for _, s := range list {
			spec, ok := e.applies(s, action, resource, norm, ctx)
			if !ok {
				continue
			}
			if best == nil || spec > bestSpec || spec == bestSpec && s.Type == Deny && best.Type != Deny {
				best, bestSpec = s, spec
			}
		}
	}
	consider(doc.Permits)
	consider(doc.Denies)
	if best == nil {
		return Result{Reason: DefaultDenyReason}
	}
	return Result{
		Permitted:   best.Type == Permit,
		MatchedRule: best,
		Reason:      reason(best),
		Severity:    best.Severity,
	}
}

// AllMatches returns the statements that apply to action on resource under
// doc with the zero Evaluator; see (*Evaluator).AllMatches.
func AllMatches(doc *Document, action, resource string, ctx *canon.Object) []*Statement {
	var e Evaluator
	return e.AllMatches(doc, action, resource, ctx)
}

// AllMatches returns the reference's allMatches: the applicable permits in
// source order, then the applicable denies, then the applicable require
// statements (obligations), each matched as in Evaluate. It returns nil when
// nothing applies.
func (e *Evaluator) AllMatches(doc *Document, action, resource string, ctx *canon.Object) []*Statement {
	if doc == nil {
		return nil
	}
	norm := trimSlashes(resource)
	var out []*Statement
	for _, list := range [...][]*Statement{doc.Permits, doc.Denies, doc.Obligations} {
		for _, s := range list {
			if _, ok := e.applies(s, action, resource, norm, ctx); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// applies reports whether s applies to action on resource (norm is resource
// without leading and trailing slashes) and, if so, its specificity.
func (e *Evaluator) applies(s *Statement, action, resource, norm string, ctx *canon.Object) (int, bool) {
	var spec int
	if s.fresh() {
		if !matchSegments(s.pre.act, action, '.') || !matchSegments(s.pre.res, norm, '/') {
			return 0, false
		}
		spec = s.pre.spec
	} else {
		if !MatchAction(s.Action, action) || !MatchResource(s.Resource, resource) {
			return 0, false
		}
		spec = Specificity(s.Action, s.Resource)
	}
	if s.Condition != nil && !e.eval(s.Condition, ctx, 0) {
		return 0, false
	}
	return spec, true
}
