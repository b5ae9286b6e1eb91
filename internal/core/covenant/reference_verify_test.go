package covenant_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
)

// fixtureCases bounds the cases TestRefDiff keeps in
// testdata/reference-verify-cases.jsonl.
const fixtureCases = 600

// referenceVerifyCase is one line of testdata/reference-verify-cases.jsonl:
// a document (often malformed or tampered), the clock, and what the
// reference's deserializeCovenant and verifyCovenant made of it.
type referenceVerifyCase struct {
	Doc      string `json:"doc"`
	Now      string `json:"now"`
	Expected refOut `json:"expected"`
}

// refOut is the reference's answer, as testdata/refdiff/verify.mts prints
// it: the checks, or the message of what threw and at which stage ("parse"
// for deserializeCovenant, "verify" for verifyCovenant).
type refOut struct {
	OK     bool   `json:"ok"`
	Stage  string `json:"stage,omitempty"`
	Error  string `json:"error,omitempty"`
	Valid  bool   `json:"valid"`
	Checks []struct {
		Name    string `json:"name"`
		Passed  bool   `json:"passed"`
		Message string `json:"message"`
	} `json:"checks,omitempty"`
}

// TestReferenceVerifyCases replays the reference's verdicts on mutated
// documents (TestRefDiff, under the refdiff build tag, makes them): Parse
// must fail with the reference's message where deserializeCovenant threw,
// and Verify must give every check with the reference's outcome and message
// otherwise. Where verifyCovenant itself threw (a countersignature whose
// fields are not strings, PROTOCOL.md §9), Verify reports the document
// invalid instead.
func TestReferenceVerifyCases(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "reference-verify-cases.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	n, threw := 0, 0
	for sc.Scan() {
		n++
		var c referenceVerifyCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("case %d: %v", n, err)
		}
		now, err := time.Parse(time.RFC3339Nano, c.Now)
		if err != nil {
			t.Fatalf("case %d: now: %v", n, err)
		}
		got := ours(c.Doc, now)
		if c.Expected.Stage == "verify" {
			threw++
			if !strings.HasPrefix(got, "valid=false") {
				t.Errorf("case %d: the reference threw %q; ours: %s", n, c.Expected.Error, got)
			}
			continue
		}
		if want := refString(c.Expected); got != want {
			t.Errorf("case %d (now %s)\ndoc:  %.400s\nours: %s\nref:  %s", n, c.Now, c.Doc, got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("only %d cases in the fixture", n)
	}
	t.Logf("%d cases (%d where the reference threw)", n, threw)
}

// refString renders the reference's answer as ours renders Parse and Verify.
func refString(ro refOut) string {
	if !ro.OK {
		return ro.Stage + " error: " + ro.Error
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "valid=%v", ro.Valid)
	for _, c := range ro.Checks {
		fmt.Fprintf(&sb, " | %s %v %s", c.Name, c.Passed, c.Message)
	}
	return sb.String()
}

// ours parses and verifies text as of now, rendered for comparison with
// refString: a Parse failure as the reference's message.
func ours(text string, now time.Time) string {
	d, err := covenant.Parse([]byte(text))
	if err != nil {
		var pe *covenant.ParseError
		if errors.As(err, &pe) {
			return "parse error: " + pe.Message
		}
		return "parse error: " + err.Error()
	}
	v, err := covenant.NewVerifier()
	if err != nil {
		return "verifier: " + err.Error()
	}
	res := v.At(now).Verify(d)
	var sb strings.Builder
	fmt.Fprintf(&sb, "valid=%v", res.Valid)
	for _, c := range res.Checks {
		fmt.Fprintf(&sb, " | %s %v %s", c.Name, c.Passed, c.Message)
	}
	return sb.String()
}
