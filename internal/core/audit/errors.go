package audit

import (
	"errors"
	"fmt"

	"github.com/stele-go/stele/internal/core/ccl"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrInvalidInput reports a bad argument: blank covenant id, action or
	// constraints, oversized input, an index out of range (STELE_E940).
	ErrInvalidInput = errors.New("audit: invalid input (STELE_E940)")
	// ErrInvalidOption reports a bad Monitor option.
	ErrInvalidOption = errors.New("audit: invalid option")
	// ErrDenied is matched by every *MonitorDeniedError (STELE_E701).
	ErrDenied = errors.New("audit: action denied (STELE_E701)")
	// ErrIntegrity reports an audit log or chain whose hashes or links do not
	// check out; the concrete error is an *IntegrityError (STELE_E702).
	ErrIntegrity = errors.New("audit: chain integrity check failed (STELE_E702)")
	// ErrHeadMoved reports an entry that does not extend the head it is
	// appended to (its index or previousHash is not the head's).
	ErrHeadMoved = errors.New("audit: entry does not extend the log head")
)

// MonitorDeniedError is returned by a Monitor in enforce mode when it denies
// an action. The entry that records the denial has been appended to the log.
type MonitorDeniedError struct {
	Action   string
	Resource string
	// MatchedRule is the statement that decided: a deny, or for a rate-limit
	// denial the permit that would have allowed the action. Nil when no rule
	// matched (default deny).
	MatchedRule *ccl.Statement
	Severity    string
	Reason      string
	// Entry is the audit entry recording the denial.
	Entry Entry
}

// Error returns the reference's message: "Action '<a>' on resource '<r>'
// denied: matched <type> rule" or "...: no matching permit rule".
func (e *MonitorDeniedError) Error() string {
	desc := "no matching permit rule"
	if e.MatchedRule != nil {
		desc = "matched " + string(e.MatchedRule.Type) + " rule"
	}
	return fmt.Sprintf("Action '%s' on resource '%s' denied: %s", e.Action, e.Resource, desc)
}

// Is reports whether target is ErrDenied.
func (e *MonitorDeniedError) Is(target error) bool { return target == ErrDenied }

// IntegrityError locates the first broken entry of a log or chain.
type IntegrityError struct {
	// Index is the position of the first entry that fails.
	Index int
	// Reason says which check failed.
	Reason string
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("audit: integrity check failed at entry %d: %s", e.Index, e.Reason)
}

// Unwrap returns ErrIntegrity.
func (e *IntegrityError) Unwrap() error { return ErrIntegrity }
