package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/testutil/natstest"
	"github.com/stele-go/stele/internal/testutil/proctest"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

func TestProcessDrainsOnSIGTERM(t *testing.T) {
	bin := proctest.Build(t, "verifier")
	proctest.DrainsOnSIGTERM(t, bin, "verifier", []string{"-fetch-wait", "500ms"}, []string{
		"STELE_NATS_URL=" + natstest.Start(t), "STELE_REDIS_URL=" + redistest.Start(t),
		"STELE_REDIS_PREFIX=" + redistest.KeyPrefix(t), "STELE_CONCURRENCY=2"})
}

func TestProcessBadConfigExitStatus(t *testing.T) {
	bin := proctest.Build(t, "verifier")
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
