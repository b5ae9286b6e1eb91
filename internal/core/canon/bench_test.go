package canon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stele-go/stele/internal/testutil/vectors"
)

// benchDocs are reference-corpus documents: 0.json is a small covenant
// (about 1 KB), 14.json a larger one (about 2.3 KB) with metadata, chain
// and countersignatures.
var benchDocs = []string{"0.json", "14.json"}

func loadBenchDoc(b *testing.B, name string) ([]byte, any) {
	b.Helper()
	data, err := os.ReadFile(filepath.Join(vectors.Dir(b), "reference-corpus", name))
	if err != nil {
		b.Fatal(err)
	}
	v, err := Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	return data, v
}

func BenchmarkCanonical(b *testing.B) {
	for _, name := range benchDocs {
		b.Run(name, func(b *testing.B) {
			_, v := loadBenchDoc(b, name)
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(Canonical(v))))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendCanonicalExcept(buf[:0], v.(*Object), "id", "signature", "countersignatures")
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, name := range benchDocs {
		b.Run(name, func(b *testing.B) {
			data, _ := loadBenchDoc(b, name)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	_, v := loadBenchDoc(b, "14.json")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], v)
	}
}

func BenchmarkJSONSize(b *testing.B) {
	_, v := loadBenchDoc(b, "14.json")
	b.ReportAllocs()
	for b.Loop() {
		if JSONSize(v) == 0 {
			b.Fatal("zero size")
		}
	}
}
