package ccl

import (
	"time"

	"github.com/dlclark/regexp2"
)

// Limits on what Parse accepts and on what it compiles.
const (
	// MaxStatements is the protocol's MAX_CONSTRAINTS. Parse does not enforce
	// it (the reference does not either); covenant verification does.
	MaxStatements = 1000

	// MaxSourceBytes bounds the source Parse accepts: the protocol's
	// MAX_DOCUMENT_SIZE, which a document's constraints cannot exceed.
	MaxSourceBytes = 1 << 20

	// MaxConditionDepth bounds the nesting of `not` and parentheses in one
	// condition.
	MaxConditionDepth = 1000

	// MaxRegexpLength bounds a `matches` pattern, in bytes. A longer pattern
	// never matches.
	MaxRegexpLength = 1024

	// RegexpMatchTimeout bounds one `matches` test. A test that runs out of
	// time is tried once more (a wall-clock timeout also fires when the
	// goroutine was only descheduled); if it runs out of time again it does
	// not match and is logged. The regular-expression engine (regexp2)
	// checks its deadline against a coarse clock that ticks every 100 ms, so
	// a runaway test actually stops after 100–200 ms per attempt. That clock
	// is a goroutine regexp2 runs for about a second after the last test with
	// a timeout (goleak users: ignore github.com/dlclark/regexp2.runClock).
	RegexpMatchTimeout = 10 * time.Millisecond
)

// StatementType is permit, deny, require or limit.
type StatementType string

// The four statement types.
const (
	Permit  StatementType = "permit"
	Deny    StatementType = "deny"
	Require StatementType = "require"
	Limit   StatementType = "limit"
)

// Severity levels. Statements without a severity clause have SeverityHigh.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityMedium   = "medium"
	SeverityLow      = "low"
)

// Condition is a simple comparison (Field, Operator, Value) or, when Type is
// "and", "or" or "not", a compound over Conditions ("not" uses only the first).
//
// Value is a float64, bool, string or []string, as the parser produces them:
// numbers are integers read as float64, the bare words true and false are
// booleans, every other bare word is a string, and array elements are always
// strings. Operator is one of = != < > <= >= contains not_contains in not_in
// matches starts_with ends_with.
type Condition struct {
	Type       string // "", "and", "or", "not"
	Field      string
	Operator   string
	Value      any // float64, bool, string or []string
	Conditions []*Condition

	// re is the compiled pattern of a `matches` condition, compiled from reSrc
	// at parse time; reState says why it is absent.
	re      *regexp2.Regexp
	reSrc   string
	reState regexpState
}

type regexpState uint8

const (
	reNone    regexpState = iota // not compiled (not a parsed `matches`)
	reOK                         // re is valid for reSrc
	reInvalid                    // reSrc does not compile
	reTooLong                    // reSrc is longer than MaxRegexpLength
)

// isCompound reports whether c combines other conditions. Like the reference,
// only the three known combinators count; any other Type is read as a simple
// comparison.
func (c *Condition) isCompound() bool {
	return c.Type == "and" || c.Type == "or" || c.Type == "not"
}

// Statement is one parsed statement. Line is the line of its keyword.
// Resource is empty for a limit; Count and PeriodSeconds are set only for a
// limit (PeriodSeconds is the period converted to seconds).
type Statement struct {
	Type          StatementType
	Action        string
	Resource      string // empty for limit
	Condition     *Condition
	Severity      string
	Line          int
	Count         float64 // limit only
	PeriodSeconds float64 // limit only

	// Derived at parse time from Type, Action and Resource (see compiled).
	pre compiled
}

// compiled holds what Parse derives from a statement so that evaluation
// allocates nothing: the patterns split into segments, the specificity and
// the reason text. It is valid only while the statement still has the Type,
// Action and Resource it was derived from; otherwise the slow paths recompute.
type compiled struct {
	typ      StatementType
	action   string
	resource string
	act      []segment
	res      []segment // resource pattern without leading/trailing '/'
	spec     int
	reason   string
	ok       bool
}

// fresh reports whether s.pre still describes s.
func (s *Statement) fresh() bool {
	return s.pre.ok && s.pre.action == s.Action && s.pre.resource == s.Resource && s.pre.typ == s.Type
}

// Document is a parsed policy. Statements holds every statement in source
// order; the other slices are views of it by type (Obligations are the
// require statements).
type Document struct {
	Statements  []*Statement
	Permits     []*Statement
	Denies      []*Statement
	Obligations []*Statement
	Limits      []*Statement
}

// newDocument files statements by type, as the reference's buildDocument.
func newDocument(stmts []*Statement) *Document {
	doc := &Document{}
	fileStatements(doc, stmts, make([]*Statement, len(stmts)))
	return doc
}

// fileStatements sets doc's Statements to stmts and its type views to parts of
// spare (at least len(stmts) long). Full slice expressions keep an append to
// one view from overwriting the next.
func fileStatements(doc *Document, stmts, spare []*Statement) {
	var np, nd, no, nl int
	for _, s := range stmts {
		switch s.Type {
		case Permit:
			np++
		case Deny:
			nd++
		case Require:
			no++
		case Limit:
			nl++
		}
	}
	doc.Statements = stmts
	doc.Permits = spare[0:0:np]
	doc.Denies = spare[np : np : np+nd]
	doc.Obligations = spare[np+nd : np+nd : np+nd+no]
	doc.Limits = spare[np+nd+no : np+nd+no : np+nd+no+nl]
	for _, s := range stmts {
		switch s.Type {
		case Permit:
			doc.Permits = append(doc.Permits, s)
		case Deny:
			doc.Denies = append(doc.Denies, s)
		case Require:
			doc.Obligations = append(doc.Obligations, s)
		case Limit:
			doc.Limits = append(doc.Limits, s)
		}
	}
}
