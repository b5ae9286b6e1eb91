// Package ccl implements the Covenant Constraint Language: lexer, parser,
// evaluator, merge, narrowing, serialiser and rate-limit check, with the
// reference's exact decisions.
package ccl

// API CONTRACT (stubs; the ccl implementer replaces this file and may add to it,
// but keeps these names and meanings).

import "github.com/stele-go/stele/internal/core/canon"

// MaxStatements is MAX_CONSTRAINTS.
const MaxStatements = 1000

// StatementType is permit, deny, require or limit.
type StatementType string

const (
	Permit  StatementType = "permit"
	Deny    StatementType = "deny"
	Require StatementType = "require"
	Limit   StatementType = "limit"
)

// Condition is a simple comparison (Field/Operator/Value) or, when Type is
// "and", "or" or "not", a compound over Conditions.
type Condition struct {
	Type       string // "", "and", "or", "not"
	Field      string
	Operator   string
	Value      any // float64, bool, string or []string
	Conditions []*Condition
}

// Statement is one parsed statement; Line is the line of its keyword.
type Statement struct {
	Type          StatementType
	Action        string
	Resource      string // empty for limit
	Condition     *Condition
	Severity      string
	Line          int
	Count         float64 // limit only
	PeriodSeconds float64 // limit only
}

// Document is a parsed policy.
type Document struct {
	Statements  []*Statement
	Permits     []*Statement
	Denies      []*Statement
	Obligations []*Statement
	Limits      []*Statement
}

// SyntaxError is CCLSyntaxError; Error() is "CCL Syntax Error at L:C: detail"
// (or the reference's empty-input message).
type SyntaxError struct {
	Line, Column int
	Detail       string
}

func (e *SyntaxError) Error() string { panic("unimplemented") }

// Parse parses CCL source.
func Parse(src string) (*Document, error) { panic("unimplemented") }

// Result is the outcome of Evaluate. MatchedRule is nil on default deny, and
// Severity is then "".
type Result struct {
	Permitted   bool
	MatchedRule *Statement
	Reason      string
	Severity    string
}

// Evaluate decides action on resource under doc with context ctx (may be nil).
func Evaluate(doc *Document, action, resource string, ctx *canon.Object) Result {
	panic("unimplemented")
}

// Merge returns the effective policy of child under parent.
func Merge(parent, child *Document) *Document { panic("unimplemented") }

// Violation is one way a child broadens its parent.
type Violation struct {
	ChildRule, ParentRule *Statement
	Reason                string
}

// NarrowingResult is validateNarrowing's result.
type NarrowingResult struct {
	Valid      bool
	Violations []Violation
}

// ValidateNarrowing checks that child only narrows parent.
func ValidateNarrowing(parent, child *Document) NarrowingResult { panic("unimplemented") }

// Serialize writes doc back to CCL text.
func Serialize(doc *Document) string { panic("unimplemented") }
