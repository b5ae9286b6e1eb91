package ccl

import (
	"errors"
	"strconv"
)

// Sentinel errors, matched with errors.Is. Every error returned by Parse is a
// *SyntaxError and matches ErrSyntax; the limit errors also match ErrTooLarge
// or ErrTooDeep.
var (
	ErrSyntax        = errors.New("ccl: syntax error")
	ErrTooLarge      = errors.New("ccl: source too large")
	ErrTooDeep       = errors.New("ccl: condition nested too deeply")
	ErrInvalidOption = errors.New("ccl: invalid option")
)

// emptyInputDetail is the reference's message for an empty or blank source.
const emptyInputDetail = "CCL parse error: input is empty. Provide at least one statement, e.g.: permit read on '/data/**'"

// SyntaxError is the reference's CCLSyntaxError. Line and Column are 1-based;
// columns count UTF-16 code units, as the reference does. Error() is
// "CCL Syntax Error at <Line>:<Column>: <Detail>" with the reference's exact
// detail text.
type SyntaxError struct {
	Line, Column int
	Detail       string
	// Err is ErrTooLarge or ErrTooDeep for the limits this implementation
	// adds, nil for the reference's own errors.
	Err error
}

func (e *SyntaxError) Error() string {
	b := make([]byte, 0, 32+len(e.Detail))
	b = append(b, "CCL Syntax Error at "...)
	b = strconv.AppendInt(b, int64(e.Line), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(e.Column), 10)
	b = append(b, ": "...)
	b = append(b, e.Detail...)
	return string(b)
}

// Is reports whether target is ErrSyntax or e.Err.
func (e *SyntaxError) Is(target error) bool {
	return target == ErrSyntax || (e.Err != nil && target == e.Err)
}

// Unwrap returns e.Err.
func (e *SyntaxError) Unwrap() error { return e.Err }
