package ccl

import (
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// The `matches` operator is JavaScript's new RegExp(V).test(F): no flags, so
// the pattern and the subject are sequences of UTF-16 code units ("." matches
// one code unit, half of an emoji). regexp2 in ECMAScript mode supplies the
// JavaScript syntax and character classes but works on runes, and it accepts
// some .NET syntax JavaScript rejects. To get JavaScript's answers:
//
//   - the subject is given to regexp2 as its UTF-16 code units (one rune per
//     unit, surrogates included), and every non-BMP character or lone
//     surrogate of the pattern is rewritten as \uXXXX escapes of its code
//     units, so both sides speak UTF-16;
//   - "." outside a class becomes [^\n\r\u2028\u2029] (regexp2's "." also
//     matches U+2028 and U+2029);
//   - an escaped letter with no meaning in JavaScript (\e, \A, \Z, \z, \G, \p,
//     …) becomes the plain letter, as JavaScript's identity escape; \x and \u
//     without their hex digits become x and u;
//   - a group "(?" other than (?: (?= (?! (?<= (?<! and (?<name> is invalid
//     (regexp2 would accept inline options, comments and atomic groups), and
//     so is a quantifier on ^, $, \b, \B or a lookbehind;
//   - "[" inside a class is escaped (regexp2 would read "-[…]" as .NET class
//     subtraction);
//   - \b and \B outside a class are spelled out as lookarounds over
//     JavaScript's word characters, [0-9A-Za-z_]: regexp2's test Unicode
//     word characters (so "a\b" did not match "aé");
//   - a "-" next to a class escape inside a class (\d \D \s \S \w \W, as in
//     [a-\d] or [\w-.]) is a literal hyphen, as JavaScript's Annex B reads
//     it.
//
// Known remaining differences: regexp2 accepts duplicate group names, which
// JavaScript rejects; and JavaScript clears the captures inside a quantified
// group at each repetition, where regexp2 keeps the last ones, so a
// backreference to such a group after the loop can decide differently
// (/^(?:(a)|b)+\1$/ on "aba": false in JavaScript, true here). A lone
// surrogate is one code unit on both sides, so it matches as in JavaScript.

// compileRegexp compiles the pattern of a `matches` condition once, at parse
// time, and records it on the condition.
func (c *Condition) compileRegexp(pat string) {
	c.reSrc = pat
	c.re, c.reState = compileJSRegexp(pat)
}

func compileJSRegexp(pat string) (*regexp2.Regexp, regexpState) {
	if len(pat) > MaxRegexpLength {
		return nil, reTooLong
	}
	src, ok := translateRegexp(pat)
	if !ok {
		return nil, reInvalid
	}
	re, err := regexp2.Compile(src, regexp2.ECMAScript)
	if err != nil {
		return nil, reInvalid
	}
	re.MatchTimeout = RegexpMatchTimeout
	return re, reOK
}

// translateRegexp rewrites a JavaScript pattern for regexp2 as described
// above. It reports false for syntax JavaScript rejects but regexp2 would
// accept.
func translateRegexp(p string) (string, bool) {
	var b strings.Builder
	b.Grow(len(p) + 16)
	inClass := false
	// assertion is set right after an assertion JavaScript cannot quantify
	// (^, $, \b, \B, a lookbehind); groups records which open groups are
	// lookbehinds.
	assertion := false
	var groups []bool
	for i := 0; i < len(p); {
		if assertion && !inClass && startsQuantifier(p[i:]) {
			return "", false
		}
		assertion = false
		r, w := decodeWTF8(p[i:])
		switch {
		case r == '\\':
			if i+1 >= len(p) {
				b.WriteByte('\\') // a trailing backslash: let regexp2 reject it
				i++
				continue
			}
			n, nw := decodeWTF8(p[i+1:])
			i += 1 + nw
			switch {
			case n >= 0x10000 || isSurrogate(n):
				writeUnits(&b, n) // identity escape of a code unit
			case n < utf8.RuneSelf && isASCIILetter(byte(n)):
				translateLetterEscape(&b, p, &i, byte(n), inClass)
				assertion = !inClass && (n == 'b' || n == 'B')
			default:
				b.WriteByte('\\')
				b.WriteString(p[i-nw : i])
			}
		case r >= 0x10000 || isSurrogate(r) || r == utf8.RuneError && w == 1:
			writeUnits(&b, r)
			i += w
		case inClass:
			switch r {
			case ']':
				inClass = false
				b.WriteByte(']')
			case '[':
				b.WriteString(`\[`) // literal in JavaScript; .NET would read "-[" as subtraction
			case '-':
				// A hyphen cannot make a range with a class escape on
				// either side: Annex B reads it as a literal.
				if classEscapeBefore(p, i) || classEscapeAt(p, i+1) {
					b.WriteString(`\-`)
				} else {
					b.WriteByte('-')
				}
			default:
				b.WriteString(p[i : i+w])
			}
			i += w
		case r == '[':
			// In JavaScript a ']' right after the opening closes the class:
			// "[]" matches nothing and "[^]" any code unit.
			switch {
			case strings.HasPrefix(p[i:], "[]"):
				b.WriteString(`[^\s\S]`)
				i += 2
			case strings.HasPrefix(p[i:], "[^]"):
				b.WriteString(`[\s\S]`)
				i += 3
			default:
				inClass = true
				b.WriteByte('[')
				i++
			}
		case r == '.':
			b.WriteString(`[^\n\r\u2028\u2029]`)
			i++
		case r == '^' || r == '$':
			b.WriteByte(byte(r))
			i++
			assertion = true
		case r == '(':
			lookbehind := false
			if strings.HasPrefix(p[i:], "(?") {
				rest := p[i+2:]
				switch {
				case strings.HasPrefix(rest, ":"), strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "!"):
				case strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "<!"):
					lookbehind = true
				case strings.HasPrefix(rest, "<") && len(rest) > 1 && (isASCIILetter(rest[1]) || rest[1] == '_' || rest[1] == '$'):
				default:
					return "", false
				}
			}
			groups = append(groups, lookbehind)
			b.WriteByte('(')
			i++
		case r == ')':
			if len(groups) > 0 {
				assertion = groups[len(groups)-1]
				groups = groups[:len(groups)-1]
			}
			b.WriteByte(')')
			i++
		default:
			b.WriteString(p[i : i+w])
			i += w
		}
	}
	return b.String(), true
}

