package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/testutil/proctest"
)

// TestProcessBadKeysExitStatus: keys the all-in-one cannot use (a missing
// directory, one others may read, a malformed seed) are a configuration
// mistake: exit status 2 and a hint, as the signer does, not the status 1 of
// a failure at run time.
func TestProcessBadKeysExitStatus(t *testing.T) {
	bin := proctest.Build(t, "gateway")
	open := t.TempDir()
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	if err := os.Chmod(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "k1.key"), []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		env  []string
		want string
	}{
		"missing dir":   {[]string{"--keys", filepath.Join(t.TempDir(), "none")}, nil, "no such file"},
		"readable dir":  {[]string{"--keys", open}, nil, "group or others"},
		"malformed key": {[]string{"--keys", bad}, nil, "k1.key"},
		"malformed env": {nil, []string{"STELE_KEY_k2=zz"}, "STELE_KEY_k2"},
	} {
		cmd := exec.Command(bin, append([]string{"--embedded", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, tc.args...)...)
		cmd.Env = append(os.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s: exit %v, want status 2\n%s", name, err, out)
			continue
		}
		if msg := string(out); !strings.Contains(msg, "gateway: keys: ") || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "gateway -h") {
			t.Errorf("%s: message %q: want the key problem (%q) and a hint", name, msg, tc.want)
		}
	}
}
