package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// typicalResult is a verify result as the verifier writes it.
var typicalResult = Result{Index: 5, Ref: "6", DocumentID: "34ac0e9932b67596fbcae1c78c4838e86a5058e9891713312f72b6dca66c48cf", Valid: true, Checks: []Check{
	{"id_match", true, "Document ID matches canonical hash"},
	{"signature_valid", true, "Issuer signature is valid"},
	{"not_expired", true, "No expiry set"},
	{"active", true, "No activation time set"},
	{"ccl_parses", true, "CCL parsed successfully (4 statement(s))"},
	{"enforcement_valid", true, "Enforcement type 'monitor' is valid"},
	{"proof_valid", true, "No proof config present"},
	{"chain_depth", true, "No chain reference present"},
	{"document_size", true, "Document size 2048 bytes is within limit"},
	{"countersignatures", true, "All 2 countersignature(s) are valid"},
	{"nonce_present", true, "Nonce is present and valid (64-char hex)"},
	{"chain_narrowing", false, "Chain depth 3 is within limit"},
	{"custom", false, "Document size "},
}}

// checkStored checks that the stored form of r decodes to what the JSON of
// r decodes to.
func checkStored(t *testing.T, r Result) {
	t.Helper()
	j, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var want Result
	if err := json.Unmarshal(j, &want); err != nil {
		t.Fatal(err)
	}
	b, err := AppendStoredResult([]byte("prefix"), &r)
	if err != nil {
		t.Fatalf("AppendStoredResult(%#v): %v", r, err)
	}
	if !strings.HasPrefix(string(b), "prefix") {
		t.Fatalf("AppendStoredResult overwrote its buffer: %q", b)
	}
	got, err := DecodeStoredResult(b[len("prefix"):])
	if err != nil {
		t.Fatalf("DecodeStoredResult(AppendStoredResult(%#v)): %v", r, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored form of %#v\ndecodes to %#v\nJSON gives %#v", r, got, want)
	}
	// The JSON form reads too.
	if got, err := DecodeStoredResult(j); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeStoredResult(%s) = %#v, %v", j, got, err)
	}
}

func TestStoredResultRoundTrip(t *testing.T) {
	for _, r := range append(encodeCases, typicalResult) {
		checkStored(t, r)
	}
}

func TestStoredResultIsCompact(t *testing.T) {
	b, err := AppendStoredResult(nil, &typicalResult)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := EncodeResult(typicalResult)
	if b[0] != compactVersion || len(b) > 140 {
		t.Errorf("stored form of a typical result: %d bytes (JSON %d): %q", len(b), len(j), b)
	}
	// Invalid UTF-8 is kept as JSON, whose decoding replaces it.
	bad := Result{Index: 1, Error: "x\xff"}
	if b, _ := AppendStoredResult(nil, &bad); b[0] != '{' {
		t.Errorf("result with invalid UTF-8 stored as %q, want JSON", b)
	}
}

func TestStoredResultLimits(t *testing.T) {
	if _, err := AppendStoredResult(nil, &Result{Index: -1}); err == nil {
		t.Error("negative index accepted")
	}
	big := Result{Index: 1, Error: strings.Repeat("<", MaxResultSize/6+10)} // small compact, JSON over the limit
	if _, err := AppendStoredResult(nil, &big); err == nil {
		t.Error("result whose JSON exceeds MaxResultSize accepted")
	}
	fits := Result{Index: 1, Error: strings.Repeat("<", MaxResultSize/6-100)}
	if _, err := AppendStoredResult(nil, &fits); err != nil {
		t.Errorf("result whose JSON fits refused: %v", err)
	}
}

func TestDecodeStoredResultCorrupt(t *testing.T) {
	good, _ := AppendStoredResult(nil, &typicalResult)
	for i := 0; i < len(good); i++ {
		if _, err := DecodeStoredResult(good[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
	for _, b := range [][]byte{{0x02}, {compactVersion, 0, 1, 'x'}, {compactVersion, cfChecks, 1, 0}, {compactVersion, cfChecks, 1, 1, 0x7f, 0}, []byte("{bad")} {
		if _, err := DecodeStoredResult(b); err == nil {
			t.Errorf("DecodeStoredResult(%q): no error", b)
		}
	}
}

func FuzzStoredResult(f *testing.F) {
	for _, r := range append(encodeCases, typicalResult) {
		f.Add(r.Index, r.Ref, r.DocumentID, r.Valid, r.Error, "ccl_parses", true, "CCL parsed successfully (1 statement(s))")
	}
	f.Fuzz(func(t *testing.T, index int, ref, docID string, valid bool, errMsg, name string, passed bool, msg string) {
		if index < 0 {
			index = -(index + 1)
		}
		r := Result{Index: index, Ref: ref, DocumentID: docID, Valid: valid, Error: errMsg}
		if name != "" || msg != "" {
			r.Checks = []Check{{Name: name, Passed: passed, Message: msg}, {Name: msg, Message: name}}
		}
		checkStored(t, r)
	})
}

func FuzzDecodeStoredResult(f *testing.F) {
	good, _ := AppendStoredResult(nil, &typicalResult)
	f.Add(good)
	f.Add([]byte(`{"index":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeStoredResult(b)
		if err != nil || len(b) == 0 || b[0] != compactVersion {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := AppendStoredResult(nil, &r)
		if err != nil {
			return
		}
		r2, err := DecodeStoredResult(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("%q decodes to %#v; re-encoded %q decodes to %#v, %v", b, r, again, r2, err)
		}
	})
}

func BenchmarkAppendStoredResult(b *testing.B) {
	r := typicalResult
	r.Checks = r.Checks[:11] // the eleven checks of a verified document
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendStoredResult(buf[:0], &r); err != nil {
			b.Fatal(err)
		}
	}
}
