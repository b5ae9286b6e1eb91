package keys

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// MaxRandomIDBytes bounds the size RandomID accepts.
const MaxRandomIDBytes = 1 << 16

// Nonce returns 32 bytes from the operating system's CSPRNG as 64 lowercase
// hex digits (the reference's generateNonce, hex-encoded as in documents).
func Nonce() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("%w: nonce: %w", ErrRandom, err)
	}
	return hex.EncodeToString(b[:]), nil
}

// RandomID returns n bytes from the CSPRNG as 2n lowercase hex digits (the
// reference's generateId; it uses n = 16). n must be in [0, MaxRandomIDBytes].
func RandomID(n int) (string, error) {
	if n < 0 || n > MaxRandomIDBytes {
		return "", fmt.Errorf("%w: id length %d out of range [0, %d]", ErrRandom, n, MaxRandomIDBytes)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("%w: id: %w", ErrRandom, err)
	}
	return hex.EncodeToString(b), nil
}
