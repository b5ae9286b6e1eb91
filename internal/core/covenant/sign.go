package covenant

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/keys"
)

// Countersign returns a copy of doc with one more countersignature: key signs
// the canonical form, and {signerPublicKey, signerRole, signature, timestamp}
// is appended to countersignatures (created at the end of the document when
// absent). Neither doc nor role is checked, as in the reference; the ID and
// the issuer's signature are unchanged because countersignatures are outside
// the canonical form.
func Countersign(doc *Document, key *keys.PrivateKey, role string) (*Document, error) {
	return CountersignAt(doc, key, role, time.Now())
}

// CountersignAt is Countersign with the countersignature's timestamp set to at.
func CountersignAt(doc *Document, key *keys.PrivateKey, role string, at time.Time) (*Document, error) {
	if doc == nil || doc.empty() || key == nil {
		return nil, fmt.Errorf("countersign: nil document or key: %w", ErrInvalidInput)
	}
	var existing []any
	switch v, _ := doc.object().Get("countersignatures"); x := v.(type) {
	case nil: // absent or null: none yet
	case []any:
		existing = x
	default:
		return nil, fmt.Errorf("countersign %s: countersignatures is not an array: %w", doc.ID(), ErrInvalidInput)
	}
	sig := key.Sign(doc.AppendCanonicalForm(make([]byte, 0, 1024)))
	cs := Countersignature{
		SignerPublicKey: key.PublicHex(),
		SignerRole:      role,
		Signature:       hex.EncodeToString(sig),
		Timestamp:       formatTimestamp(at),
	}
	list := make([]any, len(existing), len(existing)+1)
	copy(list, existing)
	list = append(list, cs.object())
	o := canon.CloneObject(doc.object())
	o.Set("countersignatures", list)
	return &Document{obj: o}, nil
}

// Resign returns a copy of doc with a fresh nonce, no countersignatures, and
// a new signature and ID, as the reference's resignCovenant does. createdAt
// and issuer are kept; unlike the reference, a key that issuer.publicKey does
// not name is refused (ErrKeyMismatch), since the copy would fail
// signature_valid. To move a covenant to a new issuer key, use Rotate.
func Resign(doc *Document, key *keys.PrivateKey) (*Document, error) {
	return ResignWithRand(doc, key, nil)
}

// ResignWithRand is Resign with the nonce read from r (nil: crypto/rand).
func ResignWithRand(doc *Document, key *keys.PrivateKey, r io.Reader) (*Document, error) {
	if doc == nil || doc.empty() || key == nil {
		return nil, fmt.Errorf("resign: nil document or key: %w", ErrInvalidInput)
	}
	if err := checkIssuerKey(doc.Issuer().PublicKey, key); err != nil {
		return nil, fmt.Errorf("resign %s: %w", doc.ID(), err)
	}
	return resign(canon.CloneObject(doc.object()), key, r)
}

// Rotate returns a copy of doc re-issued under key: issuer.publicKey becomes
// key's public key, then the copy is re-signed as by Resign (fresh nonce, no
// countersignatures, new signature and ID).
func Rotate(doc *Document, key *keys.PrivateKey) (*Document, error) {
	return RotateWithRand(doc, key, nil)
}

// RotateWithRand is Rotate with the nonce read from r (nil: crypto/rand).
func RotateWithRand(doc *Document, key *keys.PrivateKey, r io.Reader) (*Document, error) {
	if doc == nil || doc.empty() || key == nil {
		return nil, fmt.Errorf("rotate: nil document or key: %w", ErrInvalidInput)
	}
	o := canon.CloneObject(doc.object())
	issuer, _ := o.Object("issuer")
	issuer.Set("publicKey", key.PublicHex())
	return resign(o, key, r)
}

func resign(o *canon.Object, key *keys.PrivateKey, r io.Reader) (*Document, error) {
	var nonce [32]byte
	if r == nil {
		_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
	} else if _, err := io.ReadFull(r, nonce[:]); err != nil {
		return nil, fmt.Errorf("resign: read nonce: %w", err)
	}
	o.Set("nonce", hex.EncodeToString(nonce[:]))
	o.Set("signature", "")
	o.Set("id", "")
	o.Delete("countersignatures")
	d := &Document{obj: o}
	sign(o, key, d.AppendCanonicalForm(make([]byte, 0, 1024)), new(strings.Builder))
	return d, nil
}
