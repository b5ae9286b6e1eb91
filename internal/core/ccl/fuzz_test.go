package ccl

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/testutil/vectors"
)

// FuzzParse checks that Parse never panics or hangs, and that for a parsed
// document Serialize → Parse → Serialize is stable and keeps the decisions.
// It is seeded from the policies of the conformance corpus and of the
// reference cases.
func FuzzParse(f *testing.F) {
	for _, src := range fuzzSeeds(f) {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		doc, err := Parse(src)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Parse(%q) returned %T, want *SyntaxError", src, err)
			}
			return
		}
		s1 := Serialize(doc)
		if len(doc.Statements) == 0 || !serializable(doc) {
			return
		}
		doc2, err := Parse(s1)
		if err != nil {
			t.Fatalf("Serialize(Parse(%q)) = %q does not parse: %v", src, s1, err)
		}
		if s2 := Serialize(doc2); s2 != s1 {
			t.Fatalf("unstable round trip of %q:\n first  %q\n second %q", src, s1, s2)
		}
		if len(doc2.Statements) != len(doc.Statements) {
			t.Fatalf("%d statements after the round trip, want %d", len(doc2.Statements), len(doc.Statements))
		}
		index := func(d *Document, s *Statement) int {
			for i, x := range d.Statements {
				if x == s {
					return i
				}
			}
			return -1
		}
		for _, s := range doc.Statements {
			action, resource := concrete(s.Action), concrete(s.Resource)
			r1 := Evaluate(doc, action, resource, nil)
			r2 := Evaluate(doc2, action, resource, nil)
			if r1.Permitted != r2.Permitted || index(doc, r1.MatchedRule) != index(doc2, r2.MatchedRule) {
				t.Fatalf("%q on %q decided differently after the round trip of %q: %+v vs %+v", action, resource, src, r1, r2)
			}
			AllMatches(doc, action, resource, nil)
			CheckRateLimit(doc, action, 1, 0, 1)
		}
		ValidateNarrowing(doc, doc2)
		Merge(doc, doc2)
	})
}

// serializable reports whether CCL text can express doc: a resource or a
// condition value with a quote (possible in an unquoted /path) cannot be
// quoted, and numbers of 1e21 and more are written with an
// exponent CCL cannot read.
func serializable(doc *Document) bool {
	plain := func(f float64) bool { return !math.IsInf(f, 0) && math.Abs(f) < 1e21 }
	var cond func(c *Condition) bool
	cond = func(c *Condition) bool {
		if c == nil {
			return true
		}
		switch v := c.Value.(type) {
		case float64:
			if !plain(v) {
				return false
			}
		case string:
			if strings.Contains(v, "'") {
				return false
			}
		case []string:
			for _, e := range v {
				if strings.Contains(e, "'") {
					return false
				}
			}
		}
		for _, sub := range c.Conditions {
			if !cond(sub) {
				return false
			}
		}
		return true
	}
	for _, s := range doc.Statements {
		if strings.Contains(s.Resource, "'") || !plain(s.Count) || !plain(s.PeriodSeconds) || !cond(s.Condition) {
			return false
		}
	}
	return true
}

// fuzzSeeds returns the policies of the conformance corpus, the sources of
// the reference cases (parse cases and policies) and the parse error tests,
// without duplicates.
func fuzzSeeds(tb testing.TB) []string {
	tb.Helper()
	var seeds []string
	seen := map[string]bool{}
	add := func(src string) {
		if !seen[src] {
			seen[src] = true
			seeds = append(seeds, src)
		}
	}
	file, err := os.Open(vectors.Path(tb, "ccl-eval-corpus.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c struct {
			CCL string `json:"ccl"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			tb.Fatalf("ccl-eval-corpus.jsonl: %v", err)
		}
		add(c.CCL)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile("testdata/reference-cases.json")
	if err != nil {
		tb.Fatal(err)
	}
	var rc struct {
		Parse []struct {
			Src string `json:"src"`
		} `json:"parse"`
		Policies []struct {
			Src string `json:"src"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(data, &rc); err != nil {
		tb.Fatal(err)
	}
	for _, c := range rc.Parse {
		add(c.Src)
	}
	for _, c := range rc.Policies {
		add(c.Src)
	}
	for _, tt := range parseErrorTests {
		add(tt.src)
	}
	if len(seeds) < 500 {
		tb.Fatalf("only %d fuzz seeds loaded", len(seeds))
	}
	return seeds
}
