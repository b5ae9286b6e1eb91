package covenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/core/canon"
)

// validJSON is a minimal structurally valid document (not correctly signed).
const validJSON = `{"id":"x","version":"1.0","issuer":{"id":"i","publicKey":"k","role":"issuer"},` +
	`"beneficiary":{"id":"b","publicKey":"k","role":"beneficiary"},"constraints":"permit a on '/b'",` +
	`"nonce":"n","createdAt":"c","signature":"s"}`

// edit returns validJSON with member key (dotted for one level) replaced by
// raw JSON, or removed when raw is "".
func edit(t *testing.T, key, raw string) []byte {
	t.Helper()
	o := mustObject(t, validJSON)
	target := o
	if parent, child, ok := strings.Cut(key, "."); ok {
		target, _ = o.Object(parent)
		key = child
	}
	if raw == "" {
		target.Delete(key)
	} else {
		v, err := canon.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		target.Set(key, v)
	}
	return canon.AppendJSON(nil, o)
}

func TestParseErrors(t *testing.T) {
	big := append([]byte(validJSON), bytes.Repeat([]byte(" "), MaxDocumentSize-len(validJSON)+1)...)
	tests := []struct {
		name string
		in   []byte
		kind error
		msg  string // exact, or prefix ending in "…"
	}{
		{"too large", big, ErrTooLarge, "Document size 1048577 bytes exceeds maximum of 1048576 bytes"},
		{"too large garbage", bytes.Repeat([]byte("["), MaxDocumentSize+10), ErrTooLarge, "Document size 1048586 bytes exceeds maximum of 1048576 bytes"},
		{"invalid JSON", []byte(`{"id":`), ErrInvalidJSON, "Invalid JSON: …"},
		{"empty", nil, ErrInvalidJSON, "Invalid JSON: …"},
		{"too deep", bytes.Repeat([]byte("["), 10000), ErrInvalidJSON, "Invalid JSON: …"},
		{"array", []byte(`[]`), ErrNotObject, "Covenant document must be a JSON object"},
		{"null", []byte(`null`), ErrNotObject, "Covenant document must be a JSON object"},
		{"string", []byte(`"doc"`), ErrNotObject, "Covenant document must be a JSON object"},
		{"no id", edit(t, "id", ""), ErrMissingField, "Missing or invalid required field: id"},
		{"numeric id", edit(t, "id", "1"), ErrMissingField, "Missing or invalid required field: id"},
		{"no version", edit(t, "version", ""), ErrMissingField, "Missing or invalid required field: version"},
		{"null constraints", edit(t, "constraints", "null"), ErrMissingField, "Missing or invalid required field: constraints"},
		{"no nonce", edit(t, "nonce", ""), ErrMissingField, "Missing or invalid required field: nonce"},
		{"no createdAt", edit(t, "createdAt", ""), ErrMissingField, "Missing or invalid required field: createdAt"},
		{"array signature", edit(t, "signature", `["s"]`), ErrMissingField, "Missing or invalid required field: signature"},
		{"no issuer", edit(t, "issuer", ""), ErrMissingField, "Missing or invalid required field: issuer"},
		{"string issuer", edit(t, "issuer", `"alice"`), ErrMissingField, "Missing or invalid required field: issuer"},
		{"array issuer", edit(t, "issuer", `[]`), ErrInvalidParty, `Invalid issuer: must have id, publicKey, and role="issuer"`},
		{"issuer role", edit(t, "issuer.role", `"beneficiary"`), ErrInvalidParty, `Invalid issuer: must have id, publicKey, and role="issuer"`},
		{"issuer key type", edit(t, "issuer.publicKey", `7`), ErrInvalidParty, `Invalid issuer: must have id, publicKey, and role="issuer"`},
		{"issuer no id", edit(t, "issuer.id", ""), ErrInvalidParty, `Invalid issuer: must have id, publicKey, and role="issuer"`},
		{"no beneficiary", edit(t, "beneficiary", "null"), ErrMissingField, "Missing or invalid required field: beneficiary"},
		{"beneficiary role", edit(t, "beneficiary.role", `"issuer"`), ErrInvalidParty, `Invalid beneficiary: must have id, publicKey, and role="beneficiary"`},
		{"version", edit(t, "version", `"2.0"`), ErrUnsupportedVersion, "Unsupported protocol version: 2.0 (expected 1.0)"},
		{"chain null", edit(t, "chain", `null`), ErrInvalidChain, "Invalid chain: must be an object"},
		{"chain string", edit(t, "chain", `"p"`), ErrInvalidChain, "Invalid chain: must be an object"},
		{"chain array", edit(t, "chain", `[]`), ErrInvalidChain, "Invalid chain.parentId: must be a string"},
		{"chain parentId", edit(t, "chain", `{"relation":"r","depth":1}`), ErrInvalidChain, "Invalid chain.parentId: must be a string"},
		{"chain relation", edit(t, "chain", `{"parentId":"p","relation":1,"depth":1}`), ErrInvalidChain, "Invalid chain.relation: must be a string"},
		{"chain depth", edit(t, "chain", `{"parentId":"p","relation":"r","depth":"1"}`), ErrInvalidChain, "Invalid chain.depth: must be a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("accepted as %s", d.ID())
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%T %v is not a *ParseError", err, err)
			}
			if !errors.Is(err, ErrMalformedDocument) || !errors.Is(err, tt.kind) {
				t.Errorf("%v does not match ErrMalformedDocument and %v", err, tt.kind)
			}
			if p, ok := strings.CutSuffix(tt.msg, "…"); ok {
				if !strings.HasPrefix(pe.Message, p) || len(pe.Message) == len(p) {
					t.Errorf("message %q, want %q followed by a reason", pe.Message, p)
				}
			} else if pe.Message != tt.msg {
				t.Errorf("message %q, want %q", pe.Message, tt.msg)
			}
		})
	}
}

