package store

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on registry records.
const (
	// MaxKeyIDLen bounds a signing key's ID; IDs use [A-Za-z0-9._-].
	MaxKeyIDLen = 64
	// MaxRevocationReason bounds a revocation's reason in bytes.
	MaxRevocationReason = 1024
)

// CreatedMillis is the listing position of a createdAt value: Unix
// milliseconds (rounded down), or 0 (the Unix epoch) when it does not parse as
// RFC 3339. Both stores order and bound listings by it.
func CreatedMillis(createdAt string) int64 {
	t, err := time.Parse(time.RFC3339Nano, createdAt)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

// ListBounds is a DocumentQuery checked and reduced to the numbers a store
// walks its indexes with.
type ListBounds struct {
	// Limit is the page size, in [1, MaxListLimit].
	Limit int
	// After and Before bound the createdAt milliseconds exclusively; they
	// are math.MinInt64 and math.MaxInt64 when the query sets no bound.
	After, Before int64
	// HasCursor says whether the listing continues after (CursorMs,
	// CursorID) in (createdAt ms, id) order.
	HasCursor bool
	CursorMs  int64
	CursorID  string
}

// CheckDocumentQuery validates q (ErrInvalid for a limit outside [0,
// MaxListLimit] or a cursor that does not decode) and returns its bounds.
func CheckDocumentQuery(q DocumentQuery) (ListBounds, error) {
	b := ListBounds{Limit: q.Limit, After: math.MinInt64, Before: math.MaxInt64}
	switch {
	case q.Limit == 0:
		b.Limit = DefaultListLimit
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return ListBounds{}, fmt.Errorf("list limit %d outside [1, %d]: %w", q.Limit, MaxListLimit, ErrInvalid)
	}
	if !q.CreatedAfter.IsZero() {
		b.After = q.CreatedAfter.UnixMilli()
	}
	if !q.CreatedBefore.IsZero() {
		b.Before = q.CreatedBefore.UnixMilli()
	}
	if q.Cursor != "" {
		ms, id, err := DecodeCursor(q.Cursor)
		if err != nil {
			return ListBounds{}, err
		}
		b.HasCursor, b.CursorMs, b.CursorID = true, ms, id
	}
	return b, nil
}

// Empty reports whether no createdAt can lie within the bounds.
func (b ListBounds) Empty() bool {
	return b.After == math.MaxInt64 || b.Before == math.MinInt64 || b.Before-1 <= b.After
}

// cursorVersion prefixes every cursor so that the format can change.
const cursorVersion = "c1:"

// maxCursorLen bounds an encoded cursor: the version, a 20-digit number, a
// colon and a document ID, in base64.
var maxCursorLen = base64.RawURLEncoding.EncodedLen(len(cursorVersion) + 21 + MaxIDLen)

// EncodeCursor returns the opaque cursor that continues a listing after the
// document id whose createdAt lies at ms (CreatedMillis). Both stores use it,
// so a cursor means the same position in either.
func EncodeCursor(ms int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorVersion + strconv.FormatInt(ms, 10) + ":" + id))
}

// DecodeCursor reverses EncodeCursor; anything else is ErrInvalid.
func DecodeCursor(cursor string) (ms int64, id string, err error) {
	if len(cursor) > maxCursorLen {
		return 0, "", fmt.Errorf("cursor of %d bytes: %w", len(cursor), ErrInvalid)
	}
	// The decoder skips '\r' and '\n'; a cursor is one token, so only the
	// exact encoding of its bytes is accepted.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	if err != nil || base64.RawURLEncoding.EncodedLen(len(raw)) != len(cursor) {
		return 0, "", fmt.Errorf("cursor does not decode: %w", ErrInvalid)
	}
	rest, ok := strings.CutPrefix(string(raw), cursorVersion)
	if !ok {
		return 0, "", fmt.Errorf("cursor does not decode: %w", ErrInvalid)
	}
	num, id, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, "", fmt.Errorf("cursor does not decode: %w", ErrInvalid)
	}
	ms, err = strconv.ParseInt(num, 10, 64)
	if err != nil || strconv.FormatInt(ms, 10) != num {
		return 0, "", fmt.Errorf("cursor does not decode: %w", ErrInvalid)
	}
	if err := CheckID("cursor document", id); err != nil {
		return 0, "", err
	}
	return ms, id, nil
}

// NormalizeTags returns tags sorted and without duplicates, the form in which
// listings return Document.Tags (nil when there are none).
func NormalizeTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out)
}

// MaxIndexedTags bounds the tags of one document that the listing indexes
// (IndexedTags).
const MaxIndexedTags = 64

