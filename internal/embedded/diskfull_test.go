package embedded_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/embedded"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// mountSmall mounts a tmpfs of size bytes on a fresh directory (skipping
// the test where that is not allowed) and unmounts it when the test ends.
func mountSmall(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small filesystem needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// fill writes to path until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}

// verifyOnce posts body to /v1/verify?wait=5s and returns the status code
// and the job ID of the answer (empty when it names none).
func verifyOnce(t *testing.T, base string, body []byte) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Post(base+"/v1/verify?wait=5s", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /v1/verify: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var a struct {
		JobID string `json:"jobId"`
		Error struct {
			JobID string `json:"jobId"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &a)
	return resp.StatusCode, a.JobID + a.Error.JobID
}

// TestDiskFullRecovers: when the data directory's filesystem fills up, a
// verification is refused (not hung), and once space is freed the running
// all-in-one queues and verifies again, and every job it answered for
// completes. JetStream keeps a write error on its stream for good, so
// without a restart of JetStream the work queue refused every job until
// the process was restarted.
func TestDiskFullRecovers(t *testing.T) {
	mnt := mountSmall(t, "40m")
	body := exampleBody(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in, err := embedded.Start(ctx, embedded.Config{
		DataDir: filepath.Join(mnt, "data"),
		Addr:    "127.0.0.1:0",
		Streams: jobs.StreamConfig{JobsMaxBytes: 4 << 20, EventsMaxBytes: 2 << 20, DeadMaxBytes: 2 << 20},
		// With a listener too: the restart reloads the server's options.
		NATSListen: "127.0.0.1:0",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { in.Shutdown(context.Background()) })
	base := "http://" + in.Addr()
	if code, _ := verifyOnce(t, base, body); code != http.StatusOK {
		t.Fatalf("verify before the disk fills: %d", code)
	}

	// Fill the disk, then free a little: room for the job's record in
	// SQLite, not for the batch's chunks in JetStream.
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	fi, err := os.Stat(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filler, fi.Size()-256<<10); err != nil {
		t.Fatal(err)
	}
	var batch bytes.Buffer
	batch.WriteString(`{"items":[`)
	var req struct {
		Items []struct {
			Document json.RawMessage `json:"document"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Items) != 1 {
		t.Fatalf("example request: %v", err)
	}
	doc := req.Items[0].Document
	for i := range 2000 {
		if i > 0 {
			batch.WriteByte(',')
		}
		batch.WriteString(`{"ref":"r","document":`)
		batch.Write(doc)
		batch.WriteByte('}')
	}
	batch.WriteString(`]}`)
	code, id := verifyOnce(t, base, batch.Bytes())
	t.Logf("a batch on a full disk: %d, job %q", code, id)
	if code == http.StatusOK || code == http.StatusBadRequest {
		t.Fatal("a batch of 2000 documents was verified on a full disk")
	}
	var jobIDs []string // of the jobs answered 202: queued
	if code == http.StatusAccepted {
		jobIDs = append(jobIDs, id)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		code, id := verifyOnce(t, base, body)
		if code == http.StatusAccepted {
			jobIDs = append(jobIDs, id)
		}
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verifications still answered %d 45 s after space was freed", code)
		}
		time.Sleep(time.Second)
	}
	// Every job answered as queued completes. (A job answered 503 whose
	// unqueued items could not be recorded as failed on the full disk is
	// left incomplete, as the answer says.)
	for _, id := range jobIDs {
		for {
			j, err := in.Store().GetJob(ctx, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("job %s: %v", id, err)
			}
			if err == nil && j.Status == store.StatusCompleted {
				if j.Done != j.Total {
					t.Errorf("job %s completed with %d of %d done", id, j.Done, j.Total)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("job %s did not complete: %+v", id, j)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// TestDiskTooSmallForStreams: on a disk with less free space than the
// streams reserve, the start fails with JetStream's reason and what to do
// about it, instead of a bare "insufficient storage resources available".
func TestDiskTooSmallForStreams(t *testing.T) {
	mnt := mountSmall(t, "20m")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := embedded.Start(ctx, embedded.Config{
		DataDir: filepath.Join(mnt, "data"),
		Addr:    "127.0.0.1:0",
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err == nil {
		in.Shutdown(context.Background())
		t.Fatal("Start succeeded with streams larger than the disk")
	}
	for _, want := range []string{"insufficient storage", "free disk space", "--jobs-max-bytes", "2304 MiB"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// Smaller streams fit.
	in, err = embedded.Start(ctx, embedded.Config{
		DataDir: filepath.Join(mnt, "data"),
		Addr:    "127.0.0.1:0",
		Streams: jobs.StreamConfig{JobsMaxBytes: 4 << 20, EventsMaxBytes: 2 << 20, DeadMaxBytes: 2 << 20},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("Start with small streams: %v", err)
	}
	if err := in.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
