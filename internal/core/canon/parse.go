package canon

import (
	"fmt"
	"math/big"
	"unicode/utf8"
)

// Parse decodes JSON text into the value model with the semantics of
// JavaScript's JSON.parse applied to the text as a UTF-8 TextDecoder would
// decode it. It uses the default Limits.
//
// See ParseLimits for the exact rules.
func Parse(data []byte) (any, error) { return ParseLimits(data, Limits{}) }

// ParseLimits decodes JSON text into the value model (see the package
// documentation) with the semantics of JavaScript's JSON.parse:
//
//   - the grammar is strict RFC 8259 JSON: whitespace is only space, tab, LF
//     and CR (a byte order mark is an error); no leading zeros, trailing
//     commas, comments, single quotes or non-finite literals; exactly one
//     value, followed only by whitespace;
//   - every number becomes the nearest float64; a literal beyond the float64
//     range, such as 1e400, becomes ±Inf rather than an error;
//   - duplicate member names: the last value wins, at the position of the
//     first occurrence; "__proto__" is an ordinary member;
//   - a \uXXXX escape of a lone UTF-16 surrogate is kept as its 3-byte WTF-8
//     encoding; an escaped surrogate pair becomes the character it encodes;
//   - ill-formed raw UTF-8 inside a string is replaced by U+FFFD, one per
//     maximal subpart as the WHATWG Encoding standard specifies.
//
// Input longer than l.MaxBytes is refused before parsing, and nesting deeper
// than l.MaxDepth is refused as soon as it is seen. Every failure is a
// *SyntaxError carrying the byte offset and wrapping ErrSyntax, ErrTooLarge or
// ErrTooDeep. ParseLimits does not panic on any input.
//
// Strings in the result may share memory with one private copy of data; data
// itself is not retained.
func ParseLimits(data []byte, l Limits) (any, error) {
	maxBytes := l.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	maxDepth := l.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	maxDepth = min(maxDepth, MaxDepthLimit)
	if len(data) > maxBytes {
		return nil, &SyntaxError{
			Offset: maxBytes,
			Msg:    fmt.Sprintf("input is %d bytes, the limit is %d", len(data), maxBytes),
			Err:    ErrTooLarge,
		}
	}
	p := parser{src: string(data), maxDepth: maxDepth}
	p.skipSpace()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		return nil, p.errorf("unexpected %s after the JSON value", p.found())
	}
	return v, nil
}

// parser holds the state of one ParseLimits call.
type parser struct {
	src      string // private copy of the input; unescaped strings are substrings of it
	pos      int
	depth    int
	maxDepth int
	vals     []any            // scratch stack of array elements being collected
	mems     []Member         // scratch stack of object members being collected
	buf      []byte           // scratch for strings that need unescaping
	pow5     map[int]*big.Int // 5^k, for literals with subnormal values
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...), Err: ErrSyntax}
}

// found describes what is at the current position, for error messages.
func (p *parser) found() string {
	if p.pos >= len(p.src) {
		return "end of input"
	}
	c := p.src[p.pos]
	switch {
	case c >= 0x20 && c < 0x7f:
		return "'" + string(rune(c)) + "'"
	case c < 0x80:
		return fmt.Sprintf("control character U+%04X", c)
	}
	r, size := utf8.DecodeRuneInString(p.src[p.pos:])
	if r == utf8.RuneError && size == 1 {
		return fmt.Sprintf("invalid UTF-8 byte 0x%02X", c)
	}
	return fmt.Sprintf("character U+%04X", r)
}

// isSpace reports JSON whitespace (JSON.parse accepts no other).
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

// value parses one JSON value starting at p.pos (whitespace already skipped).
func (p *parser) value() (any, error) {
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of input, expected a JSON value")
	}
	switch c := p.src[p.pos]; c {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return s, nil
	case 't':
		return true, p.literal("true")
	case 'f':
		return false, p.literal("false")
	case 'n':
		return nil, p.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return p.number()
		}
		return nil, p.errorf("expected a JSON value, found %s", p.found())
	}
}

func (p *parser) literal(word string) error {
	end := p.pos + len(word)
	if end <= len(p.src) && p.src[p.pos:end] == word {
		p.pos = end
		return nil
	}
	// Point at the first byte that differs.
	for i := 0; i < len(word) && p.pos < len(p.src) && p.src[p.pos] == word[i]; i++ {
		p.pos++
	}
	return p.errorf("invalid literal, expected %q, found %s", word, p.found())
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > p.maxDepth {
		return &SyntaxError{
			Offset: p.pos,
			Msg:    fmt.Sprintf("more than %d nested arrays and objects", p.maxDepth),
			Err:    ErrTooDeep,
		}
	}
	return nil
}

// dedupMapThreshold is the member count from which duplicate member names are
// found with a map instead of a linear scan, so that objects with very many
// members parse in linear time.
const dedupMapThreshold = 32

func (p *parser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		p.depth--
		return &Object{}, nil
	}
	base := len(p.mems)
	var index map[string]int // key -> position in p.mems[base:], once large
	for {
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			if len(p.mems) == base {
				return nil, p.errorf("expected string member name or '}', found %s", p.found())
			}
			return nil, p.errorf("expected string member name after ',', found %s", p.found())
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.errorf("expected ':' after member name, found %s", p.found())
		}
		p.pos++
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}

		members := p.mems[base:]
		dup := -1
		if index != nil {
			if i, ok := index[key]; ok {
				dup = i
			}
		} else {
			for i := range members {
				if members[i].Key == key {
					dup = i
					break
				}
			}
		}
		if dup >= 0 {
			members[dup].Value = v
		} else {
			p.mems = append(p.mems, Member{Key: key, Value: v})
			if index != nil {
				index[key] = len(p.mems) - 1 - base
			} else if len(p.mems)-base >= dedupMapThreshold {
				index = make(map[string]int, 2*dedupMapThreshold)
				for i, m := range p.mems[base:] {
					index[m.Key] = i
				}
			}
		}

		p.skipSpace()
		if p.pos < len(p.src) {
			switch p.src[p.pos] {
			case ',':
				p.pos++
				p.skipSpace()
				continue
			case '}':
				p.pos++
				o := &Object{members: make([]Member, len(p.mems)-base)}
				copy(o.members, p.mems[base:])
				clear(p.mems[base:])
				p.mems = p.mems[:base]
				p.depth--
				return o, nil
			}
		}
		return nil, p.errorf("expected ',' or '}' after object member, found %s", p.found())
	}
}

