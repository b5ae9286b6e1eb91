package canon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stele-go/stele/internal/testutil/vectors"
)

// corpusFiles returns the paths of the reference corpus documents
// (reference-corpus/N.json), in numeric order.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectors.Dir(t), "reference-corpus", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, f := range files {
		base := filepath.Base(f)
		if _, ok := arrayIndex(base[:len(base)-len(".json")]); ok {
			docs = append(docs, f)
		}
	}
	sort.Slice(docs, func(i, j int) bool {
		a, _ := arrayIndex(filepath.Base(docs[i])[:len(filepath.Base(docs[i]))-5])
		b, _ := arrayIndex(filepath.Base(docs[j])[:len(filepath.Base(docs[j]))-5])
		return a < b
	})
	if len(docs) < 60 {
		t.Fatalf("found %d corpus documents in %s, want 60", len(docs), vectors.Dir(t))
	}
	return docs
}

// TestCryptoCanonicalVectors runs every jcs-canonicalize-* vector of the
// crypto category of canonical-vectors.json.
func TestCryptoCanonicalVectors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(vectors.Dir(t), "canonical-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors struct {
			Crypto []struct {
				Name  string `json:"name"`
				Input struct {
					Object json.RawMessage `json:"object"`
				} `json:"input"`
				Expected struct {
					Canonical string `json:"canonical"`
				} `json:"expected"`
			} `json:"crypto"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range file.Vectors.Crypto {
		if len(v.Name) < len("jcs-canonicalize-") || v.Name[:len("jcs-canonicalize-")] != "jcs-canonicalize-" {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			val, err := Parse(v.Input.Object)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := string(Canonical(val)); got != v.Expected.Canonical {
				t.Errorf("Canonical = %s, want %s", got, v.Expected.Canonical)
			}
		})
	}
	if n != 5 {
		t.Fatalf("ran %d jcs-canonicalize vectors, want 5", n)
	}
}

// TestCorpusRoundTrip parses every document of the reference corpus and
// checks that its canonical form is stable (canonical -> parse -> canonical),
// that its compact JSON re-parses to the same canonical form, and that
// JSONSize agrees with AppendJSON.
func TestCorpusRoundTrip(t *testing.T) {
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			v, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if _, ok := v.(*Object); !ok {
				t.Fatalf("document is %T, want *Object", v)
			}
			c1 := Canonical(v)
			v2, err := Parse(c1)
			if err != nil {
				t.Fatalf("Parse(canonical): %v", err)
			}
			if c2 := Canonical(v2); string(c2) != string(c1) {
				t.Fatalf("canonical form not stable:\n%s\n%s", c1, c2)
			}
			j := AppendJSON(nil, v)
			if JSONSize(v) != len(j) {
				t.Errorf("JSONSize = %d, len(AppendJSON) = %d", JSONSize(v), len(j))
			}
			v3, err := Parse(j)
			if err != nil {
				t.Fatalf("Parse(AppendJSON): %v", err)
			}
			if c3 := Canonical(v3); string(c3) != string(c1) {
				t.Fatalf("AppendJSON changed the canonical form:\n%s\n%s", c1, c3)
			}
			v4, err := Parse(AppendIndent(nil, v))
			if err != nil {
				t.Fatalf("Parse(AppendIndent): %v", err)
			}
			if c4 := Canonical(v4); string(c4) != string(c1) {
				t.Fatalf("AppendIndent changed the canonical form:\n%s\n%s", c1, c4)
			}
		})
	}
}
