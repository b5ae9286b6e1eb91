package ccl

import "strings"

// Check validates CCL source without building a Document: it returns the
// number of statements Parse would return, or exactly the error Parse would
// return (the same *SyntaxError text, line and column, the same limits
// MaxSourceBytes and MaxConditionDepth; the statement count is 0 on error).
// Like Parse it does not enforce MaxStatements.
//
// Check runs the same lexer and the same grammar as Parse, but reads the
// tokens one at a time and builds nothing: no statements, conditions,
// precompiled patterns or regular expressions. It allocates only for the
// error it returns, so it suits callers that need to know that a policy
// parses, and how many statements it has, but not its content (covenant
// verification and building). It is safe for concurrent use.
func Check(src string) (statements int, err error) {
	if err := checkSource(src); err != nil {
		return 0, err
	}
	c := checker{sc: newScanner(src)}
	c.sc.scan(&c.tok)
	n, err := c.document()
	if err != nil {
		return 0, err
	}
	return n, nil
}

// checker walks the grammar of parser (parser.go) rule for rule, on tokens
// pulled from a scanner: tok is the current token, sc is positioned after it.
// Where parser builds a node, checker only consumes the tokens; where parser
// fails, checker fails with the same error. FuzzCheckMatchesParse holds the
// two to the same results.
type checker struct {
	sc  scanner
	tok token
}

// advance moves past the current token; at EOF it stays there.
func (c *checker) advance() {
	if c.tok.typ != tkEOF {
		c.sc.scan(&c.tok)
	}
}

func (c *checker) errAt(prefix, suffix string) error {
	return errAt(c.sc.src, &c.tok, prefix, suffix)
}

// expect consumes a token of type t or fails as parser.expect.
func (c *checker) expect(t tokenType, msg string) error {
	if c.tok.typ != t {
		return errExpect(c.sc.src, &c.tok, msg)
	}
	c.advance()
	return nil
}

func (c *checker) skipNewlinesAndComments() {
	for c.tok.typ == tkNewline || c.tok.typ == tkComment {
		c.advance()
	}
}

func (c *checker) document() (int, error) {
	n := 0
	c.skipNewlinesAndComments()
	for c.tok.typ != tkEOF {
		switch c.tok.typ {
		case tkPermit, tkDeny, tkRequire, tkLimit:
		default:
			return 0, c.errAt(msgStatement, msgStatementAfter)
		}
		if err := c.statement(); err != nil {
			return 0, err
		}
		n++
		c.skipNewlinesAndComments()
	}
	return n, nil
}

func (c *checker) statement() error {
	limit := c.tok.typ == tkLimit
	c.advance()
	if err := c.action(); err != nil {
		return err
	}
	if limit {
		if err := c.limitTail(); err != nil {
			return err
		}
	} else {
		if err := c.expect(tkOn, msgOn); err != nil {
			return err
		}
		if err := c.resource(); err != nil {
			return err
		}
		if c.tok.typ == tkWhen {
			c.advance()
			if err := c.orExpr(0); err != nil {
				return err
			}
		}
	}
	if c.tok.typ == tkSeverity {
		c.advance()
		if err := c.severity(); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) limitTail() error {
	if c.tok.typ != tkNumber {
		return c.errAt(msgCount, "")
	}
	c.advance()
	if err := c.expect(tkPer, msgPer); err != nil {
		return err
	}
	if c.tok.typ != tkNumber {
		return c.errAt(msgPeriod, "")
	}
	c.advance()
	return c.expect(tkSeconds, msgUnit)
}

func (c *checker) action() error {
	switch c.tok.typ {
	case tkDoubleWildcard:
		c.advance()
		return nil
	case tkWildcard, tkIdentifier:
	default:
		return c.errAt(msgAction, "")
	}
	c.advance()
	for c.tok.typ == tkDot {
		c.advance()
		switch c.tok.typ {
		case tkIdentifier, tkWildcard, tkDoubleWildcard:
			c.advance()
		default:
			return c.errAt(msgActionDot, "")
		}
	}
	return nil
}

func (c *checker) resource() error {
	switch c.tok.typ {
	case tkString, tkWildcard, tkDoubleWildcard, tkIdentifier:
		c.advance()
		return nil
	}
	return c.errAt(msgResource, "")
}

func (c *checker) severity() error {
	if c.tok.typ != tkIdentifier {
		return c.errAt(msgSeverity, "")
	}
	if _, ok := severityLevel(c.sc.src[c.tok.start:c.tok.end]); ok {
		c.advance()
		return nil
	}
	return c.errAt(msgSeverityBad, msgSeverityBadEnd)
}

func (c *checker) orExpr(depth int) error {
	if err := c.andExpr(depth); err != nil {
		return err
	}
	for c.tok.typ == tkOr {
		c.advance()
		if err := c.andExpr(depth); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) andExpr(depth int) error {
	if err := c.notExpr(depth); err != nil {
		return err
	}
	for c.tok.typ == tkAnd {
		c.advance()
		if err := c.notExpr(depth); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) notExpr(depth int) error {
	switch c.tok.typ {
	case tkNot:
		if depth >= MaxConditionDepth {
			return errTooDeep(&c.tok)
		}
		c.advance()
		return c.notExpr(depth + 1)
	case tkLParen:
		if depth >= MaxConditionDepth {
			return errTooDeep(&c.tok)
		}
		c.advance()
		if err := c.orExpr(depth + 1); err != nil {
			return err
		}
		return c.expect(tkRParen, msgRParen)
	}
	return c.comparison()
}

func (c *checker) comparison() error {
	if c.tok.typ != tkIdentifier {
		return c.errAt(msgField, "")
	}
	// The field's text appears only in an error; keep where it starts so
	// that it can be scanned again then.
	first, rest := c.tok, c.sc
	ntoks := 1
	c.advance()
	for c.tok.typ == tkDot {
		c.advance()
		if c.tok.typ != tkIdentifier {
			return c.errAt(msgFieldDot, "")
		}
		c.advance()
		ntoks += 2
	}
	if c.tok.typ != tkOperator {
		return errOperator(c.sc.src, &c.tok, fieldText(first, rest, ntoks))
	}
	c.advance()
	return c.literal()
}

// fieldText is parser.joined for a field of ntoks tokens: the values of its
// tokens concatenated. first is its first token, rest the scanner just after
// it.
func fieldText(first token, rest scanner, ntoks int) string {
	src := rest.src
	var b strings.Builder
	b.WriteString(src[first.start:first.end])
	for range ntoks - 1 {
		t := rest.next()
		b.WriteString(src[t.start:t.end])
	}
	return b.String()
}

func (c *checker) literal() error {
	switch c.tok.typ {
	case tkString, tkNumber, tkIdentifier:
		c.advance()
		return nil
	case tkLBracket:
		return c.array()
	}
	return c.errAt(msgValue, "")
}

func (c *checker) array() error {
	if err := c.expect(tkLBracket, msgLBracket); err != nil {
		return err
	}
	if c.tok.typ != tkRBracket {
		for {
			switch c.tok.typ {
			case tkString, tkIdentifier, tkNumber:
			default:
				return c.errAt(msgScalar, "")
			}
			c.advance()
			if c.tok.typ != tkComma {
				break
			}
			c.advance()
		}
	}
	return c.expect(tkRBracket, msgRBracket)
}
