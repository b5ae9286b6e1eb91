package covenant

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/keys"
)

// BuildOptions describes a covenant to build. The optional members are
// written only when set: Obligations when non-empty, the pointer members when
// non-nil, ExpiresAt and ActivatesAt when non-empty.
type BuildOptions struct {
	Issuer      Party // Role must be RoleIssuer
	Beneficiary Party // Role must be RoleBeneficiary
	Constraints string
	Obligations []Obligation
	Chain       *ChainRef
	Enforcement *Enforcement
	Proof       *Proof
	Revocation  *Revocation
	Metadata    *Metadata
	ExpiresAt   string // timestamp, not checked
	ActivatesAt string // timestamp, not checked

	// Now supplies createdAt; nil means time.Now.
	Now func() time.Time
	// Rand supplies the 32 nonce bytes; nil means crypto/rand.
	Rand io.Reader
}

// SigningKey turns raw private key bytes into a signing key with the checks
// and messages of the reference's buildCovenant: an empty key or one that is
// neither a 32-byte seed nor a 64-byte Go private key (seed followed by its
// public key) is a *BuildError for field "privateKey".
func SigningKey(b []byte) (*keys.PrivateKey, error) {
	if len(b) == 0 {
		return nil, buildErr("privateKey", "buildCovenant: privateKey is required")
	}
	if len(b) != 32 && len(b) != 64 {
		return nil, buildErr("privateKey", fmt.Sprintf(
			"buildCovenant: privateKey must be a Uint8Array of 32 or 64 bytes (Ed25519), got %d bytes", len(b)))
	}
	k, err := keys.NewPrivateKey(b)
	if err != nil {
		return nil, &BuildError{Field: "privateKey", Message: "buildCovenant: privateKey: " + err.Error(), Err: err}
	}
	return k, nil
}

