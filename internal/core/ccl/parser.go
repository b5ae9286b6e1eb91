package ccl

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stele-go/stele/internal/core/canon"
)

// Parse parses CCL source text (PROTOCOL.md §4.1–§4.3) into a Document.
//
// It accepts exactly what the reference accepts, quirks included, and fails
// with the reference's *SyntaxError (message, line and column) on everything
// else. It also refuses a source longer than MaxSourceBytes (ErrTooLarge) and a
// condition nested deeper than MaxConditionDepth (ErrTooDeep). A source of
// comments only is an empty Document; an empty or blank source is an error.
func Parse(src string) (*Document, error) {
	var p Parser
	return p.Parse(src)
}

// Parser parses CCL source and keeps its token buffer between calls, so a
// goroutine that parses many policies can reuse one. The zero Parser is ready
// to use; a Parser must not be used by two goroutines at once.
type Parser struct {
	toks []token
}

// Parse is the package-level Parse using p's buffers. The returned Document
// does not share memory with p.
func (p *Parser) Parse(src string) (*Document, error) {
	if err := checkSource(src); err != nil {
		return nil, err
	}
	if p.toks == nil {
		p.toks = make([]token, 0, len(src)/5+8)
	}
	p.toks = lex(src, p.toks)
	ps := parser{src: src, toks: p.toks}
	doc, err := ps.document()
	if cap(p.toks) > 1<<16 {
		p.toks = nil // do not pin a huge buffer
	}
	return doc, err
}

// checkSource refuses, before lexing, a source that is too large or blank.
func checkSource(src string) error {
	if len(src) > MaxSourceBytes {
		return &SyntaxError{Line: 1, Column: 1, Err: ErrTooLarge,
			Detail: "CCL source of " + strconv.Itoa(len(src)) + " bytes exceeds the maximum of " + strconv.Itoa(MaxSourceBytes)}
	}
	if isBlank(src) {
		return &SyntaxError{Line: 1, Column: 1, Detail: emptyInputDetail}
	}
	return nil
}

// The parser's errors, shared by Parse and Check.

// errAt builds the reference's error for a token of src:
// "<prefix>'<value>'<suffix>".
func errAt(src string, t *token, prefix, suffix string) *SyntaxError {
	return &SyntaxError{Line: int(t.line), Column: int(t.col), Detail: prefix + "'" + src[t.start:t.end] + "'" + suffix}
}

// errExpect is the reference's expect() failure: tok is not of the type msg
// asks for.
func errExpect(src string, tok *token, msg string) *SyntaxError {
	if tok.typ == tkEOF {
		return &SyntaxError{Line: int(tok.line), Column: int(tok.col), Detail: msg + ", but got end of input"}
	}
	return errAt(src, tok, msg+", but got ", " ("+tok.typ.String()+")")
}

// errTooDeep refuses a `not` or parenthesis at MaxConditionDepth.
func errTooDeep(t *token) *SyntaxError {
	return &SyntaxError{Line: int(t.line), Column: int(t.col), Err: ErrTooDeep,
		Detail: "Condition nesting exceeds the maximum depth of " + strconv.Itoa(MaxConditionDepth)}
}

// Error texts of the grammar rules, shared by Parse and Check.
const (
	msgStatement      = "Expected statement keyword (permit, deny, require, or limit), but got "
	msgStatementAfter = ". Each line must start with one of: permit, deny, require, limit"
	msgOn             = "Expected 'on' after action"
	msgCount          = "Expected count number after action in limit statement, got "
	msgPer            = "Expected 'per' in limit statement"
	msgPeriod         = "Expected period number after 'per' in limit statement, got "
	msgUnit           = "Expected time unit (seconds, minutes, hours, days) in limit statement"
	msgAction         = "Expected action identifier, got "
	msgActionDot      = "Expected identifier or wildcard after dot in action, got "
	msgResource       = "Expected resource (string or pattern), got "
	msgSeverity       = "Expected severity level (critical, high, medium, low), got "
	msgSeverityBad    = "Invalid severity level "
	msgSeverityBadEnd = ", expected critical, high, medium, or low"
	msgRParen         = "Expected ')' after condition"
	msgField          = "Expected field identifier, got "
	msgFieldDot       = "Expected identifier after dot in field, got "
	msgValue          = "Expected value (string, number, boolean, or array), got "
	msgLBracket       = "Expected '['"
	msgScalar         = "Expected scalar value in array, got "
	msgRBracket       = "Expected ']'"
)

// errOperator is the error for a field not followed by an operator.
func errOperator(src string, op *token, field string) *SyntaxError {
	return errAt(src, op, "Expected operator after field '"+field+"', got ", "")
}

