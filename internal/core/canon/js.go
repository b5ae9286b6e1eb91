package canon

import (
	"errors"
	"math"
	"strings"
)

// ErrNoPrimitive is returned by ToString for a value JavaScript's String()
// cannot convert: an object with its own "toString" member (which, in a
// decoded document, is never a function), or an array containing one.
var ErrNoPrimitive = errors.New("canon: cannot convert object to primitive value")

// ToString is JavaScript's String(v), including its failure: where String(v)
// would throw a TypeError it returns ErrNoPrimitive. Otherwise it returns
// JSString(v).
func ToString(v any) (string, error) {
	if !convertible(v) {
		return "", ErrNoPrimitive
	}
	return JSString(v), nil
}

// convertible reports whether String(v) succeeds in JavaScript. An object's
// conversion calls its toString member, then valueOf; a member of that name
// holding data shadows the callable one of Object.prototype. A "valueOf"
// member alone does not matter, as toString succeeds first; with a
// "toString" member, valueOf is tried and yields the object itself, which
// is not a primitive.
func convertible(v any) bool {
	switch x := v.(type) {
	case *Object:
		return !x.Has("toString")
	case []any:
		for _, e := range x {
			if !convertible(e) {
				return false
			}
		}
	}
	return true
}

// JSString returns JavaScript's String(v): null is "null", booleans "true" or
// "false", a string itself, a number as Number.prototype.toString writes it
// (as AppendNumber, except that NaN, Infinity and -Infinity are written so),
// an array as its elements' strings joined with "," (null elements give the
// empty string), and an object "[object Object]". Values are those the
// encoders accept. Where JavaScript's String(v) throws, JSString still
// returns "[object Object]" in place of the offending object; use ToString
// to detect that case.
func JSString(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		if x {
			return "true"
		}
		return "false"
	case string:
		return x
	case float64:
		switch {
		case math.IsNaN(x):
			return "NaN"
		case math.IsInf(x, 1):
			return "Infinity"
		case math.IsInf(x, -1):
			return "-Infinity"
		}
		var buf [32]byte
		return string(AppendNumber(buf[:0], x))
	case []any:
		var b strings.Builder
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if e != nil {
				b.WriteString(JSString(e))
			}
		}
		return b.String()
	case *Object:
		return "[object Object]"
	}
	return JSString(convert(v))
}

// StrictEqual reports JavaScript's a === b for scalars: both null, equal
// booleans, equal strings (byte for byte), or equal numbers compared
// numerically (so 0 === -0 and NaN !== NaN). Arrays and objects are never
// equal to anything, not even to themselves: values decoded from JSON are
// always distinct objects. Integer and float32 values are compared as the
// float64 they convert to.
func StrictEqual(a, b any) bool {
	a, b = scalar(a), scalar(b)
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	}
	return false
}

// scalar converts the convenience numeric types to float64 and leaves every
// other value as it is.
func scalar(v any) any {
	switch v.(type) {
	case nil, bool, float64, string, []any, *Object:
		return v
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32:
		return convert(v)
	}
	return v
}
