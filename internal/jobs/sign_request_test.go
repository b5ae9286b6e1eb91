package jobs

import (
	"strconv"
	"strings"
	"testing"
)

// TestSignRequestBlankConstraints: constraints are blank when the
// reference's buildCovenant finds them so (String.prototype.trim():
// U+FEFF and U+3000 are whitespace, U+0085 is not, and "\u0085" is a valid
// policy with no statements, which buildCovenant signs).
func TestSignRequestBlankConstraints(t *testing.T) {
	req := func(constraints string) []byte {
		return []byte(`{"keyId":"k1","beneficiary":{"id":"b","publicKey":"` + strings.Repeat("ab", 32) +
			`"},"constraints":` + strconv.Quote(constraints) + `}`)
	}
	if _, err := parseSignRequest(req("permit read on '**'")); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	for _, c := range []string{"", " \n", "\ufeff", "\u3000\u2028"} {
		if _, err := parseSignRequest(req(c)); err == nil || !strings.Contains(err.Error(), "constraints") {
			t.Errorf("blank constraints %q: %v, want an error naming constraints", c, err)
		}
	}
	r, err := parseSignRequest(req("\u0085"))
	if err != nil || r.constraints != "\u0085" {
		t.Errorf("constraints \"\\u0085\": %+v %v, want accepted", r, err)
	}
}
