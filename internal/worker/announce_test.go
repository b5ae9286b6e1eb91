package worker

import (
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/natstest"
)

// TestStartAnnouncer: a worker announces a completion kept in the outbox,
// so that a deployment without a gateway drains it too.
func TestStartAnnouncer(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	nc, js := natstest.Connect(t, natstest.Start(t))
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateJob(ctx, store.Job{ID: "kept", Kind: store.KindVerify, Total: 1}); err != nil {
		t.Fatal(err)
	}
	if prog, err := st.RecordResults(ctx, "kept", []store.Result{{Index: 0, Valid: true}}); err != nil || !prog.Completed {
		t.Fatalf("record: %+v, %v", prog, err)
	}
	if err := st.DeferAnnouncement(ctx, "kept"); err != nil {
		t.Fatal(err)
	}

	stop, err := StartAnnouncer(&Conn{NC: nc, JS: js, Store: st}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	sub, err := js.OrderedConsumer(ctx, jobs.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{jobs.JobEventSubject("kept")}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := sub.Next(jetstream.FetchMaxWait(jobs.DefaultAnnounceInterval + 10*time.Second))
	if err != nil {
		t.Fatalf("no completion event: %v", err)
	}
	if msg.Subject() != jobs.JobEventSubject("kept") {
		t.Errorf("event on %s", msg.Subject())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids, err := st.DeferredAnnouncements(ctx, 10)
		if err == nil && len(ids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still %q (%v)", ids, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
