package ccl

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// refMatchSegments is a direct port of the reference's recursive matcher
// (exponential on hostile input), the oracle for the property tests.
func refMatchSegments(p []string, i int, t []string, j int) bool {
	for i < len(p) && j < len(t) {
		if p[i] == "**" {
			return refMatchSegments(p, i+1, t, j) || refMatchSegments(p, i, t, j+1)
		}
		if p[i] != "*" && p[i] != t[j] {
			return false
		}
		i++
		j++
	}
	for i < len(p) && p[i] == "**" {
		i++
	}
	return i == len(p) && j == len(t)
}

func refMatchAction(pattern, action string) bool {
	return refMatchSegments(strings.Split(pattern, "."), 0, strings.Split(action, "."), 0)
}

func refMatchResource(pattern, resource string) bool {
	p, r := strings.Trim(pattern, "/"), strings.Trim(resource, "/")
	switch {
	case p == "" && r == "":
		return true
	case p == "**":
		return true
	case p == "*" && !strings.Contains(r, "/"):
		return true
	}
	return refMatchSegments(strings.Split(p, "/"), 0, strings.Split(r, "/"), 0)
}

// refSubset is a direct port of the reference's isSubsetPattern.
func refSubset(child, parent string, sep string) bool {
	if parent == "**" {
		return true
	}
	if child == "**" {
		return false
	}
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, sep) {
			if p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	var sub func(c []string, i int, p []string, j int) bool
	sub = func(c []string, i int, p []string, j int) bool {
		switch {
		case i == len(c) && j == len(p):
			return true
		case j == len(p):
			return false
		case i == len(c):
			for _, s := range p[j:] {
				if s != "**" {
					return false
				}
			}
			return true
		case p[j] == "**":
			return sub(c, i, p, j+1) || sub(c, i+1, p, j)
		case c[i] == "**":
			return false
		case p[j] == "*":
			return sub(c, i+1, p, j+1)
		case c[i] == "*":
			return false
		case c[i] != p[j]:
			return false
		}
		return sub(c, i+1, p, j+1)
	}
	return sub(split(child), 0, split(parent), 0)
}

func randomPattern(r *rand.Rand, sep string, segs []string, max int) string {
	n := r.IntN(max + 1)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = segs[r.IntN(len(segs))]
	}
	s := strings.Join(parts, sep)
	if sep == "/" {
		if r.IntN(2) == 0 {
			s = "/" + s
		}
		if r.IntN(5) == 0 {
			s += "/"
		}
	}
	return s
}

// TestMatchProperty checks the linear matchers against the reference's
// backtracking algorithm on random patterns and inputs.
func TestMatchProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	patSegs := []string{"a", "b", "*", "**", "", "ab"}
	inSegs := []string{"a", "b", "", "ab", "*", "**"}
	n := 100000
	if testing.Short() {
		n = 20000
	}
	for i := 0; i < n; i++ {
		p := randomPattern(r, ".", patSegs, 8)
		in := randomPattern(r, ".", inSegs, 9)
		want := refMatchAction(p, in)
		if got := MatchAction(p, in); got != want {
			t.Fatalf("MatchAction(%q, %q) = %v, reference %v", p, in, got, want)
		}
		if got := matchSegments(compilePattern(p, '.'), in, '.'); got != want {
			t.Fatalf("matchSegments(%q, %q) = %v, reference %v", p, in, got, want)
		}
		p = randomPattern(r, "/", patSegs, 8)
		in = randomPattern(r, "/", inSegs, 9)
		want = refMatchResource(p, in)
		if got := MatchResource(p, in); got != want {
			t.Fatalf("MatchResource(%q, %q) = %v, reference %v", p, in, got, want)
		}
		if got := matchSegments(compilePattern(trimSlashes(p), '/'), trimSlashes(in), '/'); got != want {
			t.Fatalf("compiled MatchResource(%q, %q) = %v, reference %v", p, in, got, want)
		}
	}
}

func compilePattern(p string, sep byte) []segment {
	segs, _ := appendSegments(nil, p, sep)
	return segs
}

func TestSubsetProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	segs := []string{"a", "b", "*", "**", ""}
	for i := 0; i < 100000; i++ {
		sep := "."
		if i%2 == 1 {
			sep = "/"
		}
		c := randomPattern(r, sep, segs, 7)
		p := randomPattern(r, sep, segs, 7)
		if r.IntN(20) == 0 {
			c = "**"
		}
		if r.IntN(20) == 0 {
			p = "**"
		}
		if got, want := isSubsetPattern(c, p, sep[0]), refSubset(c, p, sep); got != want {
			t.Fatalf("isSubsetPattern(%q, %q, %q) = %v, reference %v", c, p, sep, got, want)
		}
	}
}

