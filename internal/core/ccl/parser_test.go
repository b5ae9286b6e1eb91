package ccl

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// parseErrorTests hold every error message of PROTOCOL.md §4.2, with the
// reference's exact text and position.
var parseErrorTests = []struct{ src, want string }{
	{"", "CCL Syntax Error at 1:1: CCL parse error: input is empty. Provide at least one statement, e.g.: permit read on '/data/**'"},
	{" \n\t\u00a0", "CCL Syntax Error at 1:1: CCL parse error: input is empty. Provide at least one statement, e.g.: permit read on '/data/**'"},
	{"read on '/a'", "CCL Syntax Error at 1:1: Expected statement keyword (permit, deny, require, or limit), but got 'read'. Each line must start with one of: permit, deny, require, limit"},
	{"permit read on '/a' extra", "CCL Syntax Error at 1:21: Expected statement keyword (permit, deny, require, or limit), but got 'extra'. Each line must start with one of: permit, deny, require, limit"},
	{"permit on '/a'", "CCL Syntax Error at 1:8: Expected action identifier, got 'on'"},
	{"permit", "CCL Syntax Error at 1:7: Expected action identifier, got ''"},
	{"permit read. on '/a'", "CCL Syntax Error at 1:14: Expected identifier or wildcard after dot in action, got 'on'"},
	{"permit read on", "CCL Syntax Error at 1:15: Expected resource (string or pattern), got ''"},
	{"permit read on on", "CCL Syntax Error at 1:16: Expected resource (string or pattern), got 'on'"},
	{"permit read on '/a' when x 5", "CCL Syntax Error at 1:28: Expected operator after field 'x', got '5'"},
	{"permit read on '/a' when a.b", "CCL Syntax Error at 1:29: Expected operator after field 'a.b', got ''"},
	{"permit read on '/a' when 5 = 5", "CCL Syntax Error at 1:26: Expected field identifier, got '5'"},
	{"permit read on '/a' when x. = 1", "CCL Syntax Error at 1:29: Expected identifier after dot in field, got '='"},
	{"permit read on '/a' when x.on = 1", "CCL Syntax Error at 1:28: Expected identifier after dot in field, got 'on'"},
	{"permit read on '/a' when x =", "CCL Syntax Error at 1:29: Expected value (string, number, boolean, or array), got ''"},
	{"permit read on '/a' when x = (", "CCL Syntax Error at 1:30: Expected value (string, number, boolean, or array), got '('"},
	{"permit read on '/a' when x in [(]", "CCL Syntax Error at 1:32: Expected scalar value in array, got '('"},
	{"permit read on '/a' when x in ['a',", "CCL Syntax Error at 1:36: Expected scalar value in array, got ''"},
	{"permit read on '/a' severity", "CCL Syntax Error at 1:29: Expected severity level (critical, high, medium, low), got ''"},
	{"permit read on '/a' severity 5", "CCL Syntax Error at 1:30: Expected severity level (critical, high, medium, low), got '5'"},
	{"permit read on '/a' severity extreme", "CCL Syntax Error at 1:30: Invalid severity level 'extreme', expected critical, high, medium, or low"},
	{"limit api per 1 hours", "CCL Syntax Error at 1:11: Expected count number after action in limit statement, got 'per'"},
	{"limit api 5 per hours", "CCL Syntax Error at 1:17: Expected period number after 'per' in limit statement, got 'hours'"},
	{"permit read", "CCL Syntax Error at 1:12: Expected 'on' after action, but got end of input"},
	{"permit file-read on \"/data/**\"", "CCL Syntax Error at 1:13: Expected 'on' after action, but got 'read' (IDENTIFIER)"},
	{"permit read\non '/a'", "CCL Syntax Error at 1:12: Expected 'on' after action, but got '\n' (NEWLINE)"},
	{"permit ** .x on '/a'", "CCL Syntax Error at 1:11: Expected 'on' after action, but got '.' (DOT)"},
	{"permit read constructor", "CCL Syntax Error at 1:13: Expected 'on' after action, but got 'constructor' (function Object() { [native code] })"},
	{"permit read __PROTO__", "CCL Syntax Error at 1:13: Expected 'on' after action, but got '__PROTO__' ([object Object])"},
	{"permit read on '/a' when (x = 1", "CCL Syntax Error at 1:32: Expected ')' after condition, but got end of input"},
	{"permit read on '/a' when (x = 1 y", "CCL Syntax Error at 1:33: Expected ')' after condition, but got 'y' (IDENTIFIER)"},
	{"permit read on '/a' when x in ['a' 'b']", "CCL Syntax Error at 1:36: Expected ']', but got 'b' (STRING)"},
	{"limit api 5 1 hours", "CCL Syntax Error at 1:13: Expected 'per' in limit statement, but got '1' (NUMBER)"},
	{"limit api 5 per 1 fortnight", "CCL Syntax Error at 1:19: Expected time unit (seconds, minutes, hours, days) in limit statement, but got 'fortnight' (IDENTIFIER)"},
	{"limit api 5 per 1", "CCL Syntax Error at 1:18: Expected time unit (seconds, minutes, hours, days) in limit statement, but got end of input"},
	{"permit x on '/a' when score >= 0.5", "CCL Syntax Error at 1:33: Expected statement keyword (permit, deny, require, or limit), but got '.'. Each line must start with one of: permit, deny, require, limit"},
	{"deny constructor on '/a'", "CCL Syntax Error at 1:6: Expected action identifier, got 'constructor'"},
	{"😀\npermit x on '/é' when é", "CCL Syntax Error at 2:24: Expected field identifier, got ''"},
	{"permit x on 'a\nb' when y = 1 z", "CCL Syntax Error at 2:15: Expected statement keyword (permit, deny, require, or limit), but got 'z'. Each line must start with one of: permit, deny, require, limit"},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range parseErrorTests {
		doc, err := Parse(tt.src)
		if err == nil {
			t.Errorf("Parse(%q) = %d statements, want error %q", tt.src, len(doc.Statements), tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got  %q\n want %q", tt.src, err.Error(), tt.want)
		}
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q): error %T does not match *SyntaxError / ErrSyntax", tt.src, err)
			continue
		}
		if prefix := "CCL Syntax Error at "; !strings.HasPrefix(tt.want, prefix) {
			t.Fatalf("bad test %q", tt.want)
		}
		if errors.Is(err, ErrTooDeep) || errors.Is(err, ErrTooLarge) {
			t.Errorf("Parse(%q): a reference error matches a limit sentinel", tt.src)
		}
	}
}

