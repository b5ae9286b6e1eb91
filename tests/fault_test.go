package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/loadtest"
	"github.com/stele-go/stele/internal/store"
)

// The fault tests stop the servers a cluster depends on in the middle of a
// job and start them again on the same address with the same data, and
// check that the gateway and the workers ride it out by themselves: the job
// completes with every result exactly once, and while a server is away the
// gateway answers with clear 503s instead of hanging or leaking its errors.

// faultDocs is the size of the fault tests' batches: enough for a fault to
// land in the middle of the job, few enough for each test to take well under
// a minute.
const faultDocs = 4000

// faultDocsBatch is the generated NDJSON batch of faultDocs valid covenants.
var faultDocsBatch once[[]byte]

func faultBatch(t *testing.T) []byte {
	return faultDocsBatch.get(t, func() ([]byte, error) {
		docs, err := loadtest.Documents(context.Background(), loadtest.GenOptions{N: faultDocs, Size: 1024, Keys: 4, Salt: "fault"})
		if err != nil {
			return nil, err
		}
		return append(bytes.Join(docs, []byte("\n")), '\n'), nil
	})
}

// redisProc is a redis-server child that keeps its data in its own directory
// (an append-only file: each write reaches the file before its reply is
// sent, so a SIGKILL of the server loses nothing that was acknowledged), so
// that it can be stopped and started again on the same address with its
// data.
type redisProc struct {
	t      *testing.T
	addr   string
	dir    string
	p      *proc
	starts int
}

// startRedis starts a persistent redis-server on a free port.
func startRedis(t *testing.T) *redisProc {
	t.Helper()
	r := &redisProc{t: t, addr: freeAddr(t), dir: t.TempDir()}
	r.start()
	return r
}

func (r *redisProc) url() string { return "redis://" + r.addr }

// start starts the server on r's address and directory and waits until it
// answers PING (after it has loaded its data).
func (r *redisProc) start() {
	r.t.Helper()
	r.startWith(true)
}

