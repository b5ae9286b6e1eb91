package registry

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/store"
)

// CheckKeyNotRevoked is the name of the check Revoked adds.
const CheckKeyNotRevoked = "key_not_revoked"

// Revoked checks docs against the revocation list with one RevokedKeys call
// for the distinct issuer and countersigner public keys (none when no
// document names a well-formed key). It returns, per document, nil when no
// key of it is revoked, else a failing CheckKeyNotRevoked check whose
// message names every revoked key, e.g. "issuer key 3b6a27bcceb6a42d…
// (key-2024) was revoked at 2025-01-01T00:00:00Z: compromised". Nil
// documents get nil. Keys compare case-insensitively.
//
// The check is only ever added when it fails, so that documents signed by
// unrevoked keys keep exactly the reference's eleven checks (see
// docs/decisions.md).
func Revoked(ctx context.Context, revs store.Revocations, docs []*covenant.Document) ([]*store.Check, error) {
	out := make([]*store.Check, len(docs))
	issuers := make([]string, len(docs))
	seen := make(map[string]bool)
	var keys []string
	add := func(k string) string {
		k = strings.ToLower(k)
		if isKey(k) && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		return k
	}
	for i, d := range docs {
		if d == nil {
			continue
		}
		issuers[i] = add(d.Issuer().PublicKey)
		for _, cs := range d.Countersignatures() {
			add(cs.SignerPublicKey)
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	revoked, err := revs.RevokedKeys(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("revoked keys of %d documents: %w", len(docs), err)
	}
	if len(revoked) == 0 {
		return out, nil
	}
	for i, d := range docs {
		if d == nil {
			continue
		}
		var msgs []string
		if rv, ok := revoked[issuers[i]]; ok {
			msgs = append(msgs, RevokedMessage("issuer", rv))
		}
		reported := make(map[string]bool)
		for _, cs := range d.Countersignatures() {
			k := strings.ToLower(cs.SignerPublicKey)
			if rv, ok := revoked[k]; ok && !reported[k] {
				reported[k] = true
				msgs = append(msgs, RevokedMessage("countersigner", rv))
			}
		}
		if len(msgs) > 0 {
			out[i] = &store.Check{Name: CheckKeyNotRevoked, Passed: false, Message: strings.Join(msgs, "; ")}
		}
	}
	return out, nil
}

// RevokedMessage describes one revoked key: role (say "issuer"), then
// "key", the key's first 16 hex digits, its key ID when known, when it was
// revoked and why.
func RevokedMessage(role string, rv store.Revocation) string {
	k := rv.PublicKey
	if len(k) > 16 {
		k = k[:16] + "…"
	}
	var b strings.Builder
	b.WriteString(role)
	b.WriteString(" key ")
	b.WriteString(k)
	if rv.KeyID != "" {
		b.WriteString(" (")
		b.WriteString(rv.KeyID)
		b.WriteString(")")
	}
	b.WriteString(" was revoked at ")
	b.WriteString(rv.RevokedAt.UTC().Format(time.RFC3339))
	if rv.Reason != "" {
		b.WriteString(": ")
		b.WriteString(rv.Reason)
	}
	return b.String()
}

// isKey reports whether k is 64 lowercase hex digits (an Ed25519 public
// key); other strings cannot be on the revocation list.
func isKey(k string) bool {
	if len(k) != 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
