package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
)

// The sign phases compare signing through the pipeline (POST /v1/sign →
// NATS → signer processes → store) with covenant.Build on every core of this
// process, on covenants of one shape: about five CCL statements, a
// beneficiary, and metadata with a name and tags.

// signBeneficiaries is the number of beneficiary keys the items cycle
// through.
const signBeneficiaries = 4

// signConstraints returns the constraints of sign item i: four rules and a
// limit of limit calls per hour.
func signConstraints(i, limit int) string {
	return fmt.Sprintf("permit read on '/data/agent-%d/**'\n"+
		"permit write on '/data/agent-%d/inbox/*' when risk_level < 3\n"+
		"permit api.call on '/api/**'\n"+
		"deny delete on '/system/**'\n"+
		"limit api.call %d per 1 hours", i%97, i%97, limit)
}

// signTags are the metadata tags of every sign item.
var signTags = []string{"loadtest", "sign"}

// signItem is one item of a POST /v1/sign request.
type signItem struct {
	Ref         string        `json:"ref"`
	KeyID       string        `json:"keyId"`
	Beneficiary signParty     `json:"beneficiary"`
	Constraints string        `json:"constraints"`
	Metadata    *signMetadata `json:"metadata,omitempty"`
}

type signParty struct {
	ID        string `json:"id"`
	PublicKey string `json:"publicKey"`
}

type signMetadata struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

// signItems returns items first … first+n−1 of a run tagged salt, signed
// with keyID; limit is the limit statement's count.
func signItems(keyID, salt string, first, n, limit int) []signItem {
	var bens [signBeneficiaries]string
	for b := range bens {
		bens[b] = deriveKey("beneficiary", b).PublicHex()
	}
	items := make([]signItem, n)
	for j := range items {
		i := first + j
		items[j] = signItem{
			Ref:         "sign-" + salt + "-" + strconv.Itoa(i),
			KeyID:       keyID,
			Beneficiary: signParty{ID: "agent-sign-" + strconv.Itoa(i), PublicKey: bens[i%signBeneficiaries]},
			Constraints: signConstraints(i, limit),
			Metadata:    &signMetadata{Name: "load test agent " + strconv.Itoa(i), Tags: signTags},
		}
	}
	return items
}

// SignInprocResult is covenant.Build with one key on every core.
type SignInprocResult struct {
	Workers   int           `json:"workers"`
	Covenants int           `json:"covenants"`
	Elapsed   time.Duration `json:"elapsedNs"`
	PerS      float64       `json:"covenantsPerSecond"`
	MeanBytes int           `json:"meanBytes"` // JSON size of one covenant
}

