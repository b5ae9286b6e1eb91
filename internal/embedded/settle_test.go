package embedded_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
)

// TestInterruptedQueueingSettled: a process killed while its gateway
// queued a job leaves the job's record with part of its items never
// queued (and the gateway's mark in DIR/queueing). The next start records
// those items as failed, so that the job completes; the items that were
// verified keep their results. Before, the job stayed running until it
// expired.
func TestInterruptedQueueingSettled(t *testing.T) {
	dir := t.TempDir()
	shutdown(t, start(t, dir)) // the data directory as a first run leaves it

	// What a kill -9 part-way through queueing leaves: the record, the
	// results of the first chunk, the mark; and a mark whose job was never
	// created (killed before its record was written).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	const id, total, verified = "interruptedjob", 600, 256
	if err := st.CreateJob(ctx, store.Job{ID: id, Kind: store.KindVerify, Total: total}); err != nil {
		t.Fatal(err)
	}
	results := make([]store.Result, verified)
	for i := range results {
		results[i] = store.Result{Index: i, Ref: "r", Valid: true}
	}
	if _, err := st.RecordResults(ctx, id, results); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{id, "neverCreated"} {
		if err := os.WriteFile(filepath.Join(dir, "queueing", name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	in := start(t, dir)
	var job store.Job
	for {
		if job, err = in.Store().GetJob(ctx, id); err != nil {
			t.Fatal(err)
		}
		if job.Status == store.StatusCompleted {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the interrupted job did not complete: %+v", job)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if job.Done != total || job.Valid != verified || job.Failed != total-verified {
		t.Errorf("job %+v, want %d done, %d valid, %d failed", job, total, verified, total-verified)
	}
	page, _, err := in.Store().Results(ctx, id, verified-1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || !page[0].Valid || page[0].Error != "" || !strings.HasPrefix(page[1].Error, "not queued") {
		t.Errorf("results around the interruption: %+v", page)
	}
	// A job queued normally leaves no mark.
	body := exampleBody(t)
	if a := post(t, "http://"+in.Addr()+"/v1/verify?wait=10s", body); a.Status != store.StatusCompleted {
		t.Fatalf("example: %+v", a.Job)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		left, err := os.ReadDir(filepath.Join(dir, "queueing"))
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d marks left after settling", len(left))
		}
		time.Sleep(50 * time.Millisecond)
	}
	shutdown(t, in)
}