func TestParseLimits(t *testing.T) {
	deep := "permit x on '/a' when " + strings.Repeat("not ", MaxConditionDepth+1) + "a = 1"
	_, err := Parse(deep)
	if !errors.Is(err, ErrTooDeep) || !errors.Is(err, ErrSyntax) {
		t.Errorf("deep not chain: %v", err)
	}
	parens := "permit x on '/a' when " + strings.Repeat("(", MaxConditionDepth+1) + "a = 1" + strings.Repeat(")", MaxConditionDepth+1)
	if _, err := Parse(parens); !errors.Is(err, ErrTooDeep) {
		t.Errorf("deep parentheses: %v", err)
	}
	ok := "permit x on '/a' when " + strings.Repeat("(not ", MaxConditionDepth/2) + "a = 1" + strings.Repeat(")", MaxConditionDepth/2)
	if _, err := Parse(ok); err != nil {
		t.Errorf("nesting at the limit: %v", err)
	}
	big := "# " + strings.Repeat("x", MaxSourceBytes)
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized source: %v", err)
	}
}

func TestParseStatements(t *testing.T) {
	src := `# policy
permit file.read on '/data/**' when user.role = 'admin' and amount <= 1000 severity LOW
deny ** on /secret/* severity critical   # trailing comment
require audit.* on * when tags contains 'pii'
limit api.call 100 per 2 HOURS
permit read on '/a' deny write on ident`
	doc := mustParse(t, src)
	want := []*Statement{
		{Type: Permit, Action: "file.read", Resource: "/data/**", Severity: "low", Line: 2,
			Condition: &Condition{Type: "and", Conditions: []*Condition{
				{Field: "user.role", Operator: "=", Value: "admin"},
				{Field: "amount", Operator: "<=", Value: 1000.0},
			}}},
		{Type: Deny, Action: "**", Resource: "/secret/*", Severity: "critical", Line: 3},
		{Type: Require, Action: "audit.*", Resource: "*", Severity: "high", Line: 4,
			Condition: &Condition{Field: "tags", Operator: "contains", Value: "pii"}},
		{Type: Limit, Action: "api.call", Severity: "high", Line: 5, Count: 100, PeriodSeconds: 7200},
		{Type: Permit, Action: "read", Resource: "/a", Severity: "high", Line: 6},
		{Type: Deny, Action: "write", Resource: "ident", Severity: "high", Line: 6},
	}
	opts := cmp.Options{cmpopts.IgnoreUnexported(Statement{}, Condition{})}
	if diff := cmp.Diff(want, doc.Statements, opts); diff != "" {
		t.Errorf("statements (-want +got):\n%s", diff)
	}
	if got := lines(doc.Permits); !equalInts(got, []int{2, 6}) {
		t.Errorf("permits %v", got)
	}
	if got := lines(doc.Denies); !equalInts(got, []int{3, 6}) {
		t.Errorf("denies %v", got)
	}
	if got := lines(doc.Obligations); !equalInts(got, []int{4}) {
		t.Errorf("obligations %v", got)
	}
	if got := lines(doc.Limits); !equalInts(got, []int{5}) {
		t.Errorf("limits %v", got)
	}
	// The views must not overwrite each other when appended to.
	doc.Permits = append(doc.Permits, doc.Limits[0])
	if doc.Denies[0].Line != 3 {
		t.Error("appending to Permits overwrote Denies")
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		src  string
		want any
	}{
		{"x = 'a b'", "a b"},
		{"x = 42", 42.0},
		{"x = 007", 7.0},
		{"x = 9007199254740993", 9007199254740992.0},
		{"x = 123456789012345678901234567890", 1.2345678901234568e29},
		{"x = true", true},
		{"x = false", false},
		{"x = TRUE", "TRUE"},
		{"x = admin", "admin"},
		{"x in [1, true, x, 'y z', 1000000000000000000000]", []string{"1", "true", "x", "y z", "1e+21"}},
		{"x in []", []string{}},
		{"x = " + strings.Repeat("9", 400), math.Inf(1)},
	}
	for _, tt := range tests {
		doc := mustParse(t, "permit a on '/b' when "+tt.src)
		if diff := cmp.Diff(tt.want, doc.Statements[0].Condition.Value); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.src, diff)
		}
	}
}

