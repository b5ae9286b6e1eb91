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

// TestSignRequestUnknownMember: a member the request does not define (a
// misspelt "expires" for "expiresAt", say) fails the item naming it instead
// of signing a covenant without what the producer meant.
func TestSignRequestUnknownMember(t *testing.T) {
	pk := strings.Repeat("ab", 32)
	for _, c := range []struct{ body, field string }{
		{`{"keyId":"k1","beneficiary":{"id":"b","publicKey":"` + pk + `"},"constraints":"permit read on '**'","expires":"2020-01-01T00:00:00Z"}`, "expires"},
		{`{"keyId":"k1","beneficiary":{"id":"b","publicKey":"` + pk + `","role":"x"},"constraints":"permit read on '**'"}`, "beneficiary.role"},
		{`{"keyId":"k1","issuer":{"id":"i","key":"x"},"beneficiary":{"id":"b","publicKey":"` + pk + `"},"constraints":"permit read on '**'"}`, "issuer.key"},
		{`{"keyId":"k1","countersign":"abc","rol":"auditor"}`, "rol"},
	} {
		_, err := parseSignRequest([]byte(c.body))
		if err == nil || !strings.HasPrefix(err.Error(), SignErrInvalidRequest+": "+c.field+": unknown member") {
			t.Errorf("%s: %v, want invalid_request naming %s", c.body, err, c.field)
		}
	}
	// Every member of SignRequest is known, the build's and the
	// countersignature's alike.
	full := `{"keyId":"k1","issuer":{"id":"i","name":"n","publicKey":null},"beneficiary":{"id":"b","publicKey":"` + pk +
		`","name":"bn"},"constraints":"permit read on '**'","expiresAt":"2030-01-01T00:00:00Z","activatesAt":null,` +
		`"metadata":{},"obligations":[],"parentId":"","relation":"","nonce":"` + pk + `","createdAt":"2026-01-01T00:00:00.000Z",` +
		`"countersign":"","role":"","timestamp":""}`
	if _, err := parseSignRequest([]byte(full)); err != nil {
		t.Errorf("a request with every member refused: %v", err)
	}
	if _, err := parseSignRequest([]byte(`{"keyId":"k1","countersign":"abc","role":"auditor","timestamp":"2026-01-01T00:00:00.000Z","constraints":"x"}`)); err != nil {
		t.Errorf("countersign request refused: %v", err)
	}
}