func TestParseOrder(t *testing.T) {
	// Several problems: the first in the reference's order is reported.
	o := mustObject(t, validJSON)
	o.Set("version", "9.9")
	o.Set("chain", nil)
	iss, _ := o.Object("issuer")
	iss.Set("role", "x")
	_, err := Parse(canon.AppendJSON(nil, o))
	if !errors.Is(err, ErrInvalidParty) {
		t.Errorf("got %v, want the issuer problem first", err)
	}
	o.Delete("nonce")
	_, err = Parse(canon.AppendJSON(nil, o))
	if !errors.Is(err, ErrMissingField) || !strings.HasSuffix(err.Error(), "nonce") {
		t.Errorf("got %v, want the missing nonce first", err)
	}
}

func TestParseKeepsEverything(t *testing.T) {
	in := `{"id":"x","zz":{"b":1,"a":[null,1E21,-0]},"version":"1.0","issuer":{"id":"i","publicKey":"k","role":"issuer","extra":null},` +
		`"beneficiary":{"id":"b","publicKey":"k","role":"beneficiary"},"constraints":"c","nonce":"n","createdAt":"c","signature":"s","chain":{"parentId":"p","relation":"r","depth":1e400}}`
	d, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := d.MarshalJSON()
	want := `{"id":"x","zz":{"b":1,"a":[null,1e+21,0]},"version":"1.0","issuer":{"id":"i","publicKey":"k","role":"issuer","extra":null},` +
		`"beneficiary":{"id":"b","publicKey":"k","role":"beneficiary"},"constraints":"c","nonce":"n","createdAt":"c","signature":"s","chain":{"parentId":"p","relation":"r","depth":null}}`
	if string(out) != want {
		t.Errorf("MarshalJSON\n got %s\nwant %s", out, want)
	}
	if !strings.Contains(string(d.CanonicalForm()), `"zz":{"a":[null,1e+21,0],"b":1}`) {
		t.Errorf("canonical form %s lacks the unknown member", d.CanonicalForm())
	}
	if strings.Contains(string(d.CanonicalForm()), `"id":"x"`) || strings.Contains(string(d.CanonicalForm()), `"signature"`) {
		t.Errorf("canonical form %s holds excluded members", d.CanonicalForm())
	}
}

func TestParseExactlyMaxSize(t *testing.T) {
	in := append([]byte(validJSON), bytes.Repeat([]byte(" "), MaxDocumentSize-len(validJSON))...)
	if _, err := Parse(in); err != nil {
		t.Errorf("document of exactly MaxDocumentSize bytes refused: %v", err)
	}
}

func TestFromObject(t *testing.T) {
	if _, err := FromObject(nil); !errors.Is(err, ErrNotObject) {
		t.Errorf("nil: %v", err)
	}
	o := mustObject(t, validJSON)
	o.Delete("signature")
	if _, err := FromObject(o); !errors.Is(err, ErrMissingField) {
		t.Errorf("no signature: %v", err)
	}
	d, err := FromObject(mustObject(t, validJSON))
	if err != nil || d.ID() != "x" {
		t.Errorf("%v %v", d, err)
	}
}

func TestDocumentInJSONStruct(t *testing.T) {
	c := loadCorpus(t)
	orig := c.docs["3.json"]
	env := struct {
		Doc *Document `json:"doc"`
		N   int       `json:"n"`
	}{orig, 1}
	data, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Doc *Document `json:"doc"`
		N   int       `json:"n"`
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Doc.ComputeID() != orig.ID() || back.N != 1 {
		t.Errorf("round trip through encoding/json changed the document")
	}
	var bad struct{ Doc *Document }
	if err := json.Unmarshal([]byte(`{"Doc":{"id":1}}`), &bad); !errors.Is(err, ErrMissingField) {
		t.Errorf("bad document in struct: %v", err)
	}
}
