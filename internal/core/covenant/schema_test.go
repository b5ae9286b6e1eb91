package covenant

import (
	"testing"

	"github.com/stele-go/stele/internal/core/canon"
)

func TestValidateSchema(t *testing.T) {
	full := fullDocument(t)
	if r := full.ValidateSchema(); !r.Valid || len(r.Errors) != 0 {
		t.Errorf("built document: %+v", r.Errors)
	}
	if r := ValidateSchema([]any{}); r.Valid || len(r.Errors) != 1 || r.Errors[0].Path != "" || r.Errors[0].Message != "document must be an object" {
		t.Errorf("array: %+v", r)
	}

	bad := canon.CloneObject(full.Object())
	bad.Set("id", "")
	bad.Set("version", "1")
	iss, _ := bad.Object("issuer")
	iss.Set("publicKey", "xyz")
	iss.Set("role", "")
	bad.Set("beneficiary", "bob")
	bad.Set("constraints", "\u3000")
	bad.Set("nonce", "00")
	bad.Set("createdAt", "2025-01-01") // date only: not a datetime
	bad.Set("signature", "not-hex")
	bad.Set("chain", mustObject(t, `{"parentId":"","relation":"r","depth":1.5}`))
	bad.Set("expiresAt", "2025-13-01T00:00:00Z") // matches the pattern, invalid date
	bad.Set("activatesAt", 5.0)
	bad.Set("metadata", []any{})
	bad.Set("countersignatures", canon.NewObject(0))
	r := ValidateSchema(bad)
	want := []SchemaError{
		{"id", "must be a non-empty string", ""},
		{"version", `must match pattern "X.Y" (e.g. "1.0")`, "1"},
		{"issuer.publicKey", "must be a 64-character hex string", "xyz"},
		{"issuer.role", "must be a non-empty string", ""},
		{"beneficiary", "must be an object", "bob"},
		{"constraints", "must be a non-empty string", "\u3000"},
		{"nonce", "must be a 64-character hex string", "00"},
		{"createdAt", "must be a valid ISO 8601 datetime string", "2025-01-01"},
		{"signature", "must be a non-empty hex string", "not-hex"},
		{"chain.parentId", "must be a non-empty string", ""},
		{"chain.depth", "must be a positive integer", 1.5},
		{"expiresAt", "must be a valid ISO 8601 datetime string", "2025-13-01T00:00:00Z"},
		{"activatesAt", "must be a valid ISO 8601 datetime string", 5.0},
		{"metadata", "must be an object", nil},
		{"countersignatures", "must be an array", nil},
	}
	if r.Valid || len(r.Errors) != len(want) {
		t.Fatalf("%d errors, want %d: %+v", len(r.Errors), len(want), r.Errors)
	}
	for i, w := range want {
		g := r.Errors[i]
		if g.Path != w.Path || g.Message != w.Message {
			t.Errorf("error %d: %s %q, want %s %q", i, g.Path, g.Message, w.Path, w.Message)
		}
		if w.Value != nil && g.Value != w.Value {
			t.Errorf("error %d: value %v, want %v", i, g.Value, w.Value)
		}
	}

	for _, tc := range []struct {
		v    any
		n    int
		path string
	}{
		{"x", 1, "chain"},
		{mustObject(t, `{"parentId":"p","relation":"r","depth":1}`), 0, ""},
		{mustObject(t, `{"parentId":"p","relation":"r","depth":0}`), 1, "chain.depth"},
		{mustObject(t, `{"parentId":"p","relation":"r","depth":"2"}`), 1, "chain.depth"},
		{mustObject(t, `{"parentId":"p","relation":"r","depth":1e400}`), 1, "chain.depth"},
		{mustObject(t, `{}`), 3, "chain.parentId"},
	} {
		errs := ValidateChainSchema(tc.v)
		if len(errs) != tc.n || (tc.n > 0 && errs[0].Path != tc.path) {
			t.Errorf("chain %v: %+v", tc.v, errs)
		}
	}
	if errs := ValidateConstraintsSchema(7.0); len(errs) != 1 || errs[0].Message != "must be a string" {
		t.Errorf("numeric constraints: %+v", errs)
	}
	if errs := ValidatePartySchema(mustObject(t, `{"id":"a","publicKey":"`+full.Issuer().PublicKey+`","role":"regulator"}`), "p"); len(errs) != 0 {
		t.Errorf("any role is accepted: %+v", errs)
	}
	// Offsets with and without a colon, any fraction length.
	for _, ts := range []string{"2025-01-01T00:00:00Z", "2025-01-01T00:00:00.123456+02:00", "2025-01-01T00:00:00-0530"} {
		if !isISO8601(ts) {
			t.Errorf("%s refused", ts)
		}
	}
	for _, ts := range []string{"2025-01-01T00:00:00", "2025-01-01 00:00:00Z", "2025-01-01T00:00:00Z\n", "２025-01-01T00:00:00Z"} {
		if isISO8601(ts) {
			t.Errorf("%q accepted", ts)
		}
	}
}
