package keys

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/testutil/vectors"
)

type cryptoVector struct {
	Name  string `json:"name"`
	Input struct {
		Message    string `json:"message"`
		PublicKey  string `json:"publicKey"`
		PrivateKey string `json:"privateKey"`
	} `json:"input"`
	Expected struct {
		Hash      string `json:"hash"`
		Signature string `json:"signature"`
		Valid     *bool  `json:"valid"`
	} `json:"expected"`
}

func TestReferenceCryptoVectors(t *testing.T) {
	raw, err := os.ReadFile(vectors.Path(t, "canonical-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors struct {
			Crypto []cryptoVector `json:"crypto"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	var nHash, nSign int
	for _, v := range file.Vectors.Crypto {
		switch {
		case strings.HasPrefix(v.Name, "sha256-"):
			nHash++
			t.Run(v.Name, func(t *testing.T) {
				if got := SHA256Hex([]byte(v.Input.Message)); got != v.Expected.Hash {
					t.Errorf("SHA256Hex(%q) = %s, want %s", v.Input.Message, got, v.Expected.Hash)
				}
			})
		case strings.HasPrefix(v.Name, "ed25519-sign-"):
			nSign++
			t.Run(v.Name, func(t *testing.T) {
				if v.Expected.Valid == nil {
					t.Fatal("vector lacks expected.valid")
				}
				k, err := ParsePrivateKeyHex(v.Input.PrivateKey)
				if err != nil {
					t.Fatal(err)
				}
				if got := k.PublicHex(); got != v.Input.PublicKey {
					t.Errorf("public key = %s, want %s", got, v.Input.PublicKey)
				}
				msg := []byte(v.Input.Message)
				if got := k.SignHex(msg); got != v.Expected.Signature {
					t.Errorf("signature = %s, want %s", got, v.Expected.Signature)
				}
				if got := VerifyHex(v.Input.PublicKey, msg, v.Expected.Signature); got != *v.Expected.Valid {
					t.Errorf("VerifyHex = %v, want %v", got, *v.Expected.Valid)
				}
				// The uppercase spelling of the same key and signature verifies too.
				if got := VerifyHex(strings.ToUpper(v.Input.PublicKey), msg, strings.ToUpper(v.Expected.Signature)); got != *v.Expected.Valid {
					t.Errorf("VerifyHex(upper case) = %v, want %v", got, *v.Expected.Valid)
				}
			})
		}
	}
	if nHash < 4 || nSign < 3 {
		t.Fatalf("loaded %d sha256 and %d ed25519 vectors, want at least 4 and 3", nHash, nSign)
	}
}