// measureSignInproc builds and signs covenants of the sign items' shape on
// GOMAXPROCS goroutines until minTime has passed (at least one block each).
func measureSignInproc(ctx context.Context, minTime time.Duration) (SignInprocResult, error) {
	issuer := deriveKey("sign-inproc", 0)
	const block = 256
	template := signItems("inproc", "inproc", 0, block, 1000)
	workers := runtime.GOMAXPROCS(0)
	var done, size atomic.Int64
	var stop atomic.Bool
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for b := 0; ; b++ {
				for j := range template {
					it := &template[j]
					doc, err := covenant.Build(signBuildOptions(it, issuer), issuer)
					if err != nil {
						errOnce.Do(func() { firstErr = fmt.Errorf("sign-inproc: item %d: %w", j, err) })
						stop.Store(true)
						return
					}
					if w == 0 && b == 0 {
						size.Add(int64(doc.Size()))
					}
				}
				done.Add(block)
				if stop.Load() || ctx.Err() != nil || time.Since(start) >= minTime {
					stop.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		return SignInprocResult{}, firstErr
	}
	n := int(done.Load())
	return SignInprocResult{Workers: workers, Covenants: n, Elapsed: el, PerS: float64(n) / el.Seconds(),
		MeanBytes: int(size.Load()) / block}, ctx.Err()
}

// signBuildOptions are the build options a signer derives from it.
func signBuildOptions(it *signItem, issuer *keys.PrivateKey) covenant.BuildOptions {
	return covenant.BuildOptions{
		Issuer:      covenant.Party{ID: it.KeyID, PublicKey: issuer.PublicHex(), Role: covenant.RoleIssuer},
		Beneficiary: covenant.Party{ID: it.Beneficiary.ID, PublicKey: it.Beneficiary.PublicKey, Role: covenant.RoleBeneficiary},
		Constraints: it.Constraints,
		Metadata:    &covenant.Metadata{Name: it.Metadata.Name, Tags: it.Metadata.Tags},
	}
}

// SignResult is N covenants signed through the pipeline.
type SignResult struct {
	KeyID    string        `json:"keyId"`
	Items    int           `json:"items"`
	Jobs     []string      `json:"jobs"`
	Upload   time.Duration `json:"uploadNs"`  // until the last request's 202
	Elapsed  time.Duration `json:"elapsedNs"` // until the last job completed
	PerS     float64       `json:"covenantsPerSecond"`
	Signed   int           `json:"signed"`  // results with a documentId and no error
	Failed   int           `json:"failed"`  // results with an error or without a documentId
	Missing  int           `json:"missing"` // items without a result
	Repeated int           `json:"repeated"`
	FirstErr string        `json:"firstError,omitempty"`
}

// OK reports whether every item was signed exactly once.
func (r *SignResult) OK() bool {
	return r.Signed == r.Items && r.Failed == 0 && r.Missing == 0 && r.Repeated == 0
}

// keyInfo is an entry of GET /v1/keys.
type keyInfo struct {
	KeyID   string `json:"keyId"`
	Retired bool   `json:"retired"`
	Revoked bool   `json:"revoked"`
}

// defaultSignKey returns the first key of GET /v1/keys that is neither
// retired nor revoked.
func defaultSignKey(ctx context.Context, client *http.Client, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/keys", nil)
	if err != nil {
		return "", err
	}
	var ks struct {
		Keys []keyInfo `json:"keys"`
	}
	if err := doJSON(client, req, http.StatusOK, &ks); err != nil {
		return "", fmt.Errorf("signing keys: %w", err)
	}
	for _, k := range ks.Keys {
		if !k.Retired && !k.Revoked {
			return k.KeyID, nil
		}
	}
	return "", fmt.Errorf("the gateway lists no usable signing key (%d keys): start a signer with keys, or give -sign-key", len(ks.Keys))
}

// signRequests encodes n items in requests of at most batch items.
func signRequests(keyID, salt string, n, batch, limit int) ([][]byte, error) {
	var bodies [][]byte
	for first := 0; first < n; first += batch {
		items := signItems(keyID, salt, first, min(batch, n-first), limit)
		b, err := json.Marshal(struct {
			Items []signItem `json:"items"`
		}{items})
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	return bodies, nil
}

// measureSign posts the requests in bodies (n items in all) one after the
// other, waits until every job completes, then reads every result and
// checks it names a covenant and no error.
func measureSign(ctx context.Context, client *http.Client, base, keyID string, bodies [][]byte, n int, timeout time.Duration) (SignResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := SignResult{KeyID: keyID, Items: n}
	start := time.Now()
	for i, body := range bodies {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/sign", bytes.NewReader(body))
		if err != nil {
			return res, err
		}
		req.Header.Set("Content-Type", "application/json")
		operatorAuth(req)
		var js jobStatus
		if err := doJSON(client, req, http.StatusAccepted, &js); err != nil {
			return res, fmt.Errorf("sign request %d: %w", i, err)
		}
		res.Jobs = append(res.Jobs, js.JobID)
	}
	res.Upload = time.Since(start)
	total := 0
	var last time.Time // the latest completedAt of the jobs
	for _, id := range res.Jobs {
		js, err := waitJob(ctx, client, base, id)
		if err != nil {
			return res, err
		}
		total += js.Total
		if js.CompletedAt.After(last) {
			last = js.CompletedAt
		}
	}
	// Until the last job completed, as recorded, not as the polls saw it
	// (see submitNDJSON).
	res.Elapsed = time.Since(start)
	if c := last.Sub(start); !last.IsZero() && c > 0 && c <= res.Elapsed {
		res.Elapsed = c
	}
	res.PerS = float64(n) / res.Elapsed.Seconds()
	if total != n {
		return res, fmt.Errorf("sign jobs hold %d items, want %d", total, n)
	}
	seen := make(map[string]bool, n)
	got := 0
	for _, id := range res.Jobs {
		err := streamResults(ctx, client, base, id, func(r signResult) {
			got++
			switch {
			case r.Error != "" || r.DocumentID == "" || !r.Valid:
				res.Failed++
				if res.FirstErr == "" {
					res.FirstErr = fmt.Sprintf("job %s item %d: %q", id, r.Index, r.Error)
				}
			case seen[r.DocumentID]:
				res.Repeated++
			default:
				seen[r.DocumentID] = true
				res.Signed++
			}
		})
		if err != nil {
			return res, err
		}
	}
	res.Missing = max(0, n-got)
	return res, nil
}

// waitJob polls job id until it completes.
func waitJob(ctx context.Context, client *http.Client, base, id string) (jobStatus, error) {
	var js jobStatus
	poll := 10 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/jobs/"+id, nil)
		if err != nil {
			return js, err
		}
		if err := doJSON(client, req, http.StatusOK, &js); err != nil {
			return js, fmt.Errorf("poll job %s: %w", id, err)
		}
		if js.Status == "completed" {
			return js, nil
		}
		select {
		case <-ctx.Done():
			return js, fmt.Errorf("job %s: %d of %d done when giving up: %w", id, js.Done, js.Total, ctx.Err())
		case <-time.After(poll):
		}
		poll = min(poll*2, 50*time.Millisecond)
	}
}

// signResult is the part of a sign item's result the tool reads.
type signResult struct {
	Index      int    `json:"index"`
	DocumentID string `json:"documentId"`
	Valid      bool   `json:"valid"`
	Error      string `json:"error"`
}

// streamResults calls fn for every result of job id (the NDJSON export).
func streamResults(ctx context.Context, client *http.Client, base, id string, fn func(signResult)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/jobs/"+id+"/results", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("results of job %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("results of job %s: status %d: %s", id, resp.StatusCode, bytes.TrimSpace(body))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r signResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("results of job %s: %w", id, err)
		}
		fn(r)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("results of job %s: %w", id, err)
	}
	return nil
}