// Build validates opts, then assembles, signs and returns a new covenant, as
// the reference's buildCovenant does (§3.4), checking in its order: issuer,
// beneficiary, constraints (non-blank), the key, the CCL (parses, at most
// MaxConstraints statements), chain, enforcement type, proof type; after
// signing, the document size. Failures are *BuildError values naming the field.
//
// Unlike the reference, Build refuses a key whose public key is not the one
// issuer.publicKey names (field "issuer.publicKey", matching ErrKeyMismatch):
// such a document could never pass signature_valid.
//
// Members are written in the reference's order: id, version, issuer,
// beneficiary, constraints, nonce, createdAt, signature, then the optional
// members in the order of BuildOptions.
func Build(opts BuildOptions, key *keys.PrivateKey) (*Document, error) {
	if err := checkBuildParty(opts.Issuer, "issuer", RoleIssuer,
		"buildCovenant: issuer.publicKey is required (hex-encoded Ed25519 public key)"); err != nil {
		return nil, err
	}
	if err := checkBuildParty(opts.Beneficiary, "beneficiary", RoleBeneficiary,
		"beneficiary.publicKey is required"); err != nil {
		return nil, err
	}
	if opts.Constraints == "" || isBlank(opts.Constraints) {
		return nil, buildErr("constraints",
			"buildCovenant: constraints is required. Provide a CCL string, e.g.: permit read on '/data/**'")
	}
	if key == nil {
		return nil, buildErr("privateKey", "buildCovenant: privateKey is required")
	}
	if err := checkIssuerKey(opts.Issuer.PublicKey, key); err != nil {
		return nil, err
	}
	// Only the validity and the statement count matter here: validate
	// without building the policy.
	n, err := ccl.Check(opts.Constraints)
	if err != nil {
		return nil, &BuildError{Field: "constraints", Message: "Invalid CCL constraints: " + err.Error(), Err: err}
	}
	if n > MaxConstraints {
		return nil, buildErr("constraints", fmt.Sprintf(
			"Constraints exceed maximum of %d statements (got %d)", MaxConstraints, n))
	}
	if c := opts.Chain; c != nil {
		switch {
		case c.ParentID == "":
			return nil, buildErr("chain.parentId", "chain.parentId is required")
		case c.Relation == "":
			return nil, buildErr("chain.relation", "chain.relation is required")
		case math.IsNaN(c.Depth) || c.Depth < 1:
			// The reference lets NaN through (NaN < 1 is false); it cannot
			// be written as JSON, so it is refused here.
			return nil, buildErr("chain.depth", "chain.depth must be a positive integer")
		case c.Depth > MaxChainDepth:
			return nil, buildErr("chain.depth", fmt.Sprintf(
				"chain.depth exceeds maximum of %d (got %s)", MaxChainDepth, jsNumberString(c.Depth)))
		}
		if err := checkExtra(c.Extra, "chain", "parentId", "relation", "depth"); err != nil {
			return nil, err
		}
	}
	if e := opts.Enforcement; e != nil {
		if !ValidEnforcementType(e.Type) {
			return nil, buildErr("enforcement.type", "Invalid enforcement type: "+e.Type)
		}
		if err := checkExtra(e.Extra, "enforcement", "type"); err != nil {
			return nil, err
		}
	}
	if p := opts.Proof; p != nil {
		if !ValidProofType(p.Type) {
			return nil, buildErr("proof.type", "Invalid proof type: "+p.Type)
		}
		if err := checkExtra(p.Extra, "proof", "type"); err != nil {
			return nil, err
		}
	}

	var nonce [32]byte
	if opts.Rand == nil {
		_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
	} else if err := readNonce(opts.Rand, &nonce); err != nil {
		return nil, &BuildError{Field: "nonce", Message: "cannot read nonce: " + err.Error(), Err: err}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}

	// The strings Build makes itself (nonce, createdAt, ID, signature) are
	// substrings of one: what a strings.Builder has written stays unchanged.
	var gen strings.Builder
	gen.Grow(generatedSize)
	var tmp [2 * (sha256.Size + keys.SignatureSize)]byte
	hexEncode(tmp[:64], nonce[:])
	gen.Write(tmp[:64])
	gen.Write(appendTimestamp(tmp[:0], now()))

	// The Document and everything it holds share one allocation. Its object
	// is materialised only when something needs it, unless writing the
	// canonical form or measuring the size needs it first.
	a := new(buildArena)
	a.keep(&opts)
	a.nonce = gen.String()[:64]
	a.createdAt = gen.String()[64:]
	b := built{nonce: a.nonce, createdAt: a.createdAt}
	var o *canon.Object
	if a.opts.hasExtra() {
		o = a.object(&b, "", "")
	}

	// One canonical form gives both the ID and the signature; it is written
	// from the typed members (see built), and the document size follows from
	// its length.
	var stack [canonicalStackSize]byte
	canonical := b.appendCanonical(stack[:0], &a.opts)
	a.id, a.signature = signCanonical(key, canonical, &gen)
	if o != nil {
		o.Set("signature", a.signature)
		o.Set("id", a.id)
	}
	a.size = len(canonical) + signedMembersSize
	if b.proto || b.viaCanon && hasProto(&a.opts) {
		if o == nil {
			o = a.object(&b, a.id, a.signature)
		}
		a.size = canon.JSONSize(o) // the canonical form leaves out "__proto__" members
	}
	if a.size > MaxDocumentSize {
		return nil, buildErr("document", fmt.Sprintf(
			"Serialized document exceeds maximum size of %d bytes", MaxDocumentSize))
	}
	if o != nil {
		a.doc.obj = o
	} else {
		a.doc.built = a
	}
	return &a.doc, nil
}

// buildArena is the memory of a document Build makes: the Document, what
// Build computed, a copy of the options it was built from, and room for its
// object and the objects of its typed members. The object is made from the
// copy on first use (materialised), exactly as Build would have made it.
type buildArena struct {
	doc Document

	once sync.Once
	obj  *canon.Object // once materialised

	// opts is a copy of the options whose pointers and slices point to the
	// copies below (or to the heap, when they do not fit), so that a caller
	// changing its options after Build cannot change the document. The
	// caller's *canon.Object values are shared, as they are in the object.
	opts        BuildOptions
	chain       ChainRef
	enforcement Enforcement
	proof       Proof
	revocation  Revocation
	metadata    Metadata
	obligations [arenaObligations]Obligation
	tags        [arenaTags]string

	nonce, createdAt, id, signature string
	size                            int // of the document's JSON

	// The document, issuer, beneficiary, chain, enforcement, proof,
	// revocation, metadata.
	objs [8]canon.Object
	// The first obligations' objects and their list.
	obligationObjs [arenaObligations]canon.Object
	obligationList [arenaObligations]any
}

