// Package vectors locates the reference implementation's conformance data for
// tests: ../shared/vectors beside the module root when it is there (the
// authoritative copy), else the module's own copy in testdata/vectors.
package vectors

import (
	"os"
	"path/filepath"
	"testing"
)

// ModuleRoot returns the directory that holds go.mod, walking up from the
// working directory of the test.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("vectors: module root (go.mod) not found above the working directory")
		}
		dir = parent
	}
}

// Dir returns the conformance data directory. It fails the test when neither
// copy exists.
func Dir(t testing.TB) string {
	t.Helper()
	root := ModuleRoot(t)
	for _, d := range []string{
		filepath.Join(root, "..", "shared", "vectors"),
		filepath.Join(root, "testdata", "vectors"),
	} {
		if _, err := os.Stat(filepath.Join(d, "reference-corpus", "manifest.json")); err == nil {
			return d
		}
	}
	t.Fatalf("vectors: no conformance data in ../shared/vectors or testdata/vectors under %s", root)
	return ""
}

// Path returns the path of a file inside the conformance data directory.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Dir(t)}, elem...)...)
}
