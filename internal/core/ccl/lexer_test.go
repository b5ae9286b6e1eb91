package ccl

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lexString renders the tokens of src as "TYPE:value@line:col".
func lexString(src string) []string {
	var out []string
	for _, t := range lex(src, nil) {
		out = append(out, fmt.Sprintf("%s:%s@%d:%d", t.typ, src[t.start:t.end], t.line, t.col))
	}
	return out
}

func TestLexer(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"blanks skipped", " \t\rpermit", []string{"PERMIT:permit@1:4", "EOF:@1:10"}},
		{"no NEWLINE before the first token", "\n\npermit", []string{"PERMIT:permit@3:1", "EOF:@3:7"}},
		{"NEWLINEs collapse", "a\n\n\nb", []string{"IDENTIFIER:a@1:1", "NEWLINE:\n@1:2", "IDENTIFIER:b@4:1", "EOF:@4:2"}},
		{"blank lines with spaces collapse", "a\n  \n b", []string{"IDENTIFIER:a@1:1", "NEWLINE:\n@1:2", "IDENTIFIER:b@3:2", "EOF:@3:3"}},
		{"comment is a token and is followed by NEWLINE", "# c\nx", []string{"COMMENT:# c@1:1", "NEWLINE:\n@1:4", "IDENTIFIER:x@2:1", "EOF:@2:2"}},
		{"comment after a statement", "a # b ' c", []string{"IDENTIFIER:a@1:1", "COMMENT:# b ' c@1:3", "EOF:@1:10"}},
		{"string verbatim, no escapes", `'a\'`, []string{`STRING:a\@1:1`, "EOF:@1:5"}},
		{"string spans lines", "'a\nb' c", []string{"STRING:a\nb@1:1", "IDENTIFIER:c@2:4", "EOF:@2:5"}},
		{"unterminated string runs to the end", "x 'abc\ndef", []string{"IDENTIFIER:x@1:1", "STRING:abc\ndef@1:3", "EOF:@2:4"}},
		{"punctuation", "()[],.", []string{"LPAREN:(@1:1", "RPAREN:)@1:2", "LBRACKET:[@1:3", "RBRACKET:]@1:4", "COMMA:,@1:5", "DOT:.@1:6", "EOF:@1:7"}},
		{"two-character operators first", "!=<=>=<>=", []string{"OPERATOR:!=@1:1", "OPERATOR:<=@1:3", "OPERATOR:>=@1:5", "OPERATOR:<@1:7", "OPERATOR:>=@1:8", "EOF:@1:10"}},
		{"== is two =", "==", []string{"OPERATOR:=@1:1", "OPERATOR:=@1:2", "EOF:@1:3"}},
		{"lone ! is skipped", "! a", []string{"IDENTIFIER:a@1:3", "EOF:@1:4"}},
		{"wildcards", "* ** ***", []string{"WILDCARD:*@1:1", "DOUBLE_WILDCARD:**@1:3", "DOUBLE_WILDCARD:**@1:6", "WILDCARD:*@1:8", "EOF:@1:9"}},
		{"numbers are digits only", "0.5", []string{"NUMBER:0@1:1", "DOT:.@1:2", "NUMBER:5@1:3", "EOF:@1:4"}},
		{"negative loses its sign", "-5", []string{"NUMBER:5@1:2", "EOF:@1:3"}},
		{"2fa", "2fa", []string{"NUMBER:2@1:1", "IDENTIFIER:fa@1:2", "EOF:@1:4"}},
		{"word operators are case-sensitive", "in IN matches Matches not_in", []string{"OPERATOR:in@1:1", "IDENTIFIER:IN@1:4", "OPERATOR:matches@1:7", "IDENTIFIER:Matches@1:15", "OPERATOR:not_in@1:23", "EOF:@1:29"}},
		{"keywords are case-insensitive and keep their spelling", "PERMIT Deny rEqUiRe LIMIT On WHEN Severity PER", []string{
			"PERMIT:PERMIT@1:1", "DENY:Deny@1:8", "REQUIRE:rEqUiRe@1:13", "LIMIT:LIMIT@1:21", "ON:On@1:27", "WHEN:WHEN@1:30", "SEVERITY:Severity@1:35", "PER:PER@1:44", "EOF:@1:47"}},
		{"time units", "second Seconds MINUTE minutes hour HOURS day days", []string{
			"SECONDS:second@1:1", "SECONDS:Seconds@1:8", "SECONDS:MINUTE@1:16", "SECONDS:minutes@1:23", "SECONDS:hour@1:31", "SECONDS:HOURS@1:36", "SECONDS:day@1:42", "SECONDS:days@1:46", "EOF:@1:50"}},
		{"and or not", "AND Or not", []string{"AND:AND@1:1", "OR:Or@1:5", "NOT:not@1:8", "EOF:@1:11"}},
		{"booleans are identifiers", "true False", []string{"IDENTIFIER:true@1:1", "IDENTIFIER:False@1:6", "EOF:@1:11"}},
		{"hyphenated name is two identifiers", "file-read", []string{"IDENTIFIER:file@1:1", "IDENTIFIER:read@1:6", "EOF:@1:10"}},
		{"unquoted path runs to whitespace", "/a'b\"#(,)c x", []string{"STRING:/a'b\"#(,)c@1:1", "IDENTIFIER:x@1:12", "EOF:@1:13"}},
		{"double quotes are dropped, the path keeps the closing one", `on "/data/**"`, []string{"ON:on@1:1", `STRING:/data/**"@1:5`, "EOF:@1:14"}},
		{"unknown characters skipped", `"-+:;@{}\`, []string{"EOF:@1:10"}},
		{"non-ASCII skipped; columns count UTF-16 units", "café x", []string{"IDENTIFIER:caf@1:1", "IDENTIFIER:x@1:6", "EOF:@1:7"}},
		{"astral characters count two columns", "😀x", []string{"IDENTIFIER:x@1:3", "EOF:@1:4"}},
		{"columns in strings and paths count UTF-16 units", "'😀é' /😀 x", []string{"STRING:😀é@1:1", "STRING:/😀@1:7", "IDENTIFIER:x@1:11", "EOF:@1:12"}},
		{"constructor and __proto__ are bogus keywords", "constructor CONSTRUCTOR __proto__ __PROTO__ construct", []string{
			"function Object() { [native code] }:constructor@1:1", "function Object() { [native code] }:CONSTRUCTOR@1:13",
			"[object Object]:__proto__@1:25", "[object Object]:__PROTO__@1:35", "IDENTIFIER:construct@1:45", "EOF:@1:54"}},
		{"CR is not a line break", "a\r\nb", []string{"IDENTIFIER:a@1:1", "NEWLINE:\n@1:3", "IDENTIFIER:b@2:1", "EOF:@2:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, lexString(tt.src)); diff != "" {
				t.Errorf("lex(%q) mismatch (-want +got):\n%s", tt.src, diff)
			}
		})
	}
}

func TestLexerReusesBuffer(t *testing.T) {
	buf := make([]token, 0, 64)
	toks := lex("permit read on '/a'", buf)
	if &toks[0] != &buf[:1][0] {
		t.Error("lex did not reuse the buffer it was given")
	}
	if len(toks) != 5 {
		t.Errorf("%d tokens, want 5", len(toks))
	}
}

func TestIsBlank(t *testing.T) {
	blank := []string{"", " ", "\t\n\r\v\f", "\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"}
	for _, s := range blank {
		if !isBlank(s) {
			t.Errorf("isBlank(%q) = false", s)
		}
	}
	notBlank := []string{"a", "\u0085", "\u200b", " x ", "@", "\x00"}
	for _, s := range notBlank {
		if isBlank(s) {
			t.Errorf("isBlank(%q) = true", s)
		}
	}
	// U+0085 is not JavaScript whitespace: the source is not empty, and it
	// lexes to nothing, so it parses to an empty document.
	doc, err := Parse("\u0085")
	if err != nil || len(doc.Statements) != 0 {
		t.Errorf("Parse(NEL) = %v, %v", doc, err)
	}
	if _, err := Parse(strings.Repeat("\u3000", 3)); err == nil || err.Error() != "CCL Syntax Error at 1:1: "+emptyInputDetail {
		t.Errorf("Parse(ideographic spaces) = %v", err)
	}
}

// refWordType is the straightforward wordType the optimised one must match.
// It classifies an identifier-shaped word: a word operator (exact
// case), else a keyword (any case), else an identifier. The reference looks
// keywords up in a plain JavaScript object, so "constructor" and "__proto__"
// (in any case) find inherited members: they get the two bogus types.
func refWordType(w string) tokenType {
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

func TestWordTypeMatchesReference(t *testing.T) {
	words := []string{"", "a", "x_", "_", "__", "__proto", "__proto__x", "constructo", "constructors", "ins", "i", "notin", "not_i"}
	for _, w := range []string{"contains", "not_contains", "in", "not_in", "matches", "starts_with", "ends_with",
		"permit", "deny", "require", "limit", "on", "when", "severity", "per", "second", "seconds", "minute", "minutes",
		"hour", "hours", "day", "days", "and", "or", "not", "constructor", "__proto__"} {
		// Every spelling with the case of each letter flipped in turn, all
		// upper case, and the word with a letter added or removed.
		words = append(words, w, strings.ToUpper(w), w+"s", w+"x", w[:len(w)-1], "x"+w, w[1:])
		for i := range len(w) {
			b := []byte(w)
			if 'a' <= b[i] && b[i] <= 'z' {
				b[i] -= 'a' - 'A'
			}
			words = append(words, string(b))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"
	for range 200000 {
		b := make([]byte, 1+r.IntN(13))
		b[0] = "onsdmhacpelwirt_ONSDMHACPELWIRT"[r.IntN(31)]
		for i := 1; i < len(b); i++ {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		words = append(words, string(b))
	}
	keywords := 0
	for _, w := range words {
		got, want := wordType(w), refWordType(w)
		if got != want {
			t.Errorf("wordType(%q) = %v, want %v", w, got, want)
		}
		if want != tkIdentifier {
			keywords++
		}
	}
	if keywords < 200 {
		t.Errorf("only %d of the words are keywords or operators", keywords)
	}
}
