package jobs

import "encoding/json"

// SignRequest is the payload of one sign item (Item.Sign) on SubjectSign: a
// covenant to build and sign with a keyring key, or (Countersign set) a
// stored covenant to countersign. The issuer's public key is never part of
// the request: the signer takes it from the key it holds under KeyID.
//
// Nonce and CreatedAt make signing idempotent: building is deterministic
// given them (Ed25519 signatures are), so a redelivered item yields the same
// covenant ID and bytes, and the store keeps exactly one covenant. The
// gateway always fills them in; a producer publishing on NATS directly may
// leave them out, and the signer then derives both from the job ID, the item
// index and the message's stream timestamp, which redelivery does not change.
//
// Members are matched exactly; a member not listed here (in the request, its
// issuer or its beneficiary) fails the item with invalid_request naming it,
// as the HTTP API refuses it, rather than signing a covenant without it.
type SignRequest struct {
	KeyID string `json:"keyId"`
	// Issuer is the issuer party's id (and optional name); its publicKey
	// comes from the key. When absent the signer uses the key ID as the id.
	Issuer      *SignParty      `json:"issuer,omitempty"`
	Beneficiary *SignParty      `json:"beneficiary,omitempty"`
	Constraints string          `json:"constraints,omitempty"`
	ExpiresAt   string          `json:"expiresAt,omitempty"`
	ActivatesAt string          `json:"activatesAt,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`    // a covenant metadata object
	Obligations json.RawMessage `json:"obligations,omitempty"` // an array of obligation objects
	// ParentID and Relation make the covenant a child in a delegation
	// chain; the signer reads the parent from the store for the depth and
	// refuses a child whose constraints broaden the parent's.
	ParentID string `json:"parentId,omitempty"`
	Relation string `json:"relation,omitempty"`

	// Nonce (64 hex digits) and CreatedAt (ISO 8601 with milliseconds) fix
	// the covenant's bytes; see above.
	Nonce     string `json:"nonce,omitempty"`
	CreatedAt string `json:"createdAt,omitempty"`

	// Countersign, when set, is the ID of a stored covenant that the key
	// countersigns (role "auditor" unless Role says otherwise); Timestamp
	// fixes the countersignature's timestamp like CreatedAt. Every other
	// member but KeyID is ignored then.
	Countersign string `json:"countersign,omitempty"`
	Role        string `json:"role,omitempty"`
	Timestamp   string `json:"timestamp,omitempty"`
}

// SignParty is a party of a sign request.
type SignParty struct {
	ID        string `json:"id"`
	PublicKey string `json:"publicKey,omitempty"`
	Name      string `json:"name,omitempty"`
}

// Error codes of failed sign items (store.Result.Error starts with the code,
// then ": " and a message).
const (
	SignErrUnknownKey      = "unknown_key"      // no signer holds KeyID (after bounded retries)
	SignErrRetiredKey      = "retired_key"      // the key was rotated out and signs nothing new
	SignErrRevokedKey      = "revoked_key"      // the key is on the revocation list
	SignErrInvalidRequest  = "invalid_request"  // a member is missing or malformed
	SignErrInvalidCCL      = "invalid_ccl"      // the constraints do not parse (line and column in the message)
	SignErrParentNotFound  = "parent_not_found" // ParentID is not in the store
	SignErrBroadensParent  = "broadens_parent"  // the child's constraints broaden its parent's
	SignErrDocumentMissing = "document_not_found"
)
