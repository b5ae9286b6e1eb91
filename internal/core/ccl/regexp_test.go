package ccl

import (
	"testing"

	"github.com/stele-go/stele/internal/core/canon"
)

// TestRegexpJavaScriptWordBoundaries pins `matches` results that follow from
// ECMAScript's RegExp semantics without the u and i flags, which the
// reference uses (new RegExp(V).test(F), PROTOCOL.md §4.7):
//
//   - \b and \B test IsWordChar, whose word characters are exactly
//     [0-9A-Za-z_] (ECMA-262 §22.2.2.9.3, WordCharacters without the u/i
//     flags); é, б and ж are not word characters, so "a\b" matches "aé".
//   - Annex B (B.1.2, ClassAtom / NonemptyClassRanges): a class escape next
//     to "-" in a class makes no range; the hyphen is a literal. [a-\d] is
//     a, "-" and the digits.
//
// regexp2 alone gave the opposite answer for each \b / \B case here (it
// tests Unicode word characters) and rejected [a-\d].
func TestRegexpJavaScriptWordBoundaries(t *testing.T) {
	cases := []struct {
		pat, subject string
		want         bool
	}{
		{`\bé`, "aé", true},
		{`a\b`, "aé", true},
		{`\Bé`, "aé", false},
		{`^é\b`, "é", false},
		{`\bб`, " б", false},
		{`x\b`, "xж", true},
		{`^a\b`, "a", true},
		{`\bprod\b`, "prod dev", true},
		{`\bprod\b`, "production", false},
		{`^\B$`, "", true},
		{`^\b$`, "", false},
		{`😀\b`, "😀", false},
		{`^.\B.$`, "😀", true}, // two code units, neither a word character
		{`(?<=\b)a`, "a", true},
		{`[\b]`, "\b", true}, // backspace inside a class
		{`^[a-\d]$`, "-", true},
		{`^[a-\d]$`, "5", true},
		{`^[a-\d]$`, "b", false},
		{`^[\s-\d]$`, "-", true},
		{`^[\w-.]+$`, "a-.", true},
		{`^[\w-.]$`, "`", false},
		{`^[\\w-y]$`, "x", true}, // \\ then the range w-y
		{`^[\\w-y]$`, "-", false},
	}
	for _, c := range cases {
		doc := mustParse(t, "permit x on '/r' when s matches '"+c.pat+"'")
		ctx := canon.NewObject(1)
		ctx.Set("s", c.subject)
		if got := Evaluate(doc, "x", "/r", ctx).Permitted; got != c.want {
			t.Errorf("%q matches %q: got %v, want %v", c.subject, c.pat, got, c.want)
		}
	}
	// A quantifier on \b or \B is still a syntax error, as in JavaScript.
	for _, pat := range []string{`a\b*`, `a\B+`} {
		if _, state := compileJSRegexp(pat); state != reInvalid {
			t.Errorf("%s compiled (state %v), want invalid", pat, state)
		}
	}
}

// TestRegexpClassControlLetter: inside a class, Annex B (B.1.2,
// ClassControlLetter) lets \c take a digit or "_" as well as a letter,
// giving the code modulo 32; with anything else the backslash is a literal
// and "c" an ordinary character. regexp2 read [\c1] and [\c*] otherwise.
func TestRegexpClassControlLetter(t *testing.T) {
	cases := []struct {
		pat, subject string
		want         bool
	}{
		{`^[\c1]$`, "\x11", true},
		{`^[\c_]$`, "\x1f", true},
		{`^[\cJ]$`, "\n", true},
		{`^[\c*]$`, "\\", true},
		{`^[\c*]$`, "c", true},
		{`^[\c*]$`, "*", true},
		{`^[\c*]$`, "\n", false},
		{`^[\c]$`, "c", true},
		{`^\c1$`, "\\c1", true}, // outside a class only a letter follows \c
	}
	for _, c := range cases {
		doc := mustParse(t, "permit x on '/r' when s matches '"+c.pat+"'")
		ctx := canon.NewObject(1)
		ctx.Set("s", c.subject)
		if got := Evaluate(doc, "x", "/r", ctx).Permitted; got != c.want {
			t.Errorf("%q matches %q: got %v, want %v", c.subject, c.pat, got, c.want)
		}
	}
}
