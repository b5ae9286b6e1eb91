package worker

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

// TestStartClock: ClockStore syncs with the server before returning and
// stops its resyncs on stop; ClockHost is the host's clock; any other mode
// is a usage error.
func TestStartClock(t *testing.T) {
	ctx := t.Context()
	st, err := redisstore.Open(ctx, redistest.Start(t), redisstore.WithKeyPrefix(redistest.KeyPrefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	for _, mode := range []string{ClockStore, ClockHost} {
		now, stop, err := StartClock(ctx, mode, st, 5*time.Second, log)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if d := now().Sub(time.Now()).Abs(); d > time.Second {
			t.Errorf("%s: now is %v off this host's clock (the server runs here)", mode, d)
		}
		done := make(chan struct{})
		go func() { stop(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: stop did not return", mode)
		}
	}
	var ue UsageError
	if _, _, err := StartClock(ctx, "ntp", st, time.Second, log); !errors.As(err, &ue) {
		t.Errorf("StartClock(ntp) = %v, want a usage error", err)
	}
}
