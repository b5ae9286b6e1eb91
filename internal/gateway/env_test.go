package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/natstest"
	"github.com/stele-go/stele/internal/testutil/redistest"
	"github.com/stele-go/stele/tests/corpus"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testEnv is a gateway mounted on httptest, with a real in-process JetStream
// server and a real store (SQLite unless the test chose Redis).
type testEnv struct {
	url string
	ns  *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	st  store.Store
	gw  *gateway.Server
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newEnv(t *testing.T, lim gateway.Limits) *testEnv {
	t.Helper()
	return newEnvOn(t, lim, "sqlite")
}

// newEnvOn is newEnv on the store kind "sqlite" or "redis" (a private
// redis-server started for the test).
func newEnvOn(t *testing.T, lim gateway.Limits, kind string) *testEnv {
	t.Helper()
	ctx := testContext(t)
	e := &testEnv{}
	e.ns = natstest.StartServer(t, natstest.Options{})
	var err error
	e.nc, err = nats.Connect(e.ns.ClientURL(), nats.Name(t.Name()), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	t.Cleanup(e.nc.Close)
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}
	if err := jobs.EnsureStreams(ctx, e.js, jobs.StreamConfig{}); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	switch kind {
	case "sqlite":
		e.st, err = sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "stele.db"), sqlitestore.WithSynchronous("NORMAL"))
	case "redis":
		e.st, err = redisstore.Open(ctx, redistest.Start(t), redisstore.WithKeyPrefix(redistest.KeyPrefix(t)))
	default:
		t.Fatalf("unknown store kind %q", kind)
	}
	if err != nil {
		t.Fatalf("%s store: %v", kind, err)
	}
	t.Cleanup(func() { e.st.Close() })
	// The gateway's clock ticks in hundredths of a second, so every time
	// it sets ends in a 0 digit of milliseconds, which a shortened format
	// would drop.
	now := func() time.Time { return time.Now().Truncate(10 * time.Millisecond) }
	e.gw, err = gateway.New(gateway.Config{Store: e.st, NATS: e.nc, Limits: lim, SpoolDir: t.TempDir(), Logger: quietLogger(), Now: now})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { e.gw.Close() })
	srv := httptest.NewServer(e.gw.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// serveGateway makes a gateway with cfg, serves it on httptest and returns
// its URL; both stop when the test ends.
func serveGateway(t *testing.T, cfg gateway.Config) string {
	t.Helper()
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { gw.Close() })
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// startVerifier runs a verifier (the jobs runner with the verify handler) on
// the environment's NATS and store until the test ends.
func (e *testEnv) startVerifier(t *testing.T) {
	t.Helper()
	h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: e.st, SigCache: e.st, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e.startWorker(t, store.KindVerify, h)
}

// startWorker runs a worker of kind with handler h on the environment's
// NATS and store until the test ends.
func (e *testEnv) startWorker(t *testing.T, kind store.JobKind, h jobs.Handler) {
	t.Helper()
	r, err := jobs.StartWorker(testContext(t), e.js, kind, jobs.ConsumerConfig{}, e.st, h,
		jobs.RunnerConfig{FetchMaxWait: 200 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Shutdown(sctx); err != nil {
			t.Errorf("%s runner shutdown: %v", kind, err)
		}
	})
}

// queued returns the number of messages in the work stream.
func (e *testEnv) queued(t *testing.T) uint64 {
	t.Helper()
	s, err := e.js.Stream(testContext(t), jobs.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// chunks returns every chunk message in the work stream, in order.
func (e *testEnv) chunks(t *testing.T) []*jobs.Chunk {
	t.Helper()
	ctx := testContext(t)
	s, err := e.js.Stream(ctx, jobs.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jobs.Chunk
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		c, err := jobs.DecodeChunk(m.Data)
		if err != nil {
			t.Fatalf("decode chunk %d: %v", seq, err)
		}
		out = append(out, c)
	}
	return out
}

// do sends a request and returns the status and body.
func do(t *testing.T, method, url, contentType string, body []byte, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// apiError is the JSON error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

func decode[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, data, err)
	}
	return v
}

// jobAnswer is the JSON answer of POST /v1/verify and GET /v1/jobs/{id}.
type jobAnswer struct {
	store.Job
	Items []store.Result `json:"items"`
	Next  *int           `json:"next"`
	Links struct {
		Self    string `json:"self"`
		Results string `json:"results"`
	} `json:"links"`
}

func loadCorpus(t *testing.T) ([]corpus.Doc, time.Time) {
	t.Helper()
	docs, at, err := corpus.Load()
	if err != nil {
		t.Fatal(err)
	}
	return docs, at
}

func compact(t *testing.T, doc []byte) []byte {
	t.Helper()
	c, err := corpus.Compact(doc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// failedChecks returns the names of the failed checks of r.
func failedChecks(r store.Result) []string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}