func TestParseConditionShapes(t *testing.T) {
	tests := []struct{ cond, want string }{
		{"a = 1 and b = 2 and c = 3", "and(a,b,c)"},
		{"(a = 1 and b = 2) and c = 3", "and(a,b,c)"},
		{"a = 1 and (b = 2 and c = 3)", "and(a,and(b,c))"},
		{"a = 1 or b = 2 and c = 3", "or(a,and(b,c))"},
		{"not not a = 1", "not(not(a))"},
		{"not a = 1 and b = 2", "and(not(a),b)"},
		{"not (a = 1 and b = 2)", "not(and(a,b))"},
		{"(a = 1 or b = 2) or c = 3 or d = 4", "or(a,b,c,d)"},
		{"(((a = 1)))", "a"},
	}
	var shape func(c *Condition) string
	shape = func(c *Condition) string {
		if !c.isCompound() {
			return c.Field
		}
		parts := make([]string, len(c.Conditions))
		for i, s := range c.Conditions {
			parts[i] = shape(s)
		}
		return c.Type + "(" + strings.Join(parts, ",") + ")"
	}
	for _, tt := range tests {
		doc := mustParse(t, "permit x on '/y' when "+tt.cond)
		if got := shape(doc.Statements[0].Condition); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.cond, got, tt.want)
		}
	}
}

func TestActionJoinsAcrossSpaces(t *testing.T) {
	// Dots may be surrounded by blanks; the action is the joined text.
	doc := mustParse(t, "permit read . ** .x on '/a' when a . b = 1")
	if s := doc.Statements[0]; s.Action != "read.**.x" || s.Condition.Field != "a.b" {
		t.Errorf("action %q field %q", s.Action, s.Condition.Field)
	}
}

func TestParseCommentsOnly(t *testing.T) {
	doc := mustParse(t, "# nothing\n\n   # here\n")
	if len(doc.Statements) != 0 {
		t.Errorf("%d statements", len(doc.Statements))
	}
	if r := Evaluate(doc, "read", "/a", nil); r.Permitted || r.MatchedRule != nil || r.Reason != DefaultDenyReason {
		t.Errorf("empty document: %+v", r)
	}
}

func TestLimitUnits(t *testing.T) {
	tests := []struct {
		src    string
		period float64
	}{
		{"limit a 1 per 30 second", 30},
		{"limit a 1 per 30 seconds", 30},
		{"limit a 1 per 2 minute", 120},
		{"limit a 1 per 2 Minutes", 120},
		{"limit a 1 per 3 hour", 10800},
		{"limit a 1 per 3 HOURS", 10800},
		{"limit a 1 per 1 day", 86400},
		{"limit a 1 per 7 days", 604800},
	}
	for _, tt := range tests {
		if got := mustParse(t, tt.src).Limits[0].PeriodSeconds; got != tt.period {
			t.Errorf("%s: period %v, want %v", tt.src, got, tt.period)
		}
	}
}

func TestParserReuse(t *testing.T) {
	var p Parser
	a, err := p.Parse("permit read on '/a'")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Parse("deny write on '/b' when x = 'y'")
	if err != nil {
		t.Fatal(err)
	}
	// The first document must not share storage with the parser.
	if a.Statements[0].Action != "read" || a.Statements[0].Resource != "/a" || b.Statements[0].Action != "write" {
		t.Errorf("documents changed by reuse: %q %q", Serialize(a), Serialize(b))
	}
}
