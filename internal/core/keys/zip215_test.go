package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
)

// These tests build, with filippo.io/edwards25519, the signatures on which
// ZIP-215 (the reference's rule) differs from RFC 8032 as implemented by
// crypto/ed25519, and check that Verify decides as ZIP-215 does.

// order8Hex encodes a point of order 8.
const order8Hex = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"

func mustPoint(t testing.TB, enc []byte) *edwards25519.Point {
	t.Helper()
	p, err := new(edwards25519.Point).SetBytes(enc)
	if err != nil {
		t.Fatalf("decode point %x: %v", enc, err)
	}
	return p
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// smallOrderPoints returns the canonical encodings of the eight points of
// order dividing 8, as multiples of a point of order 8.
func smallOrderPoints(t testing.TB) [][]byte {
	t.Helper()
	t8 := mustPoint(t, mustHex(t, order8Hex))
	var out [][]byte
	acc := edwards25519.NewIdentityPoint()
	for range 8 {
		out = append(out, acc.Bytes())
		acc = new(edwards25519.Point).Add(acc, t8)
	}
	if acc.Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("8·T is not the identity")
	}
	return out
}

// secretScalar is the RFC 8032 signing scalar a of seed.
func secretScalar(t testing.TB, seed []byte) *edwards25519.Scalar {
	t.Helper()
	h := sha512.Sum512(seed)
	a, err := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// challenge is k = SHA-512(R || A || msg) mod L.
func challenge(t testing.TB, rEnc, aEnc, msg []byte) *edwards25519.Scalar {
	t.Helper()
	h := sha512.New()
	h.Write(rEnc)
	h.Write(aEnc)
	h.Write(msg)
	k, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// forge returns the signature (rEnc, r + k·a) over msg for the public key
// encoding aEnc, where rEnc may be any encoding, k is computed over the bytes
// as given and a is the signing scalar.
func forge(t testing.TB, aEnc, rEnc []byte, r, a *edwards25519.Scalar, msg []byte) []byte {
	t.Helper()
	k := challenge(t, rEnc, aEnc, msg)
	s := new(edwards25519.Scalar).MultiplyAdd(k, a, r)
	return append(bytes.Clone(rEnc), s.Bytes()...)
}

func randomScalar(t testing.TB, seed byte) *edwards25519.Scalar {
	t.Helper()
	var wide [64]byte
	wide[0] = seed
	h := sha512.Sum512(wide[:])
	r, err := new(edwards25519.Scalar).SetUniformBytes(h[:])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestZIP215SmallOrderPublicKeys(t *testing.T) {
	// For a small-order A, R = identity and S = 0 satisfy the cofactored
	// equation: [8](0·B − O − k·A) = O whatever k is.
	identity := edwards25519.NewIdentityPoint().Bytes()
	sig := append(bytes.Clone(identity), make([]byte, 32)...)
	pts := smallOrderPoints(t)
	distinct := map[string]bool{}
	goRejects := 0
	for _, a := range pts {
		distinct[string(a)] = true
		for _, msg := range []string{"", "Zcash", "stele"} {
			if !Verify(a, []byte(msg), sig) {
				t.Errorf("small-order key %x, message %q: rejected, ZIP-215 accepts", a, msg)
			}
			if !ed25519.Verify(a, []byte(msg), sig) {
				goRejects++
			}
		}
	}
	if len(distinct) != 8 {
		t.Fatalf("%d distinct small-order encodings, want 8", len(distinct))
	}
	if goRejects == 0 {
		t.Error("crypto/ed25519 accepted every small-order case; the test no longer shows a difference")
	}
}

func TestZIP215NonCanonicalPublicKeys(t *testing.T) {
	// Encodings with y ≥ p (y = p and y = p+1 reduce to the order-4 point and
	// the identity) and the identity with the sign bit set (x = 0, "−0").
	encs := []string{
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, sign set
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+1
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p+1, sign set
		"0100000000000000000000000000000000000000000000000000000000000080", // identity, sign set
	}
	identity := edwards25519.NewIdentityPoint().Bytes()
	sig := append(bytes.Clone(identity), make([]byte, 32)...)
	for _, e := range encs {
		a := mustHex(t, e)
		p := mustPoint(t, a)
		if bytes.Equal(p.Bytes(), a) {
			t.Fatalf("%s is canonical; the case tests nothing", e)
		}
		if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 {
			t.Fatalf("%s is not of small order", e)
		}
		if !Verify(a, []byte("msg"), sig) {
			t.Errorf("non-canonical key %s rejected, ZIP-215 accepts", e)
		}
		if !VerifyHex(e, []byte("msg"), hex.EncodeToString(sig)) {
			t.Errorf("VerifyHex: non-canonical key %s rejected", e)
		}
	}
}

func TestZIP215NonCanonicalR(t *testing.T) {
	seed := seedN(1)
	k, err := NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	a := secretScalar(t, seed)
	pub := k.Public().Bytes()
	zero := edwards25519.NewScalar()
	msg := []byte("non-canonical R")

	// R = O written canonically: both rules accept S = k·a.
	canonR := edwards25519.NewIdentityPoint().Bytes()
	sig := forge(t, pub, canonR, zero, a, msg)
	if !Verify(pub, msg, sig) || !ed25519.Verify(pub, msg, sig) {
		t.Fatalf("control: canonical identity R: ours %v, crypto/ed25519 %v; both should accept",
			Verify(pub, msg, sig), ed25519.Verify(pub, msg, sig))
	}

	// R = O written as y = p+1: ZIP-215 accepts; crypto/ed25519 compares R
	// bytewise with the canonical encoding of [S]B − [k]A and rejects.
	nonCanonR := mustHex(t, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	if mustPoint(t, nonCanonR).Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("y = p+1 does not decode to the identity")
	}
	sig = forge(t, pub, nonCanonR, zero, a, msg)
	if !Verify(pub, msg, sig) {
		t.Error("non-canonical R rejected, ZIP-215 accepts")
	}
	if ed25519.Verify(pub, msg, sig) {
		t.Error("crypto/ed25519 accepted a non-canonical R; expected it to reject")
	}
	if !VerifyHex(k.PublicHex(), msg, EncodeHex(sig)) {
		t.Error("VerifyHex rejected the non-canonical R")
	}
}

func TestZIP215TorsionComponents(t *testing.T) {
	seed := seedN(2)
	k, err := NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	a := secretScalar(t, seed)
	pub := k.Public().Bytes()
	t8 := mustPoint(t, mustHex(t, order8Hex))

	t.Run("R with torsion", func(t *testing.T) {
		// R = [r]B + T: [S]B − R − [k]A = −T, which the cofactor clears.
		r := randomScalar(t, 1)
		rPt := new(edwards25519.Point).ScalarBaseMult(r)
		rPt.Add(rPt, t8)
		msg := []byte("torsion in R")
		sig := forge(t, pub, rPt.Bytes(), r, a, msg)
		if !Verify(pub, msg, sig) {
			t.Error("R with a torsion component rejected, ZIP-215 accepts")
		}
		if ed25519.Verify(pub, msg, sig) {
			t.Error("crypto/ed25519 (cofactorless) accepted R with a torsion component")
		}
	})

	t.Run("A with torsion", func(t *testing.T) {
		// A' = A + T, R = [r]B: [S]B − R − [k]A' = −[k]T, cleared by the
		// cofactor. crypto/ed25519 rejects unless [k]T = O; pick a message
		// for which it is not.
		aPt := mustPoint(t, pub)
		mixed := new(edwards25519.Point).Add(aPt, t8).Bytes()
		r := randomScalar(t, 2)
		rEnc := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
		tested := 0
		for i := range 16 {
			msg := []byte{'m', byte(i)}
			kk := challenge(t, rEnc, mixed, msg)
			kT := new(edwards25519.Point).ScalarMult(kk, t8)
			sig := forge(t, mixed, rEnc, r, a, msg)
			if !Verify(mixed, msg, sig) {
				t.Errorf("message %q: mixed-order key rejected, ZIP-215 accepts", msg)
			}
			if kT.Equal(edwards25519.NewIdentityPoint()) == 1 {
				continue
			}
			tested++
			if ed25519.Verify(mixed, msg, sig) {
				t.Errorf("message %q: crypto/ed25519 accepted a mixed-order key with [k]T ≠ O", msg)
			}
		}
		if tested == 0 {
			t.Fatal("no message gave [k]T ≠ O")
		}
	})
}

func TestZIP215RejectsNonCanonicalS(t *testing.T) {
	k, err := NewPrivateKey(seedN(3))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("S ≥ L")
	sig := k.Sign(msg)
	pub := k.Public().Bytes()
	if !Verify(pub, msg, sig) {
		t.Fatal("control signature rejected")
	}

	// S + L satisfies the equation modulo L, but ZIP-215 requires S < L.
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	s := new(big.Int).SetBytes(reversed(sig[32:]))
	sPlusL := reversed(new(big.Int).Add(s, l).FillBytes(make([]byte, 32)))
	bad := append(bytes.Clone(sig[:32]), sPlusL...)
	if bad[63]&0xe0 != 0 {
		t.Fatal("S+L sets the top three bits; pick another message")
	}
	if Verify(pub, msg, bad) {
		t.Error("S + L accepted, ZIP-215 rejects")
	}
	if ed25519.Verify(pub, msg, bad) {
		t.Error("crypto/ed25519 accepted S + L")
	}
	// S = L exactly, and S with the top bit set.
	lBytes := reversed(l.FillBytes(make([]byte, 32)))
	if Verify(pub, msg, append(bytes.Clone(sig[:32]), lBytes...)) {
		t.Error("S = L accepted")
	}
	high := bytes.Clone(sig)
	high[63] |= 0x80
	if Verify(pub, msg, high) {
		t.Error("S with the top bit set accepted")
	}
	if canonicalS(lBytes) || canonicalS(sPlusL) || !canonicalS(sig[32:]) {
		t.Error("canonicalS disagrees with the group order")
	}
}

func reversed(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

func TestVerifyMalformedInput(t *testing.T) {
	k, err := NewPrivateKey(seedN(1))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello world")
	sig := k.Sign(msg)
	pub := k.Public().Bytes()
	pubHex, sigHex := k.PublicHex(), EncodeHex(sig)

	// A 32-byte string that is not a curve point.
	var offCurve []byte
	for y := byte(2); y < 255; y++ {
		cand := make([]byte, 32)
		cand[0] = y
		if _, err := new(edwards25519.Point).SetBytes(cand); err != nil {
			offCurve = cand
			break
		}
	}
	if offCurve == nil {
		t.Fatal("found no off-curve encoding")
	}

	for _, tc := range []struct {
		name          string
		pub, msg, sig []byte
	}{
		{"nil everything", nil, nil, nil},
		{"short key", pub[:31], msg, sig},
		{"long key", append(bytes.Clone(pub), 0), msg, sig},
		{"short signature", pub, msg, sig[:63]},
		{"long signature", pub, msg, append(bytes.Clone(sig), 0)},
		{"key off the curve", offCurve, msg, sig},
		{"R off the curve", pub, msg, append(bytes.Clone(offCurve), sig[32:]...)},
		{"zero signature", pub, msg, make([]byte, 64)},
	} {
		if Verify(tc.pub, tc.msg, tc.sig) {
			t.Errorf("%s: accepted", tc.name)
		}
	}

	for _, tc := range []struct{ name, pub, sig string }{
		{"empty", "", ""},
		{"odd key", pubHex[:63], sigHex},
		{"odd signature", pubHex, sigHex[:127]},
		{"short key", pubHex[:62], sigHex},
		{"short signature", pubHex, sigHex[:126]},
		{"non-hex key", "zz" + pubHex[2:], sigHex},
		{"non-hex signature", pubHex, sigHex[:126] + "g0"},
		{"space in key", " " + pubHex[1:], sigHex},
		{"0x prefix", "0x" + pubHex[2:], sigHex},
		{"long key", pubHex + "00", sigHex},
		{"key of another seed", "7422b9887598068e32c4448a949adb290d0f4e35b9e01b0ee5f1a1e600fe2674", sigHex},
	} {
		if VerifyHex(tc.pub, msg, tc.sig) {
			t.Errorf("VerifyHex %s: accepted", tc.name)
		}
	}
	if !VerifyHex(pubHex, msg, sigHex) {
		t.Error("control: valid hex signature rejected")
	}
}
