package covenant

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
)

func TestBuildErrors(t *testing.T) {
	other := seedKey(t, 9)
	tests := []struct {
		name  string
		edit  func(o *BuildOptions)
		noKey bool
		field string
		msg   string // exact, or prefix when it ends with "…"
		kind  error
	}{
		{name: "issuer", edit: func(o *BuildOptions) { o.Issuer = Party{} }, field: "issuer", msg: "issuer is required"},
		{name: "issuer.id", edit: func(o *BuildOptions) { o.Issuer.ID = "" }, field: "issuer.id", msg: "issuer.id is required"},
		{name: "issuer.publicKey", edit: func(o *BuildOptions) { o.Issuer.PublicKey = "" }, field: "issuer.publicKey",
			msg: "buildCovenant: issuer.publicKey is required (hex-encoded Ed25519 public key)"},
		{name: "issuer.role", edit: func(o *BuildOptions) { o.Issuer.Role = "auditor" }, field: "issuer.role", msg: `issuer.role must be "issuer"`},
		{name: "beneficiary", edit: func(o *BuildOptions) { o.Beneficiary = Party{} }, field: "beneficiary", msg: "beneficiary is required"},
		{name: "beneficiary.id", edit: func(o *BuildOptions) { o.Beneficiary.ID = "" }, field: "beneficiary.id", msg: "beneficiary.id is required"},
		{name: "beneficiary.publicKey", edit: func(o *BuildOptions) { o.Beneficiary.PublicKey = "" }, field: "beneficiary.publicKey", msg: "beneficiary.publicKey is required"},
		{name: "beneficiary.role", edit: func(o *BuildOptions) { o.Beneficiary.Role = "issuer" }, field: "beneficiary.role", msg: `beneficiary.role must be "beneficiary"`},
		{name: "constraints empty", edit: func(o *BuildOptions) { o.Constraints = "" }, field: "constraints",
			msg: "buildCovenant: constraints is required. Provide a CCL string, e.g.: permit read on '/data/**'"},
		{name: "constraints blank", edit: func(o *BuildOptions) { o.Constraints = " \t\n\u00a0\ufeff\u2028\u3000 " }, field: "constraints",
			msg: "buildCovenant: constraints is required. Provide a CCL string, e.g.: permit read on '/data/**'"},
		{name: "privateKey", noKey: true, field: "privateKey", msg: "buildCovenant: privateKey is required"},
		{name: "key mismatch", edit: func(o *BuildOptions) { o.Issuer.PublicKey = other.PublicHex() }, field: "issuer.publicKey",
			msg: "buildCovenant: issuer.publicKey " + seedKey(t, 9).PublicHex() + " does not match the signing key…", kind: ErrKeyMismatch},
		{name: "key not hex", edit: func(o *BuildOptions) { o.Issuer.PublicKey = "alice-key" }, field: "issuer.publicKey",
			msg: `buildCovenant: issuer.publicKey "alice-key" is not a 64-digit hex Ed25519 public key…`, kind: ErrKeyMismatch},
		{name: "ccl syntax", edit: func(o *BuildOptions) { o.Constraints = "permit file-read on '/data/**'" }, field: "constraints",
			msg: "Invalid CCL constraints: CCL Syntax Error at 1:13: Expected 'on' after action, but got 'read' (IDENTIFIER)"},
		{name: "too many statements", edit: func(o *BuildOptions) {
			o.Constraints = strings.Repeat("permit read on '/a'\n", MaxConstraints+1)
		}, field: "constraints", msg: "Constraints exceed maximum of 1000 statements (got 1001)"},
		{name: "chain.parentId", edit: func(o *BuildOptions) { o.Chain = &ChainRef{Relation: "delegates", Depth: 1} }, field: "chain.parentId", msg: "chain.parentId is required"},
		{name: "chain.relation", edit: func(o *BuildOptions) { o.Chain = &ChainRef{ParentID: "p", Depth: 1} }, field: "chain.relation", msg: "chain.relation is required"},
		{name: "chain.depth 0", edit: func(o *BuildOptions) { o.Chain = &ChainRef{ParentID: "p", Relation: "r", Depth: 0} }, field: "chain.depth", msg: "chain.depth must be a positive integer"},
		{name: "chain.depth NaN", edit: func(o *BuildOptions) { o.Chain = &ChainRef{ParentID: "p", Relation: "r", Depth: math.NaN()} }, field: "chain.depth", msg: "chain.depth must be a positive integer"},
		{name: "chain.depth 17", edit: func(o *BuildOptions) { o.Chain = &ChainRef{ParentID: "p", Relation: "r", Depth: 17} }, field: "chain.depth", msg: "chain.depth exceeds maximum of 16 (got 17)"},
		{name: "chain.depth Inf", edit: func(o *BuildOptions) { o.Chain = &ChainRef{ParentID: "p", Relation: "r", Depth: math.Inf(1)} }, field: "chain.depth", msg: "chain.depth exceeds maximum of 16 (got Infinity)"},
		{name: "enforcement.type", edit: func(o *BuildOptions) { o.Enforcement = &Enforcement{Type: "police"} }, field: "enforcement.type", msg: "Invalid enforcement type: police"},
		{name: "proof.type", edit: func(o *BuildOptions) { o.Proof = &Proof{Type: "trust-me"} }, field: "proof.type", msg: "Invalid proof type: trust-me"},
		{name: "document size", edit: func(o *BuildOptions) {
			o.Metadata = &Metadata{Description: strings.Repeat("x", MaxDocumentSize)}
		}, field: "document", msg: "Serialized document exceeds maximum size of 1048576 bytes"},
		{name: "nonce source", edit: func(o *BuildOptions) { o.Rand = bytes.NewReader(make([]byte, 31)) }, field: "nonce", msg: "cannot read nonce: unexpected EOF"},
		{name: "issuer extra role", edit: func(o *BuildOptions) { o.Issuer.Extra = mustObject(t, `{"role":"beneficiary"}`) }, field: "issuer.role",
			msg: "issuer.role is checked and must be given in its field, not in Extra"},
		{name: "chain extra depth", edit: func(o *BuildOptions) {
			o.Chain = &ChainRef{ParentID: "p", Relation: "r", Depth: 1, Extra: mustObject(t, `{"depth":99}`)}
		}, field: "chain.depth", msg: "chain.depth is checked and must be given in its field, not in Extra"},
		{name: "enforcement extra type", edit: func(o *BuildOptions) {
			o.Enforcement = &Enforcement{Type: "audit", Extra: mustObject(t, `{"type":"x"}`)}
		}, field: "enforcement.type", msg: "enforcement.type is checked and must be given in its field, not in Extra"},
		{name: "proof extra type", edit: func(o *BuildOptions) {
			o.Proof = &Proof{Type: "tee", Extra: mustObject(t, `{"type":null}`)}
		}, field: "proof.type", msg: "proof.type is checked and must be given in its field, not in Extra"},
		// Order: the issuer is checked before everything else.
		{name: "order", edit: func(o *BuildOptions) {
			o.Issuer.Role = "x"
			o.Beneficiary = Party{}
			o.Constraints = ""
		}, field: "issuer.role", msg: `issuer.role must be "issuer"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, key := basicOptions(t)
			if tt.edit != nil {
				tt.edit(&opts)
			}
			if tt.noKey {
				key = nil
			}
			d, err := Build(opts, key)
			if err == nil {
				t.Fatalf("built %s", d.ID())
			}
			var be *BuildError
			if !errors.As(err, &be) {
				t.Fatalf("error %T %v is not a *BuildError", err, err)
			}
			if !errors.Is(err, ErrInvalidBuild) {
				t.Error("error does not match ErrInvalidBuild")
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("error does not match %v", tt.kind)
			}
			if be.Field != tt.field {
				t.Errorf("field %q, want %q", be.Field, tt.field)
			}
			if prefix, ok := strings.CutSuffix(tt.msg, "…"); ok {
				if !strings.HasPrefix(be.Message, prefix) {
					t.Errorf("message %q, want prefix %q", be.Message, prefix)
				}
			} else if be.Message != tt.msg {
				t.Errorf("message %q, want %q", be.Message, tt.msg)
			}
			if !strings.Contains(err.Error(), be.Message) {
				t.Errorf("Error() %q lacks the message", err.Error())
			}
		})
	}
}

func TestBuildCCLErrorUnwraps(t *testing.T) {
	opts, key := basicOptions(t)
	opts.Constraints = "allow everything"
	_, err := Build(opts, key)
	var se *ccl.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v does not unwrap to *ccl.SyntaxError", err)
	}
	if se.Line != 1 || se.Column != 1 {
		t.Errorf("syntax error at %d:%d", se.Line, se.Column)
	}
}

func TestBuildAcceptsEdgeCases(t *testing.T) {
	v := mustVerifier(t, WithClock(fixedClock(testNow)))
	tests := []struct {
		name  string
		edit  func(o *BuildOptions)
		check func(t *testing.T, d *Document)
	}{
		{name: "comment-only constraints", edit: func(o *BuildOptions) { o.Constraints = "# nothing yet\n" }},
		// U+0085 is not removed by JavaScript's trim, so it is not blank;
		// the CCL lexer skips it, leaving an empty policy.
		{name: "NEL constraints", edit: func(o *BuildOptions) { o.Constraints = "\u0085" }},
		{name: "fractional depth", edit: func(o *BuildOptions) { o.Chain = &ChainRef{ParentID: "p", Relation: "whatever", Depth: 1.5} },
			check: func(t *testing.T, d *Document) {
				c, ok := d.Chain()
				if !ok || c.Depth != 1.5 || c.Relation != "whatever" {
					t.Errorf("chain %+v", c)
				}
			}},
		{name: "uppercase issuer key", edit: func(o *BuildOptions) { o.Issuer.PublicKey = strings.ToUpper(o.Issuer.PublicKey) }},
		{name: "empty obligations omitted", edit: func(o *BuildOptions) { o.Obligations = []Obligation{} },
			check: func(t *testing.T, d *Document) {
				if _, ok := d.Get("obligations"); ok {
					t.Error("empty obligations written")
				}
			}},
		{name: "exactly 1000 statements", edit: func(o *BuildOptions) {
			o.Constraints = strings.Repeat("permit read on '/a'\n", MaxConstraints)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, key := basicOptions(t)
			tt.edit(&opts)
			d, err := Build(opts, key)
			if err != nil {
				t.Fatal(err)
			}
			if r := v.Verify(d); !r.Valid {
				t.Errorf("invalid: %v", r.Checks)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestBuildMemberOrder(t *testing.T) {
	opts, key := basicOptions(t)
	opts.Obligations = []Obligation{{ID: "o1", Description: "d", Action: "a", Deadline: "2030-01-01"}}
	opts.Chain = &ChainRef{ParentID: "p", Relation: "restricts", Depth: 2}
	opts.Enforcement = &Enforcement{Type: "monitor", Config: mustObject(t, `{"b":1,"a":2}`), Description: "d"}
	opts.Proof = &Proof{Type: "tee", Config: mustObject(t, `{}`)}
	opts.Revocation = &Revocation{Method: "crl", Endpoint: "https://x"}
	opts.Metadata = &Metadata{Name: "n", Tags: []string{}, Extra: mustObject(t, `{"name":"from-extra","zeta":true}`)}
	opts.ExpiresAt = "2030-01-01T00:00:00.000Z"
	opts.ActivatesAt = "2020-01-01T00:00:00.000Z"
	opts.Issuer.Extra = mustObject(t, `{"x-extra":[1,2]}`)
	d := mustBuild(t, opts, key)
	var got []string
	for _, m := range d.Object().Members() {
		got = append(got, m.Key)
	}
	want := "id version issuer beneficiary constraints nonce createdAt signature obligations chain enforcement proof revocation metadata expiresAt activatesAt"
	if strings.Join(got, " ") != want {
		t.Errorf("members %v\nwant %s", got, want)
	}
	js, _ := d.MarshalJSON()
	for _, frag := range []string{
		`"issuer":{"id":"alice","publicKey":"` + key.PublicHex() + `","role":"issuer","x-extra":[1,2]}`,
		`"obligations":[{"id":"o1","description":"d","action":"a","deadline":"2030-01-01"}]`,
		`"chain":{"parentId":"p","relation":"restricts","depth":2}`,
		`"enforcement":{"type":"monitor","config":{"b":1,"a":2},"description":"d"}`,
		`"proof":{"type":"tee","config":{}}`,
		`"revocation":{"method":"crl","endpoint":"https://x"}`,
		`"metadata":{"name":"from-extra","tags":[],"zeta":true}`,
	} {
		if !strings.Contains(string(js), frag) {
			t.Errorf("%s\nlacks %s", js, frag)
		}
	}
	if r := mustVerifier(t, WithClock(fixedClock(testNow))).Verify(d); !r.Valid {
		t.Errorf("invalid: %v", r.Failed())
	}
	if d.ComputeID() != d.ID() || d.Nonce() != strings.Repeat("07", 32) || d.CreatedAt() != "2026-03-01T12:00:00.000Z" {
		t.Errorf("id %s nonce %s createdAt %s", d.ID(), d.Nonce(), d.CreatedAt())
	}
}

func TestBuildDefaultsAreRandom(t *testing.T) {
	opts, key := basicOptions(t)
	opts.Rand, opts.Now = nil, nil
	a, b := mustBuild(t, opts, key), mustBuild(t, opts, key)
	if a.Nonce() == b.Nonce() || a.ID() == b.ID() {
		t.Error("two builds share a nonce")
	}
	if !Verify(a).Valid {
		t.Error("default-built document is invalid")
	}
}

func TestSigningKey(t *testing.T) {
	seed := make([]byte, 32)
	seed[31] = 1
	k32, err := SigningKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	full := append(append([]byte{}, seed...), k32.Public().Bytes()...)
	k64, err := SigningKey(full)
	if err != nil {
		t.Fatal(err)
	}
	if k64.PublicHex() != k32.PublicHex() || k32.PublicHex() != "4cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29" {
		t.Errorf("keys %s %s", k32.PublicHex(), k64.PublicHex())
	}
	// A 64-byte key signs exactly as its seed does.
	opts, _ := basicOptions(t)
	a := mustBuild(t, opts, k32)
	opts, _ = basicOptions(t)
	b := mustBuild(t, opts, k64)
	if a.Signature() != b.Signature() {
		t.Error("64-byte key signs differently from its seed")
	}

	bad := append(append([]byte{}, seed...), make([]byte, 32)...)
	for _, tc := range []struct {
		key []byte
		msg string
	}{
		{nil, "buildCovenant: privateKey is required"},
		{make([]byte, 31), "buildCovenant: privateKey must be a Uint8Array of 32 or 64 bytes (Ed25519), got 31 bytes"},
		{bad, "buildCovenant: privateKey: …"},
	} {
		_, err := SigningKey(tc.key)
		var be *BuildError
		if !errors.As(err, &be) || be.Field != "privateKey" {
			t.Errorf("len %d: %v", len(tc.key), err)
			continue
		}
		if p, ok := strings.CutSuffix(tc.msg, "…"); ok {
			if !strings.HasPrefix(be.Message, p) {
				t.Errorf("message %q", be.Message)
			}
		} else if be.Message != tc.msg {
			t.Errorf("message %q, want %q", be.Message, tc.msg)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestBuildRandError(t *testing.T) {
	opts, key := basicOptions(t)
	opts.Rand = failingReader{}
	_, err := Build(opts, key)
	if !errors.Is(err, io.ErrClosedPipe) || !errors.Is(err, ErrInvalidBuild) {
		t.Errorf("err = %v", err)
	}
}

func TestAccessors(t *testing.T) {
	opts, key := basicOptions(t)
	opts.Issuer.Name = "Alice"
	opts.Issuer.Metadata = mustObject(t, `{"tier":1}`)
	opts.Obligations = []Obligation{{ID: "o", Description: "d", Action: "log"}}
	opts.Enforcement = &Enforcement{Type: "audit", Config: mustObject(t, `{"k":"v"}`)}
	opts.Proof = &Proof{Type: "zkp", Config: mustObject(t, `{}`), Description: "p"}
	opts.Revocation = &Revocation{Method: "onchain", Config: mustObject(t, `{"c":1}`)}
	opts.Metadata = &Metadata{Name: "m", Description: "md", Tags: []string{"a", "b"}, Version: "1", Custom: mustObject(t, `{"z":null}`)}
	opts.ExpiresAt, opts.ActivatesAt = "2030-01-01", "2020-01-01"
	d := mustBuild(t, opts, key)

	if p := d.Issuer(); p.ID != "alice" || p.Name != "Alice" || p.Role != RoleIssuer || p.PublicKey != key.PublicHex() ||
		string(canon.Canonical(p.Metadata)) != `{"tier":1}` || p.Extra != nil {
		t.Errorf("issuer %+v", p)
	}
	if b := d.Beneficiary(); b.ID != "bob" || b.Role != RoleBeneficiary {
		t.Errorf("beneficiary %+v", b)
	}
	if ob := d.Obligations(); len(ob) != 1 || ob[0].Action != "log" {
		t.Errorf("obligations %+v", ob)
	}
	if e, ok := d.Enforcement(); !ok || e.Type != "audit" || string(canon.Canonical(e.Config)) != `{"k":"v"}` {
		t.Errorf("enforcement %+v", e)
	}
	if p, ok := d.Proof(); !ok || p.Type != "zkp" || p.Description != "p" {
		t.Errorf("proof %+v", p)
	}
	if r, ok := d.Revocation(); !ok || r.Method != "onchain" || r.Endpoint != "" {
		t.Errorf("revocation %+v", r)
	}
	if m, ok := d.Metadata(); !ok || m.Name != "m" || len(m.Tags) != 2 || m.Version != "1" || m.Custom == nil {
		t.Errorf("metadata %+v", m)
	}
	if d.ExpiresAt() != "2030-01-01" || d.ActivatesAt() != "2020-01-01" {
		t.Error("timestamps")
	}
	if _, ok := d.Chain(); ok {
		t.Error("chain reported on a root")
	}
	if p, err := d.Policy(); err != nil || len(p.Statements) != 2 {
		t.Errorf("policy %v %v", p, err)
	}
	// A member of an unexpected type lands in Extra.
	m := mutate(t, d, func(o *canon.Object) {
		iss, _ := o.Object("issuer")
		iss.Set("name", 42.0)
	})
	if p := m.Issuer(); p.Name != "" || p.Extra == nil || !p.Extra.Has("name") {
		t.Errorf("odd issuer %+v", p)
	}
}

// TestLargeExtraLinear: accessors and Build handle objects with very many
// members (possible in a 1 MiB document) in linear time, and exactly.
func TestLargeExtraLinear(t *testing.T) {
	opts, key := basicOptions(t)
	const n = 60000
	var b strings.Builder
	b.WriteString(`{"name":"","zz":1e400`)
	for i := range n {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i%7)
	}
	b.WriteString("}")
	opts.Issuer.Extra = mustObject(t, b.String())
	start := time.Now()
	d := mustBuild(t, opts, key)
	p := d.Issuer()
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("build and read back took %v", el)
	}
	iss, _ := d.Object().Object("issuer")
	if iss.Len() != n+5 || p.Extra.Len() != n+2 {
		t.Fatalf("issuer has %d members, Extra %d", iss.Len(), p.Extra.Len())
	}
	keys := iss.Members()
	if keys[0].Key != "id" || keys[3].Key != "name" || keys[4].Key != "zz" || keys[n+4].Key != fmt.Sprint("k", n-1) {
		t.Errorf("member order %s %s %s %s", keys[0].Key, keys[3].Key, keys[4].Key, keys[n+4].Key)
	}
	if v, _ := iss.Get("k12"); v != 5.0 {
		t.Errorf("k12 = %v", v)
	}
	if v, _ := iss.Get("zz"); v != nil {
		t.Errorf("zz = %v, want null (JSON has no Infinity)", v)
	}
	// Rebuilding from the accessor reproduces the party.
	opts2, _ := basicOptions(t)
	opts2.Issuer = p
	d2 := mustBuild(t, opts2, key)
	if d2.ID() != d.ID() {
		t.Error("rebuild from Issuer() changed the document")
	}
	if !Verify(d2).Valid {
		t.Error("large document invalid")
	}
}
