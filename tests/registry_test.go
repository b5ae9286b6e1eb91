package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
)

// registryCluster is gateways, signers and verifiers as separate processes
// on one real nats-server and redis-server, the signers sharing one key
// directory.
type registryCluster struct {
	gateways  []*proc
	clients   []*client
	signers   []*proc
	verifiers []*proc
	redisURL  string
	keyID     string
	issuerPub string
}

type clusterSpec struct {
	gateways, signers, verifiers int
	chunkItems                   int
}

func startRegistryCluster(t *testing.T, spec clusterSpec) *registryCluster {
	t.Helper()
	natsURL, redisURL := startServers(t)
	rc := &registryCluster{redisURL: redisURL, keyID: "issuer-e2e"}
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	rc.issuerPub = k.PublicHex()
	if err := os.WriteFile(filepath.Join(dir, rc.keyID+".key"), []byte(keys.EncodeHex(k.Seed())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if spec.chunkItems == 0 {
		spec.chunkItems = 64
	}
	env := []string{"STELE_NATS_URL=" + natsURL, "STELE_REDIS_URL=" + rc.redisURL}
	for i := range spec.gateways {
		addr := freeAddr(t)
		gw := startProc(t, fmt.Sprintf("gateway-%d", i), bin.gateway,
			[]string{"--addr", addr, "--nats", natsURL, "--redis", rc.redisURL, "--chunk-items", strconv.Itoa(spec.chunkItems)}, env...)
		rc.gateways = append(rc.gateways, gw)
		rc.clients = append(rc.clients, newClient(t, addr))
	}
	for i := range spec.signers {
		name := fmt.Sprintf("signer-%d", i)
		rc.signers = append(rc.signers, startProc(t, name, bin.signer,
			[]string{"--nats", natsURL, "--redis", rc.redisURL, "--keys", dir, "--concurrency", "1", "--fetch-batch", "2",
				"--ack-wait", "2s", "--retry-delay", "100ms", "--name", name}))
	}
	for i := range spec.verifiers {
		name := fmt.Sprintf("verifier-%d", i)
		rc.verifiers = append(rc.verifiers, startProc(t, name, bin.verifier,
			[]string{"--nats", natsURL, "--redis", rc.redisURL, "--concurrency", "2", "--ack-wait", "2s", "--retry-delay", "100ms", "--name", name}))
	}
	for i, c := range rc.clients {
		c.waitReady(rc.gateways[i])
	}
	// The signers advertise their keys at start-up; a sign request before
	// that would get unknown_key.
	deadline := time.Now().Add(60 * time.Second)
	for len(rc.signers) > 0 {
		var ks struct {
			Keys []struct {
				KeyID string `json:"keyId"`
			} `json:"keys"`
		}
		body := rc.clients[0].do("GET", "/v1/keys", "", nil, 200)
		if err := json.Unmarshal(body, &ks); err != nil {
			t.Fatalf("GET /v1/keys: %v: %.300s", err, body)
		}
		if len(ks.Keys) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no signer advertised its key within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return rc
}

// signItem is one item of a POST /v1/sign request.
func (rc *registryCluster) signItem(ref, beneficiary, constraints, parentID string) map[string]any {
	it := map[string]any{
		"ref":         ref,
		"keyId":       rc.keyID,
		"issuer":      map[string]any{"id": "e2e-issuer"},
		"beneficiary": map[string]any{"id": beneficiary, "publicKey": strings.Repeat("ab", 32)},
		"constraints": constraints,
	}
	if parentID != "" {
		it["parentId"] = parentID
		it["relation"] = "restricts"
	}
	return it
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listAll pages through GET /v1/covenants with query q and returns every
// document by ID, failing on a document listed twice.
func listAll(t *testing.T, c *client, q url.Values) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for {
		var page struct {
			Items []struct {
				ID       string          `json:"id"`
				Document json.RawMessage `json:"document"`
			} `json:"items"`
			Next *string `json:"next"`
		}
		body := c.do("GET", "/v1/covenants?"+q.Encode(), "", nil, 200)
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("listing: %v: %.300s", err, body)
		}
		for _, it := range page.Items {
			if _, dup := out[it.ID]; dup {
				t.Fatalf("covenant %s listed twice", it.ID)
			}
			out[it.ID] = it.Document
		}
		if page.Next == nil {
			return out
		}
		q.Set("cursor", *page.Next)
	}
}

// TestClusterSignKilledSigner signs 1,000 covenants through two signer
// processes and SIGKILLs one of them in the middle of the job: its chunks in
// hand are redelivered to the other, and exactly 1,000 covenants are stored,
// each once, each verifying under the reference's rules.
func TestClusterSignKilledSigner(t *testing.T) {
	const n = 1000
	rc := startRegistryCluster(t, clusterSpec{gateways: 1, signers: 2, chunkItems: 4})
	c := rc.clients[0]
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = rc.signItem(strconv.Itoa(i), fmt.Sprintf("agent-%04d", i),
			fmt.Sprintf("permit read on '/data/%d/**'\ndeny delete on '**'", i), "")
	}
	a := c.submit("/v1/sign", ctJSON, mustJSON(t, map[string]any{"items": items}), 202)
	if a.Total != n {
		t.Fatalf("total %d, want %d", a.Total, n)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		j := c.job(a.ID)
		if j.Done >= 40 {
			if j.Done >= n {
				t.Fatalf("the job finished before a signer could be killed: %+v", j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %+v", j)
		}
		time.Sleep(2 * time.Millisecond)
	}
	rc.signers[0].kill()
	t.Logf("killed %s at %d of %d", rc.signers[0].name, c.job(a.ID).Done, n)
	j := c.waitJob(a.ID, 3*time.Minute)
	if j.Total != n || j.Done != n || j.Valid != n || j.Failed != 0 {
		t.Fatalf("job %+v, want %d signed", j, n)
	}
	checkSignedOnce(t, c, a.ID, n, "e2e-issuer", rc.issuerPub)
}

// checkSignedOnce checks the results of sign job jobID, of n items
// (refs 0 to n-1, beneficiaries agent-0000 on), against the covenants of
// issuer issuerID listed by the registry: each item names its own covenant,
// exactly n are stored, none twice, and each verifies with the issuer key
// issuerPub and its item's beneficiary.
func checkSignedOnce(t *testing.T, c *client, jobID string, n int, issuerID, issuerPub string) {
	t.Helper()
	results := c.results(jobID) // fails on a duplicate index
	ids := map[string]int{}
	for i := range n {
		r, ok := results[i]
		if !ok || r.Error != "" || r.DocumentID == "" || r.Ref != strconv.Itoa(i) {
			t.Fatalf("result %d: %+v (present %v)", i, r, ok)
		}
		if prev, dup := ids[r.DocumentID]; dup {
			t.Fatalf("items %d and %d name the same covenant %s", prev, i, r.DocumentID)
		}
		ids[r.DocumentID] = i
	}
	stored := listAll(t, c, url.Values{"issuer": {issuerID}, "limit": {"1000"}})
	if len(stored) != n {
		t.Fatalf("%d covenants stored, want exactly %d", len(stored), n)
	}
	v, err := covenant.NewVerifier()
	if err != nil {
		t.Fatal(err)
	}
	for id, raw := range stored {
		i, ok := ids[id]
		if !ok {
			t.Fatalf("stored covenant %s is not named by any result", id)
		}
		doc, err := covenant.Parse(raw)
		if err != nil {
			t.Fatalf("covenant %s: %v", id, err)
		}
		if res := v.Verify(doc); !res.Valid {
			t.Fatalf("covenant %s (item %d) does not verify: %+v", id, i, res)
		}
		if doc.Issuer().PublicKey != issuerPub || doc.Beneficiary().ID != fmt.Sprintf("agent-%04d", i) {
			t.Fatalf("covenant %s (item %d): issuer %s, beneficiary %s", id, i, doc.Issuer().PublicKey, doc.Beneficiary().ID)
		}
	}
}

// TestClusterChain builds a three-level chain: the signer refuses a
// broadening grandchild; one built elsewhere is stored, and a chain
// verification through a verifier process rejects it while its ancestors
// pass.
func TestClusterChain(t *testing.T) {
	rc := startRegistryCluster(t, clusterSpec{gateways: 1, signers: 1, verifiers: 1})
	c := rc.clients[0]
	signOne := func(item map[string]any) (string, string) {
		a := c.submit("/v1/sign?wait=60s", ctJSON, mustJSON(t, map[string]any{"items": []any{item}}), 200)
		if len(a.Items) != 1 {
			t.Fatalf("sign answer %+v", a)
		}
		return a.Items[0].DocumentID, a.Items[0].Error
	}
	root, errMsg := signOne(rc.signItem("root", "team", "permit read on '/data/**'\npermit write on '/data/**'", ""))
	if errMsg != "" {
		t.Fatalf("root: %s", errMsg)
	}
	child, errMsg := signOne(rc.signItem("child", "agent", "permit read on '/data/**'", root))
	if errMsg != "" {
		t.Fatalf("child: %s", errMsg)
	}
	if _, errMsg := signOne(rc.signItem("grandchild", "sub-agent", "permit read on '/data/**'\npermit write on '/data/**'", child)); !strings.HasPrefix(errMsg, "broadens_parent") {
		t.Fatalf("broadening grandchild signed: error %q, want broadens_parent", errMsg)
	}

	// The same grandchild built by someone else's key and stored by PUT.
	k, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	gc, err := covenant.Build(covenant.BuildOptions{
		Issuer:      covenant.Party{ID: "elsewhere", PublicKey: k.PublicHex(), Role: covenant.RoleIssuer},
		Beneficiary: covenant.Party{ID: "sub-agent", PublicKey: strings.Repeat("cd", 32), Role: covenant.RoleBeneficiary},
		Constraints: "permit read on '/data/**'\npermit write on '/data/**'",
		Chain:       &covenant.ChainRef{ParentID: child, Relation: "restricts", Depth: 2},
	}, k)
	if err != nil {
		t.Fatal(err)
	}
	c.do("PUT", "/v1/covenants", ctJSON, bytes.NewReader(gc.AppendJSON(nil)), 201)
	c.do("PUT", "/v1/covenants?chain=true", ctJSON, bytes.NewReader(gc.AppendJSON(nil)), 422)

	body := mustJSON(t, map[string]any{"chain": true, "items": []any{
		map[string]any{"ref": "root", "documentId": root},
		map[string]any{"ref": "child", "documentId": child},
		map[string]any{"ref": "grandchild", "documentId": gc.ID()},
	}})
	a := c.submit("/v1/verify?wait=60s", ctJSON, body, 200)
	got := toMap(a.Items)
	if !got[0].Valid || !got[1].Valid {
		t.Fatalf("ancestors: %+v %+v", got[0], got[1])
	}
	if got[2].Valid || !strings.Contains(strings.Join(failedChecks(got[2]), ","), "chain_narrowing") {
		t.Fatalf("broadening grandchild: %+v, want invalid by chain_narrowing", got[2])
	}
	// Without chain verification the grandchild is a valid covenant.
	body = mustJSON(t, map[string]any{"items": []any{map[string]any{"documentId": gc.ID()}}})
	if a := c.submit("/v1/verify?wait=60s", ctJSON, body, 200); len(a.Items) != 1 || !a.Items[0].Valid {
		t.Fatalf("grandchild without chain: %+v", a.Items)
	}

	var info struct {
		Valid     bool `json:"valid"`
		Ancestors []struct {
			ID string `json:"id"`
		} `json:"ancestors"`
	}
	if err := json.Unmarshal(c.do("GET", "/v1/covenants/"+gc.ID()+"/chain", "", nil, 200), &info); err != nil {
		t.Fatal(err)
	}
	if info.Valid || len(info.Ancestors) != 2 || info.Ancestors[0].ID != child || info.Ancestors[1].ID != root {
		t.Fatalf("chain of the grandchild: %+v", info)
	}
	if err := json.Unmarshal(c.do("GET", "/v1/covenants/"+child+"/chain", "", nil, 200), &info); err != nil || !info.Valid {
		t.Fatalf("chain of the child: %+v, %v", info, err)
	}
}

// TestClusterEvaluateRateLimit sends 10,000 evaluations through two gateway
// processes against one covenant limited to 100 reads per minute: exactly
// 100 are permitted. The audit trail of all of them verifies; an entry
// edited in Redis is then detected at its index.
func TestClusterEvaluateRateLimit(t *testing.T) {
	const n, workers = 10_000, 16
	rc := startRegistryCluster(t, clusterSpec{gateways: 2, signers: 1})
	c := rc.clients[0]
	a := c.submit("/v1/sign?wait=60s", ctJSON, mustJSON(t, map[string]any{"items": []any{
		rc.signItem("limited", "agent", "permit read on '/data/**'\nlimit read 100 per 1 minutes", ""),
	}}), 200)
	if len(a.Items) != 1 || a.Items[0].Error != "" {
		t.Fatalf("sign: %+v", a.Items)
	}
	id := a.Items[0].DocumentID

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	body := mustJSON(t, map[string]any{"covenantId": id, "action": "read", "resource": "/data/x"})
	var permitted, denied atomic.Int64
	var mu sync.Mutex
	var errs []error
	next := atomic.Int64{}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			base := rc.clients[w%len(rc.clients)].base
			for next.Add(1) <= n {
				d, err := evaluateOnce(hc, base, body)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if d {
					permitted.Add(1)
				} else {
					denied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(errs) > 0 {
		t.Fatalf("%d evaluations failed; first: %v", len(errs), errs[0])
	}
	if elapsed >= 55*time.Second {
		t.Fatalf("10,000 evaluations took %v: too slow for a one-minute window to hold them", elapsed)
	}
	if permitted.Load() != 100 || denied.Load() != n-100 {
		t.Fatalf("%d permitted, %d denied; want exactly 100 permitted of %d", permitted.Load(), denied.Load(), n)
	}
	t.Logf("%d evaluations through 2 gateways in %v", n, elapsed)

	type verdict struct {
		Valid      bool   `json:"valid"`
		Entries    int    `json:"entries"`
		BrokenAt   *int   `json:"brokenAt"`
		MerkleRoot string `json:"merkleRoot"`
	}
	var v verdict
	if err := json.Unmarshal(rc.clients[1].do("GET", "/v1/covenants/"+id+"/audit/verify", "", nil, 200), &v); err != nil {
		t.Fatal(err)
	}
	if !v.Valid || v.Entries != n || v.BrokenAt != nil || len(v.MerkleRoot) != 64 {
		t.Fatalf("audit verification %+v, want valid with %d entries", v, n)
	}

	// Edit entry 4321 in Redis: the action of a recorded evaluation.
	opts, err := redis.ParseURL(rc.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	key := "stele:{audit:" + id + "}:entries"
	const edited = 4321
	entry, err := rdb.LIndex(ctx, key, edited).Result()
	if err != nil {
		t.Fatalf("read entry %d at %s: %v", edited, key, err)
	}
	changed := strings.Replace(entry, `"action":"read"`, `"action":"write"`, 1)
	if changed == entry {
		t.Fatalf("entry %d has no read action: %s", edited, entry)
	}
	if err := rdb.LSet(ctx, key, edited, changed).Err(); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(c.do("GET", "/v1/covenants/"+id+"/audit/verify", "", nil, 200), &v); err != nil {
		t.Fatal(err)
	}
	if v.Valid || v.BrokenAt == nil || *v.BrokenAt != edited {
		t.Fatalf("after editing entry %d: %+v", edited, v)
	}
}

// evaluateOnce posts one evaluation and returns whether it was permitted.
func evaluateOnce(hc *http.Client, base string, body []byte) (bool, error) {
	resp, err := hc.Post(base+"/v1/evaluate", ctJSON, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	if resp.StatusCode != 200 {
		return false, fmt.Errorf("status %d: %.300s", resp.StatusCode, data)
	}
	var d struct {
		Permitted  *bool `json:"permitted"`
		AuditEntry struct {
			Hash string `json:"hash"`
		} `json:"auditEntry"`
	}
	if err := json.Unmarshal(data, &d); err != nil || d.Permitted == nil || len(d.AuditEntry.Hash) != 64 {
		return false, fmt.Errorf("evaluate answer %.300s: %v", data, err)
	}
	return *d.Permitted, nil
}
