package worker

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestDebugEndpoints: ServeDebug answers pprof's index on its listener, and
// StartDebug refuses an address it cannot listen on at once.
func TestDebugEndpoints(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := ServeDebug(ln, log)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("/debug/pprof/: %d %.200s", resp.StatusCode, body)
	}
	// The same address again is taken.
	if _, err := StartDebug(&Config{DebugAddr: ln.Addr().String()}, log); err == nil || !strings.Contains(err.Error(), "debug address") {
		t.Errorf("StartDebug on a taken address: %v", err)
	}
	stop, err := StartDebug(&Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
}
