package loadtest

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
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/embedded"
	"github.com/stele-go/stele/internal/keyring"
)

// TestOpenLoopCountsQueueing checks that a slow server's queueing shows in
// the latencies: requests are due every 5 ms, one at a time, each taking
// 10 ms, so the last one waits about 250 ms. A closed-loop measurement
// would report 10 ms throughout.
func TestOpenLoopCountsQueueing(t *testing.T) {
	var calls atomic.Int64
	l, err := openLoop(context.Background(), 200, 250*time.Millisecond, 1, func(context.Context, int) error {
		calls.Add(1)
		time.Sleep(10 * time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Requests != 50 || calls.Load() != 50 || l.Errors != 0 {
		t.Fatalf("%+v, %d calls", l, calls.Load())
	}
	if l.Max < 200*time.Millisecond || l.P50 < 60*time.Millisecond || l.Late < 40 || l.FromSend.P99 > 100*time.Millisecond || l.FromSend.P50 < 10*time.Millisecond {
		t.Errorf("queueing hidden: %+v", l)
	}
	if !(l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("percentiles out of order: %+v", l)
	}
}

func TestReadCPU(t *testing.T) {
	before, err := readCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(150 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := readCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 50*time.Millisecond {
		t.Errorf("150 ms of spinning counted as %v (%d)", after-before, x)
	}
	if _, err := readCPU(1 << 30); err == nil {
		t.Error("CPU of a process that does not exist")
	}
	m0, _, err := machineBusy()
	if err != nil {
		t.Fatal(err)
	}
	mark := markCPU([]int{os.Getpid()})
	for deadline := time.Now().Add(100 * time.Millisecond); time.Now().Before(deadline); {
		x++
	}
	c := mark.since("spin")
	if m1, _, _ := machineBusy(); m1-m0 < 50*time.Millisecond || c.Machine < c.Processes[0].CPU-20*time.Millisecond || c.Processes[0].CPU < 50*time.Millisecond {
		t.Errorf("machine %v → %v, phase %+v", m0, m1, c)
	}
}

// TestSignShapes checks the sign items: valid CCL with five statements, and
// the evaluation cases decided as evalCases says by those constraints.
func TestSignShapes(t *testing.T) {
	items := signItems("k1", "salt", 5, 3, 100)
	if len(items) != 3 || items[0].Ref != "sign-salt-5" || items[2].Beneficiary.ID != "agent-sign-7" || items[0].KeyID != "k1" {
		t.Fatalf("items %+v", items)
	}
	for _, it := range items {
		doc, err := ccl.Parse(it.Constraints)
		if err != nil {
			t.Fatalf("%q: %v", it.Constraints, err)
		}
		if n := len(doc.Statements); n != 5 {
			t.Errorf("%d statements, want 5", n)
		}
	}
	bodies, err := signRequests("k1", "s", 25, 10, 100)
	if err != nil || len(bodies) != 3 {
		t.Fatalf("%d bodies, %v", len(bodies), err)
	}
	var last struct{ Items []signItem }
	if err := json.Unmarshal(bodies[2], &last); err != nil || len(last.Items) != 5 || last.Items[4].Ref != "sign-s-24" {
		t.Errorf("last request %+v %v", last, err)
	}
}

// startSigning starts an all-in-one with one signing key.
func startSigning(t *testing.T, ctx context.Context) *embedded.Instance {
	t.Helper()
	k, err := keyring.NewKey("load-key", deriveKey("test-signer", 0), false)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.New(k)
	if err != nil {
		t.Fatal(err)
	}
	in, err := embedded.Start(ctx, embedded.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Keys: ring,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Shutdown(context.Background()) })
	return in
}

// TestSignAndEvaluateAgainstEmbedded runs the issue-4 phases, briefly,
// against an all-in-one instance that signs, and checks the report.
func TestSignAndEvaluateAgainstEmbedded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := startSigning(t, ctx)
	port := in.Addr()[strings.LastIndexByte(in.Addr(), ':')+1:]
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var out, errOut bytes.Buffer
	err := Run(ctx, "steleload", []string{
		"-gateway", "http://" + in.Addr(), "-phases", "sign-inproc,sign,evaluate", "-inproc-time", "100ms",
		"-sign-n", "300", "-sign-batch", "120", "-eval-rate", "100", "-eval-duration", "1s", "-eval-covenants", "2",
		"-eval-gateways", "http://" + in.Addr() + ",http://localhost:" + port, "-eval-conns", "4",
		"-pids", strconv.Itoa(os.Getpid()), "-json", jsonPath,
	}, &out, &errOut)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errOut.String())
	}
	t.Logf("report:\n%s", out.String())
	var rep Report
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if r := rep.SignInproc; r == nil || r.PerS <= 0 || r.Covenants < 256 || r.MeanBytes < 500 {
		t.Errorf("sign-inproc %+v", r)
	}
	if s := rep.Sign; s == nil || !s.OK() || s.Signed != 300 || len(s.Jobs) != 3 || s.KeyID != "load-key" || s.PerS <= 0 {
		t.Errorf("sign %+v", rep.Sign)
	}
	e := rep.Evaluate
	if e == nil {
		t.Fatalf("no evaluate result:\n%s", out.String())
	}
	if e.Requests != 100 || e.Errors != 0 || e.Unexpected != 0 || e.Permitted == 0 || e.Denied == 0 ||
		e.Permitted+e.Denied != 100 || e.P99 <= 0 || e.P50 > e.P99 || len(e.Gateways) != 2 {
		t.Errorf("evaluate %+v", e)
	}
	// Every measured and warm-up evaluation is on record, and the trails verify.
	entries := 0
	for _, a := range e.Audit {
		if !a.Valid {
			t.Errorf("audit %+v", a)
		}
		entries += a.Entries
	}
	if len(e.Audit) != 2 || entries != 100+2*2*evalWarmup {
		t.Errorf("audit %+v: %d entries, want %d", e.Audit, entries, 100+2*2*evalWarmup)
	}
	if len(rep.CPU) != 3 || rep.CPU[2].Phase != "evaluate" || len(rep.CPU[1].Processes) != 1 || rep.CPU[1].Processes[0].CPU <= 0 {
		t.Errorf("cpu %+v", rep.CPU)
	}
	var signBar bool
	for _, b := range rep.Bars {
		signBar = signBar || b.Name == "sign throughput"
	}
	if !signBar {
		t.Errorf("bars %+v", rep.Bars)
	}
	for _, want := range []string{"sign-inproc", "covenants/s", "evaluate", "p99.9", "POST /v1/evaluate p99", "sign throughput", "cpu sign"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "documents, ~") {
		t.Errorf("the verification set was prepared for sign phases only:\n%s", out.String())
	}
}

