package ccl

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
)

// obj builds a context from JSON text.
func obj(t testing.TB, js string) *canon.Object {
	t.Helper()
	v, err := canon.Parse([]byte(js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	o, ok := v.(*canon.Object)
	if !ok {
		t.Fatalf("%s is not an object", js)
	}
	return o
}

// TestEvaluateSpecificity is the example of PROTOCOL.md §4.6.
func TestEvaluateSpecificity(t *testing.T) {
	doc := mustParse(t, `permit read on '/data/**'
deny read on '/data/secret/**' severity critical
permit read on '/data/secret/public'`)
	tests := []struct {
		action, resource string
		permitted        bool
		line             int // 0: default deny
		severity         string
	}{
		{"read", "/data/secret/public", true, 3, "high"},
		{"read", "/data/secret/key", false, 2, "critical"},
		{"read", "/data/secret", false, 2, "critical"},
		{"read", "/data", true, 1, "high"},
		{"read", "/other", false, 0, ""},
		{"write", "/data/x", false, 0, ""},
	}
	for _, tt := range tests {
		r := Evaluate(doc, tt.action, tt.resource, nil)
		line := 0
		if r.MatchedRule != nil {
			line = r.MatchedRule.Line
		}
		if r.Permitted != tt.permitted || line != tt.line || r.Severity != tt.severity {
			t.Errorf("%s %s: %+v", tt.action, tt.resource, r)
		}
	}
	r := Evaluate(doc, "read", "/data/secret/public", nil)
	if want := "Matched permit rule for read on /data/secret/public"; r.Reason != want {
		t.Errorf("reason %q, want %q", r.Reason, want)
	}
	if got := lines(AllMatches(doc, "read", "/data/secret/public", nil)); !equalInts(got, []int{1, 3, 2}) {
		t.Errorf("allMatches %v, want permits then denies [1 3 2]", got)
	}
}

func TestEvaluateTies(t *testing.T) {
	// Equal specificity: the deny wins, whatever the source order.
	doc := mustParse(t, "deny read on '/a/*'\npermit read on '/a/*'\npermit read on '/a/x' when flag = true")
	if r := Evaluate(doc, "read", "/a/x", nil); r.Permitted || r.MatchedRule.Line != 1 {
		t.Errorf("tie: %+v", r)
	}
	if r := Evaluate(doc, "read", "/a/x", obj(t, `{"flag":true}`)); !r.Permitted || r.MatchedRule.Line != 3 {
		t.Errorf("more specific permit: %+v", r)
	}
	// Among equals of one type, the first in source order wins.
	doc = mustParse(t, "permit read on '/a/*' severity low\npermit read on '/*/b' severity medium\ndeny read on '/q' \ndeny * on '/a/b' severity critical\ndeny read on '/*/*' severity medium")
	if r := Evaluate(doc, "read", "/a/b", nil); r.Permitted || r.MatchedRule.Line != 4 || r.Severity != "critical" {
		t.Errorf("first deny of the best specificity: %+v", r)
	}
	// Requires and limits never decide.
	doc = mustParse(t, "require read on '/a'\nlimit read 1 per 1 second")
	if r := Evaluate(doc, "read", "/a", nil); r.Permitted || r.MatchedRule != nil {
		t.Errorf("require decided: %+v", r)
	}
	if got := lines(AllMatches(doc, "read", "/a", nil)); !equalInts(got, []int{1}) {
		t.Errorf("allMatches %v", got)
	}
	if AllMatches(doc, "write", "/a", nil) != nil {
		t.Error("AllMatches without a match should be nil")
	}
	if r := Evaluate(nil, "read", "/a", nil); r.Permitted || r.Reason != DefaultDenyReason {
		t.Errorf("nil document: %+v", r)
	}
}

// TestConditionExamples are the examples of PROTOCOL.md §4.7.
func TestConditionExamples(t *testing.T) {
	doc := mustParse(t, "permit transfer on '/accounts/*' when amount <= 1000 and currency in ['USD', 'EUR']")
	for ctx, want := range map[string]bool{
		`{"amount":500,"currency":"USD"}`:   true,
		`{"amount":500.0,"currency":"EUR"}`: true,
		`{"amount":1000,"currency":"USD"}`:  true,
		`{"amount":1001,"currency":"USD"}`:  false,
		`{"amount":"500","currency":"USD"}`: false,
		`{"amount":500}`:                    false,
	} {
		if r := Evaluate(doc, "transfer", "/accounts/1", obj(t, ctx)); r.Permitted != want {
			t.Errorf("%s: permitted=%v, want %v", ctx, r.Permitted, want)
		}
	}
	doc = mustParse(t, "permit export on '**'\ndeny export on '**' when not user.verified = true")
	for ctx, want := range map[string]bool{
		`{}`:                           false,
		`{"user":{"verified":true}}`:   true,
		`{"user":{"verified":"true"}}`: false,
		`{"user":null}`:                false,
	} {
		if r := Evaluate(doc, "export", "/x", obj(t, ctx)); r.Permitted != want {
			t.Errorf("%s: permitted=%v, want %v", ctx, r.Permitted, want)
		}
	}
}

// TestOperators walks the operator table of PROTOCOL.md §4.7.
func TestOperators(t *testing.T) {
	ctx := obj(t, `{"n":5,"f":1.5,"s":"hello","e":"","b":true,"z":null,"a":["x",5,true,null],"o":{"k":"v"},
		"nested":[["a","b"],"c"],"big":1e21,"neg":-0,"emoji":"😀","name":"Admin"}`)
	tests := []struct {
		cond string
		want bool
	}{
		{"n = 5", true}, {"n = '5'", false}, {"f = 1", false}, {"s = 'hello'", true}, {"b = true", true}, {"b = 'true'", false},
		{"z = null", false}, {"z != 'x'", true}, {"missing != 'x'", false}, {"a = ['x']", false}, {"a != ['x']", true},
		{"n != ['5']", true}, {"neg = 0", true}, {"big = 1000000000000000000000", true},
		{"n < 6", true}, {"n > 4", true}, {"n <= 5", true}, {"n >= 6", false}, {"s < 5", false}, {"n < 'x'", false}, {"z < 1", false},
		{"s contains 'ell'", true}, {"s contains ''", true}, {"s contains 'x'", false}, {"a contains 'x'", true}, {"a contains 5", true},
		{"a contains true", true}, {"a contains 'null'", false}, {"n contains '5'", false}, {"o contains 'k'", false},
		{"s not_contains 'x'", true}, {"s not_contains 'ell'", false}, {"a not_contains 'y'", true}, {"n not_contains 5", true},
		{"missing not_contains 'x'", false}, {"o not_contains 'k'", true}, {"nested contains 'c'", true}, {"nested contains 'a'", false},
		{"s in ['hello', 'x']", true}, {"n in ['5']", true}, {"n in [5]", true}, {"b in ['true']", true}, {"z in ['null']", true},
		{"a in ['x,5,true,']", true}, {"o in ['[object Object]']", true}, {"nested in ['a,b,c']", true}, {"f in ['1.5']", true},
		{"big in ['1e+21']", true}, {"neg in ['0']", true}, {"s in 'hello'", false}, {"s in []", false}, {"missing in ['undefined']", false},
		{"s not_in ['x']", true}, {"s not_in ['hello']", false}, {"s not_in 'hello'", true}, {"missing not_in ['x']", false},
		{"s matches '^h.l+o$'", true}, {"s matches 'L'", false}, {"n matches '5'", false}, {"s matches '('", false},
		{"emoji matches '^.$'", false}, {"emoji matches '^..$'", true}, {"emoji matches '^\\uD83D'", true},
		{"s starts_with 'he'", true}, {"s starts_with 'lo'", false}, {"s ends_with 'lo'", true}, {"n starts_with '5'", false},
		{"e starts_with ''", true}, {"name = 'admin'", false},
		{"a.length = 4", true}, {"s.length = 5", false}, {"s.length != 5", false}, {"o.k = 'v'", true}, {"o.k.x = 'v'", false},
		{"not missing = 1", true}, {"not (missing = 1 or n = 5)", false}, {"n = 5 and (s = 'x' or b = true)", true},
		{"toString != 'x'", true}, {"toString = 'x'", false}, {"toString in ['function toString() { [native code] }']", true},
		{"a.map in ['function map() { [native code] }']", true}, {"o.valueOf not_in ['x']", true}, {"a.at contains 'x'", false},
		{"a.nope != 1", false}, {"s.toString != 1", false}, {"hasOwnProperty not_contains 'x'", true},
	}
	for _, tt := range tests {
		doc, err := Parse("permit x on '/y' when " + tt.cond)
		if err != nil {
			t.Errorf("%s: %v", tt.cond, err)
			continue
		}
		if got := Evaluate(doc, "x", "/y", ctx).Permitted; got != tt.want {
			t.Errorf("%s: %v, want %v", tt.cond, got, tt.want)
		}
	}
}

// TestInheritedMembers covers field paths a CCL source cannot spell
// (constructor and __proto__ are bogus keywords to the lexer) but a
// hand-built condition can, with JavaScript's answers.
func TestInheritedMembers(t *testing.T) {
	ctx := obj(t, `{"o":{"k":1},"a":[1,2],"own":{"__proto__":"mine","constructor":"c"}}`)
	tests := []struct {
		field, op string
		value     any
		want      bool
	}{
		{"constructor", "in", []string{"function Object() { [native code] }"}, true},
		{"a.constructor", "in", []string{"function Array() { [native code] }"}, true},
		{"o.__proto__", "in", []string{"[object Object]"}, true},
		{"o.__proto__.__proto__", "=", nil, true}, // null is not missing
		{"o.__proto__.__proto__.x", "!=", 1.0, false},
		{"o.__proto__.toString", "!=", 1.0, true},
		{"a.__proto__", "in", []string{""}, true},
		{"a.__proto__.length", "=", 0.0, true},
		{"a.__proto__", "not_contains", "x", true},
		{"a.__proto__", "contains", "x", false},
		{"a.__proto__.__proto__", "in", []string{"[object Object]"}, true},
		{"a.__proto__.__proto__.map", "!=", 1.0, false},
		{"a.1", "=", 2.0, true},
		{"a.01", "!=", 2.0, false},
		{"own.__proto__", "=", "mine", true},
		{"own.constructor", "=", "c", true},
		{"o.k.toString", "!=", 1.0, false}, // numbers have no members to the reference
	}
	for _, tt := range tests {
		c := &Condition{Field: tt.field, Operator: tt.op, Value: tt.value}
		if tt.value == nil {
			c.Value = "x"
			c.Operator = "!="
		}
		got := EvaluateCondition(c, ctx)
		if tt.value == nil {
			// null != 'x' is true; a missing field would give false.
			if !got {
				t.Errorf("%s should resolve to null", tt.field)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("%s %s %v: %v, want %v", tt.field, tt.op, tt.value, got, tt.want)
		}
	}
}

func TestHandBuiltConditions(t *testing.T) {
	ctx := obj(t, `{"n":5,"s":"abc"}`)
	tests := []struct {
		c    *Condition
		want bool
	}{
		{&Condition{Field: "n", Operator: "=", Value: 5}, true},
		{&Condition{Field: "n", Operator: "<", Value: int64(6)}, true},
		{&Condition{Field: "n", Operator: "in", Value: []any{"5"}}, true},
		{&Condition{Field: "s", Operator: "matches", Value: "^a"}, true}, // compiled on the fly
		{&Condition{Field: "s", Operator: "bogus", Value: "a"}, false},
		{&Condition{Type: "and"}, true},
		{&Condition{Type: "or"}, false},
		{&Condition{Type: "not"}, false},
		{&Condition{Type: "xor", Field: "s", Operator: "=", Value: "abc"}, true}, // unknown types are comparisons
		{nil, false},
	}
	for i, tt := range tests {
		if got := EvaluateCondition(tt.c, ctx); got != tt.want {
			t.Errorf("case %d: %v, want %v", i, got, tt.want)
		}
	}
	// A cyclic tree terminates.
	cyc := &Condition{Type: "not"}
	cyc.Conditions = []*Condition{cyc}
	EvaluateCondition(cyc, ctx)
}

// TestChangedStatements checks the fallbacks when a parsed statement or
// condition is changed after parsing.
func TestChangedStatements(t *testing.T) {
	doc := mustParse(t, "permit read on '/a' when s matches '^a'\nlimit api 5 per 1 minute")
	s := doc.Statements[0]
	s.Action, s.Resource = "write", "/b/**"
	r := Evaluate(doc, "write", "/b/c", obj(t, `{"s":"abc"}`))
	if !r.Permitted || r.Reason != "Matched permit rule for write on /b/**" {
		t.Errorf("changed statement: %+v", r)
	}
	if Evaluate(doc, "read", "/a", obj(t, `{"s":"abc"}`)).Permitted {
		t.Error("the old patterns still match")
	}
	s.Condition.Value = "^z"
	if Evaluate(doc, "write", "/b/c", obj(t, `{"s":"abc"}`)).Permitted {
		t.Error("the old regular expression is still used")
	}
	s.Type = Deny
	if r := Evaluate(doc, "write", "/b/c", obj(t, `{"s":"zz"}`)); r.Permitted || r.Reason != "Matched deny rule for write on /b/**" {
		t.Errorf("changed type: %+v", r)
	}
	doc.Limits[0].Action = "other"
	if r := CheckRateLimit(doc, "other", 5, 0, 1); !r.Exceeded {
		t.Errorf("changed limit: %+v", r)
	}
}

func TestRegexpLimits(t *testing.T) {
	long := strings.Repeat("a", MaxRegexpLength+1)
	doc := mustParse(t, "permit x on '/y' when s matches '"+long+"'")
	if Evaluate(doc, "x", "/y", obj(t, `{"s":"`+long+`"}`)).Permitted {
		t.Error("a pattern over the length limit matched")
	}
	ok := strings.Repeat("a", MaxRegexpLength)
	doc = mustParse(t, "permit x on '/y' when s matches '"+ok+"'")
	if !Evaluate(doc, "x", "/y", obj(t, `{"s":"`+ok+`"}`)).Permitted {
		t.Error("a pattern at the length limit did not match")
	}
}

type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestRegexpTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a regular expression into its timeout")
	}
	h := &recordHandler{}
	ev, err := NewEvaluator(WithLogger(slog.New(h)))
	if err != nil {
		t.Fatal(err)
	}
	doc := mustParse(t, "permit x on '/y' when s matches '^(a+)+$'")
	ctx := canon.NewObject(1)
	ctx.Set("s", strings.Repeat("a", 40)+"!")
	start := time.Now()
	if ev.Evaluate(doc, "x", "/y", ctx).Permitted {
		t.Error("a timed-out match permitted")
	}
	elapsed := time.Since(start)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.msgs) != 1 || !strings.Contains(h.msgs[0], "timed out") {
		t.Errorf("logged %q, want one warning after two timeouts", h.msgs)
	}
	t.Logf("catastrophic pattern stopped after %v", elapsed)
}

