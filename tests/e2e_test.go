package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/loadtest"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/tests/corpus"
)

const (
	ctJSON   = "application/json"
	ctNDJSON = "application/x-ndjson"
	// bulkDocs is the size of the NDJSON batches.
	bulkDocs = 20_000
)

// expect is the verdict one item must get.
type expect struct {
	ref    string
	valid  bool
	failed []string // failed checks, for documents that were verified
	fails  bool     // the item itself fails (malformed, unknown document)
}

// mixedJSON is a JSON request with the whole reference corpus (valid,
// expired, not yet active, tampered), an object that is not a covenant and
// a reference to a document that is not stored, verified as of the corpus's
// GENERATED_AT.
func mixedJSON(t *testing.T) ([]byte, []expect) {
	docs, at, err := corpus.Load()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	var exp []expect
	b.WriteString(`{"at":"` + at.Format(time.RFC3339Nano) + `","items":[`)
	for _, d := range docs {
		fmt.Fprintf(&b, `{"ref":%q,"document":%s},`, d.Name, d.JSON)
		exp = append(exp, expect{ref: d.Name, valid: d.Valid, failed: d.Failed})
	}
	b.WriteString(`{"ref":"not-a-covenant","document":{"hello":"world"}},`)
	b.WriteString(`{"ref":"unknown-id","documentId":"` + strings.Repeat("0", 64) + `"}]}`)
	exp = append(exp, expect{ref: "not-a-covenant", fails: true}, expect{ref: "unknown-id", fails: true})
	return b.Bytes(), exp
}

// mixedNDJSON is the corpus as NDJSON with malformed lines among the
// documents; refs are line numbers. It also returns GENERATED_AT.
func mixedNDJSON(t *testing.T) ([]byte, []expect, time.Time) {
	docs, at, err := corpus.Load()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	var exp []expect
	line := 0
	add := func(s []byte, e expect) {
		line++
		b.Write(s)
		b.WriteByte('\n')
		e.ref = strconv.Itoa(line)
		exp = append(exp, e)
	}
	for i, d := range docs {
		c, err := corpus.Compact(d.JSON)
		if err != nil {
			t.Fatal(err)
		}
		add(c, expect{valid: d.Valid, failed: d.Failed})
		switch i {
		case 10:
			add([]byte(`{"id": "truncated`), expect{fails: true})
		case 40:
			add([]byte(`[1,2,3]`), expect{fails: true})
		case 50:
			line++ // a blank line is skipped
			b.WriteString(" \n")
		}
	}
	return b.Bytes(), exp, at
}

// checkVerdicts compares results with expectations, index by index.
func checkVerdicts(t *testing.T, results map[int]store.Result, exp []expect) {
	t.Helper()
	if len(results) != len(exp) {
		t.Errorf("%d results, want %d", len(results), len(exp))
	}
	for i, e := range exp {
		r, ok := results[i]
		switch {
		case !ok:
			t.Errorf("no result for index %d (%s)", i, e.ref)
		case r.Ref != e.ref:
			t.Errorf("index %d: ref %q, want %q", i, r.Ref, e.ref)
		case e.fails:
			if r.Error == "" || r.Valid {
				t.Errorf("%s: want a failed item, got %+v", e.ref, r)
			}
		case r.Error != "":
			t.Errorf("%s: item failed: %s", e.ref, r.Error)
		case r.Valid != e.valid || !slices.Equal(failedChecks(r), e.failed) || len(r.Checks) != 11:
			t.Errorf("%s: valid %v failed %v (%d checks), reference: valid %v failed %v",
				e.ref, r.Valid, failedChecks(r), len(r.Checks), e.valid, e.failed)
		}
	}
}

func toMap(items []store.Result) map[int]store.Result {
	m := make(map[int]store.Result, len(items))
	for _, r := range items {
		m[r.Index] = r
	}
	return m
}

