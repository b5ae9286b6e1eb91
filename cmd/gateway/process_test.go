package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestProcessAnswersWhileStarting: a cluster gateway whose NATS and Redis
// are not there yet holds its address from the start and answers there:
// /healthz 200 (alive), /readyz 503, and an API request a JSON 503 with
// Retry-After, rather than refusing connections until both are reached.
func TestProcessAnswersWhileStarting(t *testing.T) {
	bin := proctest.Build(t, "gateway")
	dead := func() string { // an address nothing listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	addr := dead()
	cmd := exec.Command(bin, "--addr", addr, "--nats", "nats://"+dead(), "--redis", "redis://"+dead()+"/0",
		"--startup-timeout", "1m", "--spool-dir", t.TempDir())
	cmd.Env = os.Environ()
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	get := func(method, path string) (int, http.Header, string, error) {
		req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(`{"items":[{"documentId":"`+strings.Repeat("a", 64)+`"}]}`))
		if err != nil {
			return 0, nil, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b), nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _, _, err := get("GET", "/healthz")
		if err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz: %d %v, want 200 while starting\n%s", status, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status, _, body, err := get("GET", "/readyz"); err != nil || status != http.StatusServiceUnavailable || !strings.Contains(body, "not ready") {
		t.Errorf("/readyz while starting: %d %q %v, want 503 not ready", status, body, err)
	}
	status, hdr, body, err := get("POST", "/v1/verify")
	if err != nil || status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" ||
		!strings.Contains(body, `"code":"unavailable"`) || !strings.Contains(body, "starting") {
		t.Errorf("POST /v1/verify while starting: %d %v %q %v, want a JSON 503 unavailable with Retry-After", status, hdr, body, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit 10 s after SIGTERM while starting\n%s", logs.String())
	}
}
