package covenant

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/jstime"
)

// This file holds the few JavaScript semantics the reference's checks depend
// on: truthiness, String(), Number(), UTF-16 string lengths and timestamps. Strings are
// WTF-8 (see package canon): a lone surrogate is a 3-byte sequence
// 0xED 0xA0..0xBF 0x80..0xBF.

// truthy reports JavaScript truthiness of a present value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0 && !math.IsNaN(x)
	case string:
		return x != ""
	case *canon.Object:
		return x != nil
	default:
		return true // arrays and any other object
	}
}

// member returns o[key] when present, for truthiness tests.
func member(o *canon.Object, key string) (any, bool) {
	if o == nil {
		return nil, false
	}
	return o.Get(key)
}

// jsString is String(v) for a value that may be absent ("undefined").
func jsString(v any, present bool) string {
	if !present {
		return "undefined"
	}
	return canon.JSString(v)
}

// jsNumberString is String(f) for a number.
func jsNumberString(f float64) string { return canon.JSString(f) }

// decodeWTF8 decodes one code point of s, treating an encoded lone surrogate
// as one code unit. Invalid bytes decode as U+FFFD, size 1.
func decodeWTF8(s string) (r rune, size int) {
	if len(s) >= 3 && s[0] == 0xED && s[1] >= 0xA0 && s[1] <= 0xBF && s[2] >= 0x80 && s[2] <= 0xBF {
		return rune(0xD000 | rune(s[1]&0x3F)<<6 | rune(s[2]&0x3F)), 3
	}
	return utf8.DecodeRuneInString(s)
}

// utf16Len is the JavaScript length of s: its number of UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := decodeWTF8(s[i:])
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}

// utf16Prefix is s.slice(0, n): the first n UTF-16 code units of s. A
// surrogate pair cut in half leaves its high surrogate, as in JavaScript.
func utf16Prefix(s string, n int) string {
	units := 0
	for i := 0; i < len(s); {
		if units >= n {
			return s[:i]
		}
		if s[i] < utf8.RuneSelf {
			units++
			i++
			continue
		}
		r, size := decodeWTF8(s[i:])
		if r > 0xFFFF {
			if units+2 > n {
				hi := 0xD800 + (r-0x10000)>>10
				var b [3]byte
				b[0] = 0xED
				b[1] = byte(0x80 | (hi>>6)&0x3F)
				b[2] = byte(0x80 | hi&0x3F)
				return s[:i] + string(b[:])
			}
			units += 2
		} else {
			units++
		}
		i += size
	}
	return s
}

// isJSSpace reports whether r is removed by String.prototype.trim
// (WhiteSpace and LineTerminator of ECMA-262).
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x00A0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// isBlank reports whether s.trim() is empty in JavaScript.
func isBlank(s string) bool {
	for i := 0; i < len(s); {
		r, size := decodeWTF8(s[i:])
		if size == 1 && r == utf8.RuneError {
			return false
		}
		if !isJSSpace(r) {
			return false
		}
		i += size
	}
	return true
}

// jsToNumber is Number(v) for the value model (NaN where JavaScript gives NaN).
func jsToNumber(v any) float64 {
	switch x := v.(type) {
	case nil:
		return 0
	case bool:
		if x {
			return 1
		}
		return 0
	case float64:
		return x
	case string:
		return stringToNumber(x)
	case []any:
		return stringToNumber(canon.JSString(x))
	default:
		return math.NaN()
	}
}

// stringToNumber is ECMAScript StringToNumber.
func stringToNumber(s string) float64 {
	// Trim JavaScript white space from both ends.
	start, end := 0, len(s)
	for start < end {
		r, size := decodeWTF8(s[start:])
		if !isJSSpace(r) || (size == 1 && r == utf8.RuneError) {
			break
		}
		start += size
	}
	for end > start {
		r, size := utf8.DecodeLastRuneInString(s[start:end])
		if !isJSSpace(r) || (size == 1 && r == utf8.RuneError) {
			break
		}
		end -= size
	}
	t := s[start:end]
	if t == "" {
		return 0
	}
	if len(t) > 2 && t[0] == '0' {
		base := 0
		switch t[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			f := 0.0
			for _, c := range t[2:] {
				d, ok := digitVal(c)
				if !ok || d >= base {
					return math.NaN()
				}
				f = f*float64(base) + float64(d)
			}
			return f
		}
	}
	switch t {
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	// StrDecimalLiteral: digits with optional fraction and exponent; Go's
	// ParseFloat also accepts forms JavaScript does not (hex floats,
	// underscores, "inf", "nan"), so screen the characters first.
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return math.NaN()
		}
	}
	if strings.Count(t, ".") > 1 || t == "." || strings.HasPrefix(strings.TrimLeft(t, "+-"), "e") {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f // ±Inf or 0, as JavaScript rounds
		}
		return math.NaN()
	}
	return f
}

func digitVal(c rune) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// formatTimestamp is jstime.Format(t), JavaScript's toISOString.
func formatTimestamp(t time.Time) string {
	var buf [len(timestampLayout)]byte
	return string(appendTimestamp(buf[:0], t))
}

const timestampLayout = "2006-01-02T15:04:05.000Z"

// appendTimestamp appends jstime.Format(t), written directly for the years
// 0000–9999 (jstime.Format goes through time.Time.Format, several times
// slower).
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return append(dst, jstime.Format(t)...)
	}
	hour, minute, second := t.Clock()
	var b [len(timestampLayout)]byte
	put := func(at, v, digits int) {
		for i := at + digits - 1; i >= at; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, year, 4)
	b[4] = '-'
	put(5, int(month), 2)
	b[7] = '-'
	put(8, day, 2)
	b[10] = 'T'
	put(11, hour, 2)
	b[13] = ':'
	put(14, minute, 2)
	b[16] = ':'
	put(17, second, 2)
	b[19] = '.'
	put(20, t.Nanosecond()/1e6, 3)
	b[23] = 'Z'
	return append(dst, b[:]...)
}
