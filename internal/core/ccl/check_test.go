package ccl

import (
	"errors"
	"strings"
	"testing"
)

// checkAgainstParse fails t unless Check(src) gives what Parse(src) gives:
// the same statement count, the same error text, the same *SyntaxError
// fields and the same sentinels. It reports whether src parsed.
func checkAgainstParse(t *testing.T, src string) bool {
	t.Helper()
	doc, perr := Parse(src)
	n, cerr := Check(src)
	want := 0
	if perr == nil {
		want = len(doc.Statements)
	}
	if n != want {
		t.Errorf("Check(%q) = %d statements, Parse gives %d", src, n, want)
	}
	if (perr == nil) != (cerr == nil) {
		t.Fatalf("Check(%q) error %v, Parse error %v", src, cerr, perr)
	}
	if perr == nil {
		return true
	}
	if cerr.Error() != perr.Error() {
		t.Errorf("Check(%q):\n error %q\n Parse %q", src, cerr.Error(), perr.Error())
	}
	var ps, cs *SyntaxError
	if !errors.As(perr, &ps) || !errors.As(cerr, &cs) {
		t.Fatalf("Check(%q) returned %T, Parse %T; want *SyntaxError", src, cerr, perr)
	}
	if *cs != *ps {
		t.Errorf("Check(%q) = %+v, Parse %+v", src, *cs, *ps)
	}
	for _, sentinel := range []error{ErrSyntax, ErrTooLarge, ErrTooDeep} {
		if errors.Is(cerr, sentinel) != errors.Is(perr, sentinel) {
			t.Errorf("Check(%q): errors.Is(%v) differs from Parse's", src, sentinel)
		}
	}
	return false
}

// checkEdgeCases are sources for the rules the corpus exercises little:
// limits, fields split by skipped characters (whose text in the operator
// error is re-assembled from the tokens), comments and blank lines, quirks.
var checkEdgeCases = []string{
	"permit read on '/a' when x . y 5",
	"permit read on '/a' when a @b.c 5",
	"permit read on '/a' when a\t.\t😀b . c )",
	"permit read on '/a' when user.role",
	"permit read on '/a' when (a = 1 or (b = 2 and not c = 3)) and d in [1, 'x', y]",
	"permit read on '/a' when a in []",
	"permit read on '/a' when a in [1,]",
	"permit read on '/a' when a in [1 2]",
	"\n\n# only a comment\n\n",
	"\u0085",
	"# c\npermit a on '/b' # c\n\n\ndeny c.* on /d/** severity LOW\nlimit x.y 5 per 2 Days severity critical",
	"permit a on '/b' deny c on '/d' require e on f limit g 1 per 1 second",
	"limit a 99999999999999999999999999 per 1 hours",
	"permit * on * when x matches '(a+)+$' and y matches '['",
	"permit constructor on '/a'",
	"permit a.__proto__ on '/a'",
	"permit a on 'unterminated",
	"permit a on '/b' severity",
	"permit a on '/b' when not",
	"permit a on '/b' when (",
	"permit a on '/b' when x = 1 or",
	"permit a on '/b' when x = 1 and",
	"deny ** on '/a'",
	"deny **.x on '/a'",
	"deny x.** on '/a'",
	"deny x.. on '/a'",
	"permit a on '/b' when " + strings.Repeat("not ", MaxConditionDepth) + "a = 1",
	"permit a on '/b' when " + strings.Repeat("not ", MaxConditionDepth+1) + "a = 1",
	"permit a on '/b' when " + strings.Repeat("(", MaxConditionDepth) + "a = 1" + strings.Repeat(")", MaxConditionDepth),
	"permit a on '/b' when " + strings.Repeat("(", MaxConditionDepth+1) + "a = 1" + strings.Repeat(")", MaxConditionDepth+1),
	"permit a on '/b' when " + strings.Repeat("(not ", MaxConditionDepth/2) + "a = 1" + strings.Repeat(")", MaxConditionDepth/2),
	"# " + strings.Repeat("x", MaxSourceBytes),
	strings.Repeat("permit a on '/b'\n", 1200),
}

func TestCheckMatchesParse(t *testing.T) {
	var ok, failed int
	for _, src := range append(fuzzSeeds(t), checkEdgeCases...) {
		if checkAgainstParse(t, src) {
			ok++
		} else {
			failed++
		}
	}
	// Both outcomes must be well represented for the comparison to mean
	// something.
	t.Logf("%d ok %d failed", ok, failed)
	if ok < 300 || failed < 100 {
		t.Errorf("compared %d sources that parse and %d that fail; want at least 300 and 100", ok, failed)
	}
}

func TestCheckCountsStatements(t *testing.T) {
	tests := []struct {
		src  string
		want int
	}{
		{"# nothing but comments", 0},
		{realisticPolicy, 5},
		{"permit a on '/b' deny c on '/d'", 2},
		{strings.Repeat("limit a 1 per 1 hours\n", MaxStatements+1), MaxStatements + 1},
	}
	for _, tt := range tests {
		if n, err := Check(tt.src); err != nil || n != tt.want {
			t.Errorf("Check(%.40q) = %d, %v; want %d", tt.src, n, err, tt.want)
		}
	}
	if n, err := Check("permit a on '/b'\ndeny x"); n != 0 || err == nil {
		t.Errorf("Check of a bad second statement = %d, %v; want 0 and an error", n, err)
	}
}

func TestCheckAllocations(t *testing.T) {
	for _, src := range []string{realisticPolicy, checkEdgeCases[4], checkEdgeCases[10]} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := Check(src); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Check(%.40q) allocates %.0f times, want 0", src, allocs)
		}
	}
}

// FuzzCheckMatchesParse holds Check to Parse: on every input both give the
// same statement count and the same error.
func FuzzCheckMatchesParse(f *testing.F) {
	for _, src := range fuzzSeeds(f) {
		f.Add(src)
	}
	for _, src := range checkEdgeCases {
		if len(src) < 1<<12 {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		checkAgainstParse(t, src)
	})
}