func (p *parser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		p.depth--
		return []any{}, nil
	}
	base := len(p.vals)
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.vals = append(p.vals, v)
		p.skipSpace()
		if p.pos < len(p.src) {
			switch p.src[p.pos] {
			case ',':
				p.pos++
				p.skipSpace()
				continue
			case ']':
				p.pos++
				a := make([]any, len(p.vals)-base)
				copy(a, p.vals[base:])
				clear(p.vals[base:])
				p.vals = p.vals[:base]
				p.depth--
				return a, nil
			}
		}
		return nil, p.errorf("expected ',' or ']' after array element, found %s", p.found())
	}
}

// plainString marks the ASCII bytes that stand for themselves inside a JSON
// string: everything except '"', '\\' and the control characters.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// string parses a JSON string starting at the opening quote at p.pos.
func (p *parser) string() (string, error) {
	s := p.src
	start := p.pos + 1
	i := start
	for i < len(s) {
		i = plainRun(s, i)
		if i >= len(s) {
			break
		}
		c := s[i]
		if c == '"' {
			p.pos = i + 1
			return s[start:i], nil
		}
		if c < 0x80 {
			break // escape or control character
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			break // ill-formed UTF-8
		}
		i += size
	}
	if i >= len(s) {
		p.pos = len(s)
		return "", p.errorf("unexpected end of input in string starting at byte %d", start-1)
	}
	return p.slowString(start, i)
}

// slowString finishes a string that contains escapes, control characters or
// ill-formed UTF-8; s[start:i] is already known to be plain.
func (p *parser) slowString(start, i int) (string, error) {
	s := p.src
	buf := append(p.buf[:0], s[start:i]...)
	defer func() { p.buf = buf[:0] }()
	for i < len(s) {
		c := s[i]
		switch {
		case plainString[c]:
			j := i + 1
			for j < len(s) && plainString[s[j]] {
				j++
			}
			buf = append(buf, s[i:j]...)
			i = j
		case c == '"':
			p.pos = i + 1
			return string(buf), nil
		case c == '\\':
			if i+1 >= len(s) {
				p.pos = len(s)
				return "", p.errorf("unexpected end of input in string starting at byte %d", start-1)
			}
			e := s[i+1]
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				u, ok := hex4(s, i+2)
				if !ok {
					p.pos = i
					return "", p.errorf("expected four hex digits after \\u in string")
				}
				i += 6
				if u >= 0xD800 && u < 0xDC00 && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if lo, ok := hex4(s, i+2); ok && lo >= 0xDC00 && lo < 0xE000 {
						buf = utf8.AppendRune(buf, 0x10000+(u-0xD800)<<10+(lo-0xDC00))
						i += 6
						continue
					}
				}
				buf = appendWTF8(buf, u)
				continue
			default:
				p.pos = i
				if e < 0x20 || e >= 0x7f {
					return "", p.errorf("invalid escape sequence in string")
				}
				return "", p.errorf("invalid escape sequence '\\%c' in string", e)
			}
			i += 2
		case c < 0x20:
			p.pos = i
			return "", p.errorf("control character U+%04X must be escaped in string", c)
		default: // c >= 0x80
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				size = illFormedLen(s[i:], false)
				buf = append(buf, "\uFFFD"...)
			} else {
				buf = append(buf, s[i:i+size]...)
			}
			i += size
		}
	}
	p.pos = len(s)
	return "", p.errorf("unexpected end of input in string starting at byte %d", start-1)
}

// hex4 decodes the four hex digits at s[i:i+4].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for j := i; j < i+4; j++ {
		c := s[j]
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// appendWTF8 appends the generalised UTF-8 encoding of a BMP code point,
// which for a surrogate is the 3-byte form UTF-8 itself forbids.
func appendWTF8(dst []byte, r rune) []byte {
	if r >= 0xD800 && r < 0xE000 {
		return append(dst, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
	}
	return utf8.AppendRune(dst, r)
}

// illFormedLen returns the length of the ill-formed sequence at the start of
// s that the WHATWG UTF-8 decoder replaces by a single U+FFFD: the maximal
// subpart of a well-formed sequence, or one byte. s must not start with a
// well-formed character. With surrogates set, the 3-byte encodings of
// U+D800..U+DFFF count as well-formed (WTF-8) and are never passed here.
func illFormedLen(s string, surrogates bool) int {
	b := s[0]
	need := 0
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case b >= 0xC2 && b <= 0xDF:
		need = 1
	case b == 0xE0:
		need, lo = 2, 0xA0
	case b == 0xED:
		need = 2
		if !surrogates {
			hi = 0x9F
		}
	case b >= 0xE1 && b <= 0xEF:
		need = 2
	case b == 0xF0:
		need, lo = 3, 0x90
	case b >= 0xF1 && b <= 0xF3:
		need = 3
	case b == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for ; need > 0; need-- {
		if n >= len(s) || s[n] < lo || s[n] > hi {
			return n
		}
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}
