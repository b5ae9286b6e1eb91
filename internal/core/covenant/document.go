package covenant

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
)

// Document is a covenant document: the decoded JSON object exactly as built or
// received, members in their order, unknown members included. It is
// immutable; the accessors return copies or read-only views.
//
// The zero Document is not usable; obtain one from Parse, FromObject, Build,
// Countersign, Resign or Rotate. Those guarantee the structure deserializeCovenant
// checks (§3.9): string id, version "1.0", constraints, nonce, createdAt and
// signature; issuer and beneficiary objects with string id and publicKey and
// the right role; and, when chain is present, an object with string parentId
// and relation and a numeric depth.
type Document struct {
	// obj is the object of a parsed document, or of a built one that Build
	// materialised itself; built is a document Build made without
	// materialising its object (see buildArena). Exactly one is set, except
	// in the zero Document.
	obj   *canon.Object
	built *buildArena
}

// object returns the document's object, materialising that of a built
// document on first use.
func (d *Document) object() *canon.Object {
	if d.obj != nil {
		return d.obj
	}
	if a := d.built; a != nil {
		return a.materialised()
	}
	return nil
}

// empty reports whether d is the zero Document.
func (d *Document) empty() bool { return d.obj == nil && d.built == nil }

// excluded are the top-level members left out of the canonical form.
var excluded = [...]string{"id", "signature", "countersignatures"}

// Parse decodes and checks a covenant as the reference's deserializeCovenant
// does, failing on the first problem, in this order: size (more than
// MaxDocumentSize bytes, checked before any decoding), JSON syntax, object,
// required string members (id, version, constraints, nonce, createdAt,
// signature), issuer, beneficiary, version, chain. Every error is a
// *ParseError matching ErrMalformedDocument and a more specific sentinel.
//
// The decoded object is kept unchanged: extra members, explicit nulls and
// member order all survive, so the ID recomputes as the sender computed it.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, &ParseError{Kind: ErrTooLarge, Message: fmt.Sprintf(
			"Document size %d bytes exceeds maximum of %d bytes", len(data), MaxDocumentSize)}
	}
	v, err := canon.ParseLimits(data, canon.Limits{MaxBytes: MaxDocumentSize})
	if err != nil {
		return nil, &ParseError{Kind: ErrInvalidJSON, Message: "Invalid JSON: " + err.Error(), Err: err}
	}
	o, ok := v.(*canon.Object)
	if !ok || o == nil {
		return nil, &ParseError{Kind: ErrNotObject, Message: "Covenant document must be a JSON object"}
	}
	if err := checkStructure(o); err != nil {
		return nil, err
	}
	return &Document{obj: o}, nil
}

// FromObject wraps an already decoded object after the structural checks of
// Parse (all but the size limit, which Verify checks). The Document takes
// ownership of o: the caller must not modify it afterwards.
func FromObject(o *canon.Object) (*Document, error) {
	if o == nil {
		return nil, &ParseError{Kind: ErrNotObject, Message: "Covenant document must be a JSON object"}
	}
	if err := checkStructure(o); err != nil {
		return nil, err
	}
	return &Document{obj: o}, nil
}

func checkStructure(o *canon.Object) error {
	for _, f := range [...]string{"id", "version", "constraints", "nonce", "createdAt", "signature"} {
		if _, ok := o.String(f); !ok {
			return &ParseError{Kind: ErrMissingField, Message: "Missing or invalid required field: " + f}
		}
	}
	if err := checkParty(o, "issuer", RoleIssuer); err != nil {
		return err
	}
	if err := checkParty(o, "beneficiary", RoleBeneficiary); err != nil {
		return err
	}
	if v, _ := o.String("version"); v != ProtocolVersion {
		return &ParseError{Kind: ErrUnsupportedVersion, Message: fmt.Sprintf(
			"Unsupported protocol version: %s (expected %s)", v, ProtocolVersion)}
	}
	if v, ok := o.Get("chain"); ok {
		c, isObj := v.(*canon.Object)
		_, isArr := v.([]any)
		switch {
		case !isObj && !isArr, isObj && c == nil:
			return &ParseError{Kind: ErrInvalidChain, Message: "Invalid chain: must be an object"}
		}
		// An array is an object in JavaScript: it fails on parentId.
		if _, ok := c.String("parentId"); !ok {
			return &ParseError{Kind: ErrInvalidChain, Message: "Invalid chain.parentId: must be a string"}
		}
		if _, ok := c.String("relation"); !ok {
			return &ParseError{Kind: ErrInvalidChain, Message: "Invalid chain.relation: must be a string"}
		}
		if d, _ := c.Get("depth"); !isNumber(d) {
			return &ParseError{Kind: ErrInvalidChain, Message: "Invalid chain.depth: must be a number"}
		}
	}
	return nil
}

