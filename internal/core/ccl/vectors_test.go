package ccl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/testutil/vectors"
)

// parseContext decodes a JSON context with canon (so lone surrogates survive
// as WTF-8); JSON null or an absent context is nil.
func parseContext(t testing.TB, raw json.RawMessage) *canon.Object {
	t.Helper()
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	v, err := canon.Parse(raw)
	if err != nil {
		t.Fatalf("context %s: %v", raw, err)
	}
	obj, ok := v.(*canon.Object)
	if !ok {
		t.Fatalf("context %s is not an object", raw)
	}
	return obj
}

func lines(stmts []*Statement) []int {
	out := make([]int, len(stmts))
	for i, s := range stmts {
		out[i] = s.Line
	}
	return out
}

type corpusCase struct {
	CCL      string          `json:"ccl"`
	Action   string          `json:"action"`
	Resource string          `json:"resource"`
	Context  json.RawMessage `json:"context"`
	Expected struct {
		Permitted   bool    `json:"permitted"`
		Severity    *string `json:"severity"`
		MatchedRule *struct {
			Type string `json:"type"`
			Line int    `json:"line"`
		} `json:"matchedRule"`
		AllMatchesLines []int `json:"allMatchesLines"`
	} `json:"expected"`
}

// TestEvalCorpus runs the 1,600 evaluation cases the reference produced.
func TestEvalCorpus(t *testing.T) {
	f, err := os.Open(vectors.Path(t, "ccl-eval-corpus.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	docs := map[string]*Document{}
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		n++
		var c corpusCase
		if err := json.Unmarshal(line, &c); err != nil {
			t.Fatalf("case %d: %v", n, err)
		}
		doc, ok := docs[c.CCL]
		if !ok {
			if doc, err = Parse(c.CCL); err != nil {
				t.Fatalf("case %d: parse %q: %v", n, c.CCL, err)
			}
			docs[c.CCL] = doc
		}
		ctx := parseContext(t, c.Context)
		r := Evaluate(doc, c.Action, c.Resource, ctx)
		want := c.Expected
		wantSev := ""
		if want.Severity != nil {
			wantSev = *want.Severity
		}
		if r.Permitted != want.Permitted || r.Severity != wantSev {
			t.Errorf("case %d (%q on %q): permitted=%v severity=%q, want %v %q\n%s",
				n, c.Action, c.Resource, r.Permitted, r.Severity, want.Permitted, wantSev, c.CCL)
		}
		switch {
		case want.MatchedRule == nil && r.MatchedRule != nil:
			t.Errorf("case %d: matched line %d, want none", n, r.MatchedRule.Line)
		case want.MatchedRule != nil && r.MatchedRule == nil:
			t.Errorf("case %d: matched none, want line %d", n, want.MatchedRule.Line)
		case want.MatchedRule != nil && (string(r.MatchedRule.Type) != want.MatchedRule.Type || r.MatchedRule.Line != want.MatchedRule.Line):
			t.Errorf("case %d: matched %s line %d, want %s line %d", n,
				r.MatchedRule.Type, r.MatchedRule.Line, want.MatchedRule.Type, want.MatchedRule.Line)
		}
		if r.MatchedRule == nil && r.Reason != DefaultDenyReason {
			t.Errorf("case %d: reason %q on default deny", n, r.Reason)
		}
		got := lines(AllMatches(doc, c.Action, c.Resource, ctx))
		if !equalInts(got, want.AllMatchesLines) {
			t.Errorf("case %d: allMatches lines %v, want %v\n%s", n, got, want.AllMatchesLines, c.CCL)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 1600 {
		t.Fatalf("ran %d corpus cases, want 1600", n)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type canonicalVector struct {
	Name     string          `json:"name"`
	Input    json.RawMessage `json:"input"`
	Expected json.RawMessage `json:"expected"`
}

// TestCanonicalVectors runs the `ccl` category of the reference's
// canonical-vectors.json.
func TestCanonicalVectors(t *testing.T) {
	data, err := os.ReadFile(vectors.Path(t, "canonical-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors struct {
			CCL []canonicalVector `json:"ccl"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors.CCL) != 32 {
		t.Fatalf("%d ccl vectors, want 32", len(file.Vectors.CCL))
	}
	kinds := map[string]int{}
	for _, v := range file.Vectors.CCL {
		t.Run(v.Name, func(t *testing.T) {
			var in struct {
				Source        string          `json:"source"`
				Action        string          `json:"action"`
				Resource      string          `json:"resource"`
				Pattern       string          `json:"pattern"`
				Context       json.RawMessage `json:"context"`
				CurrentCount  float64         `json:"currentCount"`
				PeriodStartMs int64           `json:"periodStartMs"`
				NowMs         int64           `json:"nowMs"`
			}
			var want struct {
				Permitted   bool   `json:"permitted"`
				Reason      string `json:"reason"`
				MatchedRule *struct {
					Type   string `json:"type"`
					Action string `json:"action"` // holds the resource pattern (generator quirk)
				} `json:"matchedRule"`
				Matches    bool    `json:"matches"`
				Exceeded   bool    `json:"exceeded"`
				Remaining  float64 `json:"remaining"`
				Serialized string  `json:"serialized"`
			}
			if err := json.Unmarshal(v.Input, &in); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(v.Expected, &want); err != nil {
				t.Fatal(err)
			}
			switch {
			case hasPrefix(v.Name, "evaluate-"):
				kinds["evaluate"]++
				doc := mustParse(t, in.Source)
				r := Evaluate(doc, in.Action, in.Resource, parseContext(t, in.Context))
				if r.Permitted != want.Permitted || r.Reason != want.Reason {
					t.Errorf("got %v %q, want %v %q", r.Permitted, r.Reason, want.Permitted, want.Reason)
				}
				if (r.MatchedRule == nil) != (want.MatchedRule == nil) {
					t.Fatalf("matchedRule %v, want %v", r.MatchedRule, want.MatchedRule)
				}
				if m := r.MatchedRule; m != nil && (string(m.Type) != want.MatchedRule.Type || m.Resource != want.MatchedRule.Action) {
					t.Errorf("matched %s %q, want %s %q", m.Type, m.Resource, want.MatchedRule.Type, want.MatchedRule.Action)
				}
			case hasPrefix(v.Name, "action-match-"):
				kinds["action-match"]++
				if got := MatchAction(in.Pattern, in.Action); got != want.Matches {
					t.Errorf("MatchAction(%q, %q) = %v", in.Pattern, in.Action, got)
				}
			case hasPrefix(v.Name, "resource-match-"):
				kinds["resource-match"]++
				if got := MatchResource(in.Pattern, in.Resource); got != want.Matches {
					t.Errorf("MatchResource(%q, %q) = %v", in.Pattern, in.Resource, got)
				}
			case hasPrefix(v.Name, "rate-limit-"):
				kinds["rate-limit"]++
				doc := mustParse(t, in.Source)
				r := CheckRateLimit(doc, in.Action, in.CurrentCount, in.PeriodStartMs, in.NowMs)
				if r.Exceeded != want.Exceeded || r.Remaining != want.Remaining || r.Limit == nil {
					t.Errorf("got %+v, want exceeded=%v remaining=%v", r, want.Exceeded, want.Remaining)
				}
			case hasPrefix(v.Name, "serialize-"):
				kinds["serialize"]++
				if got := Serialize(mustParse(t, in.Source)); got != want.Serialized {
					t.Errorf("Serialize = %q, want %q", got, want.Serialized)
				}
			default:
				t.Fatalf("unknown ccl vector %q", v.Name)
			}
		})
	}
	wantKinds := map[string]int{"evaluate": 10, "action-match": 7, "resource-match": 6, "rate-limit": 4, "serialize": 5}
	for k, n := range wantKinds {
		if kinds[k] != n {
			t.Errorf("%d %s vectors, want %d", kinds[k], k, n)
		}
	}
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func mustParse(t testing.TB, src string) *Document {
	t.Helper()
	doc, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return doc
}

// TestRateLimitNoLimit covers the case the vectors leave out.
func TestRateLimitNoLimit(t *testing.T) {
	doc := mustParse(t, "permit read on '/a'\nlimit api.call 10 per 1 minutes")
	r := CheckRateLimit(doc, "other", 5, 0, 1)
	if r.Exceeded || r.Limit != nil || !math.IsInf(r.Remaining, 1) {
		t.Errorf("no applicable limit: got %+v", r)
	}
	// Boundary: exactly one period elapsed is still inside the window (strict >).
	r = CheckRateLimit(doc, "api.call", 10, 0, 60000)
	if !r.Exceeded || r.Remaining != 0 {
		t.Errorf("at the boundary: got %+v", r)
	}
	r = CheckRateLimit(doc, "api.call", 10, 0, 60001)
	if r.Exceeded || r.Remaining != 10 {
		t.Errorf("past the boundary: got %+v", r)
	}
}