func TestEvaluatorOptions(t *testing.T) {
	if _, err := NewEvaluator(WithLogger(nil)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("WithLogger(nil): %v", err)
	}
	var buf bytes.Buffer
	ev, err := NewEvaluator(WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	if err != nil || ev.log() == slog.Default() {
		t.Errorf("NewEvaluator: %v", err)
	}
	var zero Evaluator
	if zero.log() != slog.Default() {
		t.Error("the zero Evaluator should log to slog.Default()")
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	doc := mustParse(t, realisticPolicy)
	ctx := obj(t, `{"user":{"role":"admin"},"amount":50,"s":"report.pdf"}`)
	want := Evaluate(doc, "file.read", "/data/reports/q1", ctx)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if got := Evaluate(doc, "file.read", "/data/reports/q1", ctx); got != want {
					t.Errorf("concurrent evaluation: %+v, want %+v", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

const realisticPolicy = `permit file.read on '/data/**'
permit file.write on '/data/reports/*' when user.role = 'admin'
deny file.** on '/data/secret/**' severity critical
deny net.send on '**' when amount > 100 severity high
require audit.log on '/data/**'`

func TestEvaluateAllocations(t *testing.T) {
	doc := mustParse(t, realisticPolicy)
	allocs := testing.AllocsPerRun(100, func() {
		Evaluate(doc, "file.read", "/data/reports/q1", nil)
		Evaluate(doc, "file.write", "/data/reports/q1", nil)
		Evaluate(doc, "net.send", "/x", nil)
	})
	if allocs != 0 {
		t.Errorf("Evaluate with an empty context allocates %v times", allocs)
	}
	ctx := obj(t, `{"user":{"role":"admin"},"amount":500}`)
	allocs = testing.AllocsPerRun(100, func() {
		Evaluate(doc, "file.write", "/data/reports/q1", ctx)
		Evaluate(doc, "net.send", "/x", ctx)
	})
	if allocs != 0 {
		t.Errorf("Evaluate with a context allocates %v times", allocs)
	}
}
