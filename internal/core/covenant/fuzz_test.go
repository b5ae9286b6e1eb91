package covenant

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseDocument: Parse never panics and fails only with *ParseError; an
// accepted document verifies without panicking, and MarshalJSON followed by
// Parse gives the same ID, the same canonical form, the same serialisation
// and the same verification result.
func FuzzParseDocument(f *testing.F) {
	c := loadCorpus(f)
	seeds := 0
	for _, e := range c.manifest {
		f.Add(c.raw[e.File])
		seeds++
	}
	for _, e := range c.tampered {
		data, err := os.ReadFile(filepath.Join(c.dir, "tampered", e.File))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		seeds++
	}
	if seeds < 76 {
		f.Fatalf("loaded %d seeds, want 76", seeds)
	}
	f.Add([]byte(validJSON))
	v := mustVerifier(f, WithClock(fixedClock(c.generatedAt)))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrMalformedDocument) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			return
		}
		if got, want := documentSize(d.Object(), len(d.CanonicalForm())), d.Size(); got != want {
			t.Fatalf("documentSize %d, JSONSize %d", got, want)
		}
		r := v.Verify(d)
		if len(r.Checks) != 11 {
			t.Fatalf("%d checks", len(r.Checks))
		}
		out, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > MaxDocumentSize {
			return // number spellings can grow (1e2 → 100); Parse would refuse
		}
		d2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(MarshalJSON(doc)): %v\n%s", err, out)
		}
		if d2.ID() != d.ID() || d2.ComputeID() != d.ComputeID() || !bytes.Equal(d2.CanonicalForm(), d.CanonicalForm()) {
			t.Fatalf("round trip changed the ID or canonical form:\n%s\n%s", d.CanonicalForm(), d2.CanonicalForm())
		}
		if out2, _ := d2.MarshalJSON(); !bytes.Equal(out, out2) {
			t.Fatalf("MarshalJSON not stable:\n%s\n%s", out, out2)
		}
		if diff := cmp.Diff(r, v.Verify(d2), ignoreDocument); diff != "" {
			t.Fatalf("verification changed by round trip:\n%s", diff)
		}
	})
}
