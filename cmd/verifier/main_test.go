package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/natstest"
	"github.com/stele-go/stele/internal/testutil/redistest"
	"github.com/stele-go/stele/internal/testutil/syncbuf"
	"github.com/stele-go/stele/internal/worker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfigPrecedence(t *testing.T) {
	var out bytes.Buffer
	c, err := parseConfig([]string{"-concurrency", "3"}, envOf(map[string]string{
		"STELE_CONCURRENCY": "7",
		"STELE_NATS_URL":    "nats://n1:4222,nats://n2:4222",
		"STELE_FETCH_WAIT":  "250ms",
		"STELE_MAX_DELIVER": "4",
		"STELE_LOG_LEVEL":   "debug",
		"STELE_JOB_TTL":     "1h",
	}), &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Runner.Concurrency != 3 {
		t.Errorf("concurrency %d: the flag must beat STELE_CONCURRENCY", c.Runner.Concurrency)
	}
	if c.Runner.FetchBatch != 3 {
		t.Errorf("fetch batch %d, want the concurrency", c.Runner.FetchBatch)
	}
	if c.NATSURL != "nats://n1:4222,nats://n2:4222" || c.Runner.FetchMaxWait != 250*time.Millisecond ||
		c.Consumer.MaxDeliver != 4 || c.LogLevel.String() != "DEBUG" || c.JobTTL != time.Hour {
		t.Errorf("environment not applied: %+v", c)
	}
	if c.RedisURL != "redis://127.0.0.1:6379" || c.SigTTL != store.DefaultSigTTL || c.Consumer.AckWait != 30*time.Second {
		t.Errorf("defaults not kept: %+v", c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"bad env number":        {nil, map[string]string{"STELE_CONCURRENCY": "many"}, "STELE_CONCURRENCY"},
		"bad env dur":           {nil, map[string]string{"STELE_ACK_WAIT": "soon"}, "STELE_ACK_WAIT"},
		"zero concurrency":      {[]string{"-concurrency", "0"}, nil, "concurrency"},
		"short ack wait":        {[]string{"-ack-wait", "10ms"}, nil, "ack wait"},
		"bad log level":         {[]string{"-log-level", "loud"}, nil, "log level"},
		"unknown flag":          {[]string{"-colour"}, nil, "colour"},
		"stray argument":        {[]string{"now"}, nil, "unexpected argument"},
		"bad replicas":          {nil, map[string]string{"STELE_STREAM_REPLICAS": "9"}, "replicas"},
		"empty redis url":       {[]string{"-redis", " "}, nil, "URLs"},
		"tiny fetch wait":       {[]string{"-fetch-wait", "1ms"}, nil, "fetch max wait"},
		"negative replica wait": {[]string{"-redis-wait-replicas", "-1"}, nil, "redis-wait-replicas"},
		"zero replica timeout":  {nil, map[string]string{"STELE_REDIS_WAIT_REPLICAS": "1", "STELE_REDIS_WAIT_TIMEOUT": "0s"}, "redis-wait-timeout"},
	} {
		var out bytes.Buffer
		_, err := parseConfig(tc.args, envOf(tc.env), &out)
		var ue worker.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a usage error mentioning %q", name, err, tc.want)
		}
	}
}