// startsQuantifier reports whether s starts with a quantifier: *, +, ? or a
// well-formed {n}, {n,} or {n,m} (any other "{" is a literal in JavaScript).
func startsQuantifier(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '*', '+', '?':
		return true
	case '{':
	default:
		return false
	}
	i := 1
	digits := func() int {
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i - start
	}
	if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == ',' {
		i++
		digits()
	}
	return i < len(s) && s[i] == '}'
}

// translateLetterEscape handles "\" followed by the ASCII letter c (already
// consumed; *i is just past it).
func translateLetterEscape(b *strings.Builder, p string, i *int, c byte, inClass bool) {
	switch c {
	case 'b', 'B':
		switch {
		case inClass:
			b.WriteString(`\b`) // backspace
		case c == 'b':
			b.WriteString(jsWordBoundary)
		default:
			b.WriteString(jsNotWordBoundary)
		}
	case 'd', 'D', 'w', 'W', 's', 'S', 'f', 'n', 'r', 't', 'v', 'k':
		b.WriteByte('\\')
		b.WriteByte(c)
	case 'x':
		if hasHex(p[*i:], 2) {
			b.WriteString(`\x`)
		} else {
			b.WriteByte('x')
		}
	case 'u':
		if hasHex(p[*i:], 4) {
			b.WriteString(`\u`)
		} else {
			b.WriteByte('u')
		}
	case 'c':
		switch {
		case *i < len(p) && isASCIILetter(p[*i]):
			b.WriteString(`\c`)
		case inClass && *i < len(p) && (isDigit(p[*i]) || p[*i] == '_'):
			// Annex B's ClassControlLetter: in a class, \c also takes a
			// digit or "_", giving its code modulo 32.
			const hexDigits = "0123456789ABCDEF"
			u := p[*i] % 32
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[u>>4])
			b.WriteByte(hexDigits[u&0xF])
			*i++
		default:
			b.WriteString(`\\c`) // "\c" with no control letter is a literal backslash and c
		}
	default:
		b.WriteByte(c) // identity escape
	}
}

