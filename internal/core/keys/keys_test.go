package keys

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// seedN returns the 32-byte seed 00…0n used by the reference's vectors.
func seedN(n byte) []byte {
	s := make([]byte, SeedSize)
	s[31] = n
	return s
}

func TestKnownKeyPairs(t *testing.T) {
	for _, tc := range []struct {
		seed byte
		pub  string
	}{
		{1, "4cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29"},
		{2, "7422b9887598068e32c4448a949adb290d0f4e35b9e01b0ee5f1a1e600fe2674"},
		{3, "f381626e41e7027ea431bfe3009e94bdd25a746beec468948d6c3c7c5dc9a54b"},
	} {
		k, err := NewPrivateKey(seedN(tc.seed))
		if err != nil {
			t.Fatal(err)
		}
		if got := k.PublicHex(); got != tc.pub {
			t.Errorf("seed %d: public key %s, want %s", tc.seed, got, tc.pub)
		}
		p, err := ParsePublicKeyHex(strings.ToUpper(tc.pub))
		if err != nil {
			t.Fatal(err)
		}
		if p != k.Public() {
			t.Errorf("seed %d: ParsePublicKeyHex(upper) = %s, want %s", tc.seed, p, k.Public())
		}
	}
}

func TestSignHelloWorld(t *testing.T) {
	// PROTOCOL.md §2.3.
	const want = "c26fb737a5b0fbab343d9ac8d804f836f5426fec854416025a891cd245a398c2" +
		"fb8539757e44af9789b6b0f80e19aa0ae07709580af17ebb794595362566c705"
	k, err := NewPrivateKey(seedN(1))
	if err != nil {
		t.Fatal(err)
	}
	sig := k.Sign([]byte("hello world"))
	if got := EncodeHex(sig); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if !Verify(k.Public().Bytes(), []byte("hello world"), sig) {
		t.Error("own signature does not verify")
	}
	if Verify(k.Public().Bytes(), []byte("hello world!"), sig) {
		t.Error("signature verifies for another message")
	}
	// Signing is stable across calls (the cached expanded key is not altered).
	if !bytes.Equal(k.Sign([]byte("hello world")), sig) {
		t.Error("second signature differs")
	}
}

func TestNewPrivateKeyForms(t *testing.T) {
	seed := seedN(7)
	goKey := ed25519.NewKeyFromSeed(seed)

	fromSeed, err := NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	fromGo, err := NewPrivateKey(goKey)
	if err != nil {
		t.Fatal(err)
	}
	if fromSeed.Public() != fromGo.Public() || !bytes.Equal(fromSeed.Seed(), fromGo.Seed()) {
		t.Error("seed and seed||pub forms give different keys")
	}
	if !bytes.Equal(fromGo.Seed(), seed) {
		t.Errorf("Seed() = %x, want %x", fromGo.Seed(), seed)
	}
	msg := []byte("m")
	if !bytes.Equal(fromSeed.Sign(msg), ed25519.Sign(goKey, msg)) {
		t.Error("Sign differs from crypto/ed25519.Sign")
	}

	// The input is copied, and Seed returns a copy.
	seed[0] ^= 1
	if bytes.Equal(fromSeed.Seed(), seed) {
		t.Error("key aliases the caller's seed")
	}
	s := fromSeed.Seed()
	s[0] ^= 1
	if bytes.Equal(fromSeed.Seed(), s) {
		t.Error("Seed() aliases the key's storage")
	}

	bad := bytes.Clone(goKey)
	bad[63] ^= 1
	if _, err := NewPrivateKey(bad); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("mismatched public half: err = %v, want ErrKeyMismatch", err)
	}
	for _, n := range []int{0, 31, 33, 63, 65} {
		if _, err := NewPrivateKey(make([]byte, n)); !errors.Is(err, ErrKeySize) {
			t.Errorf("%d bytes: err = %v, want ErrKeySize", n, err)
		}
	}
}

