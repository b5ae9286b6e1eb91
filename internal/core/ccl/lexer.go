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
//
// It dispatches on the first letter folded to lower case (w[0]|0x20, which
// maps '_' to 0x7f and no other identifier byte onto a letter) and on the
// length, so that most identifiers are settled by a comparison or two.
func wordType(w string) tokenType {
	n := len(w)
	if n < 2 || n > len("not_contains") {
		return tkIdentifier
	}
	switch w[0] | 0x20 {
	case 'p':
		switch {
		case n == 6 && asciiEqualFold(w, "permit"):
			return tkPermit
		case n == 3 && asciiEqualFold(w, "per"):
			return tkPer
		}
	case 'd':
		switch {
		case n == 4 && asciiEqualFold(w, "deny"):
			return tkDeny
		case (n == 3 || n == 4) && asciiEqualFold(w[:3], "day") && (n == 3 || w[3]|0x20 == 's'):
			return tkSeconds
		}
	case 'r':
		if n == 7 && asciiEqualFold(w, "require") {
			return tkRequire
		}
	case 'l':
		if n == 5 && asciiEqualFold(w, "limit") {
			return tkLimit
		}
	case 'o':
		if n == 2 {
			switch w[1] | 0x20 {
			case 'n':
				return tkOn
			case 'r':
				return tkOr
			}
		}
	case 'w':
		if n == 4 && asciiEqualFold(w, "when") {
			return tkWhen
		}
	case 's':
		switch {
		case n == 11 && w == "starts_with":
			return tkOperator
		case n == 8 && asciiEqualFold(w, "severity"):
			return tkSeverity
		case (n == 6 || n == 7) && isUnit(w, "second"):
			return tkSeconds
		}
	case 'm':
		switch {
		case n == 7 && w == "matches":
			return tkOperator
		case (n == 6 || n == 7) && isUnit(w, "minute"):
			return tkSeconds
		}
	case 'h':
		if (n == 4 || n == 5) && isUnit(w, "hour") {
			return tkSeconds
		}
	case 'a':
		if n == 3 && asciiEqualFold(w, "and") {
			return tkAnd
		}
	case 'n':
		switch {
		case n == 3 && asciiEqualFold(w, "not"):
			return tkNot
		case n == 6 && w == "not_in", n == 12 && w == "not_contains":
			return tkOperator
		}
	case 'c':
		switch {
		case n == 8 && w == "contains":
			return tkOperator
		case n == 11 && asciiEqualFold(w, "constructor"):
			return tkProtoConstructor
		}
	case 'e':
		if n == 9 && w == "ends_with" {
			return tkOperator
		}
	case 'i':
		if n == 2 && w == "in" {
			return tkOperator
		}
	case '_' | 0x20:
		if n == 9 && asciiEqualFold(w, "__proto__") {
			return tkProtoObject
		}
	}
	return tkIdentifier
}

// isUnit reports whether w is the time unit singular (lower case) or its
// plural, in any case.
func isUnit(w, singular string) bool {
	switch len(w) {
	case len(singular):
		return asciiEqualFold(w, singular)
	case len(singular) + 1:
		return w[len(singular)]|0x20 == 's' && asciiEqualFold(w[:len(singular)], singular)
	}
	return false
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
// them; the last token is EOF. It cannot fail.
func lex(src string, toks []token) []token {
	toks = toks[:0]
	sc := newScanner(src)
	for {
		if len(toks) == cap(toks) {
			toks = append(toks, token{})[:len(toks)]
		}
		toks = toks[:len(toks)+1]
		t := &toks[len(toks)-1]
		sc.scan(t)
		if t.typ == tkEOF {
			return toks
		}
	}
}

// scanner produces the tokens of a source one at a time, following the
// reference's lexer rule for rule, including what it silently skips
// (PROTOCOL.md §4.1). Both Parse (through lex) and Check read their tokens
// from it, so they see the same tokens. A scanner is a small value: copying
// it saves a position to scan again from.
type scanner struct {
	src       string
	i         int // offset of the next byte to read
	line, col int32
	// last is the type of the last token produced, tkNewline before the
	// first: a line feed makes a NEWLINE token only after a token other
	// than NEWLINE.
	last tokenType
}

func newScanner(src string) scanner {
	return scanner{src: src, line: 1, col: 1, last: tkNewline}
}

// next returns the next token; at the end of the source it returns EOF,
// again on every later call.
func (s *scanner) next() token {
	var t token
	s.scan(&t)
	return t
}

// scan is next writing the token to *t. (Filling the caller's token field by
// field is markedly faster than returning a token that the caller copies.)
func (s *scanner) scan(t *token) {
	src, i, line, col := s.src, s.i, s.line, s.col
	n := len(src)
	for {
		// Single spaces between tokens are the common case: skip them
		// before the dispatch.
		for i < n && src[i] == ' ' {
			i++
			col++
		}
		if i >= n {
			t.set(tkEOF, int32(n), int32(n), line, col)
			break
		}
		c := src[i]
		switch byteClass[c] {
		case clIdent:
			start := i
			for i++; i < n && isIdentPart(src[i]); i++ {
			}
			t.set(wordType(src[start:i]), int32(start), int32(i), line, col)
			col += int32(i - start)
		case clBlank:
			i++
			col++
			continue
		case clNewline:
			if s.last == tkNewline {
				i++
				line++
				col = 1
				continue
			}
			t.set(tkNewline, int32(i), int32(i+1), line, col)
			i++
			line++
			col = 1
		case clDigit:
			start := i
			for i++; i < n && isDigit(src[i]); i++ {
			}
			t.set(tkNumber, int32(start), int32(i), line, col)
			col += int32(i - start)
		case clPunct:
			var typ tokenType
			switch c {
			case '(':
				typ = tkLParen
			case ')':
				typ = tkRParen
			case '[':
				typ = tkLBracket
			case ']':
				typ = tkRBracket
			case ',':
				typ = tkComma
			default:
				typ = tkDot
			}
			t.set(typ, int32(i), int32(i+1), line, col)
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
			t.set(tkOperator, int32(i), int32(i+w), line, col)
			i += w
			col += int32(w)
		case clStar:
			w, typ := 1, tkWildcard
			if i+1 < n && src[i+1] == '*' {
				w, typ = 2, tkDoubleWildcard
			}
			t.set(typ, int32(i), int32(i+w), line, col)
			i += w
			col += int32(w)
		case clQuote:
			// Everything up to the next quote, verbatim; an unterminated
			// string runs to the end.
			end := n
			if j := strings.IndexByte(src[i+1:], '\''); j >= 0 {
				end = i + 1 + j
			}
			t.set(tkString, int32(i+1), int32(end), line, col)
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
			t.set(tkComment, int32(i), int32(end), line, col)
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
			t.set(tkString, int32(start), int32(i), line, col)
			_, col = advance(src[start:i], line, col)
		default:
			// Any other character is skipped.
			col += utf16Units(c)
			i++
			continue
		}
		break
	}
	s.i, s.line, s.col, s.last = i, line, col, t.typ
}

// set fills t field by field: a composite literal would be built on the
// stack and copied with wide moves, which stall on the narrow stores that
// just built it.
func (t *token) set(typ tokenType, start, end int32, line, col int32) {
	t.typ = typ
	t.start = start
	t.end = end
	t.line = line
	t.col = col
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
