package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/testutil/vectors"
)

// corpusManifest reads the reference corpus manifest and GENERATED_AT.
func corpusManifest(t *testing.T) (dir, at string, want map[string]bool) {
	t.Helper()
	dir = vectors.Path(t, "reference-corpus")
	b, err := os.ReadFile(filepath.Join(dir, "GENERATED_AT"))
	if err != nil {
		t.Fatal(err)
	}
	var m []struct {
		File     string `json:"file"`
		ID       string `json:"id"`
		Expected struct {
			Valid bool `json:"valid"`
		} `json:"expected"`
	}
	mb, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	want = map[string]bool{}
	for _, e := range m {
		want[e.ID] = e.Expected.Valid
	}
	return dir, strings.TrimSpace(string(b)), want
}

func TestVerifyCorpusDirectory(t *testing.T) {
	dir, at, want := corpusManifest(t)
	// The directory holds the 60 documents plus keys.json and manifest.json,
	// which are not covenants and must be reported invalid, not crash.
	code, stdout, stderr := runCLI(t, "", "verify", "--at", at, "--json", dir)
	if code != exitInvalid {
		t.Fatalf("code %d (keys.json and manifest.json are not covenants), stderr %s", code, stderr)
	}
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			File   string  `json:"file"`
			ID     *string `json:"id"`
			Valid  bool    `json:"valid"`
			Checks []struct {
				Name    string `json:"name"`
				Passed  bool   `json:"passed"`
				Message string `json:"message"`
			} `json:"checks"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		base := filepath.Base(line.File)
		if base == "keys.json" || base == "manifest.json" {
			if line.Valid || line.ID != nil {
				t.Errorf("%s reported as a valid covenant", base)
			}
			continue
		}
		if line.ID == nil {
			t.Fatalf("%s: no id", line.File)
		}
		exp, ok := want[*line.ID]
		if !ok {
			t.Fatalf("%s: id %s not in manifest", line.File, *line.ID)
		}
		if line.Valid != exp {
			t.Errorf("%s: valid=%v, manifest says %v", line.File, line.Valid, exp)
		}
		if len(line.Checks) != 11 {
			t.Errorf("%s: %d checks, want 11", line.File, len(line.Checks))
		}
		seen++
	}
	if seen != len(want) {
		t.Errorf("verified %d corpus documents, manifest has %d", seen, len(want))
	}
}

func TestBuildVerifyCountersignCanon(t *testing.T) {
	dir := t.TempDir()
	issuerKey := filepath.Join(dir, "issuer.key")
	if code, _, stderr := runCLI(t, "", "keygen", "--out", issuerKey); code != exitOK {
		t.Fatal(stderr)
	}
	code, benPub, stderr := runCLI(t, "", "keygen", "--out", filepath.Join(dir, "ben.key"))
	if code != exitOK {
		t.Fatal(stderr)
	}
	policy := writeFile(t, dir, "p.ccl", "permit read on '/data/**'\n", 0o644)
	build := func(extra ...string) (int, string, string) {
		args := append([]string{"build", "--key", issuerKey, "--issuer-id", "alice", "--beneficiary-id", "bob",
			"--beneficiary-key", strings.TrimSpace(benPub), "--constraints", policy}, extra...)
		return runCLI(t, "", args...)
	}
	code, parentJSON, stderr := build("--expires", "2099-01-01T00:00:00Z", "--metadata", `{"name":"demo","tags":["x"]}`)
	if code != exitOK {
		t.Fatalf("build: code %d: %s", code, stderr)
	}
	parentFile := writeFile(t, dir, "parent.json", parentJSON, 0o644)
	parent, err := covenant.Parse([]byte(parentJSON))
	if err != nil {
		t.Fatal(err)
	}
	if parent.ExpiresAt() != "2099-01-01T00:00:00.000Z" {
		t.Errorf("expiresAt %q", parent.ExpiresAt())
	}
	if r := covenant.Verify(parent); !r.Valid {
		t.Fatalf("built covenant does not verify: %v", r.Failed())
	}

	code, childJSON, stderr := build("--parent", parentFile, "--relation", "restricts")
	if code != exitOK {
		t.Fatalf("build child: %s", stderr)
	}
	child, err := covenant.Parse([]byte(childJSON))
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := child.Chain(); !ok || c.ParentID != parent.ID() || c.Depth != 1 || c.Relation != "restricts" {
		t.Errorf("child chain %+v", c)
	}

	// Countersign, then verify both files; then canon prints form and ID.
	code, csJSON, stderr := runCLI(t, "", "countersign", "--key", filepath.Join(dir, "ben.key"), "--role", "auditor", parentFile)
	if code != exitOK {
		t.Fatalf("countersign: %s", stderr)
	}
	csFile := writeFile(t, dir, "cs.json", csJSON, 0o644)
	code, stdout, stderr := runCLI(t, "", "verify", parentFile, csFile)
	if code != exitOK || strings.Count(stdout, "ok ") != 2 {
		t.Fatalf("verify: code %d out %s err %s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "", "canon", csFile)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitOK || len(lines) != 2 || lines[1] != parent.ID() || lines[0] != string(parent.CanonicalForm()) {
		t.Fatalf("canon: code %d out %q", code, stdout)
	}

	// A tampered document fails with exit 1 and names the failed checks.
	tampered := writeFile(t, dir, "t.json", strings.Replace(csJSON, "/data/**", "/data/*", 1), 0o644)
	code, stdout, _ = runCLI(t, "", "verify", tampered)
	if code != exitInvalid || !strings.Contains(stdout, "id_match") || !strings.Contains(stdout, "signature_valid") {
		t.Errorf("tampered: code %d out %s", code, stdout)
	}
	// Bad CCL is reported with exit 1 and the field; a missing flag with 2.
	bad := writeFile(t, dir, "bad.ccl", "allow read\n", 0o644)
	if code, _, stderr := build("--constraints", bad); code != exitInvalid || !strings.Contains(stderr, "constraints") {
		t.Errorf("bad ccl: code %d stderr %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "", "build", "--key", issuerKey); code != exitUsage || !strings.Contains(stderr, "missing --issuer-id") {
		t.Errorf("missing flag: code %d stderr %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "", "verify", filepath.Join(dir, "nope.json")); code != exitUsage {
		t.Errorf("unreadable file: code %d", code)
	}
}

// TestVerifyDirectoryFollowsLinks: in a directory, links to covenant files
// (as mounted configuration often is) are verified, not skipped, and a
// dangling link is an error rather than a silently missing document.
func TestVerifyDirectoryFollowsLinks(t *testing.T) {
	src, at, want := corpusManifest(t)
	var valid, invalid string
	for _, name := range []string{"0.json", "1.json", "2.json", "3.json", "4.json", "5.json", "6.json", "7.json", "8.json", "9.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := covenant.Parse(b)
		if err != nil {
			continue
		}
		if want[doc.ID()] && valid == "" {
			valid = name
		} else if !want[doc.ID()] && invalid == "" {
			invalid = name
		}
	}
	if valid == "" || invalid == "" {
		t.Fatal("no valid and invalid corpus documents among the first ten")
	}
	dir := t.TempDir()
	abs, err := filepath.Abs(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(abs, valid), filepath.Join(dir, "a.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(abs, invalid), filepath.Join(dir, "b.json")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "", "verify", "--at", at, dir)
	if code != exitInvalid || !strings.Contains(stdout, "ok      "+filepath.Join(dir, "a.json")) ||
		!strings.Contains(stdout, "INVALID "+filepath.Join(dir, "b.json")) {
		t.Errorf("linked documents: code %d stdout %q stderr %q, want a.json ok and b.json invalid", code, stdout, stderr)
	}
	// RFC 3339 (section 5.6) allows "t" and "z" in lower case.
	code, stdout, stderr = runCLI(t, "", "verify", "--at", strings.ToLower(at), dir)
	if code != exitInvalid || !strings.Contains(stdout, "ok      "+filepath.Join(dir, "a.json")) {
		t.Errorf("--at %s: code %d stdout %q stderr %q, want a.json ok", strings.ToLower(at), code, stdout, stderr)
	}
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "c.json")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "", "verify", "--at", at, dir)
	if code != exitUsage || !strings.Contains(stderr, "c.json") {
		t.Errorf("dangling link: code %d stderr %q, want exit 2 naming c.json", code, stderr)
	}
}
