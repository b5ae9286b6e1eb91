package gateway_test

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/gateway"
)

// TestSpoolDiskFull: an NDJSON upload that fills the spool's filesystem is
// refused with a 503 that says so (it read "a dependency is unavailable",
// as for a NATS or store outage), nothing is queued, the partial spool
// file is removed, and an upload that fits is taken afterwards.
func TestSpoolDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small filesystem needs root")
	}
	spool := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", spool).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", spool).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", spool, err, out)
		}
	})
	e := newEnv(t, gateway.Limits{})
	srvURL := serveGateway(t, gateway.Config{Store: e.st, NATS: e.nc, SpoolDir: spool, Logger: quietLogger()})

	before := len(e.chunks(t))
	status, _, body := do(t, http.MethodPost, srvURL+"/v1/verify", ctNDJSON, []byte(strings.Join(padded(1000, 2000), "\n")))
	expectError(t, "an upload larger than the spool's free space", status, body, http.StatusServiceUnavailable, "unavailable", "body")
	if msg := decode[apiError](t, body).Error.Message; !strings.Contains(msg, "disk space") {
		t.Errorf("message %q does not say the disk is full", msg)
	}
	if n := len(e.chunks(t)); n != before {
		t.Errorf("%d chunks queued for a refused upload", n-before)
	}
	if left, err := os.ReadDir(spool); err != nil || len(left) != 0 {
		t.Errorf("spool holds %d files after the refusal (%v)", len(left), err)
	}

	status, _, body = do(t, http.MethodPost, srvURL+"/v1/verify", ctNDJSON, []byte(strings.Join(padded(100, 2000), "\n")))
	if status != http.StatusAccepted {
		t.Errorf("an upload that fits: status %d, want 202: %.300s", status, body)
	}
}
