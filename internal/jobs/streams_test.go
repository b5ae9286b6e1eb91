package jobs_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/natstest"
)

func TestEnsureStreamsConcurrentAndRepeated(t *testing.T) {
	url := natstest.Start(t)
	ctx := testContext(t)

	// Eight processes start at once, each with its own connection.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		_, js := connect(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = jobs.EnsureConsumer(ctx, js, store.KindVerify, jobs.ConsumerConfig{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	_, js := connect(t, url)
	// And once more, sequentially.
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
		t.Fatalf("second EnsureStreams: %v", err)
	}
	if _, err := jobs.EnsureConsumer(ctx, js, store.KindSign, jobs.ConsumerConfig{}); err != nil {
		t.Fatalf("signer consumer: %v", err)
	}

	s, err := js.Stream(ctx, jobs.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Retention != jetstream.WorkQueuePolicy || cfg.Discard != jetstream.DiscardNew ||
		cfg.Storage != jetstream.FileStorage || cfg.Duplicates != 2*time.Minute ||
		cfg.MaxBytes != 1<<30 || cfg.MaxMsgs != 1_000_000 ||
		!slices.Equal(cfg.Subjects, []string{"stele.jobs.verify", "stele.jobs.sign"}) {
		t.Errorf("STELE_JOBS config = %+v", cfg)
	}
	// A mistyped work subject is refused, not queued where no worker reads.
	if _, err := js.Publish(ctx, "stele.jobs.verfy", []byte(`{}`)); err == nil {
		t.Error("a publication on stele.jobs.verfy was stored")
	}
	ev, err := js.Stream(ctx, jobs.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	ecfg := ev.CachedInfo().Config
	if ecfg.Retention != jetstream.LimitsPolicy || ecfg.MaxAge != 24*time.Hour ||
		len(ecfg.Subjects) != 1 || ecfg.Subjects[0] != "stele.events.>" {
		t.Errorf("STELE_EVENTS config = %+v", ecfg)
	}

	for _, tc := range []struct {
		name, filter string
		maxDeliver   int
	}{{"verifier", jobs.SubjectVerify, 10}, {"signer", jobs.SubjectSign, jobs.DefaultSignMaxDeliver}} {
		c, err := s.Consumer(ctx, tc.name)
		if err != nil {
			t.Fatalf("consumer %s: %v", tc.name, err)
		}
		cc := c.CachedInfo().Config
		if cc.Durable != tc.name || cc.FilterSubject != tc.filter || cc.AckPolicy != jetstream.AckExplicitPolicy ||
			cc.AckWait != 30*time.Second || cc.MaxDeliver != tc.maxDeliver || cc.MaxAckPending != 1024 {
			t.Errorf("consumer %s config = %+v", tc.name, cc)
		}
	}
	names := s.ConsumerNames(ctx)
	count := 0
	for range names.Name() {
		count++
	}
	if count != 2 {
		t.Errorf("%d consumers, want 2", count)
	}
}

func TestEnsureStreamsUpdatesLimits(t *testing.T) {
	_, js := setup(t)
	ctx := testContext(t)
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{JobsMaxMsgs: 5000, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, jobs.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config; got.MaxMsgs != 5000 || got.Duplicates != time.Minute {
		t.Errorf("after update MaxMsgs=%d Duplicates=%v, want 5000 and 1m", got.MaxMsgs, got.Duplicates)
	}
	if _, err := jobs.EnsureConsumer(ctx, js, store.KindVerify, jobs.ConsumerConfig{AckWait: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c, err := jobs.EnsureConsumer(ctx, js, store.KindVerify, jobs.ConsumerConfig{AckWait: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Config.AckWait; got != 20*time.Second {
		t.Errorf("AckWait after update = %v, want 20s", got)
	}
}

func TestStreamConfigInvalid(t *testing.T) {
	for _, cfg := range []jobs.StreamConfig{
		{Replicas: 7},
		{JobsMaxBytes: -1},
		{Duplicates: -time.Second},
	} {
		if _, err := jobs.JobsStreamConfig(cfg); !errors.Is(err, jobs.ErrInvalidOption) {
			t.Errorf("JobsStreamConfig(%+v) error = %v, want ErrInvalidOption", cfg, err)
		}
	}
	for _, cfg := range []jobs.ConsumerConfig{
		{AckWait: time.Millisecond},
		{MaxDeliver: -5},
		{MaxAckPending: -1},
	} {
		if _, err := jobs.WorkerConsumerConfig(store.KindVerify, cfg); !errors.Is(err, jobs.ErrInvalidOption) {
			t.Errorf("WorkerConsumerConfig(%+v) error = %v, want ErrInvalidOption", cfg, err)
		}
	}
	if _, err := jobs.WorkerConsumerConfig("paint", jobs.ConsumerConfig{}); !errors.Is(err, jobs.ErrInvalidOption) {
		t.Errorf("unknown kind: error = %v, want ErrInvalidOption", err)
	}
}

// A second EnsureStreams with the same configuration leaves every stream
// alone. The server reports an unset MaxMsgs as -1 (STELE_EVENTS and
// STELE_DEAD set none); taking that for a change updated both streams at
// every start-up, and a server whose disk has less free space than the
// streams reserve refuses the update, so a process could not restart.
func TestEnsureStreamsRepeatedUpdatesNothing(t *testing.T) {
	url, js := setup(t)
	ctx := testContext(t)
	nc, _ := connect(t, url)
	updates, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.UPDATED.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// A change does produce an advisory: the subscription sees updates.
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{JobsMaxMsgs: 5000}); err != nil {
		t.Fatal(err)
	}
	sawJobs := false
	for wait := 5 * time.Second; ; wait = 300 * time.Millisecond {
		msg, err := updates.NextMsg(wait)
		if err != nil {
			break
		}
		sawJobs = sawJobs || strings.HasSuffix(msg.Subject, "."+jobs.StreamJobs)
	}
	if !sawJobs {
		t.Fatal("no advisory for a changed STELE_JOBS")
	}
	for i := range 2 {
		if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{JobsMaxMsgs: 5000}); err != nil {
			t.Fatalf("EnsureStreams %d: %v", i, err)
		}
	}
	if msg, err := updates.NextMsg(500 * time.Millisecond); err == nil {
		t.Errorf("EnsureStreams with an unchanged configuration updated a stream: %s", msg.Subject)
	}
}