// severityLevel returns the severity level v names (any case).
func severityLevel(v string) (string, bool) {
	for _, lvl := range [...]string{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow} {
		if asciiEqualFold(v, lvl) {
			return lvl, true
		}
	}
	return "", false
}

// parser is the state of one parse.
type parser struct {
	src  string
	toks []token
	pos  int

	// Slabs for condition nodes and their child lists, sized from the token
	// counts on first use, so that a policy's conditions cost a few
	// allocations rather than a few per comparison.
	conds    []Condition
	children []*Condition
}

// newCondition returns a zeroed condition from the slab.
func (p *parser) newCondition() *Condition {
	if len(p.conds) == cap(p.conds) {
		n := 0
		for i := p.pos; i < len(p.toks); i++ {
			switch p.toks[i].typ {
			case tkOperator, tkAnd, tkOr, tkNot:
				n++
			}
		}
		p.conds = make([]Condition, 0, n+1)
	}
	p.conds = p.conds[:len(p.conds)+1]
	return &p.conds[len(p.conds)-1]
}

// childList returns a list holding the given conditions, from the slab. Its
// capacity is its length, so appending to it never overwrites a neighbour.
func (p *parser) childList(cs ...*Condition) []*Condition {
	if cap(p.children)-len(p.children) < len(cs) {
		n := 0
		for i := p.pos; i < len(p.toks); i++ {
			switch p.toks[i].typ {
			case tkAnd, tkOr, tkNot:
				n++
			}
		}
		p.children = make([]*Condition, 0, 2*n+len(cs))
	}
	from := len(p.children)
	p.children = append(p.children, cs...)
	return p.children[from:len(p.children):len(p.children)]
}

func (p *parser) cur() *token { return &p.toks[p.pos] }

func (p *parser) check(t tokenType) bool { return p.toks[p.pos].typ == t }

// advance moves past the current token; EOF is never passed.
func (p *parser) advance() {
	if p.toks[p.pos].typ != tkEOF {
		p.pos++
	}
}

func (p *parser) value(t *token) string { return p.src[t.start:t.end] }

func (p *parser) skipNewlinesAndComments() {
	for p.check(tkNewline) || p.check(tkComment) {
		p.pos++
	}
}

func (p *parser) errAt(t *token, prefix, suffix string) *SyntaxError {
	return errAt(p.src, t, prefix, suffix)
}

// expect consumes a token of type t or fails as the reference's expect().
func (p *parser) expect(t tokenType, msg string) (*token, error) {
	tok := p.cur()
	if tok.typ != t {
		return nil, errExpect(p.src, tok, msg)
	}
	p.advance()
	return tok, nil
}

func (p *parser) document() (*Document, error) {
	// Statement keywords cannot appear anywhere but at the start of a
	// statement, so their count sizes the statement storage exactly for a
	// source that parses.
	n := 0
	for i := range p.toks {
		switch p.toks[i].typ {
		case tkPermit, tkDeny, tkRequire, tkLimit:
			n++
		}
	}
	store := make([]Statement, n)
	ptrs := make([]*Statement, 2*n) // Statements, then the type views
	stmts := ptrs[0:0:n]

	p.skipNewlinesAndComments()
	for !p.check(tkEOF) {
		tok := p.cur()
		switch tok.typ {
		case tkPermit, tkDeny, tkRequire, tkLimit:
		default:
			return nil, p.errAt(tok, msgStatement, msgStatementAfter)
		}
		s := &store[len(stmts)]
		if err := p.statement(s); err != nil {
			return nil, err
		}
		stmts = append(stmts, s)
		p.skipNewlinesAndComments()
	}
	precompile(stmts)
	doc := &Document{}
	fileStatements(doc, stmts, ptrs[n:])
	return doc, nil
}

func (p *parser) statement(s *Statement) error {
	kw := p.cur()
	s.Line = int(kw.line)
	s.Severity = SeverityHigh
	switch kw.typ {
	case tkPermit:
		s.Type = Permit
	case tkDeny:
		s.Type = Deny
	case tkRequire:
		s.Type = Require
	default:
		s.Type = Limit
	}
	p.advance()

	action, err := p.action()
	if err != nil {
		return err
	}
	s.Action = action

	if s.Type == Limit {
		if err := p.limitTail(s); err != nil {
			return err
		}
	} else {
		if _, err := p.expect(tkOn, msgOn); err != nil {
			return err
		}
		if s.Resource, err = p.resource(); err != nil {
			return err
		}
		if p.check(tkWhen) {
			p.advance()
			if s.Condition, err = p.orExpr(0); err != nil {
				return err
			}
		}
	}
	if p.check(tkSeverity) {
		p.advance()
		if s.Severity, err = p.severity(); err != nil {
			return err
		}
	}
	return nil
}