// TestSignCountsFailures: a run whose items all fail (a key no signer
// holds) is reported as failed items and a failed bar, not as throughput.
func TestSignCountsFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := startSigning(t, ctx)
	var out, errOut bytes.Buffer
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	err := Run(ctx, "steleload", []string{
		"-gateway", "http://" + in.Addr(), "-phases", "sign-inproc,sign", "-inproc-time", "50ms",
		"-sign-n", "20", "-sign-key", "nobody-holds-this", "-json", jsonPath,
	}, &out, &errOut)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errOut.String())
	}
	var rep Report
	data, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if s := rep.Sign; s == nil || s.OK() || s.Failed != 20 || s.Signed != 0 || !strings.Contains(s.FirstErr, "unknown_key") {
		t.Errorf("sign %+v", rep.Sign)
	}
	if len(rep.Bars) != 1 || rep.Bars[0].Pass || !strings.Contains(out.String(), "FAIL") {
		t.Errorf("bars %+v\n%s", rep.Bars, out.String())
	}
}

// TestConnPool checks the minimal client: answers read back, connections
// kept alive and bounded, a server that closes the connection handled.
func TestConnPool(t *testing.T) {
	var conns, requests atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/base/v1/evaluate" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request line", http.StatusBadRequest)
			return
		}
		if n%7 == 0 {
			w.Header().Set("Connection", "close")
		}
		time.Sleep(2 * time.Millisecond)
		w.Write(append([]byte("echo:"), body...))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	post, closePost, err := newPoster([]string{srv.URL + "/base"}, "/v1/evaluate", 3, "raw")
	if err != nil {
		t.Fatal(err)
	}
	defer closePost()
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 60 {
		wg.Go(func() {
			body := []byte(strconv.Itoa(i))
			status, answer, err := post(context.Background(), 0, body)
			if err == nil && (status != http.StatusOK || string(answer) != "echo:"+string(body)) {
				err = fmt.Errorf("request %d: %d %q", i, status, answer)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// 60 requests over at most 3 connections at a time; every 7th answer
	// closes its connection, so about 3 + 60/7 connections in all.
	if n := conns.Load(); n < 3 || n > 3+60/7+1 {
		t.Errorf("%d connections for 60 requests", n)
	}
	if status, _, err := post(context.Background(), 0, []byte("x")); err != nil || status != http.StatusOK {
		t.Errorf("after the burst: %d %v", status, err)
	}
	if _, _, err := newPoster([]string{"http://127.0.0.1:1"}, "/v1/evaluate", 1, "other"); !errors.Is(err, ErrUsage) {
		t.Errorf("unknown client kind: %v", err)
	}
}

// TestPacerWait checks the pacer's contract: it never returns before the
// due time, returns at once for one already past, and gives up with the
// context's error on a due time far away.
func TestPacerWait(t *testing.T) {
	p := newPacer()
	defer p.close()
	for _, d := range []time.Duration{-time.Second, 0, 200 * time.Microsecond, 3 * time.Millisecond, 25 * time.Millisecond} {
		due := time.Now().Add(d)
		if err := p.wait(context.Background(), due); err != nil {
			t.Fatalf("wait %v: %v", d, err)
		}
		if now := time.Now(); now.Before(due) {
			t.Errorf("wait %v returned %v early", d, due.Sub(now))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.wait(ctx, start.Add(time.Hour)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait an hour with a 30 ms context: %v, want DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited >= time.Hour/2 {
		t.Errorf("waited %v for a cancelled context", waited)
	}
}
