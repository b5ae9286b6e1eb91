// Package jsonscan checks JSON text without decoding it: one pass over the
// bytes, no allocation, a bound on how deeply arrays and objects nest. The
// gateway checks what it forwards with it (NDJSON lines, request bodies)
// and the job decoder skips documents inside chunks with it.
package jsonscan

import (
	"fmt"
	"strconv"

	"github.com/stele-go/stele/internal/core/canon"
)

// The grammar is RFC 8259's, as encoding/json and JSON.parse accept it; bytes
// of invalid UTF-8 inside strings are allowed (the protocol's parser replaces
// them).

// Error is a JSON syntax error or a nesting limit hit at byte Off.
type Error struct {
	Off       int
	Msg       string
	TooDeep   bool
	NotObject bool // CheckDocument: valid JSON, but not an object
}

func (e *Error) Error() string { return fmt.Sprintf("at byte %d: %s", e.Off, e.Msg) }

// strPlain marks the bytes that need no attention inside a string.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// SkipWS returns the offset of the first byte at or after i that is not
// JSON whitespace (or len(b)).
func SkipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// SyntaxError is the error for an unexpected byte at b[i] (or the end of
// the input) where what was expected.
func SyntaxError(b []byte, i int, what string) *Error {
	if i >= len(b) {
		return &Error{Off: i, Msg: "unexpected end of input, expected " + what}
	}
	return &Error{Off: i, Msg: fmt.Sprintf("unexpected %s, expected %s", describeByte(b[i]), what)}
}

func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// SkipValue checks the JSON value that starts at b[i] (after optional
// whitespace) and returns the offset just past it. Arrays and objects may
// nest at most maxDepth levels.
func SkipValue(b []byte, i, maxDepth int) (int, *Error) {
	var stackBuf [64]byte
	stack := stackBuf[:0] // '{' or '[' per open container
	var err *Error
	i = SkipWS(b, i)
	for {
		// A value starts at i.
		if i >= len(b) {
			return i, SyntaxError(b, i, "a value")
		}
		closed := true // the value at i is complete after this switch
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(stack) >= maxDepth {
				return i, &Error{Off: i, Msg: fmt.Sprintf("nesting deeper than %d levels", maxDepth), TooDeep: true}
			}
			stack = append(stack, c)
			i = SkipWS(b, i+1)
			end := byte('}')
			if c == '[' {
				end = ']'
			}
			if i < len(b) && b[i] == end {
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i, err = skipKey(b, i); err != nil {
					return i, err
				}
			}
			closed = false
		case c == '"':
			if i, err = SkipString(b, i); err != nil {
				return i, err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if i, err = skipNumber(b, i); err != nil {
				return i, err
			}
		case c == 't':
			if i, err = skipLiteral(b, i, "true"); err != nil {
				return i, err
			}
		case c == 'f':
			if i, err = skipLiteral(b, i, "false"); err != nil {
				return i, err
			}
		case c == 'n':
			if i, err = skipLiteral(b, i, "null"); err != nil {
				return i, err
			}
		default:
			return i, SyntaxError(b, i, "a value")
		}
		if !closed {
			continue
		}
		// After a complete value: close containers until another value is
		// due or the outermost value ends.
		for {
			if len(stack) == 0 {
				return i, nil
			}
			i = SkipWS(b, i)
			if i >= len(b) {
				return i, SyntaxError(b, i, "',' or a closing bracket")
			}
			top := stack[len(stack)-1]
			c := b[i]
			if c == ',' {
				i = SkipWS(b, i+1)
				if top == '{' {
					if i, err = skipKey(b, i); err != nil {
						return i, err
					}
				}
				break
			}
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if top == '{' {
				return i, SyntaxError(b, i, "',' or '}'")
			}
			return i, SyntaxError(b, i, "',' or ']'")
		}
	}
}

// skipKey checks an object key and its colon at b[i] and returns the offset
// of the value (after whitespace).
func skipKey(b []byte, i int) (int, *Error) {
	if i >= len(b) || b[i] != '"' {
		return i, SyntaxError(b, i, "a string key")
	}
	i, err := SkipString(b, i)
	if err != nil {
		return i, err
	}
	i = SkipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, SyntaxError(b, i, "':'")
	}
	return SkipWS(b, i+1), nil
}

// SkipString checks the string starting with the quote at b[i].
func SkipString(b []byte, i int) (int, *Error) {
	i++
	for {
		i = canon.PlainASCII(b, i)
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, &Error{Off: i, Msg: "unterminated string"}
		}
		switch c := b[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 >= len(b) {
				return i + 1, &Error{Off: i + 1, Msg: "unterminated string"}
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(b) || !isHex(b[k]) {
						return k, &Error{Off: k, Msg: "invalid \\u escape"}
					}
				}
				i += 6
			default:
				return i + 1, &Error{Off: i + 1, Msg: "invalid escape " + describeByte(b[i+1])}
			}
		default: // a control character
			return i, &Error{Off: i, Msg: fmt.Sprintf("control character 0x%02x in string", c)}
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func skipNumber(b []byte, i int) (int, *Error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, SyntaxError(b, i, "a digit")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, SyntaxError(b, i, "a digit after the decimal point")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, SyntaxError(b, i, "a digit in the exponent")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, nil
}

func skipLiteral(b []byte, i int, lit string) (int, *Error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, &Error{Off: i, Msg: "invalid literal, expected " + lit}
	}
	return i + len(lit), nil
}

// CheckDocument checks that b is exactly one JSON object (surrounding
// whitespace allowed) nesting at most maxDepth levels.
func CheckDocument(b []byte, maxDepth int) *Error {
	start := SkipWS(b, 0)
	end, err := SkipValue(b, start, maxDepth)
	if err != nil {
		return err
	}
	if end = SkipWS(b, end); end != len(b) {
		return &Error{Off: end, Msg: "data after the document"}
	}
	if b[start] != '{' {
		return &Error{Off: start, Msg: "document must be a JSON object, got " + Kind(b[start:]), NotObject: true}
	}
	return nil
}

// Kind names the kind of the JSON value raw starts with ("an object", "a
// string", …; "nothing" when raw is empty), for error messages.
func Kind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