// IndexedTags returns the tags of a document that the stores index, and
// that listings return as Document.Tags: its first MaxIndexedTags distinct
// tags, in the order given, then sorted (NormalizeTags). Every indexed tag
// costs an index entry (on Redis a sorted set of its own), and a covenant
// may fill its megabyte with some hundred thousand tags.
func IndexedTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(tags), MaxIndexedTags))
	for _, t := range tags {
		if len(out) == MaxIndexedTags {
			break
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// IsPublicKeyHex reports whether s is a lowercase hex Ed25519 public key (64
// digits).
func IsPublicKeyHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CheckKeyID validates a signing key ID: 1 to MaxKeyIDLen characters of
// [A-Za-z0-9._-].
func CheckKeyID(id string) error {
	if id == "" || len(id) > MaxKeyIDLen {
		return fmt.Errorf("key id %q: want 1 to %d characters: %w", id, MaxKeyIDLen, ErrInvalid)
	}
	for i := range len(id) {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("key id %q: character %q outside [A-Za-z0-9._-]: %w", id, c, ErrInvalid)
		}
	}
	return nil
}

// Stored times are kept as Unix nanoseconds by some stores: the range they
// accept.
var (
	minStoredTime = time.Unix(0, math.MinInt64)
	maxStoredTime = time.Unix(0, math.MaxInt64)
)

func checkStoredTime(what string, t time.Time) error {
	if t.Before(minStoredTime) || t.After(maxStoredTime) {
		return fmt.Errorf("%s %v outside the years 1678 to 2262: %w", what, t, ErrInvalid)
	}
	return nil
}

// CheckRevocation validates r for RevokeKey and returns the record to store:
// RevokedAt (now when zero) in UTC without a monotonic reading. The public
// key must be lowercase hex (IsPublicKeyHex), the key ID empty or valid
// (CheckKeyID), the reason valid UTF-8 of at most MaxRevocationReason bytes.
func CheckRevocation(r Revocation, now time.Time) (Revocation, error) {
	if !IsPublicKeyHex(r.PublicKey) {
		return Revocation{}, fmt.Errorf("revocation: public key %q is not 64 lowercase hex digits: %w", r.PublicKey, ErrInvalid)
	}
	if r.KeyID != "" {
		if err := CheckKeyID(r.KeyID); err != nil {
			return Revocation{}, fmt.Errorf("revocation of %s: %w", r.PublicKey, err)
		}
	}
	if len(r.Reason) > MaxRevocationReason {
		return Revocation{}, fmt.Errorf("revocation of %s: reason of %d bytes exceeds %d: %w", r.PublicKey, len(r.Reason), MaxRevocationReason, ErrInvalid)
	}
	if !utf8.ValidString(r.Reason) {
		return Revocation{}, fmt.Errorf("revocation of %s: reason is not UTF-8: %w", r.PublicKey, ErrInvalid)
	}
	if r.RevokedAt.IsZero() {
		r.RevokedAt = now
	}
	r.RevokedAt = r.RevokedAt.UTC().Round(0)
	if err := checkStoredTime("revocation of "+r.PublicKey+": time", r.RevokedAt); err != nil {
		return Revocation{}, err
	}
	return r, nil
}

// CheckSigningKeys validates the keys of an AdvertiseKeys call and returns
// the records to store, one per KeyID (the last of equal duplicates), with
// SeenAt (now when zero) in UTC without a monotonic reading. Two different
// public keys under one KeyID in keys is ErrExists; a bad key ID, public key
// or time is ErrInvalid.
func CheckSigningKeys(keys []SigningKey, now time.Time) ([]SigningKey, error) {
	out := make([]SigningKey, 0, len(keys))
	pos := make(map[string]int, len(keys))
	for _, k := range keys {
		if err := CheckKeyID(k.KeyID); err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		if !IsPublicKeyHex(k.PublicKey) {
			return nil, fmt.Errorf("signing key %s: public key %q is not 64 lowercase hex digits: %w", k.KeyID, k.PublicKey, ErrInvalid)
		}
		if k.SeenAt.IsZero() {
			k.SeenAt = now
		}
		k.SeenAt = k.SeenAt.UTC().Round(0)
		if err := checkStoredTime("signing key "+k.KeyID+": seen at", k.SeenAt); err != nil {
			return nil, err
		}
		i, dup := pos[k.KeyID]
		if !dup {
			pos[k.KeyID] = len(out)
			out = append(out, k)
			continue
		}
		if out[i].PublicKey != k.PublicKey {
			return nil, fmt.Errorf("signing key %s: two public keys in one call: %w", k.KeyID, ErrExists)
		}
		out[i] = k
	}
	return out, nil
}
