package keys

import (
	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"
)

// Verify reports whether sig is a valid Ed25519 signature of msg by pub under
// the ZIP-215 rules, which are the defaults of @noble/ed25519 that the
// reference uses:
//
//   - pub must be 32 bytes and sig 64 bytes;
//   - the scalar S (sig[32:]) must be canonical, S < L;
//   - the encodings of the public key A and of R (sig[:32]) may be
//     non-canonical (y ≥ p, or x = 0 with the sign bit set) and A may be of
//     small order;
//   - the cofactored equation [8]([S]B − R − [k]A) = O must hold, where
//     k = SHA-512(R || A || msg) mod L.
//
// crypto/ed25519.Verify is cofactorless and compares R bytewise, so it
// rejects some signatures accepted here (never an honestly produced one).
// Malformed input of any kind yields false; Verify never panics.
func Verify(pub, msg, sig []byte) bool {
	return ed25519consensus.Verify(pub, msg, sig)
}

// VerifyHex is [Verify] with the public key and the signature given as hex,
// as stored in documents. Hex of either case is accepted (the reference's
// fromHex); any decoding error, or a decoded length other than 32 or 64
// bytes, yields false.
func VerifyHex(pubHex string, msg []byte, sigHex string) bool {
	if len(pubHex) != publicKeyHexSz || len(sigHex) != signatureHexSz {
		return false
	}
	var pub [PublicKeySize]byte
	var sig [SignatureSize]byte
	if decodeHexInto(pub[:], pubHex) != nil || decodeHexInto(sig[:], sigHex) != nil {
		return false
	}
	return ed25519consensus.Verify(pub[:], msg, sig[:])
}

// canonicalS reports whether s, the second half of a signature, encodes a
// scalar below the group order L. Verification rejects any other S, so such
// signatures can be failed without curve arithmetic.
func canonicalS(s []byte) bool {
	var sc edwards25519.Scalar
	_, err := sc.SetCanonicalBytes(s)
	return err == nil
}
