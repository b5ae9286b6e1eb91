package keys

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vectorFile returns the path of a conformance file: ../shared/vectors/<name>
// next to the module root when present, else the repository's own copy in
// testdata/vectors/<name>.
func vectorFile(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
	for _, p := range []string{
		filepath.Join(dir, "..", "shared", "vectors", name),
		filepath.Join(dir, "testdata", "vectors", name),
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	t.Fatalf("conformance file %s found neither in ../shared/vectors nor in testdata/vectors", name)
	return ""
}

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
	raw, err := os.ReadFile(vectorFile(t, "canonical-vectors.json"))
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
