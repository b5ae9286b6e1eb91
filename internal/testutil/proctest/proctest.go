// Package proctest builds a command of this module and checks how its
// process behaves: that it starts, drains on SIGTERM and exits cleanly.
package proctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/testutil/syncbuf"
)

// Build compiles the package in the current directory (a command's tests run
// there) into a temporary directory as name and returns the binary's path.
// It skips the test with -short.
func Build(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// DrainsOnSIGTERM runs bin with args and env added to the environment,
// waits until its log (stderr, JSON) says name+" started", sends SIGTERM and
// checks that it logs name+" drained" and exits with status 0, each within
// 30 s. The process is killed if the test ends first.
func DrainsOnSIGTERM(t *testing.T, bin, name string, args, env []string) {
	t.Helper()
	var stderr syncbuf.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
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
	for !strings.Contains(stderr.String(), `"msg":"`+name+` started"`) {
		select {
		case err := <-exited:
			t.Fatalf("%s exited early: %v\n%s", name, err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", name, stderr.String())
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
		t.Fatalf("%s did not exit after SIGTERM:\n%s", name, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"`+name+` drained"`) {
		t.Errorf("no drain log:\n%s", stderr.String())
	}
}
