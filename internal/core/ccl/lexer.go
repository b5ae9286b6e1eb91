package ccl

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
	switch string(buf[:len(w)]) {
	case "permit":
		return tkPermit
	case "deny":
		return tkDeny
	case "require":
		return tkRequire
	case "limit":
		return tkLimit
	case "on":
		return tkOn
	case "when":
		return tkWhen
	case "severity":
		return tkSeverity
	case "per":
		return tkPer
	case "second", "seconds", "minute", "minutes", "hour", "hours", "day", "days":
		return tkSeconds
	case "and":
		return tkAnd
	case "or":
		return tkOr
	case "not":
		return tkNot
	case "constructor":
		return tkProtoConstructor
	case "__proto__":
		return tkProtoObject
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

func isIdentStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

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
	emit := func(t tokenType, start, end int, l, c int32) {
		toks = append(toks, token{typ: t, start: int32(start), end: int32(end), line: l, col: c})
	}
	for i := 0; i < n; {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
			col++
		case c == '\n':
			if len(toks) > 0 && toks[len(toks)-1].typ != tkNewline {
				emit(tkNewline, i, i+1, line, col)
			}
			i++
			line++
			col = 1
		case c == '#':
			start, l, cl := i, line, col
			for i < n && src[i] != '\n' {
				col += utf16Units(src[i])
				i++
			}
			emit(tkComment, start, i, l, cl)
		case c == '\'':
			start, l, cl := i, line, col
			i++
			col++
			for i < n && src[i] != '\'' {
				if src[i] == '\n' {
					line++
					col = 1
				} else {
					col += utf16Units(src[i])
				}
				i++
			}
			end := i
			if i < n { // closing quote; an unterminated string runs to the end
				i++
				col++
			}
			emit(tkString, start+1, end, l, cl)
		case c == '(' || c == ')' || c == '[' || c == ']' || c == ',' || c == '.':
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
			emit(t, i, i+1, line, col)
			i++
			col++
		case c == '!' || c == '<' || c == '>' || c == '=':
			w := 1
			if c != '=' && i+1 < n && src[i+1] == '=' {
				w = 2
			} else if c == '!' {
				// A lone '!' is an unknown character.
				i++
				col++
				continue
			}
			emit(tkOperator, i, i+w, line, col)
			i += w
			col += int32(w)
		case c == '*':
			w, t := 1, tkWildcard
			if i+1 < n && src[i+1] == '*' {
				w, t = 2, tkDoubleWildcard
			}
			emit(t, i, i+w, line, col)
			i += w
			col += int32(w)
		case isDigit(c):
			start, cl := i, col
			for i < n && isDigit(src[i]) {
				i++
			}
			col += int32(i - start)
			emit(tkNumber, start, i, line, cl)
		case isIdentStart(c):
			start, cl := i, col
			for i < n && isIdentPart(src[i]) {
				i++
			}
			col += int32(i - start)
			emit(wordType(src[start:i]), start, i, line, cl)
		case c == '/':
			// An unquoted path runs to the next space, tab, CR or LF.
			start, cl := i, col
			for i < n {
				d := src[i]
				if d == ' ' || d == '\t' || d == '\r' || d == '\n' {
					break
				}
				col += utf16Units(d)
				i++
			}
			emit(tkString, start, i, line, cl)
		default:
			// Any other character is skipped.
			col += utf16Units(c)
			i++
		}
	}
	emit(tkEOF, n, n, line, col)
	return toks
}
