package keys

import (
	"crypto/sha512"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"
)

// Verify reports whether sig is a valid Ed25519 signature of msg by pub,
// deciding exactly as the reference does (@noble/ed25519 2.3.0, verifyAsync
// with its default zip215: true). Those are the ZIP-215 rules:
//
//   - pub must be 32 bytes and sig 64 bytes;
//   - the scalar S (sig[32:]) must be canonical, S < L;
//   - the encodings of the public key A and of R (sig[:32]) may be
//     non-canonical (y ≥ p, or x = 0 with the sign bit set), and A may be of
//     small order;
//   - the cofactored equation [8]([S]B − R − [k]A) = O must hold;
//
// with the challenge k computed as noble computes it, which differs from
// ZIP-215 (and from ed25519consensus) for crafted encodings only:
//
//   - k = SHA-512(enc(R) || enc(A) || msg) mod L, where enc re-encodes the
//     decoded point canonically, so a non-canonical R or A is hashed in its
//     canonical form;
//   - if R or A is the identity point (in any encoding), noble's encoder
//     throws inside its try block and k = SHA-512("") mod L, without the
//     message.
//
// Honestly produced signatures have canonical, non-identity R and A, so
// this matters only for signatures crafted by a key's owner (or made under a
// small-order key); it is followed so that both implementations accept the
// same documents. For such ordinary encodings Verify is
// ed25519consensus.Verify. crypto/ed25519.Verify is cofactorless and
// compares R bytewise, so it rejects some signatures accepted here (never an
// honestly produced one).
//
// Malformed input of any kind yields false; Verify never panics.
func Verify(pub, msg, sig []byte) bool {
	if len(pub) != PublicKeySize || len(sig) != SignatureSize {
		return false
	}
	if ordinaryEncoding(pub) && ordinaryEncoding(sig[:32]) {
		return ed25519consensus.Verify(pub, msg, sig)
	}
	return verifyUnusual(pub, msg, sig)
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
	return Verify(pub[:], msg, sig[:])
}

// ordinaryEncoding reports whether enc, if it decodes at all, is the
// canonical encoding of a point other than the identity. For such points
// noble's re-encoding equals enc, so its challenge equals ZIP-215's. The
// test reads the bytes only: the unusual encodings are those with y ≥ p,
// those with y = 1 (the identity, either sign), and y = p−1 with the sign
// bit set (x = 0 written as "−0"; x is 0 only when y = ±1).
func ordinaryEncoding(enc []byte) bool {
	// y ≥ p = 2^255 − 19: bytes 1…30 are 0xff, byte 31 (sign cleared) is
	// 0x7f and byte 0 is at least 0xed.
	high := enc[31] & 0x7f
	allFF := high == 0x7f
	for i := 1; allFF && i < 31; i++ {
		allFF = enc[i] == 0xff
	}
	if allFF && enc[0] >= 0xed {
		return false
	}
	// y = 1.
	one := enc[0] == 1 && high == 0
	for i := 1; one && i < 31; i++ {
		one = enc[i] == 0
	}
	if one {
		return false
	}
	// y = p − 1 with the sign bit set.
	if allFF && enc[0] == 0xec && enc[31]&0x80 != 0 {
		return false
	}
	return true
}

// verifyUnusual is Verify for keys and R values with unusual encodings,
// following noble's computation step by step.
func verifyUnusual(pub, msg, sig []byte) bool {
	var a, r edwards25519.Point
	if _, err := a.SetBytes(pub); err != nil {
		return false
	}
	if _, err := r.SetBytes(sig[:32]); err != nil {
		return false
	}
	var s edwards25519.Scalar
	if _, err := s.SetCanonicalBytes(sig[32:]); err != nil {
		return false
	}
	identity := edwards25519.NewIdentityPoint()
	h := sha512.New()
	if a.Equal(identity) == 0 && r.Equal(identity) == 0 {
		h.Write(r.Bytes())
		h.Write(a.Bytes())
		h.Write(msg)
	}
	var digest [64]byte
	k, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(digest[:0]))
	if err != nil {
		return false
	}
	// [S]B − [k]A − R, times the cofactor.
	minusA := new(edwards25519.Point).Negate(&a)
	p := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, minusA, &s)
	p.Subtract(p, &r)
	p.MultByCofactor(p)
	return p.Equal(identity) == 1
}

// canonicalS reports whether s, the second half of a signature, encodes a
// scalar below the group order L. Verification rejects any other S, so such
// signatures can be failed without curve arithmetic.
func canonicalS(s []byte) bool {
	var sc edwards25519.Scalar
	_, err := sc.SetCanonicalBytes(s)
	return err == nil
}