// limitTail parses "NUMBER per NUMBER unit" after a limit's action.
func (p *parser) limitTail(s *Statement) error {
	t := p.cur()
	if t.typ != tkNumber {
		return p.errAt(t, msgCount, "")
	}
	s.Count = parseInt(p.value(t))
	p.advance()
	if _, err := p.expect(tkPer, msgPer); err != nil {
		return err
	}
	t = p.cur()
	if t.typ != tkNumber {
		return p.errAt(t, msgPeriod, "")
	}
	period := parseInt(p.value(t))
	p.advance()
	unit, err := p.expect(tkSeconds, msgUnit)
	if err != nil {
		return err
	}
	s.PeriodSeconds = period * unitSeconds(p.value(unit))
	return nil
}

// unitSeconds converts a time-unit keyword (any case, singular or plural).
func unitSeconds(u string) float64 {
	switch {
	case asciiEqualFold(u, "minute") || asciiEqualFold(u, "minutes"):
		return 60
	case asciiEqualFold(u, "hour") || asciiEqualFold(u, "hours"):
		return 3600
	case asciiEqualFold(u, "day") || asciiEqualFold(u, "days"):
		return 86400
	}
	return 1
}

// parseInt is JavaScript's parseInt(digits, 10) for a NUMBER token: digits
// only, correctly rounded, +Inf past the float64 range.
func parseInt(digits string) float64 {
	f, _ := strconv.ParseFloat(digits, 64) // ErrRange still yields ±Inf
	return f
}

// joined returns the text of tokens toks[from:to] (identifiers, wildcards and
// dots, whose values are their source text) concatenated. When the tokens are
// adjacent in the source (no blanks or skipped characters between them, the
// usual case) that is a substring of the source and costs nothing.
func (p *parser) joined(from, to int) string {
	first, last := &p.toks[from], &p.toks[to-1]
	adjacent := true
	for i := from; i < to-1; i++ {
		if p.toks[i].end != p.toks[i+1].start {
			adjacent = false
			break
		}
	}
	if adjacent {
		return p.src[first.start:last.end]
	}
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(p.value(&p.toks[i]))
	}
	return b.String()
}

// action parses an action pattern: "**" alone, or segments (identifier, "*"
// or, after the first, "**") separated by dots.
func (p *parser) action() (string, error) {
	t := p.cur()
	switch t.typ {
	case tkDoubleWildcard:
		p.advance()
		return "**", nil
	case tkWildcard, tkIdentifier:
	default:
		return "", p.errAt(t, msgAction, "")
	}
	from := p.pos
	p.advance()
	for p.check(tkDot) {
		p.advance()
		t = p.cur()
		switch t.typ {
		case tkIdentifier, tkWildcard, tkDoubleWildcard:
			p.advance()
		default:
			return "", p.errAt(t, msgActionDot, "")
		}
	}
	return p.joined(from, p.pos), nil
}

func (p *parser) resource() (string, error) {
	t := p.cur()
	switch t.typ {
	case tkString, tkWildcard, tkDoubleWildcard, tkIdentifier:
		p.advance()
		return p.value(t), nil
	}
	return "", p.errAt(t, msgResource, "")
}

func (p *parser) severity() (string, error) {
	t := p.cur()
	if t.typ != tkIdentifier {
		return "", p.errAt(t, msgSeverity, "")
	}
	if lvl, ok := severityLevel(p.value(t)); ok {
		p.advance()
		return lvl, nil
	}
	return "", p.errAt(t, msgSeverityBad, msgSeverityBadEnd)
}

// orExpr := andExpr { OR andExpr }, flattening into one "or" node.
func (p *parser) orExpr(depth int) (*Condition, error) {
	left, err := p.andExpr(depth)
	if err != nil {
		return nil, err
	}
	for p.check(tkOr) {
		p.advance()
		right, err := p.andExpr(depth)
		if err != nil {
			return nil, err
		}
		if left.Type == "or" {
			left.Conditions = append(left.Conditions, right)
		} else {
			c := p.newCondition()
			c.Type, c.Conditions = "or", p.childList(left, right)
			left = c
		}
	}
	return left, nil
}

