// Package keys holds Stele's cryptographic primitives: Ed25519 keys and
// signing, ZIP-215 signature verification (single and batch), SHA-256, hex
// encoding, randomness and constant-time comparison.
//
// Everything here matches the TypeScript reference byte for byte:
// signatures are deterministic RFC 8032 signatures over the message bytes,
// hashes and keys are written as lowercase hex, and verification accepts
// exactly the signatures that @noble/ed25519 accepts with its default ZIP-215
// rules (see [Verify]).
package keys
