// Package corpus loads the reference conformance corpus for the pipeline's
// tests: the 60 covenants signed by the TypeScript reference and the 16
// tampered copies, each with the verdict the reference gives at the corpus's
// GENERATED_AT instant.
//
// The vectors are read from ../shared/vectors next to the module root when
// present, else from the repository's copy in testdata/vectors.
package corpus

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Doc is one corpus document with the reference's verdict.
type Doc struct {
	Name     string // file name, "tampered/…" for tampered copies
	JSON     []byte
	ID       string // the manifest's ID; "" for tampered copies
	Valid    bool
	Failed   []string // names of the failed checks, in check order
	Tampered bool
}

// ModuleRoot returns the directory holding go.mod, searching up from the
// working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("corpus: module root (go.mod) not found")
		}
		dir = parent
	}
}

// VectorsDir returns the conformance vectors directory.
func VectorsDir() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	for _, d := range []string{filepath.Join(root, "..", "shared", "vectors"), filepath.Join(root, "testdata", "vectors")} {
		if _, err := os.Stat(filepath.Join(d, "reference-corpus", "manifest.json")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("corpus: vectors not found in ../shared/vectors or testdata/vectors")
}

type verdict struct {
	Valid  bool     `json:"valid"`
	Failed []string `json:"failed"`
}

// Load returns the corpus documents (the 60 first, in manifest order, then
// the tampered copies in notes order) and the instant their verdicts hold at.
func Load() ([]Doc, time.Time, error) {
	vd, err := VectorsDir()
	if err != nil {
		return nil, time.Time{}, err
	}
	dir := filepath.Join(vd, "reference-corpus")
	var manifest []struct {
		File     string  `json:"file"`
		ID       string  `json:"id"`
		Expected verdict `json:"expected"`
	}
	if err := readJSON(filepath.Join(dir, "manifest.json"), &manifest); err != nil {
		return nil, time.Time{}, err
	}
	var notes []struct {
		File            string  `json:"file"`
		ReferenceResult verdict `json:"referenceResult"`
	}
	if err := readJSON(filepath.Join(dir, "tampered", "notes.json"), &notes); err != nil {
		return nil, time.Time{}, err
	}
	var docs []Doc
	for _, m := range manifest {
		data, err := os.ReadFile(filepath.Join(dir, m.File))
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("corpus: %w", err)
		}
		docs = append(docs, Doc{Name: m.File, JSON: data, ID: m.ID, Valid: m.Expected.Valid, Failed: m.Expected.Failed})
	}
	for _, n := range notes {
		data, err := os.ReadFile(filepath.Join(dir, "tampered", n.File))
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("corpus: %w", err)
		}
		docs = append(docs, Doc{Name: "tampered/" + n.File, JSON: data, Valid: n.ReferenceResult.Valid,
			Failed: n.ReferenceResult.Failed, Tampered: true})
	}
	raw, err := os.ReadFile(filepath.Join(dir, "GENERATED_AT"))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("corpus: %w", err)
	}
	at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("corpus: GENERATED_AT: %w", err)
	}
	if len(docs) != 76 {
		return nil, time.Time{}, fmt.Errorf("corpus: %d documents, want 60 + 16", len(docs))
	}
	return docs, at, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("corpus: %s: %w", path, err)
	}
	return nil
}

// Compact returns doc's JSON on one line (for NDJSON), keeping every value
// byte for byte: only whitespace between tokens is removed.
func Compact(doc []byte) ([]byte, error) {
	var b strings.Builder
	inString, escaped := false, false
	for _, c := range doc {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		b.WriteByte(c)
	}
	if inString {
		return nil, errors.New("corpus: unterminated string")
	}
	return []byte(b.String()), nil
}