// signWait signs items with one POST /v1/sign?wait and returns their
// covenant IDs in order.
func signWait(ctx context.Context, client *http.Client, base string, items []signItem) ([]string, error) {
	body, err := json.Marshal(struct {
		Items []signItem `json:"items"`
	}{items})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/sign?wait=30s", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	operatorAuth(req)
	var js struct {
		JobID  string       `json:"jobId"`
		Status string       `json:"status"`
		Items  []signResult `json:"items"`
	}
	if err := doJSON(client, req, http.StatusOK, &js); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if js.Status != "completed" || len(js.Items) != len(items) {
		return nil, fmt.Errorf("sign job %s: status %s with %d results, want %d", js.JobID, js.Status, len(js.Items), len(items))
	}
	ids := make([]string, len(items))
	for _, r := range js.Items {
		if r.Error != "" || r.DocumentID == "" || r.Index < 0 || r.Index >= len(ids) {
			return nil, fmt.Errorf("sign job %s item %d: no covenant: %s", js.JobID, r.Index, r.Error)
		}
		ids[r.Index] = r.DocumentID
	}
	return ids, nil
}

// operatorAuth adds the gateway's operator token, from STELE_ADMIN_TOKEN,
// to a request of an operator route (POST /v1/sign), when one is set.
func operatorAuth(req *http.Request) {
	if tok := os.Getenv("STELE_ADMIN_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
}