// keep copies opts into a.opts, with copies of what its pointers and slices
// refer to (except caller's objects).
func (a *buildArena) keep(opts *BuildOptions) {
	a.opts = *opts
	a.opts.Now, a.opts.Rand = nil, nil
	o := &a.opts
	if n := len(opts.Obligations); n > 0 {
		if n <= arenaObligations {
			o.Obligations = a.obligations[:n:n]
		} else {
			o.Obligations = make([]Obligation, n)
		}
		copy(o.Obligations, opts.Obligations)
	}
	if opts.Chain != nil {
		a.chain = *opts.Chain
		o.Chain = &a.chain
	}
	if opts.Enforcement != nil {
		a.enforcement = *opts.Enforcement
		o.Enforcement = &a.enforcement
	}
	if opts.Proof != nil {
		a.proof = *opts.Proof
		o.Proof = &a.proof
	}
	if opts.Revocation != nil {
		a.revocation = *opts.Revocation
		o.Revocation = &a.revocation
	}
	if opts.Metadata != nil {
		a.metadata = *opts.Metadata
		if t := opts.Metadata.Tags; t != nil {
			if len(t) <= arenaTags {
				a.metadata.Tags = a.tags[:len(t):len(t)]
			} else {
				a.metadata.Tags = make([]string, len(t))
			}
			copy(a.metadata.Tags, t)
		}
		o.Metadata = &a.metadata
	}
}

// hasExtra reports whether a typed member has Extra members: writing the
// canonical form then needs its object (see built).
func (opts *BuildOptions) hasExtra() bool {
	if opts.Issuer.Extra.Len() > 0 || opts.Beneficiary.Extra.Len() > 0 {
		return true
	}
	for i := range opts.Obligations {
		if opts.Obligations[i].Extra.Len() > 0 {
			return true
		}
	}
	return opts.Chain != nil && opts.Chain.Extra.Len() > 0 ||
		opts.Enforcement != nil && opts.Enforcement.Extra.Len() > 0 ||
		opts.Proof != nil && opts.Proof.Extra.Len() > 0 ||
		opts.Revocation != nil && opts.Revocation.Extra.Len() > 0 ||
		opts.Metadata != nil && opts.Metadata.Extra.Len() > 0
}

// materialised returns the object of the document a describes, making it on
// the first call. It is safe for concurrent use.
func (a *buildArena) materialised() *canon.Object {
	a.once.Do(func() {
		var b built
		a.obj = a.object(&b, a.id, a.signature)
	})
	return a.obj
}

// object makes the document's object from a.opts, with members id and
// signature set to id and sig, in the arena's memory, and records the objects
// of the typed members in b.
func (a *buildArena) object(b *built, id, sig string) *canon.Object {
	opts := &a.opts
	o := &a.objs[0]
	*o = *canon.NewObject(8 + count(len(opts.Obligations) > 0, opts.Chain != nil, opts.Enforcement != nil,
		opts.Proof != nil, opts.Revocation != nil, opts.Metadata != nil, opts.ExpiresAt != "", opts.ActivatesAt != ""))
	b.issuer = opts.Issuer.object(&a.objs[1])
	b.beneficiary = opts.Beneficiary.object(&a.objs[2])
	o.Set("id", id)
	o.Set("version", ProtocolVersion)
	o.Set("issuer", b.issuer)
	o.Set("beneficiary", b.beneficiary)
	o.Set("constraints", opts.Constraints)
	o.Set("nonce", a.nonce)
	o.Set("createdAt", a.createdAt)
	o.Set("signature", sig)
	if n := len(opts.Obligations); n > 0 {
		var objs []canon.Object
		if n <= arenaObligations {
			objs, b.obligations = a.obligationObjs[:n], a.obligationList[:n:n]
		} else {
			objs, b.obligations = make([]canon.Object, n), make([]any, n)
		}
		for i := range opts.Obligations {
			b.obligations[i] = opts.Obligations[i].object(&objs[i])
		}
		o.Set("obligations", b.obligations)
	}
	if opts.Chain != nil {
		b.chain = opts.Chain.object(&a.objs[3])
		o.Set("chain", b.chain)
	}
	if opts.Enforcement != nil {
		b.enforcement = opts.Enforcement.object(&a.objs[4])
		o.Set("enforcement", b.enforcement)
	}
	if opts.Proof != nil {
		b.proof = opts.Proof.object(&a.objs[5])
		o.Set("proof", b.proof)
	}
	if opts.Revocation != nil {
		b.revocation = opts.Revocation.object(&a.objs[6])
		o.Set("revocation", b.revocation)
	}
	if opts.Metadata != nil {
		b.metadata = opts.Metadata.object(&a.objs[7])
		o.Set("metadata", b.metadata)
	}
	if opts.ExpiresAt != "" {
		o.Set("expiresAt", opts.ExpiresAt)
	}
	if opts.ActivatesAt != "" {
		o.Set("activatesAt", opts.ActivatesAt)
	}
	return o
}

