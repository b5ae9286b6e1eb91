// Package covenant builds, signs, countersigns, parses and verifies Stele
// covenant documents, and resolves and checks delegation chains.
//
// A covenant is a JSON object. Its canonical form is the canonical JSON of the
// object without the top-level members "id", "signature" and
// "countersignatures"; its ID is the SHA-256 of that form and its signature is
// the issuer's Ed25519 signature over it. Because the canonical form covers
// every other member, including members this package does not model, a
// Document keeps the decoded JSON object as it was received and re-serialises
// it unchanged. (A document Build makes holds its options instead, and makes
// its object from them the first time something needs it, exactly as it
// would have made it at once.)
//
// Documents are immutable once built or parsed: every operation that changes
// one (Countersign, Resign, Rotate) returns a new Document, so a Document may
// be shared between goroutines.
//
// Verification runs the reference implementation's eleven checks, in its
// order, with its names and messages; see Verifier.
package covenant

// Protocol constants.
const (
	// ProtocolVersion is the only version Parse accepts and Build writes.
	ProtocolVersion = "1.0"
	// MaxConstraints is the most CCL statements a document may hold.
	MaxConstraints = 1000
	// MaxChainDepth is the largest chain.depth a document may declare, and
	// the default number of ancestors ResolveChain follows.
	MaxChainDepth = 16
	// MaxDocumentSize is the largest document, in bytes of compact JSON
	// (Verify, Build) or of received text (Parse).
	MaxDocumentSize = 1 << 20
)

// Roles of the parties to a covenant. Only RoleIssuer and RoleBeneficiary are
// checked (by Build and Parse); countersigner roles are free text.
const (
	RoleIssuer      = "issuer"
	RoleBeneficiary = "beneficiary"
	RoleAuditor     = "auditor"
	RoleOperator    = "operator"
	RoleRegulator   = "regulator"
)

// ValidEnforcementType reports whether t is one of the enforcement types the
// protocol knows: capability, monitor, audit, bond, composite.
func ValidEnforcementType(t string) bool {
	switch t {
	case "capability", "monitor", "audit", "bond", "composite":
		return true
	}
	return false
}

// ValidProofType reports whether t is one of the proof types the protocol
// knows: tee, capability_manifest, audit_log, bond_reference, zkp, composite.
func ValidProofType(t string) bool {
	switch t {
	case "tee", "capability_manifest", "audit_log", "bond_reference", "zkp", "composite":
		return true
	}
	return false
}
