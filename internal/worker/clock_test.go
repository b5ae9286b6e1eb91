package worker

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/natstest"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

// openStore opens a store on a private redis-server, closed when the test
// ends.
func openStore(t *testing.T) *redisstore.Store {
	t.Helper()
	st, err := redisstore.Open(t.Context(), redistest.Start(t), redisstore.WithKeyPrefix(redistest.KeyPrefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestStartClock: ClockStore syncs with the server before returning and
// stops its resyncs on stop; ClockHost is the host's clock; any other mode
// is a usage error.
func TestStartClock(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
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

// TestConnectStoreClock: the times a worker's store writes (a job's
// completedAt) follow the worker's clock, as the times the gateway sets (a
// job's createdAt) do, not the host's: on a host two minutes fast, a job
// created by the cluster's clock must not complete two minutes after it.
func TestConnectStoreClock(t *testing.T) {
	ctx := t.Context()
	ns := natstest.StartServer(t, natstest.Options{})
	c := &Config{NATSURL: ns.ClientURL(), RedisURL: redistest.Start(t), RedisPrefix: redistest.KeyPrefix(t),
		JobTTL: time.Hour, SigTTL: time.Hour, ConnectWait: 10 * time.Second, Clock: ClockStore, kind: store.KindVerify,
		host: func() time.Time { return time.Now().Add(2 * time.Minute) }}
	conn, _, err := Connect(ctx, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if d := conn.Now().Sub(time.Now()).Abs(); d > time.Second {
		t.Fatalf("the worker's clock is %v off the server's (which runs here)", d)
	}
	created := conn.Now()
	if err := conn.Store.CreateJob(ctx, store.Job{ID: "clockjob", Kind: store.KindVerify, Total: 1, CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	prog, err := conn.Store.RecordResults(ctx, "clockjob", []store.Result{{Index: 0, Error: "test"}})
	if err != nil || !prog.Completed {
		t.Fatalf("RecordResults: %+v, %v", prog, err)
	}
	if got := prog.Job.CompletedAt.Sub(created); got < 0 || got > 30*time.Second {
		t.Errorf("completedAt is %v after createdAt, want under 30s: the store wrote its host's time", got)
	}
}
