package keys

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// SHA256 returns the SHA-256 digest of b.
func SHA256(b []byte) [32]byte { return sha256.Sum256(b) }

// SHA256Hex returns the lowercase hex SHA-256 of b (the reference's sha256;
// sha256String is SHA256Hex of the string's UTF-8 bytes).
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ConstantTimeEqual reports whether a and b hold the same bytes, in time that
// depends only on their lengths. Slices of different lengths are unequal.
func ConstantTimeEqual(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// ConstantTimeEqualString is ConstantTimeEqual for strings, such as hex
// digests.
func ConstantTimeEqualString(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
