package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"
)

// These tests build, with filippo.io/edwards25519, the signatures on which
// ZIP-215 differs from RFC 8032 as implemented by crypto/ed25519, and those
// on which the reference's library (@noble/ed25519 2.3.0) differs from
// ZIP-215 as implemented by ed25519consensus, and check that Verify decides
// as the reference does. noble_test.go checks the same against verdicts
// recorded from the library itself.

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

// TestReferenceChallenge covers the two points on which the reference's
// library computes the challenge k differently from ZIP-215: it hashes the
// canonical re-encoding of R (and A), and it hashes nothing at all when R or
// A is the identity.
func TestReferenceChallenge(t *testing.T) {
	seed := seedN(1)
	k, err := NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	a := secretScalar(t, seed)
	pub := k.Public().Bytes()
	msg := []byte("msg")
	emptyDigest := sha512.Sum512(nil)
	kEmpty, err := new(edwards25519.Scalar).SetUniformBytes(emptyDigest[:])
	if err != nil {
		t.Fatal(err)
	}
	// sigWith returns (R, k·a): valid exactly when the verifier's challenge is k.
	sigWith := func(r []byte, k *edwards25519.Scalar) []byte {
		return append(bytes.Clone(r), new(edwards25519.Scalar).Multiply(k, a).Bytes()...)
	}
	identity := edwards25519.NewIdentityPoint().Bytes()
	identityNC := mustHex(t, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f") // y = p+1
	order4NC := mustHex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")   // y = p
	order4 := mustPoint(t, order4NC).Bytes()
	if !bytes.Equal(order4, make([]byte, 32)) || mustPoint(t, identityNC).Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("unexpected decoding of the test encodings")
	}

	for _, tc := range []struct {
		name      string
		sig       []byte
		reference bool // the reference library's verdict (checked against noble 2.3.0)
	}{
		{"R = identity, k over R||A||M", sigWith(identity, challenge(t, identity, pub, msg)), false},
		{"R = identity, k = H(empty)", sigWith(identity, kEmpty), true},
		{"R = identity as y = p+1, k over raw R", sigWith(identityNC, challenge(t, identityNC, pub, msg)), false},
		{"R = identity as y = p+1, k = H(empty)", sigWith(identityNC, kEmpty), true},
		{"R = order 4 as y = p, k over raw R", sigWith(order4NC, challenge(t, order4NC, pub, msg)), false},
		{"R = order 4 as y = p, k over canonical R", sigWith(order4NC, challenge(t, order4, pub, msg)), true},
		{"R = order 4 canonical", sigWith(order4, challenge(t, order4, pub, msg)), true},
	} {
		if got := Verify(pub, msg, tc.sig); got != tc.reference {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.reference)
		}
		b := NewBatchVerifier(1)
		b.Add(pub, msg, tc.sig)
		if got := b.Verify()[0]; got != tc.reference {
			t.Errorf("%s: batch = %v, want %v", tc.name, got, tc.reference)
		}
		// Plain ZIP-215 hashes R as given, so it decides the other way on
		// every case above except the canonical non-identity one.
		zip := ed25519consensus.Verify(pub, msg, tc.sig)
		if tc.name != "R = order 4 canonical" && zip == tc.reference {
			t.Errorf("%s: ed25519consensus agrees with the reference; the case shows nothing", tc.name)
		}
	}

	// crypto/ed25519 rejects a canonical order-4 R that both ZIP-215 and the
	// reference accept (it is cofactorless).
	sig := sigWith(order4, challenge(t, order4, pub, msg))
	if ed25519.Verify(pub, msg, sig) {
		t.Error("crypto/ed25519 accepted R of order 4")
	}
}

func TestOrdinaryEncoding(t *testing.T) {
	// ordinaryEncoding must say, from the bytes alone, whether a decodable
	// encoding is canonical and not the identity.
	var encs [][]byte
	for y := range 40 {
		for _, sign := range []byte{0, 0x80} {
			lo := make([]byte, 32)
			lo[0] = byte(y)
			lo[31] |= sign
			hi := mustHex(t, "d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f") // p − 20
			hi[0] += byte(y)
			hi[31] |= sign
			encs = append(encs, lo, hi)
		}
	}
	encs = append(encs, smallOrderPoints(t)...)
	for i := range 2000 {
		var w [64]byte
		w[0], w[1] = byte(i), byte(i>>8)
		h := sha512.Sum512(w[:])
		encs = append(encs, h[:32])
		sc, _ := new(edwards25519.Scalar).SetUniformBytes(h[:])
		encs = append(encs, new(edwards25519.Point).ScalarBaseMult(sc).Bytes())
	}
	decodable := 0
	for _, enc := range encs {
		p, err := new(edwards25519.Point).SetBytes(enc)
		if err != nil {
			continue
		}
		decodable++
		want := bytes.Equal(p.Bytes(), enc) && p.Equal(edwards25519.NewIdentityPoint()) == 0
		if got := ordinaryEncoding(enc); got != want {
			t.Errorf("ordinaryEncoding(%x) = %v, want %v", enc, got, want)
		}
	}
	if decodable < 2000 {
		t.Fatalf("only %d decodable encodings tested", decodable)
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