func TestParsePrivateKeyHex(t *testing.T) {
	seedHex := strings.Repeat("0", 63) + "1"
	want := "4cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29"
	for _, s := range []string{seedHex, seedHex + want, strings.ToUpper(seedHex + want)} {
		k, err := ParsePrivateKeyHex(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if k.PublicHex() != want {
			t.Errorf("%q: public %s, want %s", s, k.PublicHex(), want)
		}
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrKeySize},
		{"abc", ErrInvalidHex},
		{strings.Repeat("0", 63) + "g", ErrInvalidHex},
		{strings.Repeat("0", 62), ErrKeySize},
		{seedHex + strings.Repeat("0", 64), ErrKeyMismatch},
	} {
		if _, err := ParsePrivateKeyHex(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("ParsePrivateKeyHex(%q): err = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestParsePublicKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{strings.Repeat("ab", 31), ErrKeySize},
		{strings.Repeat("ab", 33), ErrKeySize},
		{strings.Repeat("a", 63), ErrInvalidHex},
		{strings.Repeat("ab", 31) + "zz", ErrInvalidHex},
		{strings.Repeat("ab", 31) + " a", ErrInvalidHex},
	} {
		if _, err := ParsePublicKeyHex(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("ParsePublicKeyHex(%q): err = %v, want %v", tc.in, err, tc.want)
		}
	}
	if _, err := ParsePublicKey(make([]byte, 31)); !errors.Is(err, ErrKeySize) {
		t.Errorf("ParsePublicKey(31 bytes): err = %v, want ErrKeySize", err)
	}
	b := bytes.Repeat([]byte{0xa5}, 32)
	p, err := ParsePublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Hex() != strings.Repeat("a5", 32) || p.String() != p.Hex() {
		t.Errorf("Hex() = %s", p.Hex())
	}
}

func TestPrivateKeyNeverPrintsSeed(t *testing.T) {
	k, err := NewPrivateKey(bytes.Repeat([]byte{0xee}, 32))
	if err != nil {
		t.Fatal(err)
	}
	seedHex := EncodeHex(k.Seed())
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "k", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %s", k, k, k), logged.String()} {
		if strings.Contains(s, seedHex) {
			t.Errorf("output contains the seed: %s", s)
		}
		if !strings.Contains(s, k.PublicHex()) {
			t.Errorf("output lacks the public key: %s", s)
		}
	}
	// Every verb prints String: %#v and %d printed the fields, seed and
	// private key bytes included.
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%o", "%10v"} {
		if got := fmt.Sprintf(verb, k); got != k.String() {
			t.Errorf("Sprintf(%q, key) = %s, want %s", verb, got, k.String())
		}
	}
}

func TestGenerate(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if a.Public() == b.Public() {
		t.Error("two generated keys are equal")
	}
	again, err := NewPrivateKey(a.Seed())
	if err != nil {
		t.Fatal(err)
	}
	if again.Public() != a.Public() {
		t.Error("key rebuilt from its seed has another public key")
	}
	if !a.Public().Verify([]byte("x"), a.Sign([]byte("x"))) {
		t.Error("generated key's signature does not verify")
	}
}

func TestHex(t *testing.T) {
	if got := EncodeHex([]byte{0xff, 0x00, 0xAB}); got != "ff00ab" {
		t.Errorf("EncodeHex = %q", got)
	}
	for _, tc := range []struct {
		in   string
		want []byte
	}{
		{"", []byte{}},
		{"ff00", []byte{0xff, 0x00}},
		{"FF00aB", []byte{0xff, 0x00, 0xab}},
	} {
		got, err := DecodeHex(tc.in)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("DecodeHex(%q) = %x, %v; want %x", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"f", "abc", "0g", "zz", " 0", "0 ", "ab\n", "0x00", "éé", "+1"} {
		if got, err := DecodeHex(in); !errors.Is(err, ErrInvalidHex) {
			t.Errorf("DecodeHex(%q) = %x, %v; want ErrInvalidHex", in, got, err)
		}
	}
}

func TestSHA256Hex(t *testing.T) {
	// PROTOCOL.md §1.8: hash of the canonical example.
	const canon = `{"9":0,"10":0,"Z":1e+21,"_":0.000001,"a":{"y":[3,"x",true,{"c":2,"d":1}],"z":null},` +
		`"aa":1e-7,"b":1,"big":12345678901234567000,"e":2.5,"s":"<a href=\"x\">&amp;\t\u0001😀\ud800"}`
	const want = "e01009b6a60f1b586ccb074680819987912dc036485a876896d63621d2b4d5cb"
	if got := SHA256Hex([]byte(canon)); got != want {
		t.Errorf("SHA256Hex = %s, want %s", got, want)
	}
	sum := SHA256([]byte(canon))
	if EncodeHex(sum[:]) != want {
		t.Errorf("SHA256 = %x", sum)
	}
}

func TestConstantTimeEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"ab", "abc", false},
		{"ABC", "abc", false},
	} {
		if got := ConstantTimeEqual([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("ConstantTimeEqual(%q, %q) = %v", tc.a, tc.b, got)
		}
		if got := ConstantTimeEqualString(tc.a, tc.b); got != tc.want {
			t.Errorf("ConstantTimeEqualString(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestNonceAndRandomID(t *testing.T) {
	seen := map[string]bool{}
	for range 16 {
		n, err := Nonce()
		if err != nil {
			t.Fatal(err)
		}
		if len(n) != 64 || strings.ToLower(n) != n {
			t.Fatalf("Nonce() = %q, want 64 lowercase hex digits", n)
		}
		if _, err := DecodeHex(n); err != nil {
			t.Fatal(err)
		}
		if seen[n] {
			t.Fatalf("nonce %s repeated", n)
		}
		seen[n] = true
	}
	for _, n := range []int{0, 1, 16, 32} {
		id, err := RandomID(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 2*n {
			t.Errorf("RandomID(%d) has %d digits", n, len(id))
		}
		if _, err := DecodeHex(id); err != nil {
			t.Errorf("RandomID(%d) = %q: %v", n, id, err)
		}
	}
	for _, n := range []int{-1, MaxRandomIDBytes + 1} {
		if _, err := RandomID(n); !errors.Is(err, ErrRandom) {
			t.Errorf("RandomID(%d): err = %v, want ErrRandom", n, err)
		}
	}
}
