package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/jobs"
)

// TestClusterGatewayStalledWhileQueueing freezes (SIGSTOP) the gateway
// queueing a 20,000-document upload part-way. Once its queue lease runs out,
// the other gateway settles the job: the items that reached the queue are
// verified, the others recorded as failed, and the job completes instead of
// waiting for them until it expires. When the frozen gateway resumes, it
// finds its lease taken, stops queueing and answers its client 503 naming
// the job; whatever it published late changes no counter.
func TestClusterGatewayStalledWhileQueueing(t *testing.T) {
	batch := bulkBatch(t)
	natsURL, redisURL := startServers(t)
	env := []string{"STELE_NATS_URL=" + natsURL, "STELE_REDIS_URL=" + redisURL, "STELE_QUEUE_LEASE=1s"}
	var gws []*proc
	var clients []*client
	for i := range 2 {
		addr := freeAddr(t)
		gws = append(gws, startProc(t, fmt.Sprintf("gateway-%d", i), bin.gateway, []string{"--addr", addr, "--chunk-items", "16"}, env...))
		clients = append(clients, newClient(t, addr))
	}
	startProc(t, "verifier", bin.verifier, []string{"--nats", natsURL, "--redis", redisURL, "--concurrency", "2", "--name", "verifier"})
	for i, c := range clients {
		c.waitReady(gws[i])
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const leases = "stele:{queueleases}:deadlines"

	type reply struct {
		status int
		body   []byte
		err    error
	}
	frozen := gws[0]
	var jobID string
	var replied chan reply
	for attempt := 1; jobID == "" && attempt <= 5; attempt++ {
		replied = make(chan reply, 1)
		go func() {
			resp, err := clients[0].hc.Post(clients[0].base+"/v1/verify", ctNDJSON, bytes.NewReader(batch))
			if err != nil {
				replied <- reply{err: err}
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			replied <- reply{status: resp.StatusCode, body: data, err: err}
		}()
		// Freeze the gateway once it holds a lease on a job of which the
		// verifier has done some items: it is queueing the rest.
		var ids []string
		for len(ids) == 0 {
			if ids, err = rdb.ZRange(ctx, leases, 0, -1).Result(); err != nil {
				t.Fatal(err)
			}
			if len(ids) > 0 {
				if done, _ := rdb.HGet(ctx, "stele:{"+ids[0]+"}:job", "done").Int(); done == 0 {
					ids = nil
				}
			}
			select {
			case r := <-replied:
				t.Fatalf("the upload was answered before its queueing began: %d %.300s %v", r.status, r.body, r.err)
			default:
			}
		}
		if err := frozen.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		if n, _ := rdb.ZScore(ctx, leases, ids[0]).Result(); n > 0 {
			jobID = ids[0]
			break
		}
		// Queueing finished before the freeze: try again.
		t.Logf("attempt %d: the job was queued before the gateway froze", attempt)
		if err := frozen.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		<-replied
	}
	if jobID == "" {
		t.Fatal("could not freeze the gateway while it queued")
	}
	resumed := false
	defer func() {
		if !resumed {
			frozen.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()

	// The other gateway settles the job.
	j := clients[1].waitJob(jobID, 3*time.Minute)
	if j.Total != bulkDocs || j.Done != bulkDocs || j.Failed == 0 || j.Valid+j.Failed != bulkDocs || j.Invalid != 0 {
		t.Fatalf("settled job %+v: want %d done, some not queued, the rest valid", j, bulkDocs)
	}
	t.Logf("settled: %d verified, %d not queued", j.Valid, j.Failed)
	checkSettled := func() {
		t.Helper()
		res := clients[1].results(jobID) // fails on a duplicate index
		if len(res) != bulkDocs {
			t.Fatalf("%d results, want %d", len(res), bulkDocs)
		}
		failed := 0
		for i := range bulkDocs {
			r := res[i]
			switch {
			case r.Valid && r.Error == "":
			case !r.Valid && r.Error == jobs.ReclaimedReason:
				failed++
			default:
				t.Fatalf("index %d: %+v", i, r)
			}
		}
		if failed != j.Failed {
			t.Fatalf("%d results not queued, the job counts %d", failed, j.Failed)
		}
	}
	checkSettled()

	// The frozen gateway resumes: it stops queueing and says so.
	if err := frozen.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	var r reply
	select {
	case r = <-replied:
	case <-time.After(time.Minute):
		t.Fatal("the resumed gateway did not answer its upload")
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			JobID   string `json:"jobId"`
		} `json:"error"`
	}
	if r.err != nil || r.status != http.StatusServiceUnavailable || json.Unmarshal(r.body, &body) != nil ||
		!strings.Contains(body.Error.Message, "lease") || !strings.Contains(string(r.body), jobID) {
		t.Fatalf("resumed gateway answered %d %.500s (%v), want 503 naming the job and its lease", r.status, r.body, r.err)
	}
	time.Sleep(2 * time.Second) // for chunks published late to be processed
	if again := clients[1].job(jobID); again != j {
		t.Errorf("job changed after the frozen gateway resumed: %+v, was %+v", again, j)
	}
	checkSettled()
	if n, err := rdb.ZCard(ctx, leases).Result(); err != nil || n != 0 {
		t.Errorf("%d leases left (%v), want none", n, err)
	}
}
