package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeHex checks DecodeHex against the reference's fromHex rule: even
// length and only [0-9a-fA-F], decoding as encoding/hex does.
func FuzzDecodeHex(f *testing.F) {
	for _, s := range []string{"", "00", "fF", "abc", "0g", "é0", "ABCDEF0123456789", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := DecodeHex(s)
		valid := len(s)%2 == 0 && strings.Trim(s, "0123456789abcdefABCDEF") == ""
		if valid != (err == nil) {
			t.Fatalf("DecodeHex(%q) error %v, want valid=%v", s, err, valid)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidHex) {
				t.Fatalf("DecodeHex(%q) error %v does not wrap ErrInvalidHex", s, err)
			}
			return
		}
		want, _ := hex.DecodeString(s)
		if !bytes.Equal(got, want) {
			t.Fatalf("DecodeHex(%q) = %x, want %x", s, got, want)
		}
		if EncodeHex(got) != strings.ToLower(s) {
			t.Fatalf("EncodeHex(DecodeHex(%q)) = %q", s, EncodeHex(got))
		}
	})
}

// FuzzVerify feeds arbitrary bytes to Verify, VerifyHex and a BatchVerifier:
// none may panic and all must agree.
func FuzzVerify(f *testing.F) {
	k, err := NewPrivateKey(seedN(1))
	if err != nil {
		f.Fatal(err)
	}
	msg := []byte("hello world")
	f.Add(k.Public().Bytes(), msg, k.Sign(msg))
	f.Add([]byte{1}, []byte{}, []byte{2})
	f.Add(make([]byte, 32), []byte("x"), make([]byte, 64))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		want := Verify(pub, msg, sig)
		if got := VerifyHex(EncodeHex(pub), msg, EncodeHex(sig)); got != want {
			t.Fatalf("VerifyHex = %v, Verify = %v", got, want)
		}
		b := NewBatchVerifier(1)
		b.Add(pub, msg, sig)
		if got := b.Verify(); got[0] != want {
			t.Fatalf("batch = %v, Verify = %v", got[0], want)
		}
	})
}
