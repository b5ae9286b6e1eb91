package ccl

import "strings"

// tokenType classifies a token. The names (tokenType.String) are the
// reference's, because they appear in error messages.
type tokenType uint8

const (
	tkEOF tokenType = iota
	tkNewline
	tkComment
	tkString
	tkLParen
	tkRParen
	tkLBracket
	tkRBracket
	tkComma
	tkOperator
	tkWildcard
	tkDoubleWildcard
	tkNumber
	tkIdentifier
	tkDot
	tkPermit
	tkDeny
	tkRequire
	tkLimit
	tkOn
	tkWhen
	tkSeverity
	tkPer
	tkSeconds
	tkAnd
	tkOr
	tkNot
	// The reference looks keywords up in a plain JavaScript object, so the
	// words "constructor" and "__proto__" (in any case) find inherited
	// members and get a token type that no grammar rule accepts. These two
	// types reproduce that; their names are what JavaScript prints for them.
	tkProtoConstructor
	tkProtoObject
)

var tokenNames = [...]string{
	tkEOF:              "EOF",
	tkNewline:          "NEWLINE",
	tkComment:          "COMMENT",
	tkString:           "STRING",
	tkLParen:           "LPAREN",
	tkRParen:           "RPAREN",
	tkLBracket:         "LBRACKET",
	tkRBracket:         "RBRACKET",
	tkComma:            "COMMA",
	tkOperator:         "OPERATOR",
	tkWildcard:         "WILDCARD",
	tkDoubleWildcard:   "DOUBLE_WILDCARD",
	tkNumber:           "NUMBER",
	tkIdentifier:       "IDENTIFIER",
	tkDot:              "DOT",
	tkPermit:           "PERMIT",
	tkDeny:             "DENY",
	tkRequire:          "REQUIRE",
	tkLimit:            "LIMIT",
	tkOn:               "ON",
	tkWhen:             "WHEN",
	tkSeverity:         "SEVERITY",
	tkPer:              "PER",
	tkSeconds:          "SECONDS",
	tkAnd:              "AND",
	tkOr:               "OR",
	tkNot:              "NOT",
	tkProtoConstructor: "function Object() { [native code] }",
	tkProtoObject:      "[object Object]",
}

func (t tokenType) String() string { return tokenNames[t] }

// token is one lexeme. Its value is src[start:end] (for a quoted string,
// without the quotes). Line and column are the reference's (1-based, columns
// in UTF-16 code units). Offsets fit in int32 because sources are limited to
// MaxSourceBytes.
type token struct {
	typ        tokenType
	start, end int32
	line, col  int32
}

// wordType classifies an identifier-shaped word: a word operator (exact
// case), else a keyword (any case), else an identifier. The reference looks
// keywords up in a plain JavaScript object, so "constructor" and "__proto__"
// (in any case) find inherited members: they get the two bogus types.
func wordType(w string) tokenType {
	switch w {
	case "contains", "not_contains", "in", "not_in", "matches", "starts_with", "ends_with":
		return tkOperator
	}
	const longest = len("constructor")
	if len(w) < 2 || len(w) > longest {
		return tkIdentifier
	}
	var buf [longest]byte
	for i := 0; i < len(w); i++ {
		c := w[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	lw := buf[:len(w)]
	// Dispatch on the first letter so that most identifiers are settled by
	// one comparison.
	switch lw[0] {
	case 'p':
		switch string(lw) {
		case "permit":
			return tkPermit
		case "per":
			return tkPer
		}
	case 'd':
		switch string(lw) {
		case "deny":
			return tkDeny
		case "day", "days":
			return tkSeconds
		}
	case 'r':
		if string(lw) == "require" {
			return tkRequire
		}
	case 'l':
		if string(lw) == "limit" {
			return tkLimit
		}
	case 'o':
		switch string(lw) {
		case "on":
			return tkOn
		case "or":
			return tkOr
		}
	case 'w':
		if string(lw) == "when" {
			return tkWhen
		}
	case 's':
		switch string(lw) {
		case "severity":
			return tkSeverity
		case "second", "seconds":
			return tkSeconds
		}
	case 'm':
		if string(lw) == "minute" || string(lw) == "minutes" {
			return tkSeconds
		}
	case 'h':
		if string(lw) == "hour" || string(lw) == "hours" {
			return tkSeconds
		}
	case 'a':
		if string(lw) == "and" {
			return tkAnd
		}
	case 'n':
		if string(lw) == "not" {
			return tkNot
		}
	case 'c':
		if string(lw) == "constructor" {
			return tkProtoConstructor
		}
	case '_':
		if string(lw) == "__proto__" {
			return tkProtoObject
		}
	}
	return tkIdentifier
}

// asciiEqualFold reports whether a and b are equal ignoring ASCII case; b is
// lower case. (Words are ASCII, so this is JavaScript's toLowerCase
// comparison.)
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}

// Byte classes for the lexer's dispatch.
const (
	clOther   uint8 = iota // skipped (rule 12), including every non-ASCII byte
	clBlank                // space, tab, CR
	clNewline              // LF
	clIdent                // [A-Za-z_]
	clDigit                // [0-9]
	clPunct                // ( ) [ ] , .
	clOp                   // ! < > =
	clStar                 // *
	clQuote                // '
	clHash                 // #
	clSlash                // /
)

// byteClass classifies ASCII bytes; every other byte is clOther.
var byteClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = clIdent
		t[c-'a'+'A'] = clIdent
	}
	t['_'] = clIdent
	for c := '0'; c <= '9'; c++ {
		t[c] = clDigit
	}
	t[' '], t['\t'], t['\r'] = clBlank, clBlank, clBlank
	t['\n'] = clNewline
	for _, c := range "()[],." {
		t[c] = clPunct
	}
	for _, c := range "!<>=" {
		t[c] = clOp
	}
	t['*'], t['\''], t['#'], t['/'] = clStar, clQuote, clHash, clSlash
	return t
}()

