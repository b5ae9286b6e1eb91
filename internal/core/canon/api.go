package canon

// API CONTRACT (stubs; the canon implementer replaces this file).

import "errors"

// Limits bound what Parse accepts from untrusted input.
type Limits struct {
	MaxBytes int // 0 means DefaultMaxBytes
	MaxDepth int // 0 means DefaultMaxDepth
}

const (
	DefaultMaxBytes = 8 << 20
	DefaultMaxDepth = 256
)

// ErrSyntax, ErrTooLarge, ErrTooDeep are matched with errors.Is; the concrete
// error is a *SyntaxError carrying the byte offset.
var (
	ErrSyntax   = errors.New("canon: invalid JSON")
	ErrTooLarge = errors.New("canon: input too large")
	ErrTooDeep  = errors.New("canon: nesting too deep")
)

// Parse decodes JSON text into the value model with JS JSON.parse semantics.
func Parse(data []byte) (any, error) { return ParseLimits(data, Limits{}) }

// ParseLimits is Parse with explicit limits.
func ParseLimits(data []byte, l Limits) (any, error) { panic("unimplemented") }

// AppendCanonical appends the canonical form of v (reference canonicalizeJson).
func AppendCanonical(dst []byte, v any) []byte { panic("unimplemented") }

// AppendCanonicalExcept appends the canonical form of o without the named
// top-level members (used for covenant canonical forms: id, signature,
// countersignatures).
func AppendCanonicalExcept(dst []byte, o *Object, exclude ...string) []byte {
	panic("unimplemented")
}

// Canonical returns the canonical form of v.
func Canonical(v any) []byte { return AppendCanonical(nil, v) }

// AppendJSON appends plain JSON.stringify(v): JS escaping and numbers, members
// in JavaScript property order (array-index keys ascending, then insertion order).
func AppendJSON(dst []byte, v any) []byte { panic("unimplemented") }

// AppendIndent appends JSON.stringify(v, null, 2).
func AppendIndent(dst []byte, v any) []byte { panic("unimplemented") }

// JSONSize returns len(AppendJSON(nil, v)) without building the bytes.
func JSONSize(v any) int { panic("unimplemented") }

// AppendNumber appends JS Number.prototype.toString of f.
func AppendNumber(dst []byte, f float64) []byte { panic("unimplemented") }

// AppendQuote appends a JS-quoted string (JSON.stringify of a string).
func AppendQuote(dst []byte, s string) []byte { panic("unimplemented") }

// JSString returns JavaScript String(v).
func JSString(v any) string { panic("unimplemented") }

// CompareKeys orders keys as JavaScript's default Array.prototype.sort (UTF-16
// code units). It does not apply the array-index rule.
func CompareKeys(a, b string) int { panic("unimplemented") }

// StrictEqual reports JS === for scalars (numbers compared numerically);
// objects and arrays are never equal to anything.
func StrictEqual(a, b any) bool { panic("unimplemented") }