// counts returns the counters the expectations imply.
func counts(exp []expect) (valid, invalid, failed int) {
	for _, e := range exp {
		switch {
		case e.fails:
			failed++
		case e.valid:
			valid++
		default:
			invalid++
		}
	}
	return
}

func checkJob(t *testing.T, j store.Job, exp []expect) {
	t.Helper()
	v, i, f := counts(exp)
	if j.Status != store.StatusCompleted || j.Total != len(exp) || j.Done != j.Total || j.Valid != v || j.Invalid != i || j.Failed != f || j.CompletedAt.IsZero() {
		t.Errorf("job %+v, want completed with total %d valid %d invalid %d failed %d", j, len(exp), v, i, f)
	}
}

// bulk is the generated NDJSON batch of bulkDocs valid covenants.
var bulk once[[]byte]

func bulkBatch(t *testing.T) []byte {
	return bulk.get(t, func() ([]byte, error) {
		docs, err := loadtest.Documents(context.Background(), loadtest.GenOptions{N: bulkDocs, Size: 1024, Keys: 4, Salt: "e2e"})
		if err != nil {
			return nil, err
		}
		return append(bytes.Join(docs, []byte("\n")), '\n'), nil
	})
}

// checkBulk checks that every index of a bulk job has exactly one valid
// result.
func checkBulk(t *testing.T, c *client, id string) {
	t.Helper()
	j := c.job(id)
	if j.Status != store.StatusCompleted || j.Total != bulkDocs || j.Done != bulkDocs || j.Valid != bulkDocs {
		t.Errorf("job %+v, want %d valid", j, bulkDocs)
	}
	res := c.results(id) // fails on a duplicate index
	if len(res) != bulkDocs {
		t.Errorf("%d results, want %d", len(res), bulkDocs)
	}
	for i := range bulkDocs {
		r, ok := res[i]
		if !ok || !r.Valid || r.Ref != strconv.Itoa(i+1) {
			t.Fatalf("index %d: %+v (present %v)", i, r, ok)
		}
	}
}

// cluster is a gateway and verifiers running as separate processes on a
// real nats-server and redis-server.
type cluster struct {
	c         *client
	gateway   *proc
	verifiers []*proc
}

func startCluster(t *testing.T, verifiers int) *cluster {
	t.Helper()
	natsURL, redisURL := startServers(t)
	addr := freeAddr(t)
	cl := &cluster{}
	cl.gateway = startProc(t, "gateway", bin.gateway, []string{"--addr", addr, "--chunk-items", "64"},
		"STELE_NATS_URL="+natsURL, "STELE_REDIS_URL="+redisURL)
	for i := range verifiers {
		name := fmt.Sprintf("verifier-%d", i)
		cl.verifiers = append(cl.verifiers, startProc(t, name, bin.verifier,
			[]string{"--nats", natsURL, "--redis", redisURL, "--concurrency", "2", "--ack-wait", "2s", "--retry-delay", "100ms", "--name", name}))
	}
	cl.c = newClient(t, addr)
	cl.c.waitReady(cl.gateway)
	return cl
}

// TestClusterMixedBatch sends the reference corpus, mixed with malformed
// items, through the gateway and two verifier processes, as JSON with ?wait
// and as NDJSON, and gets exactly the reference's verdicts.
func TestClusterMixedBatch(t *testing.T) {
	cl := startCluster(t, 2)

	body, exp := mixedJSON(t)
	a := cl.c.submit("/v1/verify?wait=60s", ctJSON, body, 200)
	checkJob(t, a.Job, exp)
	checkVerdicts(t, toMap(a.Items), exp)

	nd, nexp, at := mixedNDJSON(t)
	a = cl.c.submit("/v1/verify?at="+at.Format(time.RFC3339), ctNDJSON, nd, 202)
	checkJob(t, cl.c.waitJob(a.ID, 2*time.Minute), nexp)
	checkVerdicts(t, cl.c.results(a.ID), nexp)

	// A covenant verified inline is served back; the second submission of
	// the corpus comes from the verifiers' signature cache with the same
	// verdicts.
	docs, _, _ := corpus.Load()
	got := cl.c.do("GET", "/v1/covenants/"+docs[0].ID, "", nil, 200)
	if !bytes.Contains(got, []byte(docs[0].ID)) {
		t.Errorf("stored covenant %.200s", got)
	}
	a = cl.c.submit("/v1/verify?wait=60s", ctJSON, body, 200)
	checkVerdicts(t, toMap(a.Items), exp)
}

