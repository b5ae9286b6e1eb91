package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns its exit code and streams.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	code := run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUnknownCommand(t *testing.T) {
	code, _, stderr := runCLI(t, "", "frobnicate")
	if code != exitUsage || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, ""); code != exitUsage {
		t.Fatalf("no args: code %d, want %d", code, exitUsage)
	}
}

// TestHelpCommand: "stele help CMD" prints CMD's flags, as "stele CMD -h"
// does (it printed the general usage).
func TestHelpCommand(t *testing.T) {
	code, _, stderr := runCLI(t, "", "help", "verify")
	if code != exitOK || !strings.Contains(stderr, "usage: stele verify") || !strings.Contains(stderr, "-at") {
		t.Errorf("help verify: code %d stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "", "help", "frobnicate")
	if code != exitUsage || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("help frobnicate: code %d stderr %q", code, stderr)
	}
	if code, _, stderr = runCLI(t, "", "help"); code != exitOK || !strings.Contains(stderr, "commands:") {
		t.Errorf("help: code %d stderr %q", code, stderr)
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.key")
	code, stdout, stderr := runCLI(t, "", "keygen", "--out", path)
	if code != exitOK {
		t.Fatalf("keygen: code %d: %s", code, stderr)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	k, err := loadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(stdout); got != k.PublicHex() {
		t.Errorf("printed %q, key file's public key %q", got, k.PublicHex())
	}
	// A second keygen must not overwrite the key.
	code, _, stderr = runCLI(t, "", "keygen", "--out", path)
	if code != exitUsage || !strings.Contains(stderr, "hint:") {
		t.Errorf("overwrite: code %d stderr %q", code, stderr)
	}
	k2, err := loadKey(path)
	if err != nil || k2.PublicHex() != k.PublicHex() {
		t.Errorf("key file changed after refused overwrite")
	}
}

func TestLoadKeyRefusesReadableFile(t *testing.T) {
	dir := t.TempDir()
	seed := strings.Repeat("00", 31) + "01"
	p := writeFile(t, dir, "open.key", seed+"\n", 0o644)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKey(p); err == nil {
		t.Fatal("loadKey accepted a world-readable key file")
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := loadKey(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = "4cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29"
	if k.PublicHex() != want {
		t.Errorf("public key %s, want %s", k.PublicHex(), want)
	}
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "p.ccl", "permit read on '/data/**' when role = 'admin'\nlimit api.call 10 per 1 minutes\n", 0o644)
	code, stdout, stderr := runCLI(t, "", "parse", p)
	if code != exitOK {
		t.Fatalf("parse: code %d: %s", code, stderr)
	}
	var stmts []map[string]any
	if err := json.Unmarshal([]byte(stdout), &stmts); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if len(stmts) != 2 || stmts[0]["type"] != "permit" || stmts[1]["periodSeconds"] != 60.0 {
		t.Fatalf("unexpected statements: %s", stdout)
	}
	cond, _ := stmts[0]["condition"].(map[string]any)
	if cond["field"] != "role" || cond["value"] != "admin" {
		t.Errorf("condition %v", cond)
	}

	bad := writeFile(t, dir, "bad.ccl", "permit file-read on \"/data/**\"\n", 0o644)
	code, _, stderr = runCLI(t, "", "parse", bad)
	if code != exitInvalid || !strings.Contains(stderr, "bad.ccl:1:13:") {
		t.Errorf("bad CCL: code %d stderr %q", code, stderr)
	}
	code, _, _ = runCLI(t, "", "parse", filepath.Join(dir, "missing.ccl"))
	if code != exitUsage {
		t.Errorf("missing file: code %d, want %d", code, exitUsage)
	}
}

func TestEval(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "p.ccl", "permit read on '/data/**'\ndeny read on '/data/secret/**' severity critical\n", 0o644)
	code, stdout, stderr := runCLI(t, "", "eval", "--constraints", p, "--action", "read", "--resource", "/data/x", "--json")
	if code != exitOK {
		t.Fatalf("eval: code %d: %s", code, stderr)
	}
	var d struct {
		Permitted   bool   `json:"permitted"`
		Severity    string `json:"severity"`
		Reason      string `json:"reason"`
		MatchedRule *struct {
			Type     string `json:"type"`
			Line     int    `json:"line"`
			Action   string `json:"action"`
			Resource string `json:"resource"`
		} `json:"matchedRule"`
	}
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatal(err)
	}
	if !d.Permitted || d.MatchedRule == nil || d.MatchedRule.Line != 1 || d.MatchedRule.Resource != "/data/**" || d.Severity != "high" {
		t.Errorf("decision %+v", d)
	}

	code, stdout, _ = runCLI(t, "", "eval", "--constraints", p, "--action", "read", "--resource", "/data/secret/k", "--json")
	if code != exitInvalid || !strings.Contains(stdout, `"severity":"critical"`) {
		t.Errorf("deny: code %d out %s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "", "eval", "--constraints", p, "--action", "write", "--resource", "/x", "--json")
	if code != exitInvalid || !strings.Contains(stdout, `"matchedRule":null`) || !strings.Contains(stdout, `"severity":null`) {
		t.Errorf("default deny: code %d out %s", code, stdout)
	}
	code, _, stderr = runCLI(t, "", "eval", "--constraints", p, "--action", "read", "--resource", "/data/x", "--context", "[1]")
	if code != exitUsage || !strings.Contains(stderr, "--context") {
		t.Errorf("bad context: code %d stderr %q", code, stderr)
	}
	// A left-out --resource is bad usage (it was evaluated as "" and denied
	// with exit 1); an explicitly empty one is evaluated.
	code, stdout, stderr = runCLI(t, "", "eval", "--constraints", p, "--action", "read")
	if code != exitUsage || !strings.Contains(stderr, "missing --resource") || stdout != "" {
		t.Errorf("no --resource: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "", "eval", "--constraints", p, "--action", "read", "--resource", "")
	if code != exitInvalid {
		t.Errorf("--resource '': code %d stderr %q", code, stderr)
	}
	cp := writeFile(t, dir, "c.ccl", "permit read on '/data/**' when user.role = 'admin'\n", 0o644)
	code, _, _ = runCLI(t, "", "eval", "--constraints", cp, "--action", "read", "--resource", "/data/x", "--context", `{"user":{"role":"admin"}}`)
	if code != exitOK {
		t.Errorf("context permit: code %d", code)
	}
}

func TestLoadtestUsage(t *testing.T) {
	code, _, stderr := runCLI(t, "", "loadtest", "-gateway", "http://192.0.2.1:8080")
	if code != exitUsage || !strings.Contains(stderr, "stele loadtest:") {
		t.Fatalf("non-loopback gateway: code %d stderr %q", code, stderr)
	}
}

// TestLoadtestJSONToStdout: with --json -, standard output is the JSON
// report and nothing else, so that a script can decode it.
func TestLoadtestJSONToStdout(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "loadtest", "-phases", "inproc", "-n", "20", "-size", "512",
		"-inproc-time", "0s", "-inproc-sample", "20", "-cache", t.TempDir(), "-json", "-")
	if code != exitOK {
		t.Fatalf("code %d stderr %s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
	}
	if _, ok := rep["inproc"]; !ok {
		t.Errorf("report lacks the inproc phase: %s", stdout)
	}
	if !strings.Contains(stderr, "in-process") {
		t.Errorf("the table should go to stderr: %q", stderr)
	}
}

func TestLoadtestHelpNamesTheCommand(t *testing.T) {
	code, _, stderr := runCLI(t, "", "loadtest", "-h")
	if code != exitOK || !strings.Contains(stderr, "Usage of stele loadtest:") || strings.Contains(stderr, "steleload") {
		t.Fatalf("code %d stderr %.200q, want usage of stele loadtest", code, stderr)
	}
	code, _, stderr = runCLI(t, "", "loadtest", "-n", "-1")
	if code != exitUsage || !strings.Contains(stderr, "stele loadtest -h") {
		t.Fatalf("bad flag: code %d stderr %q", code, stderr)
	}
}