// andExpr := notExpr { AND notExpr }, flattening into one "and" node (also
// into a parenthesised "and" on its left, as the reference does).
func (p *parser) andExpr(depth int) (*Condition, error) {
	left, err := p.notExpr(depth)
	if err != nil {
		return nil, err
	}
	for p.check(tkAnd) {
		p.advance()
		right, err := p.notExpr(depth)
		if err != nil {
			return nil, err
		}
		if left.Type == "and" {
			left.Conditions = append(left.Conditions, right)
		} else {
			c := p.newCondition()
			c.Type, c.Conditions = "and", p.childList(left, right)
			left = c
		}
	}
	return left, nil
}

// notExpr := NOT notExpr | LPAREN orExpr RPAREN | comparison.
func (p *parser) notExpr(depth int) (*Condition, error) {
	switch {
	case p.check(tkNot):
		if depth >= MaxConditionDepth {
			return nil, errTooDeep(p.cur())
		}
		p.advance()
		inner, err := p.notExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		c := p.newCondition()
		c.Type, c.Conditions = "not", p.childList(inner)
		return c, nil
	case p.check(tkLParen):
		if depth >= MaxConditionDepth {
			return nil, errTooDeep(p.cur())
		}
		p.advance()
		inner, err := p.orExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tkRParen, msgRParen); err != nil {
			return nil, err
		}
		return inner, nil
	}
	return p.comparison()
}

// comparison := field OPERATOR value.
func (p *parser) comparison() (*Condition, error) {
	t := p.cur()
	if t.typ != tkIdentifier {
		return nil, p.errAt(t, msgField, "")
	}
	from := p.pos
	p.advance()
	for p.check(tkDot) {
		p.advance()
		t = p.cur()
		if t.typ != tkIdentifier {
			return nil, p.errAt(t, msgFieldDot, "")
		}
		p.advance()
	}
	field := p.joined(from, p.pos)

	op := p.cur()
	if op.typ != tkOperator {
		return nil, errOperator(p.src, op, field)
	}
	p.advance()

	c := p.newCondition()
	c.Field, c.Operator = field, p.value(op)
	v, err := p.literal()
	if err != nil {
		return nil, err
	}
	c.Value = v
	if c.Operator == "matches" {
		if pat, ok := v.(string); ok {
			c.compileRegexp(pat)
		}
	}
	return c, nil
}

// literal := STRING | NUMBER | IDENTIFIER | array.
func (p *parser) literal() (any, error) {
	t := p.cur()
	switch t.typ {
	case tkString:
		p.advance()
		return p.value(t), nil
	case tkNumber:
		p.advance()
		return parseInt(p.value(t)), nil
	case tkIdentifier:
		p.advance()
		switch v := p.value(t); v {
		case "true":
			return true, nil
		case "false":
			return false, nil
		default:
			return v, nil
		}
	case tkLBracket:
		return p.array()
	}
	return nil, p.errAt(t, msgValue, "")
}

// array := LBRACKET [scalar { COMMA scalar }] RBRACKET; every element becomes
// a string (JavaScript String()).
func (p *parser) array() ([]string, error) {
	if _, err := p.expect(tkLBracket, msgLBracket); err != nil {
		return nil, err
	}
	vals := []string{}
	if !p.check(tkRBracket) {
		for {
			t := p.cur()
			switch t.typ {
			case tkString, tkIdentifier:
				vals = append(vals, p.value(t))
			case tkNumber:
				vals = append(vals, canon.JSString(parseInt(p.value(t))))
			default:
				return nil, p.errAt(t, msgScalar, "")
			}
			p.advance()
			if !p.check(tkComma) {
				break
			}
			p.advance()
		}
	}
	if _, err := p.expect(tkRBracket, msgRBracket); err != nil {
		return nil, err
	}
	return vals, nil
}

// IsBlank reports whether JavaScript's String.prototype.trim() would leave
// nothing of s, the reference's test for a blank action, covenant id or
// constraint text. It differs from strings.TrimSpace: U+FEFF is blank,
// U+0085 is not.
func IsBlank(s string) bool { return isBlank(s) }

// isBlank reports whether JavaScript's String.prototype.trim() would leave
// nothing of s: every character is a JavaScript WhiteSpace or LineTerminator.
func isBlank(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case ' ', '\t', '\n', '\v', '\f', '\r':
				i++
				continue
			}
			return false
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if !isJSSpace(r) {
			return false
		}
		i += w
	}
	return true
}

// isJSSpace reports whether r is a non-ASCII JavaScript WhiteSpace or
// LineTerminator: NBSP, BOM, the Zs category, LS and PS.
func isJSSpace(r rune) bool {
	switch r {
	case 0x00A0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return 0x2000 <= r && r <= 0x200A
}