// JavaScript's word characters (without the u and i flags), as class items,
// and the two word-boundary assertions written with them.
const (
	jsWordItems       = `0-9A-Za-z_`
	jsWordBoundary    = `(?:(?<=[` + jsWordItems + `])(?![` + jsWordItems + `])|(?<![` + jsWordItems + `])(?=[` + jsWordItems + `]))`
	jsNotWordBoundary = `(?:(?<=[` + jsWordItems + `])(?=[` + jsWordItems + `])|(?<![` + jsWordItems + `])(?![` + jsWordItems + `]))`
)

// classEscapeAt reports whether p[i:] starts with a class escape: \d \D \s
// \S \w or \W.
func classEscapeAt(p string, i int) bool {
	if i+1 >= len(p) || p[i] != '\\' {
		return false
	}
	switch p[i+1] {
	case 'd', 'D', 's', 'S', 'w', 'W':
		return true
	}
	return false
}

// classEscapeBefore reports whether the two bytes before p[i] are a class
// escape (and not the second half of an escaped backslash, as in "\\w").
func classEscapeBefore(p string, i int) bool {
	if i < 2 || !classEscapeAt(p, i-2) {
		return false
	}
	n := 0 // backslashes before that escape's backslash
	for j := i - 3; j >= 0 && p[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}

func hasHex(s string, n int) bool {
	if len(s) < n {
		return false
	}
	for i := 0; i < n; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isSurrogate(r rune) bool { return 0xD800 <= r && r <= 0xDFFF }

// writeUnits writes r as \uXXXX escapes of its UTF-16 code units.
func writeUnits(b *strings.Builder, r rune) {
	const hexDigits = "0123456789ABCDEF"
	unit := func(u rune) {
		b.WriteString(`\u`)
		b.WriteByte(hexDigits[u>>12&0xF])
		b.WriteByte(hexDigits[u>>8&0xF])
		b.WriteByte(hexDigits[u>>4&0xF])
		b.WriteByte(hexDigits[u&0xF])
	}
	if r >= 0x10000 {
		r -= 0x10000
		unit(0xD800 + r>>10)
		unit(0xDC00 + r&0x3FF)
		return
	}
	unit(r)
}

// decodeWTF8 decodes one character of WTF-8 (UTF-8 that may also carry the
// 3-byte encoding of a lone surrogate, as canon produces for \udxxx escapes).
// An invalid byte decodes as U+FFFD of width 1.
func decodeWTF8(s string) (rune, int) {
	r, w := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && w == 1 && len(s) >= 3 && s[0] == 0xED && s[1] >= 0xA0 && s[1] <= 0xBF && s[2] >= 0x80 && s[2] <= 0xBF {
		return 0xD000 | rune(s[1]&0x3F)<<6 | rune(s[2]&0x3F), 3
	}
	return r, w
}

// utf16Runes returns s as its UTF-16 code units, one rune per unit.
func utf16Runes(s string) []rune {
	out := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			out = append(out, rune(c))
			i++
			continue
		}
		r, w := decodeWTF8(s[i:])
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, 0xD800+r>>10, 0xDC00+r&0x3FF)
		} else {
			out = append(out, r)
		}
		i += w
	}
	return out
}
