package ccl

import (
	"math"
	"strings"

	"github.com/stele-go/stele/internal/core/canon"
)

// Conditions (PROTOCOL.md §4.7).

// maxEvalDepth bounds the recursion over a condition tree. Parsed trees stay
// far below it; it only stops a hand-built cyclic tree.
const maxEvalDepth = 4*MaxConditionDepth + 16

// EvaluateCondition reports whether c holds in ctx (nil means an empty object),
// with the zero Evaluator.
func EvaluateCondition(c *Condition, ctx *canon.Object) bool {
	var e Evaluator
	return e.EvaluateCondition(c, ctx)
}

// EvaluateCondition reports whether c holds in ctx (nil means an empty
// object): "and" holds when all its conditions do, "or" when any does, "not"
// when its first does not; a comparison on a missing field is false whatever
// the operator.
func (e *Evaluator) EvaluateCondition(c *Condition, ctx *canon.Object) bool {
	return e.eval(c, ctx, 0)
}

func (e *Evaluator) eval(c *Condition, ctx *canon.Object, depth int) bool {
	if c == nil || depth > maxEvalDepth {
		return false
	}
	switch c.Type {
	case "and":
		for _, sub := range c.Conditions {
			if !e.eval(sub, ctx, depth+1) {
				return false
			}
		}
		return true
	case "or":
		for _, sub := range c.Conditions {
			if e.eval(sub, ctx, depth+1) {
				return true
			}
		}
		return false
	case "not":
		if len(c.Conditions) == 0 {
			return false
		}
		return !e.eval(c.Conditions[0], ctx, depth+1)
	}
	return e.compare(c, ctx)
}

// compare evaluates a simple condition.
func (e *Evaluator) compare(c *Condition, ctx *canon.Object) bool {
	f := resolveField(ctx, c.Field)
	if f.kind == fMissing {
		return false
	}
	v := c.Value
	switch c.Operator {
	case "=":
		return f.strictEqual(v)
	case "!=":
		return !f.strictEqual(v)
	case "<", ">", "<=", ">=":
		a, ok := f.number()
		if !ok {
			return false
		}
		b, ok := toNumber(v)
		if !ok {
			return false
		}
		switch c.Operator {
		case "<":
			return a < b
		case ">":
			return a > b
		case "<=":
			return a <= b
		}
		return a >= b
	case "contains", "not_contains":
		has, ok := f.contains(v)
		if c.Operator == "contains" {
			return ok && has
		}
		return !ok || !has
	case "in", "not_in":
		switch v.(type) {
		case []string, []any:
		default:
			return c.Operator == "not_in" // V is not an array
		}
		in := includesString(v, f.jsString())
		return in == (c.Operator == "in")
	case "matches":
		fs, ok1 := f.str()
		vs, ok2 := v.(string)
		return ok1 && ok2 && e.match(c, vs, fs)
	case "starts_with":
		fs, ok1 := f.str()
		vs, ok2 := v.(string)
		return ok1 && ok2 && strings.HasPrefix(fs, vs)
	case "ends_with":
		fs, ok1 := f.str()
		vs, ok2 := v.(string)
		return ok1 && ok2 && strings.HasSuffix(fs, vs)
	}
	return false
}

// match runs a `matches` test of pattern against subject, using the regexp
// compiled at parse time when c still holds that pattern.
func (e *Evaluator) match(c *Condition, pattern, subject string) bool {
	re, state := c.re, c.reState
	if state == reNone || c.reSrc != pattern {
		re, state = compileJSRegexp(pattern)
	}
	if state != reOK {
		return false
	}
	units := utf16Runes(subject)
	ok, err := re.MatchRunes(units)
	if err != nil {
		// The timeout is wall-clock time, so it also fires when this
		// goroutine was merely descheduled on a loaded machine. A second
		// attempt tells that apart from a pattern that really runs away
		// (which then costs two timeouts).
		ok, err = re.MatchRunes(units)
	}
	if err != nil {
		e.log().Warn("ccl: matches condition timed out twice; treated as false",
			"field", c.Field, "pattern", truncate(pattern, 64), "subject_bytes", len(subject),
			"timeout", RegexpMatchTimeout, "err", err)
		return false
	}
	return ok
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// includesString is JavaScript's v.includes(s) for a CCL array value.
func includesString(v any, s string) bool {
	switch a := v.(type) {
	case []string:
		for _, x := range a {
			if x == s {
				return true
			}
		}
	case []any:
		for _, x := range a {
			if xs, isStr := x.(string); isStr && xs == s {
				return true
			}
		}
	}
	return false
}

// toNumber returns v as a float64 when it is a number of any Go numeric type.
func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case int16:
		return float64(x), true
	case int8:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint8:
		return float64(x), true
	case float32:
		return float64(x), true
	}
	return 0, false
}

// fieldKind says what a field path resolved to.
type fieldKind uint8

const (
	fMissing     fieldKind = iota // JavaScript undefined
	fValue                        // a JSON value in v (nil is JSON null)
	fFunction                     // an inherited method; name is its name
	fObjectProto                  // Object.prototype (via __proto__)
	fArrayProto                   // Array.prototype (via __proto__)
)

// field is the result of resolving a field path. Besides JSON values the
// reference can reach what every JavaScript object inherits: a path such as
// "user.toString" or "tags.map" resolves to a function, "x.__proto__" to a
// prototype. Those are not missing, so they are modelled here; what matters
// of them is their type (never equal to a CCL value, not a string, not a
// number) and their String() text, which `in` compares.
type field struct {
	kind fieldKind
	v    any
	name string
}

