package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/testutil/natstest"
)

// stele dead lists the dead letters of a real JetStream and replays one
// onto its work subject.
func TestDeadListAndReplay(t *testing.T) {
	url := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI(t, "", "dead", "--nats", url, "list"); code != exitOK || !strings.Contains(out, "no dead letters") {
		t.Fatalf("empty list: %d %q", code, out)
	}
	chunk := `{"v":1,"jobId":"j1","kind":"verify","chunk":3,"items":[{"index":0,"error":"x"},{"index":1,"error":"y"}]}`
	msg := &nats.Msg{Subject: jobs.DeadSubject(jobs.SubjectVerify), Data: []byte(chunk), Header: nats.Header{}}
	msg.Header.Set(jobs.HeaderDeadSubject, jobs.SubjectVerify)
	msg.Header.Set(jobs.HeaderDeadReason, "the store was down")
	msg.Header.Set(jobs.HeaderDeadDeliveries, "10")
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}

	if code, _, errOut := runCLI(t, "", "dead", "--nats", url, "list", "extra"); code != exitUsage || !strings.Contains(errOut, "unexpected argument") {
		t.Errorf("list with an argument: %d %q", code, errOut)
	}
	if code, out, _ := runCLI(t, "", "dead", "--nats", url, "--json", "list"); code != exitOK || !strings.Contains(out, `"jobId":"j1"`) {
		t.Errorf("flags before the action: %d %q", code, out)
	}
	code, out, errOut := runCLI(t, "", "dead", "list", "--nats", url, "--json")
	var d jobs.DeadLetter
	if code != exitOK || json.Unmarshal([]byte(out), &d) != nil {
		t.Fatalf("list: %d %q %q", code, out, errOut)
	}
	if d.Sequence != ack.Sequence || d.JobID != "j1" || d.Chunk != 3 || d.Items != 2 || d.Deliveries != 10 ||
		d.Reason != "the store was down" || d.Subject != jobs.SubjectVerify {
		t.Errorf("listed %+v", d)
	}
	if code, out, _ := runCLI(t, "", "dead", "--nats", url, "list"); code != exitOK || !strings.Contains(out, "the store was down") {
		t.Errorf("table: %d %q", code, out)
	}

	if code, _, errOut := runCLI(t, "", "dead", "replay", "--nats", url, "x"); code != exitUsage || !strings.Contains(errOut, "not a sequence") {
		t.Errorf("bad sequence: %d %q", code, errOut)
	}
	seq := strconv.FormatUint(ack.Sequence, 10)
	if code, out, errOut := runCLI(t, "", "dead", "--nats", url, "replay", seq); code != exitOK || out != "replayed "+seq+"\n" {
		t.Fatalf("replay: %d %q %q", code, out, errOut)
	}
	work, err := js.Stream(ctx, jobs.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := work.GetLastMsgForSubject(ctx, jobs.SubjectVerify)
	if err != nil || string(raw.Data) != chunk {
		t.Errorf("work queue after replay: %v", err)
	}
	if code, out, _ := runCLI(t, "", "dead", "--nats", url, "list"); code != exitOK || !strings.Contains(out, "no dead letters") {
		t.Errorf("list after replay: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, "", "dead", "--nats", url, "replay", seq); code != exitInvalid || errOut == "" {
		t.Errorf("replaying again: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "dead", "--nats", "nats://127.0.0.1:1", "list"); code != exitUsage || !strings.Contains(errOut, "hint:") {
		t.Errorf("no server: %d %q", code, errOut)
	}
	// url.Parse's error quotes the whole URL: the password must not show.
	if code, _, errOut := runCLI(t, "", "dead", "--nats", "nats://user:s3cretpw@host:bad", "list"); code != exitUsage || strings.Contains(errOut, "s3c") {
		t.Errorf("malformed URL: %d %q, want a usage error without the password", code, errOut)
	}
}

// TestDeadUsageBeforeConnecting: a bad --limit is reported as such (exit 2)
// without trying NATS, and a flag after the sequences of replay gets a hint
// about the order.
func TestDeadUsageBeforeConnecting(t *testing.T) {
	for _, limit := range []string{"0", "10001", "-3"} {
		code, _, errOut := runCLI(t, "", "dead", "list", "--nats", "nats://127.0.0.1:1", "--limit", limit)
		if code != exitUsage || !strings.Contains(errOut, "--limit "+limit) || strings.Contains(errOut, "connect") {
			t.Errorf("--limit %s: code %d stderr %q, want a usage error about --limit and no connection attempt", limit, code, errOut)
		}
	}
	code, _, errOut := runCLI(t, "", "dead", "replay", "5", "--nats", "nats://127.0.0.1:1")
	if code != exitUsage || !strings.Contains(errOut, "flags go before the sequences") {
		t.Errorf("replay SEQ --nats: code %d stderr %q, want the hint about flag order", code, errOut)
	}
}

// TestDeadWithoutStreams: against a NATS server no Stele process has used,
// list and replay say that the STELE_DEAD stream is missing and why.
func TestDeadWithoutStreams(t *testing.T) {
	url := natstest.StartServer(t, natstest.Options{}).ClientURL()
	code, _, errOut := runCLI(t, "", "dead", "--nats", url, "list")
	if code != exitUsage || !strings.Contains(errOut, "has no STELE_DEAD stream") {
		t.Errorf("list: code %d stderr %q, want the missing stream explained", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "dead", "--nats", url, "replay", "1")
	if code != exitInvalid || !strings.Contains(errOut, "has no STELE_DEAD stream") {
		t.Errorf("replay: code %d stderr %q, want the missing stream explained", code, errOut)
	}
}

// TestDeadRefusedByPermissions: a NATS user the server does not let read the
// dead letters gets the server's reason at once, and which user to connect
// as; it waited a minute for "context deadline exceeded".
func TestDeadRefusedByPermissions(t *testing.T) {
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: []*server.User{{Username: "integration", Password: "pw", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"stele.jobs.verify", "_INBOX.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	url := strings.Replace(s.ClientURL(), "nats://", "nats://integration:pw@", 1)
	for _, args := range [][]string{{"list"}, {"replay", "1"}} {
		start := time.Now()
		code, _, errOut := runCLI(t, "", append([]string{"dead", "--nats", url}, args...)...)
		if code == exitOK || !strings.Contains(errOut, "permissions violation") || !strings.Contains(errOut, "gateway user") {
			t.Errorf("%v: code %d stderr %q", args, code, errOut)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%v: took %v", args, d)
		}
	}
}
