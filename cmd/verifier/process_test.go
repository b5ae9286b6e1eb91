package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/testutil/natstest"
	"github.com/stele-go/stele/internal/testutil/redistest"
	"github.com/stele-go/stele/internal/testutil/syncbuf"
)

// buildVerifier compiles the command into a temporary directory.
func buildVerifier(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "verifier")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestProcessDrainsOnSIGTERM(t *testing.T) {
	bin := buildVerifier(t)
	natsURL := natstest.Start(t)
	redisURL := redistest.Start(t)

	var stderr syncbuf.Buffer
	cmd := exec.Command(bin, "-fetch-wait", "500ms")
	cmd.Env = append(os.Environ(), "STELE_NATS_URL="+natsURL, "STELE_REDIS_URL="+redisURL,
		"STELE_REDIS_PREFIX="+redistest.KeyPrefix(t), "STELE_CONCURRENCY=2")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), `"msg":"verifier started"`) {
		select {
		case err := <-exited:
			t.Fatalf("verifier exited early: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("verifier did not start:\n%s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("verifier did not exit after SIGTERM:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"verifier drained"`) {
		t.Errorf("no drain log:\n%s", stderr.String())
	}
}

func TestProcessBadConfigExitStatus(t *testing.T) {
	bin := buildVerifier(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "STELE_CONCURRENCY=lots")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2\n%s", err, out)
	}
	msg := string(out)
	if !strings.HasPrefix(msg, "verifier: bad STELE_CONCURRENCY \"lots\"") || !strings.Contains(msg, "verifier -h") {
		t.Errorf("message %q: want the variable named and a hint", msg)
	}
}