func isNumber(v any) bool { _, ok := v.(float64); return ok }

func checkParty(o *canon.Object, name, role string) error {
	v, _ := o.Get(name)
	if _, isArr := v.([]any); isArr {
		// typeof [] is "object": JavaScript reaches the member checks.
		return &ParseError{Kind: ErrInvalidParty, Message: partyMessage(name, role)}
	}
	p, ok := v.(*canon.Object)
	if !ok || p == nil {
		return &ParseError{Kind: ErrMissingField, Message: "Missing or invalid required field: " + name}
	}
	_, idOK := p.String("id")
	_, keyOK := p.String("publicKey")
	r, _ := p.String("role")
	if !idOK || !keyOK || r != role {
		return &ParseError{Kind: ErrInvalidParty, Message: partyMessage(name, role)}
	}
	return nil
}

func partyMessage(name, role string) string {
	return fmt.Sprintf("Invalid %s: must have id, publicKey, and role=%q", name, role)
}

// UnmarshalJSON is Parse, so a Document can sit in an encoding/json struct.
func (d *Document) UnmarshalJSON(data []byte) error {
	nd, err := Parse(data)
	if err != nil {
		return err
	}
	*d = *nd
	return nil
}

// MarshalJSON is serializeCovenant: compact JSON as JavaScript's
// JSON.stringify writes it, members in document order.
func (d *Document) MarshalJSON() ([]byte, error) { return d.AppendJSON(nil), nil }

// AppendJSON appends MarshalJSON's bytes to dst.
func (d *Document) AppendJSON(dst []byte) []byte { return canon.AppendJSON(dst, d.object()) }

// Size is the length in bytes of MarshalJSON's output (what the
// document_size check measures).
func (d *Document) Size() int {
	if a := d.built; a != nil {
		return a.size
	}
	return canon.JSONSize(d.obj)
}

// CanonicalForm returns the bytes that are hashed into the ID and signed: the
// canonical JSON of the document without id, signature and countersignatures.
func (d *Document) CanonicalForm() []byte { return d.AppendCanonicalForm(nil) }

// AppendCanonicalForm appends the canonical form to dst.
func (d *Document) AppendCanonicalForm(dst []byte) []byte {
	return canon.AppendCanonicalExcept(dst, d.object(), excluded[:]...)
}

// ComputeID returns the ID the document should have: lowercase hex SHA-256 of
// its canonical form. It differs from ID when the document was altered.
func (d *Document) ComputeID() string {
	sum := sha256.Sum256(d.CanonicalForm())
	return hex.EncodeToString(sum[:])
}

// Object returns the document's JSON object. It is the document's own
// storage: treat it as read-only (use canon.CloneObject to derive a modified
// copy, then FromObject).
func (d *Document) Object() *canon.Object { return d.object() }

// Get returns a top-level member, for members without an accessor.
func (d *Document) Get(key string) (any, bool) { return d.object().Get(key) }

func (d *Document) str(key string) string {
	s, _ := d.object().String(key)
	return s
}

// The accessors of the members Build always writes read a built document's
// values without materialising its object.

// ID returns the id member as stored (not recomputed; see ComputeID).
func (d *Document) ID() string {
	if a := d.built; a != nil {
		return a.id
	}
	return d.str("id")
}

// Version returns the protocol version ("1.0").
func (d *Document) Version() string {
	if d.built != nil {
		return ProtocolVersion
	}
	return d.str("version")
}