func TestMatchExamples(t *testing.T) {
	resource := []struct {
		pattern, resource string
		want              bool
	}{
		{"/data/**", "/data", true},
		{"/data/**", "/data/a/b", true},
		{"/data/**", "data/x/", true},
		{"/data/*", "/data/a", true},
		{"/data/*", "/data/a/b", false},
		{"/data", "/data/sub", false},
		{"/Data", "/data", false},
		{"/", "", true},
		{"/", "/", true},
		{"/", "/a", false},
		{"*", "", true},
		{"*", "abc", true},
		{"*", "/a/b", false},
		{"/a//b", "/a//b", true},
		{"/a//b", "/a/b", false},
		{"/a/*/b", "/a//b", true},
		{"*.txt", "a.txt", false},
		{"/**/x/**", "/x", true},
		{"/**/x/**", "/a/b/x/c", true},
		{"/**/x/**", "/a/b/y/c", false},
	}
	for _, tt := range resource {
		if got := MatchResource(tt.pattern, tt.resource); got != tt.want {
			t.Errorf("MatchResource(%q, %q) = %v", tt.pattern, tt.resource, got)
		}
	}
	action := []struct {
		pattern, action string
		want            bool
	}{
		{"*", "a.b", false},
		{"file.**", "file", true},
		{"file.**", "file.read.all", true},
		{"file.*", "file", false},
		{"**", "", true},
		{"read", "Read", false},
		{"a.**.b", "a.b", true},
		{"a.**.b", "a.x.y.b", true},
		{"a.**.b", "a.x.y.c", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range action {
		if got := MatchAction(tt.pattern, tt.action); got != tt.want {
			t.Errorf("MatchAction(%q, %q) = %v", tt.pattern, tt.action, got)
		}
	}
}

func TestSpecificity(t *testing.T) {
	tests := []struct {
		action, resource string
		want             int
	}{
		{"file.read", "/data/users", 8},
		{"**", "**", 0},
		{"*", "/", 1},
		{"read", "/data/**", 4},
		{"read", "", 2},
		{"a..b", "//x//y//", 12},
		{"*.**", "/*/x", 4},
	}
	for _, tt := range tests {
		if got := Specificity(tt.action, tt.resource); got != tt.want {
			t.Errorf("Specificity(%q, %q) = %d, want %d", tt.action, tt.resource, got, tt.want)
		}
		doc := mustParse(t, "permit x on '"+tt.resource+"'")
		doc.Statements[0].Action = tt.action
		precompile(doc.Statements)
		if got := doc.Statements[0].pre.spec; got != tt.want {
			t.Errorf("precomputed specificity of %q, %q = %d, want %d", tt.action, tt.resource, got, tt.want)
		}
	}
}

// hostile64 is 64 segments alternating "**" and a literal, against a
// 64-segment input that almost matches: exponential for the reference.
func hostile64() (pattern, input string) {
	p := make([]string, 64)
	in := make([]string, 64)
	for i := range p {
		if i%2 == 0 {
			p[i] = "**"
		} else {
			p[i] = "a"
		}
		in[i] = "a"
	}
	p[63] = "b"
	return "/" + strings.Join(p, "/"), "/" + strings.Join(in, "/")
}

func TestMatchHostile(t *testing.T) {
	p, in := hostile64()
	if MatchResource(p, in) {
		t.Error("hostile pattern matched")
	}
	if !MatchResource(p, in+"/b") {
		t.Error("hostile pattern should match with the final segment")
	}
	dotted := func(s string) string { return "x." + strings.ReplaceAll(strings.TrimPrefix(s, "/"), "/", ".") }
	doc := mustParse(t, "permit "+dotted(p)+" on '"+p+"'")
	if r := Evaluate(doc, dotted(in), in, nil); r.Permitted {
		t.Error("hostile policy permitted")
	}
	if r := Evaluate(doc, dotted(in)+".b", in+"/b", nil); !r.Permitted {
		t.Error("hostile policy should permit with the final segment")
	}
}

func BenchmarkMatchHostile64(b *testing.B) {
	p, in := hostile64()
	b.ReportAllocs()
	for b.Loop() {
		if MatchResource(p, in) {
			b.Fatal("matched")
		}
	}
}

func BenchmarkMatchHostile64Compiled(b *testing.B) {
	p, in := hostile64()
	segs := compilePattern(trimSlashes(p), '/')
	in = trimSlashes(in)
	b.ReportAllocs()
	for b.Loop() {
		if matchSegments(segs, in, '/') {
			b.Fatal("matched")
		}
	}
}