func isIdentStart(c byte) bool { return byteClass[c] == clIdent }

func isIdentPart(c byte) bool { k := byteClass[c]; return k == clIdent || k == clDigit }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// utf16Units is the number of UTF-16 code units that byte c starts: one for
// ASCII and for the lead byte of a 2- or 3-byte sequence (including a WTF-8
// lone surrogate), two for the lead byte of a 4-byte sequence, none for a
// continuation byte.
func utf16Units(c byte) int32 {
	switch {
	case c < 0x80:
		return 1
	case c < 0xC0:
		return 0
	case c < 0xF0:
		return 1
	default:
		return 2
	}
}

// lex appends the tokens of src to toks (reusing its storage) and returns
// them; the last token is EOF. It follows the reference's lexer rule for rule,
// including what it silently skips (PROTOCOL.md §4.1). It cannot fail.
func lex(src string, toks []token) []token {
	toks = toks[:0]
	line, col := int32(1), int32(1)
	n := len(src)
	for i := 0; i < n; {
		c := src[i]
		switch byteClass[c] {
		case clIdent:
			start := i
			for i++; i < n && isIdentPart(src[i]); i++ {
			}
			toks = append(toks, token{typ: wordType(src[start:i]), start: int32(start), end: int32(i), line: line, col: col})
			col += int32(i - start)
		case clBlank:
			i++
			col++
		case clNewline:
			if len(toks) > 0 && toks[len(toks)-1].typ != tkNewline {
				toks = append(toks, token{typ: tkNewline, start: int32(i), end: int32(i + 1), line: line, col: col})
			}
			i++
			line++
			col = 1
		case clDigit:
			start := i
			for i++; i < n && isDigit(src[i]); i++ {
			}
			toks = append(toks, token{typ: tkNumber, start: int32(start), end: int32(i), line: line, col: col})
			col += int32(i - start)
		case clPunct:
			var t tokenType
			switch c {
			case '(':
				t = tkLParen
			case ')':
				t = tkRParen
			case '[':
				t = tkLBracket
			case ']':
				t = tkRBracket
			case ',':
				t = tkComma
			default:
				t = tkDot
			}
			toks = append(toks, token{typ: t, start: int32(i), end: int32(i + 1), line: line, col: col})
			i++
			col++
		case clOp:
			w := 1
			if c != '=' && i+1 < n && src[i+1] == '=' {
				w = 2
			} else if c == '!' {
				// A lone '!' is an unknown character.
				i++
				col++
				continue
			}
			toks = append(toks, token{typ: tkOperator, start: int32(i), end: int32(i + w), line: line, col: col})
			i += w
			col += int32(w)
		case clStar:
			w, t := 1, tkWildcard
			if i+1 < n && src[i+1] == '*' {
				w, t = 2, tkDoubleWildcard
			}
			toks = append(toks, token{typ: t, start: int32(i), end: int32(i + w), line: line, col: col})
			i += w
			col += int32(w)
		case clQuote:
			// Everything up to the next quote, verbatim; an unterminated
			// string runs to the end.
			l, cl := line, col
			end := n
			if j := strings.IndexByte(src[i+1:], '\''); j >= 0 {
				end = i + 1 + j
			}
			toks = append(toks, token{typ: tkString, start: int32(i + 1), end: int32(end), line: l, col: cl})
			col++ // the opening quote
			line, col = advance(src[i+1:end], line, col)
			i = end
			if i < n {
				i++
				col++
			}
		case clHash:
			// A comment runs to the end of the line.
			end := n
			if j := strings.IndexByte(src[i:], '\n'); j >= 0 {
				end = i + j
			}
			toks = append(toks, token{typ: tkComment, start: int32(i), end: int32(end), line: line, col: col})
			_, col = advance(src[i:end], line, col)
			i = end
		case clSlash:
			// An unquoted path runs to the next space, tab, CR or LF.
			start := i
			for i < n {
				d := src[i]
				if d == ' ' || d == '\t' || d == '\r' || d == '\n' {
					break
				}
				i++
			}
			toks = append(toks, token{typ: tkString, start: int32(start), end: int32(i), line: line, col: col})
			_, col = advance(src[start:i], line, col)
		default:
			// Any other character is skipped.
			col += utf16Units(c)
			i++
		}
	}
	toks = append(toks, token{typ: tkEOF, start: int32(n), end: int32(n), line: line, col: col})
	return toks
}

// advance returns the line and column after text s that starts at line,col.
func advance(s string, line, col int32) (int32, int32) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			line++
			col = 1
		case c < 0x80:
			col++
		default:
			col += utf16Units(c)
		}
	}
	return line, col
}