// Constraints returns the CCL source text.
func (d *Document) Constraints() string {
	if a := d.built; a != nil {
		return a.opts.Constraints
	}
	return d.str("constraints")
}

// Nonce returns the nonce member.
func (d *Document) Nonce() string {
	if a := d.built; a != nil {
		return a.nonce
	}
	return d.str("nonce")
}

// CreatedAt returns the createdAt timestamp as stored.
func (d *Document) CreatedAt() string {
	if a := d.built; a != nil {
		return a.createdAt
	}
	return d.str("createdAt")
}

// Signature returns the issuer's signature (hex) as stored.
func (d *Document) Signature() string {
	if a := d.built; a != nil {
		return a.signature
	}
	return d.str("signature")
}

// ExpiresAt returns expiresAt when it is a string, else "".
func (d *Document) ExpiresAt() string {
	if a := d.built; a != nil {
		return a.opts.ExpiresAt
	}
	return d.str("expiresAt")
}

// ActivatesAt returns activatesAt when it is a string, else "".
func (d *Document) ActivatesAt() string {
	if a := d.built; a != nil {
		return a.opts.ActivatesAt
	}
	return d.str("activatesAt")
}

// Issuer returns the issuer party.
func (d *Document) Issuer() Party {
	o, _ := d.object().Object("issuer")
	return partyFrom(o)
}

// Beneficiary returns the beneficiary party.
func (d *Document) Beneficiary() Party {
	o, _ := d.object().Object("beneficiary")
	return partyFrom(o)
}

// Chain returns the chain reference, if the document has one.
func (d *Document) Chain() (ChainRef, bool) {
	o, ok := d.object().Object("chain")
	if !ok {
		return ChainRef{}, false
	}
	return chainFrom(o), true
}

// Obligations returns the obligations that are objects.
func (d *Document) Obligations() []Obligation {
	v, _ := d.object().Get("obligations")
	a, _ := v.([]any)
	var out []Obligation
	for _, e := range a {
		if o, ok := e.(*canon.Object); ok && o != nil {
			out = append(out, obligationFrom(o))
		}
	}
	return out
}

// Enforcement returns the enforcement configuration, if it is an object.
func (d *Document) Enforcement() (Enforcement, bool) {
	o, ok := d.object().Object("enforcement")
	if !ok {
		return Enforcement{}, false
	}
	var e Enforcement
	e.Type, e.Config, e.Description, e.Extra = typedConfigFrom(o)
	return e, true
}

// Proof returns the proof configuration, if it is an object.
func (d *Document) Proof() (Proof, bool) {
	o, ok := d.object().Object("proof")
	if !ok {
		return Proof{}, false
	}
	var p Proof
	p.Type, p.Config, p.Description, p.Extra = typedConfigFrom(o)
	return p, true
}

// Revocation returns the revocation configuration, if it is an object.
func (d *Document) Revocation() (Revocation, bool) {
	o, ok := d.object().Object("revocation")
	if !ok {
		return Revocation{}, false
	}
	return revocationFrom(o), true
}

// Metadata returns the metadata, if it is an object.
func (d *Document) Metadata() (Metadata, bool) {
	o, ok := d.object().Object("metadata")
	if !ok {
		return Metadata{}, false
	}
	return metadataFrom(o), true
}

// Countersignatures returns the countersignatures that are objects; members
// that are not strings read as "".
func (d *Document) Countersignatures() []Countersignature {
	v, _ := d.object().Get("countersignatures")
	a, _ := v.([]any)
	var out []Countersignature
	for _, e := range a {
		o, ok := e.(*canon.Object)
		if !ok || o == nil {
			continue
		}
		r := objReader{o: o}
		out = append(out, Countersignature{
			SignerPublicKey: r.str("signerPublicKey"),
			SignerRole:      r.str("signerRole"),
			Signature:       r.str("signature"),
			Timestamp:       r.str("timestamp"),
		})
	}
	return out
}

// Policy parses the constraints.
func (d *Document) Policy() (*ccl.Document, error) {
	p, err := ccl.Parse(d.Constraints())
	if err != nil {
		return nil, fmt.Errorf("covenant %s: parse constraints: %w", d.ID(), err)
	}
	return p, nil
}