// startWith starts the server with more arguments, and waits until it
// answers PING when loaded is true, else only until it answers at all
// (LOADING while it reads its data, say).
func (r *redisProc) startWith(loaded bool, args ...string) {
	r.t.Helper()
	host, port, _ := net.SplitHostPort(r.addr)
	r.starts++
	r.p = startProc(r.t, fmt.Sprintf("redis-server-%d", r.starts), "redis-server", append([]string{
		"--bind", host, "--port", port, "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--protected-mode", "no", "--loglevel", "warning",
	}, args...))
	rdb := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		var rerr redis.Error
		if err == nil || (!loaded && errors.As(err, &rerr)) {
			return
		}
		select {
		case <-r.p.exited:
			r.t.Fatalf("redis-server at %s exited before it was ready: %v\n%s", r.addr, r.p.err, r.p.output(r.t))
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server at %s not ready: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// down stops the server with sig (SIGKILL or SIGTERM) and waits for it to
// exit.
func (r *redisProc) down(sig syscall.Signal) {
	r.t.Helper()
	if sig == syscall.SIGKILL {
		r.p.kill()
		return
	}
	if err := r.p.stop(r.t, 15*time.Second); err != nil {
		r.t.Errorf("redis-server exit after %v: %v", sig, err)
	}
}

// shutdownSave stops the server with SHUTDOWN SAVE: it writes a snapshot
// (dump.rdb in its directory) of all its data and exits, with no write
// after the snapshot.
func (r *redisProc) shutdownSave() {
	r.t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = rdb.ShutdownSave(ctx).Err() // the server closes the connection
	select {
	case <-r.p.exited:
	case <-ctx.Done():
		r.t.Fatalf("redis-server did not exit after SHUTDOWN SAVE")
	}
}

// keys returns the number of keys the server holds.
func (r *redisProc) keys() int64 {
	r.t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := rdb.DBSize(ctx).Result()
	if err != nil {
		r.t.Fatalf("DBSIZE: %v", err)
	}
	return n
}

// natsProc is a nats-server with JetStream that can be stopped and started
// again on the same address and store directory.
type natsProc struct {
	t      *testing.T
	addr   string
	dir    string
	url    string
	p      *proc
	starts int
}

func startNATSProc(t *testing.T) *natsProc {
	t.Helper()
	n := &natsProc{t: t, addr: freeAddr(t), dir: t.TempDir()}
	n.start()
	return n
}

func (n *natsProc) start() {
	n.t.Helper()
	n.starts++
	n.url, n.p = startNATSAt(n.t, fmt.Sprintf("nats-server-%d", n.starts), n.addr, n.dir)
}

// down stops the server with sig and waits for it to exit.
func (n *natsProc) down(sig syscall.Signal) {
	n.t.Helper()
	if sig == syscall.SIGKILL {
		n.p.kill()
		return
	}
	if err := n.p.stop(n.t, 15*time.Second); err != nil {
		n.t.Errorf("nats-server exit after %v: %v", sig, err)
	}
}

// faultCluster is a gateway and verifiers on a nats-server and a
// redis-server that the test may stop and start again.
type faultCluster struct {
	t         *testing.T
	nats      *natsProc
	redis     *redisProc
	gateway   *proc
	c         *client
	verifiers []*proc
	signers   []*proc
	issuerPub string // the signers' public key
	// answerWithin is how long a request may take (outageTimeout when
	// zero).
	answerWithin time.Duration
}

// faultOptions tune a faultCluster; the zero value is two verifiers, no
// signer, and a gateway that queues chunks of 64 items.
type faultOptions struct {
	verifiers  int
	signers    int // sharing one key, faultKeyID
	chunkItems int
	gatewayEnv []string // more of the gateway's environment (STELE_QUEUE_LEASE=…)
}

// faultKeyID names the signers' key.
const faultKeyID = "issuer-fault"

func startFaultCluster(t *testing.T, opts faultOptions) *faultCluster {
	t.Helper()
	if opts.verifiers == 0 {
		opts.verifiers = 2
	}
	if opts.chunkItems == 0 {
		opts.chunkItems = 64
	}
	fc := &faultCluster{t: t, nats: startNATSProc(t), redis: startRedis(t)}
	addr := freeAddr(t)
	env := append([]string{"STELE_NATS_URL=" + fc.nats.url, "STELE_REDIS_URL=" + fc.redis.url()}, opts.gatewayEnv...)
	fc.gateway = startProc(t, "gateway", bin.gateway, []string{"--addr", addr, "--chunk-items", strconv.Itoa(opts.chunkItems)}, env...)
	for i := range opts.verifiers {
		fc.startVerifier(fmt.Sprintf("verifier-%d", i))
	}
	if opts.signers > 0 {
		fc.startSigners(opts.signers)
	}
	fc.c = newClient(t, addr)
	fc.c.waitReady(fc.gateway)
	if opts.signers > 0 {
		fc.waitKey()
	}
	return fc
}

// startSigners starts n signers sharing a new key, faultKeyID, whose
// public key it keeps in fc.issuerPub.
func (fc *faultCluster) startSigners(n int) {
	t := fc.t
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	fc.issuerPub = k.PublicHex()
	if err := os.WriteFile(filepath.Join(dir, faultKeyID+".key"), []byte(keys.EncodeHex(k.Seed())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("signer-%d", i)
		fc.signers = append(fc.signers, startProc(t, name, bin.signer,
			[]string{"--nats", fc.nats.url, "--redis", fc.redis.url(), "--keys", dir, "--concurrency", "1", "--fetch-batch", "2",
				"--ack-wait", "2s", "--retry-delay", "100ms", "--name", name}))
	}
}

// waitKey waits until the signers have advertised their key: a sign
// request before that would get unknown_key.
func (fc *faultCluster) waitKey() {
	fc.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var ks struct {
			Keys []struct {
				KeyID string `json:"keyId"`
			} `json:"keys"`
		}
		body := fc.c.do("GET", "/v1/keys", "", nil, 200)
		if err := json.Unmarshal(body, &ks); err != nil {
			fc.t.Fatalf("GET /v1/keys: %v: %.300s", err, body)
		}
		if len(ks.Keys) > 0 {
			return
		}
		if time.Now().After(deadline) {
			fc.t.Fatal("no signer advertised its key within a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startVerifier starts a verifier named name (also its log's name).
func (fc *faultCluster) startVerifier(name string) *proc {
	p := startProc(fc.t, name, bin.verifier, []string{"--nats", fc.nats.url, "--redis", fc.redis.url(),
		"--concurrency", "2", "--ack-wait", "2s", "--retry-delay", "100ms", "--name", name})
	fc.verifiers = append(fc.verifiers, p)
	return p
}

// submitFaultBatch queues the fault batch and returns its job's ID.
func (fc *faultCluster) submitFaultBatch() string {
	fc.t.Helper()
	a := fc.c.submit("/v1/verify", ctNDJSON, faultBatch(fc.t), 202)
	if a.Total != faultDocs {
		fc.t.Fatalf("total %d, want %d", a.Total, faultDocs)
	}
	return a.ID
}

// waitProgress waits until at least atLeast items of job id are done, and
// fails when the whole job is done already: the fault would come too late.
func (fc *faultCluster) waitProgress(id string, atLeast int) store.Job {
	fc.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		j := fc.c.job(id)
		if j.Done >= j.Total {
			fc.t.Fatalf("the job finished before the fault: %+v", j)
		}
		if j.Done >= atLeast {
			return j
		}
		if time.Now().After(deadline) {
			fc.t.Fatalf("no progress: %+v", j)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkFaultJob checks that job id completed with a valid result for every
// document, each exactly once, and counters that agree with them.
func (fc *faultCluster) checkFaultJob(id string, timeout time.Duration) {
	t := fc.t
	t.Helper()
	j := fc.c.waitJob(id, timeout)
	if j.Total != faultDocs || j.Done != j.Total || j.Valid+j.Invalid+j.Failed != j.Done || j.Valid != faultDocs {
		t.Errorf("job %+v: want done == total == valid == %d", j, faultDocs)
	}
	res := fc.c.results(id) // fails on a duplicate index
	if len(res) != faultDocs {
		t.Errorf("%d results, want %d", len(res), faultDocs)
	}
	bad := 0
	for i := range faultDocs {
		r, ok := res[i]
		if !ok || !r.Valid || r.Error != "" || r.Ref != strconv.Itoa(i+1) {
			if bad++; bad <= 5 {
				t.Errorf("index %d: %+v (present %v)", i, r, ok)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d results missing or not valid", bad, faultDocs)
	}
	fc.checkCompletionEvent(id, 30*time.Second)
}

// checkCompletionEvent checks that the completion of job id reaches
// STELE_EVENTS within timeout, once (a repeat within the stream's duplicate
// window is dropped), with the job's counts: whoever completed the job
// announced it, or kept it for a gateway to announce once NATS answered.
func (fc *faultCluster) checkCompletionEvent(id string, timeout time.Duration) {
	t := fc.t
	t.Helper()
	nc, err := nats.Connect(fc.nats.url)
	if err != nil {
		t.Errorf("completion event of job %s: %v", id, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Errorf("completion event of job %s: %v", id, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var events []jobs.Event
	for ctx.Err() == nil && len(events) == 0 {
		events = nil
		c, err := js.OrderedConsumer(ctx, jobs.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{jobs.JobEventSubject(id)}})
		if err != nil {
			t.Errorf("completion event of job %s: %v", id, err)
			return
		}
		batch, err := c.FetchNoWait(10)
		if err != nil {
			t.Errorf("completion event of job %s: %v", id, err)
			return
		}
		for m := range batch.Messages() {
			var ev jobs.Event
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				t.Errorf("completion event of job %s: %v", id, err)
				return
			}
			events = append(events, ev)
		}
		if len(events) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	j := fc.c.job(id)
	switch {
	case len(events) == 0:
		t.Errorf("no completion event of job %s within %v", id, timeout)
	case len(events) > 1:
		t.Errorf("%d completion events of job %s, want 1", len(events), id)
	case events[0].Type != jobs.EventJobCompleted || events[0].Job == nil || events[0].Job.Done != j.Done ||
		events[0].Job.Valid != j.Valid || events[0].Job.Failed != j.Failed:
		t.Errorf("completion event of job %s: %+v, want the job's counts %+v", id, events[0], j)
	}
}

// errorAnswer is an API error as a client sees it.
type errorAnswer struct {
	status  int
	elapsed time.Duration
	body    []byte
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// leak returns the first fragment of a Go, network or Redis error string
// that msg holds ("" for none): an error answer must not pass those on to
// a client.
func leak(msg string) string {
	msg = strings.ToLower(msg)
	for _, w := range []string{"dial", "tcp", "127.0.0.1", "redis", "eof", "connection", "refused", "context deadline", "nats:"} {
		if strings.Contains(msg, w) {
			return w
		}
	}
	return ""
}

// outageTimeout is how long a request may take while a dependency is away:
// the gateway's budget for the store and NATS calls of a request (10 s)
// and some slack.
const outageTimeout = 12 * time.Second

// request sends a request with the headers given as name, value pairs and
// returns its answer, failing the test when the gateway does not answer
// within fc.answerWithin (then the answer's status is 0). It may be called
// from several goroutines.
func (fc *faultCluster) request(method, path string, body []byte, header ...string) errorAnswer {
	fc.t.Helper()
	limit := fc.answerWithin
	if limit == 0 {
		limit = outageTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit+3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, fc.c.base+path, bytes.NewReader(body))
	if err != nil {
		fc.t.Errorf("%s %s: %v", method, path, err)
		return errorAnswer{}
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	start := time.Now()
	resp, err := fc.c.hc.Do(req)
	if err != nil {
		fc.t.Errorf("%s %s: no answer after %v: %v", method, path, time.Since(start).Round(time.Millisecond), err)
		return errorAnswer{}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		fc.t.Errorf("%s %s: %v", method, path, err)
		return errorAnswer{}
	}
	a := errorAnswer{status: resp.StatusCode, elapsed: time.Since(start), body: data}
	if a.elapsed > limit {
		fc.t.Errorf("%s %s: answered after %v", method, path, a.elapsed.Round(time.Millisecond))
	}
	_ = json.Unmarshal(data, &a)
	return a
}

// expectUnavailable checks that a request is answered promptly with 503, a
// JSON error of code "unavailable", and a message that names no internals.
func (fc *faultCluster) expectUnavailable(method, path string, body []byte, header ...string) {
	a := fc.request(method, path, body, header...)
	if a.status == 0 {
		return // no answer, reported
	}
	leaked := leak(a.Error.Message)
	switch {
	case a.status != http.StatusServiceUnavailable || a.Error.Code != "unavailable" || a.Error.Message == "":
		fc.t.Errorf("%s %s during the outage: %d %.300s, want 503 with code unavailable", method, path, a.status, a.body)
	case leaked != "":
		fc.t.Errorf("%s %s during the outage: the message %q passes on an internal error (%q)", method, path, a.Error.Message, leaked)
	default:
		fc.t.Logf("%s %s during the outage: %d %s in %v", method, path, a.status, bytes.TrimSpace(a.body), a.elapsed.Round(time.Millisecond))
	}
}

// expectNotReady checks that /readyz answers 503 naming the dependency
// that is away.
func (fc *faultCluster) expectNotReady(dependency string) {
	fc.t.Helper()
	a := fc.request("GET", "/readyz", nil)
	var body struct {
		Status  string            `json:"status"`
		Failing map[string]string `json:"failing"`
	}
	if err := json.Unmarshal(a.body, &body); err != nil || a.status != http.StatusServiceUnavailable {
		fc.t.Errorf("/readyz during the outage: %d %.300s, want 503", a.status, a.body)
		return
	}
	if _, ok := body.Failing[dependency]; !ok || body.Status != "not ready" {
		fc.t.Errorf("/readyz during the outage: %s, want %s failing", a.body, dependency)
	}
	// The gateway bounds each dependency check at 2 s: a probe must not
	// take longer than a probe's usual timeout because a server hangs.
	if a.elapsed > readyzTimeout {
		fc.t.Errorf("/readyz during the outage took %v, want at most %v", a.elapsed.Round(time.Millisecond), readyzTimeout)
	}
	fc.t.Logf("/readyz during the outage: %d %s in %v", a.status, bytes.TrimSpace(a.body), a.elapsed.Round(time.Millisecond))
}

// readyzTimeout is how long /readyz may take while a dependency is away:
// the gateway's bound on each check (2 s) and some slack.
const readyzTimeout = 3 * time.Second

// waitReadyWithin waits for /readyz to answer 200 within d.
func (fc *faultCluster) waitReadyWithin(d time.Duration) {
	fc.t.Helper()
	start := time.Now()
	for {
		a := fc.request("GET", "/readyz", nil)
		if a.status == http.StatusOK {
			fc.t.Logf("ready again %v after the restart", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > d {
			fc.t.Fatalf("/readyz still %d %s %v after the restart", a.status, a.body, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// firstDocument is the first covenant of the fault batch.
func firstDocument(t *testing.T) []byte {
	line, _, _ := bytes.Cut(faultBatch(t), []byte("\n"))
	return line
}

// oneDocument is a verify request of one covenant of the fault batch.
func oneDocument(t *testing.T) []byte {
	return []byte(`{"items":[{"ref":"one","document":` + string(firstDocument(t)) + `}]}`)
}

// storeOutageChecks are the requests checked while the store is away: each
// needs the store.
func (fc *faultCluster) storeOutageChecks(jobID string) {
	fc.t.Helper()
	fc.expectNotReady("store")
	json, ndjson := []string{"Content-Type", ctJSON}, []string{"Content-Type", ctNDJSON}
	one, doc, upload := oneDocument(fc.t), firstDocument(fc.t), faultBatch(fc.t)[:4096]
	// At once, so that a store that hangs rather than refuses costs one
	// request budget, not one per request.
	var wg sync.WaitGroup
	for _, req := range []struct {
		method, path string
		body         []byte
		header       []string
	}{
		{"GET", "/v1/jobs/" + jobID, nil, nil},
		{"GET", "/v1/jobs/" + jobID + "/results?limit=10", nil, nil},
		{"GET", "/v1/jobs/" + jobID + "/results", nil, []string{"Accept", ctNDJSON}},
		{"POST", "/v1/verify", one, json},
		{"POST", "/v1/verify?wait=5s", one, json},
		{"POST", "/v1/verify", upload, ndjson},
		{"PUT", "/v1/covenants", doc, json},
		{"GET", "/v1/covenants/" + strings.Repeat("ab", 32), nil, nil},
		{"GET", "/v1/covenants?limit=5", nil, nil},
		{"GET", "/v1/revocations", nil, nil},
		{"GET", "/v1/keys", nil, nil},
		{"POST", "/v1/evaluate", []byte(`{"covenantId":"` + strings.Repeat("ab", 32) + `","action":"read","resource":"/data/x"}`), json},
		{"GET", "/v1/covenants/" + strings.Repeat("ab", 32) + "/audit", nil, nil},
		{"GET", "/v1/covenants/" + strings.Repeat("ab", 32) + "/audit", nil, []string{"Accept", ctNDJSON}},
		{"GET", "/v1/covenants/" + strings.Repeat("ab", 32) + "/audit/verify", nil, nil},
		{"GET", "/v1/covenants/" + strings.Repeat("ab", 32) + "/audit/proof/0", nil, nil},
		{"GET", "/v1/covenants/" + strings.Repeat("ab", 32) + "/chain", nil, nil},
	} {
		wg.Go(func() { fc.expectUnavailable(req.method, req.path, req.body, req.header...) })
	}
	wg.Go(fc.expectEvaluateUnavailable)
	wg.Wait()
}

// expectEvaluateUnavailable checks that an evaluation asked over NATS
// (stele.evaluate) while the store is away is answered promptly with the
// service error 503 ("retry") and a JSON error of code "unavailable" that
// names no internals.
func (fc *faultCluster) expectEvaluateUnavailable() {
	nc, err := nats.Connect(fc.nats.url)
	if err != nil {
		fc.t.Errorf("connect to NATS: %v", err)
		return
	}
	defer nc.Close()
	start := time.Now()
	reply, err := nc.Request(evaluate.SubjectEvaluate,
		[]byte(`{"covenantId":"`+strings.Repeat("ab", 32)+`","action":"read","resource":"/data/x"}`), outageTimeout)
	if err != nil {
		fc.t.Errorf("stele.evaluate during the outage: no answer after %v: %v", time.Since(start).Round(time.Millisecond), err)
		return
	}
	var body errorAnswer
	_ = json.Unmarshal(reply.Data, &body)
	code := reply.Header.Get("Nats-Service-Error-Code")
	leaked := leak(body.Error.Message + " " + reply.Header.Get("Nats-Service-Error"))
	if code != "503" || body.Error.Code != "unavailable" || leaked != "" {
		fc.t.Errorf("stele.evaluate during the outage: %s %q %s, want 503 with code unavailable and no internals (%q)",
			code, reply.Header.Get("Nats-Service-Error"), reply.Data, leaked)
		return
	}
	fc.t.Logf("stele.evaluate during the outage: %s %s in %v", code, reply.Data, time.Since(start).Round(time.Millisecond))
}

// TestFaultRedisRestart stops redis-server (SIGKILL, or SIGTERM) while two
// verifiers work through a job, keeps it away for longer than the chunks'
// redeliveries would last, and starts it again on the same port with its
// data. Meanwhile the gateway answers every request that needs the store
// with a prompt 503 JSON error, and /readyz is 503; afterwards /readyz is
// 200 again, and the job completes with every result exactly once, without
// restarting the gateway or the verifiers.
func TestFaultRedisRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			fc := startFaultCluster(t, faultOptions{})
			id := fc.submitFaultBatch()
			j := fc.waitProgress(id, faultDocs/5)
			fc.redis.down(sig)
			t.Logf("redis-server stopped (%v) at %d of %d", sig, j.Done, j.Total)
			start := time.Now()
			fc.storeOutageChecks(id)
			// Longer than the nine redeliveries of a chunk that fails at
			// once (0.1 s × (1+…+9) = 4.5 s).
			if d := 6*time.Second - time.Since(start); d > 0 {
				time.Sleep(d)
			}
			fc.redis.start()
			t.Logf("redis-server restarted after %v, %d keys", time.Since(start).Round(time.Millisecond), fc.redis.keys())
			fc.waitReadyWithin(10 * time.Second)
			fc.checkFaultJob(id, time.Minute)
			fc.checkAlive()
		})
	}
}

// TestFaultNATSRestart stops nats-server (SIGKILL, or SIGTERM) while two
// verifiers work through a job and starts it again on the same port with the
// same JetStream store. Meanwhile /readyz is 503 naming NATS, a new job is
// refused with a prompt 503 JSON error, and the job's status still reads
// from the store; afterwards the gateway and the verifiers reconnect by
// themselves, /readyz is 200 again, and the job completes with every result
// exactly once.
func TestFaultNATSRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			fc := startFaultCluster(t, faultOptions{})
			id := fc.submitFaultBatch()
			j := fc.waitProgress(id, faultDocs/5)
			fc.nats.down(sig)
			t.Logf("nats-server stopped (%v) at %d of %d", sig, j.Done, j.Total)
			start := time.Now()
			fc.expectNotReady("nats")
			fc.expectUnavailable("POST", "/v1/verify", oneDocument(t), "Content-Type", ctJSON)
			fc.expectUnavailable("POST", "/v1/verify", faultBatch(t)[:4096], "Content-Type", ctNDJSON)
			if a := fc.request("GET", "/v1/jobs/"+id, nil); a.status != http.StatusOK {
				t.Errorf("GET /v1/jobs/%s during the NATS outage: %d %.300s, want 200 from the store", id, a.status, a.body)
			}
			if d := 5*time.Second - time.Since(start); d > 0 {
				time.Sleep(d)
			}
			fc.nats.start()
			t.Logf("nats-server restarted after %v", time.Since(start).Round(time.Millisecond))
			fc.waitReadyWithin(15 * time.Second)
			fc.checkFaultJob(id, time.Minute)
			// A new job goes through the reconnected gateway and workers.
			a := fc.c.submit("/v1/verify?wait=30s", ctJSON, oneDocument(t), 200)
			if a.Status != store.StatusCompleted || a.Valid != 1 {
				t.Errorf("a job after the restart: %+v", a.Job)
			}
			// The gateway's evaluation service is back on NATS: it
			// answers, here that the covenant is unknown.
			nc, err := nats.Connect(fc.nats.url)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			reply, err := nc.Request(evaluate.SubjectEvaluate,
				[]byte(`{"covenantId":"`+strings.Repeat("ab", 32)+`","action":"read","resource":"/data/x"}`), 10*time.Second)
			if err != nil || reply.Header.Get("Nats-Service-Error-Code") != "404" {
				t.Errorf("stele.evaluate after the restart: %v %v", reply, err)
			}
			fc.checkAlive()
		})
	}
}

// checkAlive checks that the gateway and every worker are still running.
func (fc *faultCluster) checkAlive() {
	fc.t.Helper()
	for _, p := range append(append([]*proc{fc.gateway}, fc.verifiers...), fc.signers...) {
		select {
		case <-p.exited:
			fc.t.Errorf("%s exited: %v", p.name, p.err)
		default:
		}
	}
}

// waitLog waits until p's log contains s.
func waitLog(t *testing.T, p *proc, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.output(t), s) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v", p.name, s, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFaultVerifierKilledDuringRedisOutage kills redis-server under a job,
// then stops one of the two verifiers, chunks in hand, while the store is
// away: SIGKILL, or SIGTERM, after which it must drain and exit 0 promptly
// although it can record nothing. A new verifier started meanwhile waits
// for the store at start-up. Once redis-server is back with its data, the
// job completes with every result exactly once: the stopped verifier's
// chunks are redelivered, and nothing it had done is counted twice.
func TestFaultVerifierKilledDuringRedisOutage(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			fc := startFaultCluster(t, faultOptions{})
			id := fc.submitFaultBatch()
			j := fc.waitProgress(id, faultDocs/5)
			fc.redis.down(syscall.SIGKILL)
			t.Logf("redis-server killed at %d of %d", j.Done, j.Total)
			start := time.Now()
			time.Sleep(500 * time.Millisecond) // the chunks in hand fail
			stopped := fc.verifiers[0]
			fc.verifiers = fc.verifiers[1:]
			if sig == syscall.SIGKILL {
				stopped.kill()
			} else {
				drain := time.Now()
				if err := stopped.stop(t, 40*time.Second); err != nil {
					t.Errorf("%s exit after SIGTERM with the store away: %v", stopped.name, err)
				}
				// The drain ends once the chunks in hand have failed
				// over to a later delivery; the store's absence must not
				// hold it up to its 30 s limit.
				if d := time.Since(drain); d > 10*time.Second {
					t.Errorf("%s took %v to drain with the store away", stopped.name, d.Round(time.Millisecond))
				} else {
					t.Logf("%s drained in %v", stopped.name, d.Round(time.Millisecond))
				}
			}
			fresh := fc.startVerifier("verifier-0-restarted")
			waitLog(t, fresh, "not reachable yet", 15*time.Second)
			if d := 5*time.Second - time.Since(start); d > 0 {
				time.Sleep(d)
			}
			fc.redis.start()
			t.Logf("redis-server restarted after %v", time.Since(start).Round(time.Millisecond))
			waitLog(t, fresh, "verifier started", 15*time.Second)
			fc.checkFaultJob(id, time.Minute)
			fc.checkAlive()
		})
	}
}

// leasesKey is the sorted set of the queue leases of the jobs being queued
// (redisstore, default prefix).
const leasesKey = "stele:{queueleases}:deadlines"

// uploadAnswer is the answer to an upload made in the background.
type uploadAnswer struct {
	status int
	body   []byte
	err    error
	at     time.Time
}

// uploadInBackground posts body as NDJSON and sends the answer on the
// channel returned.
func (fc *faultCluster) uploadInBackground(body []byte) <-chan uploadAnswer {
	ch := make(chan uploadAnswer, 1)
	go func() {
		resp, err := fc.c.hc.Post(fc.c.base+"/v1/verify", ctNDJSON, bytes.NewReader(body))
		if err != nil {
			ch <- uploadAnswer{err: err, at: time.Now()}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		ch <- uploadAnswer{status: resp.StatusCode, body: data, err: err, at: time.Now()}
	}()
	return ch
}

// waitQueueing waits until the gateway holds the queue lease of a job (it
// is queueing it) of which the verifiers have done some items, and returns
// the job's ID; "" when the upload was answered first.
func (fc *faultCluster) waitQueueing(answered <-chan uploadAnswer) (string, uploadAnswer) {
	fc.t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: fc.redis.addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		ids, err := rdb.ZRange(ctx, leasesKey, 0, -1).Result()
		if err != nil {
			fc.t.Fatalf("queue leases: %v", err)
		}
		if len(ids) > 0 {
			if done, _ := rdb.HGet(ctx, "stele:{"+ids[0]+"}:job", "done").Int(); done > 0 {
				return ids[0], uploadAnswer{}
			}
		}
		select {
		case a := <-answered:
			return "", a
		default:
		}
	}
}

// TestFaultRedisDownWhileQueueing kills redis-server while the gateway
// queues an upload (it holds the job's queue lease and the verifiers have
// begun), keeps it away for longer than the lease (2 s here), and starts it
// again with its data. Publishing needs no store: the upload is answered
// 202 although the lease could not be released, the job completes with
// every item verified exactly once, and a reclaimer, finding every item
// queued, releases the lease that ran out without failing any.
func TestFaultRedisDownWhileQueueing(t *testing.T) {
	fc := startFaultCluster(t, faultOptions{chunkItems: 4, gatewayEnv: []string{"STELE_QUEUE_LEASE=2s"}})
	answered := fc.uploadInBackground(faultBatch(t))
	id, early := fc.waitQueueing(answered)
	if id == "" {
		t.Fatalf("the upload was answered before its queueing began: %d %.300s %v", early.status, early.body, early.err)
	}
	fc.redis.down(syscall.SIGKILL)
	start := time.Now()
	t.Logf("redis-server killed while job %s was queued", id)
	var a uploadAnswer
	select {
	case a = <-answered:
	case <-time.After(outageTimeout + 30*time.Second):
		t.Fatal("the upload was not answered")
	}
	t.Logf("upload answered %v after the kill: %d %s (%v)", a.at.Sub(start).Round(time.Millisecond), a.status, bytes.TrimSpace(a.body), a.err)
	if d := 5*time.Second - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	fc.redis.start()
	t.Logf("redis-server restarted after %v", time.Since(start).Round(time.Millisecond))
	fc.waitReadyWithin(10 * time.Second)
	if a.err != nil || a.status != http.StatusAccepted {
		t.Errorf("upload answered %d %.300s (%v), want 202: every item reached the queue", a.status, a.body, a.err)
	}
	// The fault came while the job was queued: its lease could not be
	// released, and a reclaimer, finding every item queued, releases it
	// without failing any.
	if out := fc.gateway.output(t); !strings.Contains(out, "releasing the queue lease of a queued job failed") &&
		!strings.Contains(out, "renewing the queue lease of a job failed") {
		t.Errorf("the gateway logged no failed lease renewal or release: the fault missed the queueing")
	}
	fc.checkFaultJob(id, time.Minute)
	fc.waitNoLeases(10 * time.Second)
	fc.checkAlive()
}

// waitNoLeases waits until no queue lease is left.
func (fc *faultCluster) waitNoLeases(d time.Duration) {
	fc.t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: fc.redis.addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		n, err := rdb.ZCard(ctx, leasesKey).Result()
		if err == nil && n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			fc.t.Errorf("%d queue leases left after %v (%v)", n, d, err)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestFaultNATSDownWhileQueueing kills nats-server while the gateway queues
// an upload and starts it again on the same port and store. The upload is
// answered either 202 (every chunk reached the stream once the gateway
// reconnected) or 503 naming the job (its unqueued items recorded as
// failed); either way the job completes with every result exactly once,
// the items that reached the queue verified.
func TestFaultNATSDownWhileQueueing(t *testing.T) {
	fc := startFaultCluster(t, faultOptions{chunkItems: 4, gatewayEnv: []string{"STELE_QUEUE_LEASE=2s"}})
	answered := fc.uploadInBackground(faultBatch(t))
	id, early := fc.waitQueueing(answered)
	if id == "" {
		t.Fatalf("the upload was answered before its queueing began: %d %.300s %v", early.status, early.body, early.err)
	}
	fc.nats.down(syscall.SIGKILL)
	start := time.Now()
	t.Logf("nats-server killed while job %s was queued", id)
	time.Sleep(3 * time.Second)
	fc.nats.start()
	t.Logf("nats-server restarted after %v", time.Since(start).Round(time.Millisecond))
	var a uploadAnswer
	select {
	case a = <-answered:
	case <-time.After(time.Minute):
		t.Fatal("the upload was not answered")
	}
	t.Logf("upload answered %v after the kill: %d %s (%v)", a.at.Sub(start).Round(time.Millisecond), a.status, bytes.TrimSpace(a.body), a.err)
	var body struct {
		Error struct {
			Code  string `json:"code"`
			JobID string `json:"jobId"`
		} `json:"error"`
	}
	partial := a.status == http.StatusServiceUnavailable && json.Unmarshal(a.body, &body) == nil &&
		body.Error.Code == "unavailable" && body.Error.JobID == id
	if a.err != nil || (a.status != http.StatusAccepted && !partial) {
		t.Fatalf("upload answered %d %.300s (%v), want 202, or 503 naming job %s", a.status, a.body, a.err, id)
	}
	fc.waitReadyWithin(15 * time.Second)
	j := fc.c.waitJob(id, time.Minute)
	t.Logf("job %+v", j)
	if j.Total != faultDocs || j.Done != j.Total || j.Valid+j.Invalid+j.Failed != j.Done || j.Invalid != 0 || j.Valid == 0 ||
		(!partial && j.Failed != 0) {
		t.Errorf("job %+v: want done == total == valid+failed, some valid, none failed unless the answer was 503", j)
	}
	res := fc.c.results(id) // fails on a duplicate index
	if len(res) != faultDocs {
		t.Errorf("%d results, want %d", len(res), faultDocs)
	}
	valid, failed := 0, 0
	for i := range faultDocs {
		r, ok := res[i]
		switch {
		case ok && r.Valid && r.Error == "":
			valid++
		case ok && !r.Valid && strings.HasPrefix(r.Error, "not queued"):
			failed++
		default:
			t.Fatalf("index %d: %+v (present %v), want valid or not queued", i, r, ok)
		}
	}
	if valid != j.Valid || failed != j.Failed {
		t.Errorf("%d valid and %d failed results, the job counts %d and %d", valid, failed, j.Valid, j.Failed)
	}
	// A job the gateway settled while NATS was away is announced once NATS
	// answers again (the outbox), as is one a worker completed.
	fc.checkCompletionEvent(id, 30*time.Second)
	fc.waitNoLeases(10 * time.Second)
	// The gateway and the verifiers are back on NATS: a new job goes
	// through.
	if a := fc.c.submit("/v1/verify?wait=30s", ctJSON, oneDocument(t), 200); a.Status != store.StatusCompleted || a.Valid != 1 {
		t.Errorf("a job after the restart: %+v", a.Job)
	}
	fc.checkAlive()
}

// TestFaultRedisFrozen freezes redis-server (SIGSTOP) under a job: the
// store neither answers nor refuses. Requests that need it are answered
// 503 within their budget instead of hanging, /readyz is 503; once it
// resumes (SIGCONT), the job completes with every result exactly once,
// although writes sent before the freeze were carried out only after the
// workers had given up on them.
func TestFaultRedisFrozen(t *testing.T) {
	fc := startFaultCluster(t, faultOptions{})
	id := fc.submitFaultBatch()
	j := fc.waitProgress(id, faultDocs/5)
	thaw := freeze(t, fc.redis.p)
	t.Logf("redis-server frozen at %d of %d", j.Done, j.Total)
	start := time.Now()
	fc.storeOutageChecks(id)
	t.Logf("outage checks took %v", time.Since(start).Round(time.Millisecond))
	if d := 6*time.Second - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	thaw()
	t.Logf("redis-server resumed after %v", time.Since(start).Round(time.Millisecond))
	fc.waitReadyWithin(10 * time.Second)
	fc.checkFaultJob(id, time.Minute)
	fc.checkAlive()
}

// natsFreezeTimeout is how long a new job may take to be refused while NATS
// hangs: the gateway's wait for the stream's acknowledgement of a chunk
// (10 s), its read of the work queue's state before an upload (1 s) and its
// announcement of the job it then settles as not queued (2 s), and slack.
const natsFreezeTimeout = 14500 * time.Millisecond

// TestFaultNATSFrozen freezes nats-server (SIGSTOP) under a job: NATS
// neither answers nor drops the connections. /readyz is 503 naming it
// within its bound, a new job is refused with a 503 within
// natsFreezeTimeout, and job status still reads from the store; once it resumes
// (SIGCONT), the job completes with every result exactly once.
func TestFaultNATSFrozen(t *testing.T) {
	fc := startFaultCluster(t, faultOptions{})
	id := fc.submitFaultBatch()
	j := fc.waitProgress(id, faultDocs/5)
	thaw := freeze(t, fc.nats.p)
	t.Logf("nats-server frozen at %d of %d", j.Done, j.Total)
	start := time.Now()
	fc.expectNotReady("nats")
	fc.answerWithin = natsFreezeTimeout
	var wg sync.WaitGroup
	wg.Go(func() { fc.expectUnavailable("POST", "/v1/verify", oneDocument(t), "Content-Type", ctJSON) })
	wg.Go(func() {
		fc.expectUnavailable("POST", "/v1/verify", faultBatch(t)[:4096], "Content-Type", ctNDJSON)
	})
	wg.Go(func() {
		if a := fc.request("GET", "/v1/jobs/"+id, nil); a.status != http.StatusOK {
			t.Errorf("GET /v1/jobs/%s during the NATS outage: %d %.300s, want 200 from the store", id, a.status, a.body)
		}
	})
	wg.Wait()
	fc.answerWithin = 0
	if d := 5*time.Second - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	thaw()
	t.Logf("nats-server resumed after %v", time.Since(start).Round(time.Millisecond))
	fc.waitReadyWithin(15 * time.Second)
	fc.checkFaultJob(id, time.Minute)
	if a := fc.c.submit("/v1/verify?wait=30s", ctJSON, oneDocument(t), 200); a.Status != store.StatusCompleted || a.Valid != 1 {
		t.Errorf("a job after the freeze: %+v", a.Job)
	}
	fc.checkAlive()
}

// freeze stops p with SIGSTOP and waits until the kernel reports it stopped,
// so that no answer already under way is taken for one from the frozen
// process. It returns the function that resumes it (SIGCONT), also called
// at cleanup; calling it again is harmless.
func freeze(t *testing.T, p *proc) (thaw func()) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s: %v", p.name, err)
	}
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT %s: %v", p.name, err)
			}
		})
	}
	t.Cleanup(thaw)
	stat := filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "stat")
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(stat)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		// pid (comm) state …: the state follows the last ')'.
		if i := bytes.LastIndexByte(data, ')'); i >= 0 && i+2 < len(data) && data[i+2] == 'T' {
			return thaw
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not stopped 5s after SIGSTOP: %s", p.name, data)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFaultBothServersRestart kills nats-server and redis-server at once
// under a job (the machine that hosts both went away) and starts them again
// with their data, NATS first and the store a few seconds later: the gateway
// and the verifiers find both again by themselves, and the job completes
// with every result exactly once.
func TestFaultBothServersRestart(t *testing.T) {
	fc := startFaultCluster(t, faultOptions{})
	id := fc.submitFaultBatch()
	j := fc.waitProgress(id, faultDocs/5)
	fc.nats.down(syscall.SIGKILL)
	fc.redis.down(syscall.SIGKILL)
	t.Logf("nats-server and redis-server killed at %d of %d", j.Done, j.Total)
	start := time.Now()
	a := fc.request("GET", "/readyz", nil)
	if a.status != http.StatusServiceUnavailable || !bytes.Contains(a.body, []byte(`"store"`)) || !bytes.Contains(a.body, []byte(`"nats"`)) {
		t.Errorf("/readyz with both away: %d %s, want 503 naming nats and the store", a.status, a.body)
	}
	time.Sleep(2 * time.Second)
	fc.nats.start()
	time.Sleep(3 * time.Second)
	fc.expectNotReady("store")
	fc.redis.start()
	t.Logf("both restarted after %v", time.Since(start).Round(time.Millisecond))
	fc.waitReadyWithin(15 * time.Second)
	fc.checkFaultJob(id, time.Minute)
	fc.checkAlive()
}

// TestFaultRedisLoading stops redis-server under a job with a snapshot of
// its data and restarts it from the snapshot, loaded slowly (key-load-delay:
// some seconds of LOADING, as a large data set takes): while it loads, requests that need the store get a 503, not a 500,
// and /readyz is 503; then the job completes with every result exactly
// once.
func TestFaultRedisLoading(t *testing.T) {
	fc := startFaultCluster(t, faultOptions{})
	id := fc.submitFaultBatch()
	j := fc.waitProgress(id, faultDocs/5)
	fc.redis.shutdownSave()
	t.Logf("redis-server stopped at %d of %d", j.Done, j.Total)
	start := time.Now()
	// Some seconds of LOADING: about 3,000 keys of the snapshot read 2 ms
	// apart, the server answering (LOADING) every KiB read.
	fc.redis.startWith(false, "--appendonly", "no", "--key-load-delay", "2000", "--loading-process-events-interval-bytes", "1024")
	t.Logf("redis-server loading %v after the stop", time.Since(start).Round(time.Millisecond))
	fc.storeOutageChecks(id)
	if loaded := time.Since(start); loaded > 5*time.Second {
		t.Logf("the checks took %v: some may have seen the data loaded", loaded.Round(time.Millisecond))
	}
	fc.waitReadyWithin(30 * time.Second)
	fc.checkFaultJob(id, time.Minute)
	fc.checkAlive()
}

// TestFaultSignerRedisRestart kills redis-server while two signers work
// through a sign job, and starts it again with its data. Signing is
// deterministic, so a chunk signed again after the outage stores the same
// covenants: the job completes with every item signed exactly once, and
// exactly one stored covenant per item, each verifying.
func TestFaultSignerRedisRestart(t *testing.T) {
	const n = 600
	fc := startFaultCluster(t, faultOptions{signers: 2, chunkItems: 4})
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = map[string]any{
			"ref":         strconv.Itoa(i),
			"keyId":       faultKeyID,
			"issuer":      map[string]any{"id": "fault-issuer"},
			"beneficiary": map[string]any{"id": fmt.Sprintf("agent-%04d", i), "publicKey": strings.Repeat("ab", 32)},
			"constraints": fmt.Sprintf("permit read on '/data/%d/**'", i),
		}
	}
	a := fc.c.submit("/v1/sign", ctJSON, mustJSON(t, map[string]any{"items": items}), 202)
	j := fc.waitProgress(a.ID, n/10)
	fc.redis.down(syscall.SIGKILL)
	t.Logf("redis-server killed at %d of %d", j.Done, j.Total)
	start := time.Now()
	time.Sleep(6 * time.Second)
	fc.redis.start()
	t.Logf("redis-server restarted after %v", time.Since(start).Round(time.Millisecond))
	j = fc.c.waitJob(a.ID, time.Minute)
	if j.Total != n || j.Done != n || j.Valid != n || j.Invalid+j.Failed != 0 {
		t.Fatalf("job %+v, want %d signed", j, n)
	}
	checkSignedOnce(t, fc.c, a.ID, n, "fault-issuer", fc.issuerPub)
	fc.checkAlive()
}