// resolveField walks the dot-separated path from ctx (nil is an empty
// object). It allocates nothing.
func resolveField(ctx *canon.Object, path string) field {
	cur := field{kind: fValue, v: ctx}
	for off := 0; off <= len(path); {
		end := segEnd(path, off, '.')
		cur = cur.member(path[off:end])
		if cur.kind == fMissing {
			return cur
		}
		off = end + 1
	}
	return cur
}

// member is JavaScript's property access cur[name] for a value that is an
// object; anything else (null, a string, a number, a function) has no members
// to the reference (it checks typeof === "object"), so the result is missing.
func (cur field) member(name string) field {
	switch cur.kind {
	case fValue:
		switch x := cur.v.(type) {
		case *canon.Object:
			if v, ok := x.Get(name); ok {
				return field{kind: fValue, v: v}
			}
			return objectProtoMember(name)
		case []any:
			if name == "length" {
				return field{kind: fValue, v: float64(len(x))}
			}
			if i, ok := arrayIndex(name); ok && i < len(x) {
				return field{kind: fValue, v: x[i]}
			}
			return arrayProtoMember(name)
		}
	case fObjectProto:
		if name == "__proto__" {
			return field{kind: fValue, v: nil} // Object.prototype has no prototype
		}
		return objectProtoMember(name)
	case fArrayProto:
		switch name {
		case "length":
			return field{kind: fValue, v: float64(0)}
		case "__proto__":
			return field{kind: fObjectProto}
		}
		return arrayProtoMember(name)
	}
	return field{}
}

// arrayIndex parses a canonical array index ("0", "1", … without leading
// zeros).
func arrayIndex(s string) (int, bool) {
	if s == "" || len(s) > 9 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// objectProtoNames are the string-keyed members of Object.prototype
// (Node.js 20/22), other than __proto__ and constructor.
var objectProtoNames = [...]string{
	"__defineGetter__", "__defineSetter__", "hasOwnProperty", "__lookupGetter__", "__lookupSetter__",
	"isPrototypeOf", "propertyIsEnumerable", "toString", "valueOf", "toLocaleString",
}

// arrayProtoNames are the string-keyed methods of Array.prototype (Node.js
// 20/22), other than constructor.
var arrayProtoNames = [...]string{
	"at", "concat", "copyWithin", "fill", "find", "findIndex", "findLast", "findLastIndex",
	"lastIndexOf", "pop", "push", "reverse", "shift", "unshift", "slice", "sort", "splice",
	"includes", "indexOf", "join", "keys", "entries", "values", "forEach", "filter", "flat",
	"flatMap", "map", "every", "some", "reduce", "reduceRight", "toLocaleString", "toString",
	"toReversed", "toSorted", "toSpliced", "with",
}

// objectProtoMember is what a plain object inherits under name.
func objectProtoMember(name string) field {
	switch name {
	case "constructor":
		return field{kind: fFunction, name: "Object"}
	case "__proto__":
		return field{kind: fObjectProto}
	}
	for _, n := range objectProtoNames {
		if n == name {
			return field{kind: fFunction, name: n}
		}
	}
	return field{}
}

// arrayProtoMember is what an array inherits under name.
func arrayProtoMember(name string) field {
	switch name {
	case "constructor":
		return field{kind: fFunction, name: "Array"}
	case "__proto__":
		return field{kind: fArrayProto}
	}
	for _, n := range arrayProtoNames {
		if n == name {
			return field{kind: fFunction, name: n}
		}
	}
	return objectProtoMember(name)
}

// strictEqual is F === V for a CCL value V. Only JSON scalars can equal a
// scalar; a CCL array is a fresh object, equal to nothing.
func (f field) strictEqual(v any) bool {
	if f.kind != fValue {
		return false
	}
	switch v.(type) {
	case []string, []any:
		return false
	}
	return canon.StrictEqual(f.v, v)
}

// number returns F when it is a number.
func (f field) number() (float64, bool) {
	if f.kind != fValue {
		return 0, false
	}
	return toNumber(f.v)
}

// str returns F when it is a string.
func (f field) str() (string, bool) {
	if f.kind != fValue {
		return "", false
	}
	s, ok := f.v.(string)
	return s, ok
}

// contains is the reference's `contains` test; ok is false when F is neither
// a string (with V a string) nor an array, where `contains` is false and
// `not_contains` true.
func (f field) contains(v any) (has, ok bool) {
	if fs, isStr := f.str(); isStr {
		if vs, isStr := v.(string); isStr {
			return strings.Contains(fs, vs), true
		}
	}
	switch f.kind {
	case fArrayProto:
		return false, true // an empty array
	case fValue:
		if arr, isArr := f.v.([]any); isArr {
			for _, x := range arr {
				if (field{kind: fValue, v: x}).strictEqual(v) {
					return true, true
				}
			}
			return false, true
		}
	}
	return false, false
}

// jsString is JavaScript's String(F).
func (f field) jsString() string {
	switch f.kind {
	case fFunction:
		return "function " + f.name + "() { [native code] }"
	case fObjectProto:
		return "[object Object]"
	case fArrayProto:
		return ""
	}
	switch x := f.v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case nil:
		return "null"
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e9 {
			return smallIntString(int64(x))
		}
	}
	return canon.JSString(f.v)
}

// smallIntString formats |n| < 1e9 as JavaScript does, without allocating
// for 0–99.
func smallIntString(n int64) string {
	const digits = "0123456789"
	switch {
	case n >= 0 && n < 10:
		return digits[n : n+1]
	case n >= 10 && n < 100:
		return twoDigits[2*(n-10) : 2*(n-10)+2]
	}
	var buf [12]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

const twoDigits = "10111213141516171819202122232425262728293031323334353637383940414243444546474849" +
	"50515253545556575859606162636465666768697071727374757677787980818283848586878889" +
	"90919293949596979899"
