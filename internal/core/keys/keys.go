package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
)

// Sizes of Ed25519 material, in bytes.
const (
	SeedSize       = ed25519.SeedSize       // 32: a Stele private key
	PublicKeySize  = ed25519.PublicKeySize  // 32
	SignatureSize  = ed25519.SignatureSize  // 64
	GoPrivKeySize  = ed25519.PrivateKeySize // 64: Go's seed||public form
	publicKeyHexSz = 2 * PublicKeySize
	signatureHexSz = 2 * SignatureSize
)

// PrivateKey is an Ed25519 signing key. The Stele private key is the 32-byte
// seed; the expanded Go key and the public key are derived once, when the
// PrivateKey is made, so Sign does no scalar multiplication.
//
// Create one with [Generate], [NewPrivateKey] or [ParsePrivateKeyHex]; the
// zero value is not usable. A PrivateKey is immutable and safe for
// concurrent use. Its String and LogValue methods show only the public key.
type PrivateKey struct {
	seed [32]byte
	priv ed25519.PrivateKey
	pub  PublicKey
}

// PublicKey is a 32-byte Ed25519 public key as carried in documents.
type PublicKey [32]byte

// Generate draws a fresh 32-byte seed from crypto/rand.
func Generate() (*PrivateKey, error) {
	var seed [SeedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("%w: generate key: %w", ErrRandom, err)
	}
	return newFromSeed(seed[:]), nil
}

// NewPrivateKey accepts a 32-byte seed (the reference's private key) or a
// 64-byte Go ed25519.PrivateKey (seed||public). For the 64-byte form the
// public half must be the public key of the seed half, else the error wraps
// [ErrKeyMismatch]. Other lengths fail with [ErrKeySize]. b is copied.
func NewPrivateKey(b []byte) (*PrivateKey, error) {
	switch len(b) {
	case SeedSize:
		return newFromSeed(b), nil
	case GoPrivKeySize:
		k := newFromSeed(b[:SeedSize])
		if subtle.ConstantTimeCompare(k.pub[:], b[SeedSize:]) != 1 {
			return nil, fmt.Errorf("new private key: %w", ErrKeyMismatch)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("new private key: %w: got %d bytes, want %d (seed) or %d (seed||public)",
			ErrKeySize, len(b), SeedSize, GoPrivKeySize)
	}
}

// ParsePrivateKeyHex is [NewPrivateKey] of hex-decoded s (64 or 128 hex
// digits, either case).
func ParsePrivateKeyHex(s string) (*PrivateKey, error) {
	b, err := DecodeHex(s)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	k, err := NewPrivateKey(b)
	clear(b)
	return k, err
}

func newFromSeed(seed []byte) *PrivateKey {
	k := &PrivateKey{priv: ed25519.NewKeyFromSeed(seed)}
	copy(k.seed[:], seed)
	copy(k.pub[:], k.priv[SeedSize:])
	return k
}

// Seed returns a copy of the 32-byte seed, the form the reference stores.
func (k *PrivateKey) Seed() []byte {
	s := k.seed
	return s[:]
}

// Public returns the public key.
func (k *PrivateKey) Public() PublicKey { return k.pub }

// PublicHex returns the public key as 64 lowercase hex digits (the
// reference's publicKeyHex).
func (k *PrivateKey) PublicHex() string { return k.pub.Hex() }

// Sign returns the 64-byte deterministic RFC 8032 signature of msg; it is
// byte-identical to the reference's sign for the same seed and message.
func (k *PrivateKey) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// SignHex is Sign encoded as 128 lowercase hex digits, the form stored in
// documents.
func (k *PrivateKey) SignHex(msg []byte) string { return hex.EncodeToString(k.Sign(msg)) }

// String identifies the key by its public half; it never prints the seed.
func (k *PrivateKey) String() string { return "keys.PrivateKey{public: " + k.pub.Hex() + "}" }

// GoString is String, so that %#v does not print the key's fields.
func (k *PrivateKey) GoString() string { return k.String() }

// Format prints String for every verb: without it %#v, %d and %o printed
// the key's fields, the seed and the private key among them.
func (k *PrivateKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue makes slog print only the public key.
func (k *PrivateKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("public_key", k.pub.Hex()))
}

// ParsePublicKey copies a 32-byte public key. It checks only the length;
// whether the bytes encode a curve point matters only to verification.
func ParsePublicKey(b []byte) (PublicKey, error) {
	var p PublicKey
	if len(b) != PublicKeySize {
		return p, fmt.Errorf("parse public key: %w: got %d bytes, want %d", ErrKeySize, len(b), PublicKeySize)
	}
	copy(p[:], b)
	return p, nil
}

// ParsePublicKeyHex parses 64 hex digits of either case.
func ParsePublicKeyHex(s string) (PublicKey, error) {
	var p PublicKey
	if len(s) != publicKeyHexSz {
		if len(s)%2 != 0 {
			return p, fmt.Errorf("parse public key: %w: odd length %d", ErrInvalidHex, len(s))
		}
		return p, fmt.Errorf("parse public key: %w: got %d hex digits, want %d", ErrKeySize, len(s), publicKeyHexSz)
	}
	if err := decodeHexInto(p[:], s); err != nil {
		return p, fmt.Errorf("parse public key: %w", err)
	}
	return p, nil
}

// Hex returns the public key as 64 lowercase hex digits.
func (p PublicKey) Hex() string { return hex.EncodeToString(p[:]) }

// String is Hex.
func (p PublicKey) String() string { return p.Hex() }

// Bytes returns a copy of the key as a slice.
func (p PublicKey) Bytes() []byte {
	b := p
	return b[:]
}

// Verify is [Verify] with this key.
func (p PublicKey) Verify(msg, sig []byte) bool { return Verify(p[:], msg, sig) }
