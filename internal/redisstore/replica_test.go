package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/store/storetest"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

// TestReplicaWait: with WithReplicaWait, recording results returns only once
// a real replica has them, and fails when no replica acknowledges in time
// (the results are then on the primary, and a retry records nothing twice).
func TestReplicaWait(t *testing.T) {
	ctx := context.Background()
	primary := redistest.StartServer(t, redistest.Options{})
	c, err := NewClient(primary.URL())
	if err != nil {
		t.Fatal(err)
	}
	alone := newTestStore(t, c, storetest.Config{}, WithReplicaWait(1, 100*time.Millisecond))
	job := store.Job{ID: "replicated", Kind: store.KindVerify, Total: 2}
	if err := alone.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	first := []store.Result{{Index: 0, Error: "x"}}
	if _, err := alone.RecordResults(ctx, job.ID, first); err == nil {
		t.Fatal("RecordResults with no replica to acknowledge it succeeded")
	}
	// A script's own error comes before a replica shortfall.
	if _, err := alone.RecordResults(ctx, "no-such-job", first); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordResults of an unknown job without replicas: %v, want ErrNotFound", err)
	}

	replica := redistest.StartServer(t, redistest.Options{ReplicaOf: primary.Addr})
	rc, err := NewClient(replica.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, _ := rc.Info(ctx, "replication").Result()
		if strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never synced:\n%s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c2, err := NewClient(primary.URL())
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, c2, storetest.Config{}, WithKeyPrefix(alone.opts.prefix), WithReplicaWait(1, 2*time.Second))
	p, err := s.RecordResults(ctx, job.ID, append(first, store.Result{Index: 1, Error: "y"}))
	if err != nil {
		t.Fatalf("RecordResults with a replica: %v", err)
	}
	if !p.Completed || p.Recorded != 1 || p.Job.Done != 2 {
		t.Errorf("progress %+v: want completed, 1 new (index 0 was recorded by the failed call)", p)
	}
	// The replica has the results the call reported.
	done, err := rc.HGet(ctx, s.jobKey(job.ID), "done").Int()
	if err != nil || done != 2 {
		t.Errorf("replica's done = %d, %v; want 2", done, err)
	}

	for _, d := range []time.Duration{0, MaxReplicaWait + time.Millisecond} {
		if _, err := New(c, WithReplicaWait(1, d)); !errors.Is(err, store.ErrInvalidOption) {
			t.Errorf("a timeout of %v: %v, want ErrInvalidOption", d, err)
		}
	}

}
