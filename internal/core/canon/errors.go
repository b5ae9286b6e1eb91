package canon

import (
	"errors"
	"strconv"
)

// Limits bound what Parse accepts from untrusted input. A zero field selects
// the default.
type Limits struct {
	// MaxBytes is the largest input, in bytes, that ParseLimits will read.
	// It is checked before any parsing starts.
	MaxBytes int
	// MaxDepth is the deepest nesting of arrays and objects allowed. A
	// scalar at top level has depth 0; "[]" and "{}" have depth 1. Values
	// above MaxDepthLimit are treated as MaxDepthLimit, which keeps the
	// parser's recursion within a few tens of megabytes of stack.
	MaxDepth int
}

const (
	// DefaultMaxBytes is the input size limit used when Limits.MaxBytes is 0.
	DefaultMaxBytes = 8 << 20
	// DefaultMaxDepth is the nesting limit used when Limits.MaxDepth is 0.
	DefaultMaxDepth = 256
	// MaxDepthLimit is the largest nesting limit ParseLimits applies.
	MaxDepthLimit = 100000
)

// Sentinel errors for Parse failures, matched with errors.Is. The concrete
// error returned by Parse is always a *SyntaxError that wraps one of them.
var (
	// ErrSyntax reports input that is not JSON as JavaScript's JSON.parse
	// accepts it.
	ErrSyntax = errors.New("canon: invalid JSON")
	// ErrTooLarge reports input longer than Limits.MaxBytes.
	ErrTooLarge = errors.New("canon: input too large")
	// ErrTooDeep reports nesting deeper than Limits.MaxDepth.
	ErrTooDeep = errors.New("canon: nesting too deep")
)

// SyntaxError describes why and where Parse rejected its input.
type SyntaxError struct {
	// Offset is the byte offset in the input at which the problem was
	// found (for ErrTooLarge, the limit that was exceeded).
	Offset int
	// Msg says what was expected there, for example
	// "expected ',' or '}' after object member, found 'x'".
	Msg string
	// Err is ErrSyntax, ErrTooLarge or ErrTooDeep.
	Err error
}

// Error returns the sentinel's text, the offset and the detail.
func (e *SyntaxError) Error() string {
	return e.Err.Error() + " at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Unwrap returns the sentinel (ErrSyntax, ErrTooLarge or ErrTooDeep).
func (e *SyntaxError) Unwrap() error { return e.Err }
