package store

import (
	"context"
	"time"
)

// The covenant registry: listing stored covenants through the indexes kept
// by PutDocuments, the revocation list of issuer keys, and the directory of
// signing keys that signer processes hold. Both implementations back every
// query with an index; none scans all documents.

// DocumentQuery filters and pages ListDocuments. Empty strings and zero
// times mean "any". Results are ordered by (createdAt, id) ascending, where
// createdAt counts as its Unix milliseconds (CreatedMillis) and IDs compare
// bytewise.
type DocumentQuery struct {
	// Issuer and Beneficiary match the parties' id members exactly.
	Issuer      string
	Beneficiary string
	// Tag matches one of the indexed metadata.tags (IndexedTags) exactly.
	Tag string
	// CreatedAfter and CreatedBefore bound createdAt, exclusively, at
	// millisecond precision (both are truncated to whole milliseconds). A
	// document whose createdAt does not parse as RFC 3339 sorts at the Unix
	// epoch.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// HasChain, when non-nil, keeps only documents with (true) or without
	// (false) a chain reference.
	HasChain *bool
	// Limit is the page size, 1 to MaxListLimit (0 means DefaultListLimit).
	Limit int
	// Cursor continues a listing: the Next of the previous page, with the
	// same filters. An empty cursor starts at the beginning. A cursor that
	// does not decode is ErrInvalid.
	Cursor string
}

// Listing page sizes.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// DocumentPage is one page of a listing. Documents carry their ID, JSON and
// indexed fields, with Tags those indexed: the first MaxIndexedTags
// distinct ones, sorted (IndexedTags).
// The indexed fields must be those the JSON states (issuer.id,
// beneficiary.id, createdAt, the presence of chain, metadata.tags), as
// internal/jobs derives them: a store may read them back from the JSON. Next
// is the cursor of the following page, "" when no document follows.
type DocumentPage struct {
	Documents []Document
	Next      string
}

// Registry lists stored covenants.
type Registry interface {
	// ListDocuments returns the documents matching q in (createdAt, id)
	// order, at most q.Limit of them. ErrInvalid for a bad limit or cursor.
	// A page may be short only at the end of the listing.
	ListDocuments(ctx context.Context, q DocumentQuery) (DocumentPage, error)
}

// Revocation marks an issuer key as revoked. Every covenant whose issuer
// public key (or a countersigner's key) is revoked verifies as invalid,
// whatever its createdAt: a compromised key can back-date. A key that was
// merely rotated out is not revoked, and its covenants keep verifying.
type Revocation struct {
	// PublicKey is the lowercase hex Ed25519 public key (the key that
	// matters: documents name public keys, not key IDs).
	PublicKey string `json:"publicKey"`
	// KeyID is the keyring's name for the key, when known.
	KeyID     string    `json:"keyId,omitempty"`
	Reason    string    `json:"reason"`
	RevokedAt time.Time `json:"revokedAt"`
}

// Revocations is the shared revocation list.
type Revocations interface {
	// RevokeKey records r, with RevokedAt the store's clock when zero
	// (ErrInvalid for a bad record: see CheckRevocation). Revoking a key
	// again keeps the first record and returns ErrExists.
	RevokeKey(ctx context.Context, r Revocation) error
	// RevokedKeys returns the records of those publicKeys that are revoked,
	// by public key, in one round trip. Strings that are not lowercase hex
	// public keys are never revoked.
	RevokedKeys(ctx context.Context, publicKeys []string) (map[string]Revocation, error)
	// ListRevocations returns every record, oldest first (equal times by
	// public key).
	ListRevocations(ctx context.Context) ([]Revocation, error)
}

// SigningKey is a key a signer process holds, as advertised in the store so
// that gateways can fill in issuer public keys and reject unknown key IDs
// without holding private keys.
type SigningKey struct {
	KeyID     string `json:"keyId"`
	PublicKey string `json:"publicKey"`
	// Retired keys were rotated out: they sign nothing new, and the
	// covenants they signed keep verifying.
	Retired bool `json:"retired,omitempty"`
	// SeenAt is when a signer last advertised the key.
	SeenAt time.Time `json:"seenAt"`
}

// KeyDirectory is the shared directory of signing keys.
type KeyDirectory interface {
	// AdvertiseKeys records keys (upsert by KeyID, replacing the whole
	// record; SeenAt is set by the caller, or is the store's clock when
	// zero), atomically. Two different public keys under one KeyID, in the
	// store and keys or within keys, is ErrExists, and nothing is written;
	// a bad key ID or public key is ErrInvalid (see CheckSigningKeys).
	AdvertiseKeys(ctx context.Context, keys []SigningKey) error
	// SigningKeys returns the advertised keys by KeyID.
	SigningKeys(ctx context.Context) (map[string]SigningKey, error)
}