// TestClusterNDJSONBulk uploads 20,000 documents as NDJSON: the job
// completes with every result present exactly once.
func TestClusterNDJSONBulk(t *testing.T) {
	batch := bulkBatch(t)
	cl := startCluster(t, 2)
	a := cl.c.submit("/v1/verify", ctNDJSON, batch, 202)
	if a.Total != bulkDocs {
		t.Fatalf("total %d, want %d", a.Total, bulkDocs)
	}
	cl.c.waitJob(a.ID, 5*time.Minute)
	checkBulk(t, cl.c, a.ID)
	for _, v := range cl.verifiers {
		if !strings.Contains(v.output(t), "verifier started") {
			t.Errorf("%s did not start", v.name)
		}
	}
}

// TestClusterVerifierKilled kills one of two verifiers in the middle of a
// 20,000-document job: its unacknowledged chunks are redelivered to the
// other, and the job completes with every result exactly once and counted
// once.
func TestClusterVerifierKilled(t *testing.T) {
	batch := bulkBatch(t)
	cl := startCluster(t, 2)
	a := cl.c.submit("/v1/verify", ctNDJSON, batch, 202)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		j := cl.c.job(a.ID)
		if j.Done >= bulkDocs/10 {
			if j.Done >= bulkDocs {
				t.Fatalf("the job finished before a verifier could be killed: %+v", j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %+v", j)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cl.verifiers[0].kill()
	t.Logf("killed %s at %d of %d", cl.verifiers[0].name, cl.c.job(a.ID).Done, bulkDocs)
	cl.c.waitJob(a.ID, 5*time.Minute)
	checkBulk(t, cl.c, a.ID)
}

// TestEmbedded runs the all-in-one binary: the mixed batch gets the
// reference's verdicts; a batch still queued at shutdown is finished after a
// restart; and jobs, results and documents survive the restart.
func TestEmbedded(t *testing.T) {
	data := t.TempDir()
	addr := freeAddr(t)
	args := []string{"--embedded", "--data", data, "--addr", addr, "--chunk-items", "64"}
	gw := startProc(t, "embedded", bin.gateway, args)
	c := newClient(t, addr)
	c.waitReady(gw)
	if out := gw.output(t); !strings.Contains(out, "http://"+addr) || !strings.Contains(out, "curl") {
		t.Errorf("the all-in-one did not print its address and an example:\n%s", out)
	}
	// The printed example works as is.
	example := c.do("POST", "/v1/verify?wait=30s", ctJSON, bytes.NewReader(readFile(t, data+"/example-request.json")), 200)
	if !bytes.Contains(example, []byte(`"valid":1`)) {
		t.Errorf("example request: %.300s", example)
	}

	body, exp := mixedJSON(t)
	first := c.submit("/v1/verify?wait=60s", ctJSON, body, 200)
	checkJob(t, first.Job, exp)
	checkVerdicts(t, toMap(first.Items), exp)
	nd, nexp, at := mixedNDJSON(t)
	second := c.submit("/v1/verify?wait=60s&at="+at.Format(time.RFC3339), ctNDJSON, nd, 200)
	checkJob(t, second.Job, nexp)
	before := c.results(second.ID)
	checkVerdicts(t, before, nexp)

	// Queue the bulk batch and stop at once: what the verifier has not
	// taken stays in JetStream on disk.
	bulkJob := c.submit("/v1/verify", ctNDJSON, bulkBatch(t), 202)
	if err := gw.stop(t, 60*time.Second); err != nil {
		t.Fatalf("all-in-one exit: %v", err)
	}

	gw = startProc(t, "embedded-restarted", bin.gateway, args)
	c.waitReady(gw)
	if j := c.job(first.ID); j != first.Job {
		t.Errorf("job after restart %+v, before %+v", j, first.Job)
	}
	after := c.results(second.ID)
	if len(after) != len(before) {
		t.Errorf("%d results after restart, %d before", len(after), len(before))
	}
	for i, r := range before {
		if !slices.Equal(failedChecks(after[i]), failedChecks(r)) || after[i].Valid != r.Valid || after[i].Error != r.Error {
			t.Errorf("result %d changed across the restart: %+v, before %+v", i, after[i], r)
		}
	}
	docs, _, _ := corpus.Load()
	c.do("GET", "/v1/covenants/"+docs[5].ID, "", nil, 200)
	t.Logf("bulk job after the restart: %d of %d done", c.job(bulkJob.ID).Done, bulkDocs)
	c.waitJob(bulkJob.ID, 5*time.Minute)
	checkBulk(t, c, bulkJob.ID)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestClusterGatewayStopsWhileWaiting stops (SIGTERM) a gateway that holds a
// ?wait request for a job no verifier has taken yet. The request is answered
// at once with 202 and the job's ID, as when its wait runs out, and the
// gateway exits promptly; before, the shutdown waited for the request until
// its own deadline and then cut it off, the client left without the ID of
// the job it had queued. A new gateway and a verifier then finish the job.
func TestClusterGatewayStopsWhileWaiting(t *testing.T) {
	body, exp := mixedJSON(t)
	cl := startCluster(t, 0)
	type answerOrErr struct {
		status int
		body   []byte
		err    error
	}
	answered := make(chan answerOrErr, 1)
	go func() {
		resp, err := cl.c.hc.Post(cl.c.base+"/v1/verify?wait=1m", ctJSON, bytes.NewReader(body))
		if err != nil {
			answered <- answerOrErr{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		answered <- answerOrErr{status: resp.StatusCode, body: data, err: err}
	}()
	// The job is queued and the request waits for it.
	time.Sleep(2 * time.Second)
	select {
	case a := <-answered:
		t.Fatalf("answered before the shutdown: %d %s %v", a.status, a.body, a.err)
	default:
	}
	start := time.Now()
	if err := cl.gateway.stop(t, 40*time.Second); err != nil {
		t.Errorf("gateway exit: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the gateway took %v to stop", d)
	}
	var a answerOrErr
	select {
	case a = <-answered:
	case <-time.After(5 * time.Second):
		t.Fatal("no answer after the gateway stopped")
	}
	if a.err != nil || a.status != http.StatusAccepted {
		t.Fatalf("answer %d %.300s (err %v), want 202 with the job", a.status, a.body, a.err)
	}
	var queued answer
	if err := json.Unmarshal(a.body, &queued); err != nil || queued.ID == "" || queued.Total != len(exp) {
		t.Fatalf("answer %s: %v", a.body, err)
	}

	// The job was queued: a new gateway and a verifier finish it.
	natsURL, redisURL := procEnv(cl.gateway, "STELE_NATS_URL"), procEnv(cl.gateway, "STELE_REDIS_URL")
	addr := freeAddr(t)
	gw := startProc(t, "gateway-2", bin.gateway, []string{"--addr", addr}, "STELE_NATS_URL="+natsURL, "STELE_REDIS_URL="+redisURL)
	startProc(t, "verifier", bin.verifier, []string{"--nats", natsURL, "--redis", redisURL, "--concurrency", "2"})
	c := newClient(t, addr)
	c.waitReady(gw)
	checkJob(t, c.waitJob(queued.ID, 2*time.Minute), exp)
}

// procEnv returns the value p was started with for the variable name.
func procEnv(p *proc, name string) string {
	for _, kv := range slices.Backward(p.cmd.Env) {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}
