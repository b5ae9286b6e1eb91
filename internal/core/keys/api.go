// Package keys holds Stele's cryptographic primitives: Ed25519 keys, signing,
// ZIP-215 verification (single and batch), SHA-256, hex and randomness.
package keys

// API CONTRACT (stubs; the keys implementer replaces this file).

import (
	"crypto/ed25519"
	"errors"
)

var (
	ErrInvalidHex = errors.New("keys: invalid hex")      // STELE_E900
	ErrKeySize    = errors.New("keys: invalid key size") // STELE_E901
)

// PrivateKey is an Ed25519 signing key. It caches the expanded key so Sign
// does no scalar multiplication to derive the public key.
type PrivateKey struct {
	seed [32]byte
	priv ed25519.PrivateKey
	pub  PublicKey
}

// PublicKey is a 32-byte Ed25519 public key.
type PublicKey [32]byte

// Generate draws a fresh key from crypto/rand.
func Generate() (*PrivateKey, error) { panic("unimplemented") }

// NewPrivateKey accepts a 32-byte seed or a 64-byte Go private key (seed||pub,
// whose public half must match the seed).
func NewPrivateKey(b []byte) (*PrivateKey, error) { panic("unimplemented") }

// ParsePrivateKeyHex is NewPrivateKey of hex (64 or 128 hex digits).
func ParsePrivateKeyHex(s string) (*PrivateKey, error) { panic("unimplemented") }

func (k *PrivateKey) Seed() []byte           { return k.seed[:] }
func (k *PrivateKey) Public() PublicKey      { return k.pub }
func (k *PrivateKey) PublicHex() string      { panic("unimplemented") }
func (k *PrivateKey) Sign(msg []byte) []byte { panic("unimplemented") } // 64 bytes

// Hex returns the lowercase hex of the public key.
func (p PublicKey) Hex() string { panic("unimplemented") }

// ParsePublicKeyHex parses 64 hex digits (either case).
func ParsePublicKeyHex(s string) (PublicKey, error) { panic("unimplemented") }

// Verify checks sig over msg with pub under ZIP-215 rules (the reference's
// @noble/ed25519 defaults). Malformed input returns false.
func Verify(pub, msg, sig []byte) bool { panic("unimplemented") }

// VerifyHex is Verify with hex signature and key as stored in documents
// (fromHex semantics: either case; any decoding error yields false).
func VerifyHex(pubHex string, msg []byte, sigHex string) bool { panic("unimplemented") }

// BatchVerifier accumulates (pub, msg, sig) triples and verifies them together
// with ed25519consensus's batch verifier. Entries with malformed keys or
// signatures are recorded as failed without entering the batch.
type BatchVerifier struct{}

func NewBatchVerifier(n int) *BatchVerifier { panic("unimplemented") }

// Add queues one signature; the returned index identifies it in Verify's result.
func (b *BatchVerifier) Add(pub, msg, sig []byte) int { panic("unimplemented") }

// Verify returns, for each added entry, whether it verifies; the result is
// identical to calling Verify on each entry. When the batch as a whole fails it
// bisects to find exactly the bad entries.
func (b *BatchVerifier) Verify() []bool { panic("unimplemented") }

// SHA256Hex returns lowercase hex SHA-256 of b.
func SHA256Hex(b []byte) string { panic("unimplemented") }

// EncodeHex is lowercase hex; DecodeHex accepts either case, "" gives zero bytes.
func EncodeHex(b []byte) string          { panic("unimplemented") }
func DecodeHex(s string) ([]byte, error) { panic("unimplemented") }

// Nonce returns 32 random bytes as 64 lowercase hex digits.
func Nonce() (string, error) { panic("unimplemented") }

// RandomID returns n random bytes as hex (generateId).
func RandomID(n int) (string, error) { panic("unimplemented") }
