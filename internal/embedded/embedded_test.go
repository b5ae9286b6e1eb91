package embedded_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/stele-go/stele/internal/embedded"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/damage"
	"github.com/stele-go/stele/internal/testutil/natstest"
	"github.com/stele-go/stele/internal/testutil/syncbuf"
	"github.com/stele-go/stele/tests/corpus"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func start(t *testing.T, dir string) *embedded.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := embedded.Start(ctx, embedded.Config{
		DataDir: dir,
		Addr:    "127.0.0.1:0",
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { in.Shutdown(context.Background()) })
	return in
}

// exampleBody is the request of the example the all-in-one prints.
func exampleBody(t *testing.T) []byte {
	t.Helper()
	example, err := embedded.WriteExample(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func shutdown(t *testing.T, in *embedded.Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := in.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

type answer struct {
	store.Job
	Items []store.Result `json:"items"`
}

func post(t *testing.T, url string, body []byte) answer {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %d %s", resp.StatusCode, data)
	}
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestRestartKeepsData starts an instance, verifies the reference corpus,
// stops it, starts a new one on the same directory and finds the job, its
// results and the stored covenants unchanged.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	docs, at, err := corpus.Load()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"at":%q,"items":[`, at.Format(time.RFC3339Nano))
	for i, d := range docs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"ref":%q,"document":%s}`, d.Name, d.JSON)
	}
	b.WriteString("]}")

	in := start(t, dir)
	base := "http://" + in.Addr()
	a := post(t, base+"/v1/verify?wait=60s", b.Bytes())
	if a.Status != store.StatusCompleted || len(a.Items) != len(docs) {
		t.Fatalf("job %+v with %d items", a.Job, len(a.Items))
	}
	for i, d := range docs {
		if a.Items[i].Valid != d.Valid {
			t.Errorf("%s: valid %v, reference %v", d.Name, a.Items[i].Valid, d.Valid)
		}
	}
	// A second instance cannot open the directory while the first runs.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := embedded.Start(ctx, embedded.Config{DataDir: dir, Addr: "127.0.0.1:0"}); !errors.Is(err, embedded.ErrLocked) {
		t.Errorf("second instance on the same directory: %v, want ErrLocked", err)
	}
	shutdown(t, in)
	for _, p := range []string{"stele.db", "nats"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("data directory lacks %s: %v", p, err)
		}
	}

	in = start(t, dir)
	base = "http://" + in.Addr()
	var job store.Job
	if code := get(t, base+"/v1/jobs/"+a.ID, &job); code != http.StatusOK {
		t.Fatalf("job after restart: %d", code)
	}
	if diff := cmp.Diff(a.Job, job); diff != "" {
		t.Errorf("job changed across the restart (-before +after):\n%s", diff)
	}
	var page struct {
		Items []store.Result `json:"items"`
	}
	if code := get(t, fmt.Sprintf("%s/v1/jobs/%s/results?limit=%d", base, a.ID, len(docs)), &page); code != http.StatusOK {
		t.Fatalf("results after restart: %d", code)
	}
	if diff := cmp.Diff(a.Items, page.Items); diff != "" {
		t.Errorf("results changed across the restart (-before +after):\n%s", diff)
	}
	if code := get(t, base+"/v1/covenants/"+docs[0].ID, nil); code != http.StatusOK {
		t.Errorf("covenant after restart: %d", code)
	}
	shutdown(t, in)
}

// TestWriteExample checks that the printed example request verifies.
func TestWriteExample(t *testing.T) {
	dir := t.TempDir()
	in := start(t, dir)
	path, err := embedded.WriteExample(dir)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := post(t, "http://"+in.Addr()+"/v1/verify?wait=30s", body)
	if a.Valid != 1 || len(a.Items) != 1 || !a.Items[0].Valid || a.Items[0].Ref != "example" {
		t.Errorf("example: %+v", a)
	}
	shutdown(t, in)
}

// TestNATSListenBusy: a NATS listen address already in use (another NATS
// server on the machine) is a clear configuration error naming it, not a
// start-up that waits for a server that cannot listen.
func TestNATSListenBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = embedded.Start(context.Background(), embedded.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", NATSListen: ln.Addr().String()})
	if !errors.Is(err, embedded.ErrInvalidConfig) || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Start with a busy NATS address: %v, want ErrInvalidConfig naming it", err)
	}
}

// TestStoreThatWillNotOpen: a data directory whose database cannot be
// opened (here not a database at all) is a clear error, not a panic while
// the half-started instance is taken down.
func TestStoreThatWillNotOpen(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stele.db"), bytes.Repeat([]byte("not a database "), 512), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := embedded.Start(context.Background(), embedded.Config{DataDir: dir, Addr: "127.0.0.1:0"})
	if err == nil {
		_ = in.Shutdown(context.Background())
		t.Fatal("Start opened a data directory whose database is not one")
	}
	if !strings.Contains(err.Error(), "stele.db") && !strings.Contains(err.Error(), "database") {
		t.Errorf("error %q names neither the file nor the database", err)
	}
}

// TestJetStreamDirectoryUnusable: a data directory where JetStream cannot
// keep its files fails the start at once with JetStream's own reason, not
// after a long wait with a vague one.
func TestJetStreamDirectoryUnusable(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "nats"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nats", "jetstream"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in, err := embedded.Start(ctx, embedded.Config{DataDir: dir, Addr: "127.0.0.1:0"})
	if err == nil {
		_ = in.Shutdown(context.Background())
		t.Fatal("Start succeeded with a file where JetStream's directory belongs")
	}
	if ctx.Err() != nil || !strings.Contains(err.Error(), "JetStream") {
		t.Errorf("error %q (context %v), want JetStream's reason before the deadline", err, ctx.Err())
	}
}

// TestStreamSizes: the all-in-one sizes its work queue as configured (the
// gateway's --jobs-max-bytes and --jobs-max-msgs), on one replica.
func TestStreamSizes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in, err := embedded.Start(ctx, embedded.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", NATSListen: "127.0.0.1:0",
		Streams: jobs.StreamConfig{JobsMaxMsgs: 1234, JobsMaxBytes: 5 << 20, Replicas: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Shutdown(context.Background())
	_, js := natstest.Connect(t, in.NATSURL())
	s, err := js.Stream(ctx, jobs.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config; c.MaxMsgs != 1234 || c.MaxBytes != 5<<20 || c.Replicas != 1 {
		t.Errorf("STELE_JOBS: max msgs %d, max bytes %d, replicas %d; want 1234, 5 MiB, 1", c.MaxMsgs, c.MaxBytes, c.Replicas)
	}
}

// TestDamagedStoreNotReady: the all-in-one started on a database with a
// damaged page (one Open itself cannot see) finds it with its integrity
// check, logs what to do, and reports itself not ready.
func TestDamagedStoreNotReady(t *testing.T) {
	dir := t.TempDir()
	in := start(t, dir)
	base := "http://" + in.Addr()
	docs, _, _ := corpus.Load()
	for _, d := range docs {
		req, _ := http.NewRequest(http.MethodPut, base+"/v1/covenants", bytes.NewReader(d.JSON))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	shutdown(t, in)

	damage.MiddlePage(t, filepath.Join(dir, "stele.db"))

	var logs syncbuf.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := embedded.Start(ctx, embedded.Config{DataDir: dir, Addr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer shutdown(t, in)
	base = "http://" + in.Addr()
	deadline := time.Now().Add(30 * time.Second)
	for get(t, base+"/readyz", nil) != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatalf("still ready 30s after starting on a damaged database; log:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := logs.String(); !strings.Contains(out, "database file is damaged") || !strings.Contains(out, "backup") {
		t.Errorf("log does not say what to do:\n%s", out)
	}
}