// arenaObligations and arenaTags are how many obligations and metadata tags
// buildArena holds.
const (
	arenaObligations = 4
	arenaTags        = 8
)

// signedMembersSize is what the members outside the canonical form add to a
// freshly signed document's compact JSON: `"id":"<64 hex>",` and
// `"signature":"<128 hex>",`.
const signedMembersSize = len(`"id":"",`) + 64 + len(`"signature":"",`) + 128

// canonicalStackSize is the size of the buffer on Build's stack for the
// canonical form, enough for most documents; a larger one goes to the heap.
const canonicalStackSize = 3 << 10

// readNonce fills nonce from r. (A separate function, so that the caller's
// nonce stays on its stack when r is not used.)
func readNonce(r io.Reader, nonce *[32]byte) error {
	buf := make([]byte, len(nonce))
	if _, err := io.ReadFull(r, buf); err != nil {
		return err
	}
	copy(nonce[:], buf)
	return nil
}

// generatedSize is the length of the strings Build generates: nonce,
// createdAt (in years 0000–9999), ID and signature.
const generatedSize = 64 + len(timestampLayout) + 2*sha256.Size + 2*keys.SignatureSize

// sign sets signature and id of o from its canonical form; gen receives their
// hex digits.
func sign(o *canon.Object, key *keys.PrivateKey, canonical []byte, gen *strings.Builder) {
	id, sig := signCanonical(key, canonical, gen)
	o.Set("signature", sig)
	o.Set("id", id)
}

// signCanonical returns the ID and the signature of a document with the
// given canonical form, as hex; gen receives their digits.
func signCanonical(key *keys.PrivateKey, canonical []byte, gen *strings.Builder) (id, signature string) {
	sig := key.Sign(canonical)
	sum := sha256.Sum256(canonical)
	var buf [2 * (sha256.Size + keys.SignatureSize)]byte
	hexEncode(buf[:2*sha256.Size], sum[:])
	hexEncode(buf[2*sha256.Size:], sig)
	from := gen.Len()
	gen.Write(buf[:])
	s := gen.String()[from:]
	return s[:2*sha256.Size], s[2*sha256.Size:]
}

func isZeroParty(p Party) bool {
	return p.ID == "" && p.PublicKey == "" && p.Role == "" && p.Name == "" && p.Metadata == nil && p.Extra == nil
}

func checkBuildParty(p Party, name, role, keyMsg string) error {
	switch {
	case isZeroParty(p):
		return buildErr(name, name+" is required")
	case p.ID == "":
		return buildErr(name+".id", name+".id is required")
	case p.PublicKey == "":
		return buildErr(name+".publicKey", keyMsg)
	case p.Role != role:
		return buildErr(name+".role", fmt.Sprintf("%s.role must be %q", name, role))
	}
	return checkExtra(p.Extra, name, "id", "publicKey", "role")
}

// checkExtra refuses an Extra member that would override a checked field:
// the check would then not apply to what is written.
func checkExtra(extra *canon.Object, name string, checked ...string) error {
	for _, k := range checked {
		if extra.Has(k) {
			return buildErr(name+"."+k, fmt.Sprintf(
				"%s.%s is checked and must be given in its field, not in Extra", name, k))
		}
	}
	return nil
}

// checkIssuerKey refuses a signing key that issuer.publicKey does not name.
func checkIssuerKey(issuerKey string, key *keys.PrivateKey) error {
	pub, err := keys.ParsePublicKeyHex(issuerKey)
	if err != nil {
		return &BuildError{Field: "issuer.publicKey", Kind: ErrKeyMismatch, Err: err, Message: fmt.Sprintf(
			"buildCovenant: issuer.publicKey %q is not a 64-digit hex Ed25519 public key; "+
				"it must be the public key of the signing key, %s", issuerKey, key.PublicHex())}
	}
	want := key.Public()
	if subtle.ConstantTimeCompare(pub[:], want[:]) != 1 {
		return &BuildError{Field: "issuer.publicKey", Kind: ErrKeyMismatch, Message: fmt.Sprintf(
			"buildCovenant: issuer.publicKey %s does not match the signing key, whose public key is %s; "+
				"the document would fail signature verification: sign with the issuer's own key, "+
				"or name the signing key's public key as issuer.publicKey", issuerKey, key.PublicHex())}
	}
	return nil
}