func TestRunVerifiesAndDrains(t *testing.T) {
	natsURL := natstest.Start(t)
	redisURL := redistest.Start(t)
	prefix := redistest.KeyPrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var logs syncbuf.Buffer
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-nats", natsURL, "-redis", redisURL, "-redis-prefix", prefix,
			"-fetch-wait", "200ms", "-concurrency", "2"}, envOf(nil), &logs)
	}()

	_, js := natstest.Connect(t, natsURL)
	st, err := redisstore.Open(ctx, redisURL, redisstore.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The worker creates the streams; a gateway would too.
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}

	doc := corpusDoc(t, "0.json")
	items := []jobs.Item{{Ref: "a", Document: doc}, {Ref: "b", Document: []byte(`{"not":"a covenant"}`)}}
	if err := st.CreateJob(ctx, store.Job{ID: "cmd-job", Kind: store.KindVerify, Total: len(items)}); err != nil {
		t.Fatal(err)
	}
	pub, err := jobs.NewPublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, jobs.Job{ID: "cmd-job", Kind: store.KindVerify, At: "2026-11-26T21:02:18Z"}, items); err != nil {
		t.Fatal(err)
	}
	var job store.Job
	for job.Status != store.StatusCompleted {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if job, err = st.GetJob(ctx, "cmd-job"); err != nil {
			t.Fatal(err)
		}
	}
	if job.Valid != 1 || job.Failed != 1 || job.Done != 2 {
		t.Errorf("job = %+v, want 1 valid and 1 failed", job)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after SIGTERM-like cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not drain")
	}
	for _, want := range []string{`"msg":"verifier started"`, `"msg":"verifier drained"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

func TestRunFailsClearlyWithoutServers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs bytes.Buffer
	start := time.Now()
	err := run(ctx, []string{"-nats", "nats://127.0.0.1:1", "-connect-wait", "500ms"}, envOf(nil), &logs)
	if err == nil || !strings.Contains(err.Error(), "connect to NATS at nats://127.0.0.1:1") {
		t.Errorf("error %v, want a NATS connection error naming the URL", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 10*time.Second {
		t.Errorf("gave up after %v, want about the connect wait of 500ms", d)
	}
	if n := strings.Count(logs.String(), "not reachable yet"); n < 2 {
		t.Errorf("%d retries logged, want several:\n%s", n, logs.String())
	}
}

func TestRunWaitsForLateNATS(t *testing.T) {
	// A worker started before its NATS server connects once it is up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	redisURL := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var logs syncbuf.Buffer
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-nats", fmt.Sprintf("nats://127.0.0.1:%d", port), "-redis", redisURL,
			"-redis-prefix", redistest.KeyPrefix(t), "-fetch-wait", "200ms"}, envOf(nil), &logs)
	}()
	for !strings.Contains(logs.String(), "not reachable yet") {
		select {
		case err := <-done:
			t.Fatalf("run returned before NATS was up: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	stopOnceStarted(t, &logs, done, stop)
}

// corpusDoc reads a reference-corpus document from ../shared/vectors (from
// the module root) when present, else from the repository's copy.
func corpusDoc(t *testing.T, name string) []byte {
	t.Helper()
	for _, dir := range []string{
		filepath.Join("..", "..", "..", "shared", "vectors"),
		filepath.Join("..", "..", "testdata", "vectors"),
	} {
		if b, err := os.ReadFile(filepath.Join(dir, "reference-corpus", name)); err == nil {
			return b
		}
	}
	t.Fatalf("reference corpus document %s not found", name)
	return nil
}

// TestRunKeepsNATSCredentialsOutOfLogs: the user and password of the NATS
// URL appear neither in the start-up log nor in the error of a failed
// connection.
func TestRunKeepsNATSCredentialsOutOfLogs(t *testing.T) {
	const secret = "s3cret-pw"
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true, Username: "stele", Password: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	addr := srv.Addr().(*net.TCPAddr)
	natsURL := fmt.Sprintf("nats://stele:%s@127.0.0.1:%d", secret, addr.Port)
	redisURL := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var logs syncbuf.Buffer
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-nats", natsURL, "-redis", redisURL, "-redis-prefix", redistest.KeyPrefix(t),
			"-fetch-wait", "200ms"}, envOf(nil), &logs)
	}()
	stopOnceStarted(t, &logs, done, stop)
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the NATS password is in the logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), fmt.Sprintf(`"nats":"nats://stele:xxxxx@127.0.0.1:%d"`, addr.Port)) {
		t.Errorf("the start-up log does not name the (redacted) NATS server:\n%s", logs.String())
	}

	var logs2 bytes.Buffer
	err = run(ctx, []string{"-nats", fmt.Sprintf("nats://stele:%s@127.0.0.1:1", secret), "-connect-wait", "300ms"}, envOf(nil), &logs2)
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(logs2.String(), secret) {
		t.Errorf("connection failure: error %v, logs %s: want an error without the password", err, logs2.String())
	}
	if err != nil && !strings.Contains(err.Error(), "connect to NATS at nats://***@127.0.0.1:1") {
		t.Errorf("connection failure: error %v, want the redacted URL named", err)
	}
}

// stopOnceStarted waits until the verifier run whose result done carries
// has logged its start, then stops it and fails the test unless run returns
// nil.
func stopOnceStarted(t *testing.T, logs *syncbuf.Buffer, done <-chan error, stop func()) {
	t.Helper()
	for !strings.Contains(logs.String(), `"msg":"verifier started"`) {
		select {
		case err := <-done:
			t.Fatalf("run returned: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
