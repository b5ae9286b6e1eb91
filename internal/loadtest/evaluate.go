package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// The evaluate phase signs a few covenants through the pipeline, then sends
// POST /v1/evaluate at a fixed rate, open loop, round-robin over the
// gateways and the covenants, and checks every decision: the request mix
// alternates actions the covenant permits and denies, and every answer must
// carry the expected verdict and an audit entry. Afterwards each covenant's
// audit trail is verified through the gateway.

// evalLimit is the limit statement's count per hour of the evaluated
// covenants: generous, so that the rate limit is counted on every api.call
// but never exhausted within maxDuration at maxRate.
const evalLimit = 1_000_000_000

// evalWarmup is the number of unmeasured evaluations per gateway and
// covenant before the measurement (covenant cache, connections).
const evalWarmup = 20

// evalCase is one kind of evaluation request.
type evalCase struct {
	action, resource, context string
	permitted                 bool
}

// evalCases are the request kinds, used in turn; {i} is the covenant's item
// number (see signConstraints).
var evalCases = []evalCase{
	{"read", "/data/agent-{i}/reports/q3.csv", "", true},
	{"delete", "/system/config/users", "", false},
	{"write", "/data/agent-{i}/inbox/msg-1", `{"risk_level":1}`, true},
	{"write", "/data/agent-{i}/inbox/msg-2", `{"risk_level":7}`, false},
	{"api.call", "/api/v1/search", "", true},
	{"read", "/elsewhere/secret", "", false},
}

// EvaluateResult is the fixed-rate evaluation measurement.
type EvaluateResult struct {
	Rate       float64       `json:"rate"`
	Duration   time.Duration `json:"durationNs"`
	Gateways   []string      `json:"gateways"`
	Covenants  []string      `json:"covenants"`
	Conns      int           `json:"connectionsPerGateway"`
	Client     string        `json:"client"` // "raw" (connPool) or "std" (net/http)
	Permitted  int64         `json:"permitted"`
	Denied     int64         `json:"denied"`
	Unexpected int64         `json:"unexpected"` // decisions other than the constraints imply (counted as errors too)
	Latencies
	Audit []AuditCheck `json:"audit"`
}

// AuditCheck is GET /v1/covenants/{id}/audit/verify after the run.
type AuditCheck struct {
	CovenantID string `json:"covenantId"`
	Valid      bool   `json:"valid"`
	Entries    int    `json:"entries"`
	BrokenAt   *int   `json:"brokenAt"`
}

// AuditOK reports whether every audit trail verified with at least one
// entry per measured request.
func (r *EvaluateResult) AuditOK() bool {
	entries := 0
	for _, a := range r.Audit {
		if !a.Valid {
			return false
		}
		entries += a.Entries
	}
	return len(r.Audit) > 0 && entries >= r.Requests
}

// evalBodies returns the request bodies of covenant c (item number i), one
// per evalCase.
func evalBodies(covenantID string, i int) ([][]byte, error) {
	out := make([][]byte, len(evalCases))
	for k, ec := range evalCases {
		req := struct {
			CovenantID string          `json:"covenantId"`
			Action     string          `json:"action"`
			Resource   string          `json:"resource"`
			Context    json.RawMessage `json:"context,omitempty"`
		}{covenantID, ec.action, string(bytes.ReplaceAll([]byte(ec.resource), []byte("{i}"), []byte(strconv.Itoa(i)))), nil}
		if ec.context != "" {
			req.Context = json.RawMessage(ec.context)
		}
		b, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		out[k] = b
	}
	return out, nil
}

// evalClient is an HTTP client with at most conns keep-alive connections
// per gateway: requests beyond wait for a connection (and that wait counts
// in their latency) instead of opening more.
func evalClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxConnsPerHost: conns, MaxIdleConns: 4 * conns, MaxIdleConnsPerHost: conns,
		IdleConnTimeout: 30 * time.Second, DisableCompression: true,
	}, Timeout: 30 * time.Second}
}

// poster sends a JSON body to one path (POST /v1/evaluate, POST
// /v1/verify?wait=…) of gateway g.
type poster func(ctx context.Context, g int, body []byte) (status int, answer []byte, err error)

// newPoster returns a poster to path (with its query, if any) of gateways
// with at most conns connections each: connPool ("raw") or net/http
// ("std"); close releases them.
func newPoster(gateways []string, path string, conns int, kind string) (post poster, close func(), err error) {
	switch kind {
	case "std":
		c := evalClient(conns)
		urls := make([]string, len(gateways))
		for g, gw := range gateways {
			urls[g] = gw + path
		}
		return func(ctx context.Context, g int, body []byte) (int, []byte, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, urls[g], bytes.NewReader(body))
			if err != nil {
				return 0, nil, err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				return 0, nil, err
			}
			defer resp.Body.Close()
			answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
			return resp.StatusCode, answer, err
		}, c.CloseIdleConnections, nil
	case "raw":
		pools := make([]*connPool, len(gateways))
		paths := make([]string, len(gateways))
		for g, gw := range gateways {
			if pools[g], err = newConnPool(gw, conns); err != nil {
				return nil, nil, err
			}
			u, _ := url.Parse(gw)
			paths[g] = u.Path + path
		}
		return func(ctx context.Context, g int, body []byte) (int, []byte, error) {
				return pools[g].post(ctx, paths[g], body)
			}, func() {
				for _, p := range pools {
					p.close()
				}
			}, nil
	}
	return nil, nil, fmt.Errorf("%w: client %q is neither raw nor std", ErrUsage, kind)
}

// measureEvaluate signs nCov covenants through base, warms every gateway
// up, then evaluates at rate for d and verifies the audit trails. begin is
// called when the measurement starts, and the function it returns when the
// measurement ends.
func measureEvaluate(ctx context.Context, client *http.Client, base string, gateways []string, clientKind, keyID, salt string,
	nCov int, rate float64, d time.Duration, conns, maxInFlight int, begin func() (end func()), logf func(string, ...any)) (EvaluateResult, error) {
	res := EvaluateResult{Rate: rate, Duration: d, Gateways: gateways, Conns: conns, Client: clientKind}
	post, closePost, err := newPoster(gateways, "/v1/evaluate", conns, clientKind)
	if err != nil {
		return res, err
	}
	defer closePost()
	ids, err := signWait(ctx, client, base, signItems(keyID, "eval-"+salt, 0, nCov, evalLimit))
	if err != nil {
		return res, fmt.Errorf("evaluate: sign the covenants: %w", err)
	}
	res.Covenants = ids
	bodies := make([][][]byte, nCov)
	for c, id := range ids {
		if bodies[c], err = evalBodies(id, c); err != nil {
			return res, err
		}
	}
	var permitted, denied, unexpected atomic.Int64
	nG := len(gateways)
	send := func(ctx context.Context, i int) error {
		g, c, k := i%nG, (i/nG)%nCov, (i/(nG*nCov))%len(evalCases)
		return evaluateOnce(ctx, post, g, bodies[c][k], evalCases[k].permitted, &permitted, &denied, &unexpected)
	}
	logf("warming up: %d evaluations on each of %d gateways and %d covenants", evalWarmup, nG, nCov)
	for i := range evalWarmup * nG * nCov {
		if err := send(ctx, i); err != nil {
			return res, fmt.Errorf("evaluate: warm-up: %w", err)
		}
	}
	permitted.Store(0)
	denied.Store(0)
	unexpected.Store(0)
	logf("evaluations at %g/s for %v over %d gateway(s), %d covenant(s), %d connections each (%s client)", rate, d, nG, nCov, conns, clientKind)
	end := begin()
	res.Latencies, err = openLoop(ctx, rate, d, maxInFlight, send)
	end()
	if err != nil {
		return res, err
	}
	res.Permitted, res.Denied, res.Unexpected = permitted.Load(), denied.Load(), unexpected.Load()
	for _, id := range ids {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/covenants/"+id+"/audit/verify", nil)
		if err != nil {
			return res, err
		}
		a := AuditCheck{CovenantID: id}
		if err := doJSON(client, req, http.StatusOK, &a); err != nil {
			return res, fmt.Errorf("evaluate: verify the audit trail of %s: %w", id, err)
		}
		a.CovenantID = id
		res.Audit = append(res.Audit, a)
	}
	return res, nil
}

// decision is the part of an evaluation's answer the tool checks.
type decision struct {
	Permitted  *bool `json:"permitted"`
	AuditEntry *struct {
		Index *int   `json:"index"`
		Hash  string `json:"hash"`
	} `json:"auditEntry"`
}

// evaluateOnce posts one evaluation to gateway g and checks the answer:
// 200, the expected verdict, an audit entry with an index and a SHA-256
// hash.
func evaluateOnce(ctx context.Context, post poster, g int, body []byte, want bool, permitted, denied, unexpected *atomic.Int64) error {
	status, answer, err := post(ctx, g, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("POST /v1/evaluate: status %d: %s", status, bytes.TrimSpace(answer[:min(len(answer), 512)]))
	}
	var d decision
	if err := json.Unmarshal(answer, &d); err != nil {
		return fmt.Errorf("POST /v1/evaluate: %w", err)
	}
	if d.Permitted == nil || d.AuditEntry == nil || d.AuditEntry.Index == nil || len(d.AuditEntry.Hash) != 64 {
		unexpected.Add(1)
		return fmt.Errorf("evaluate: answer without a verdict or an audit entry")
	}
	if *d.Permitted {
		permitted.Add(1)
	} else {
		denied.Add(1)
	}
	if *d.Permitted != want {
		unexpected.Add(1)
		return fmt.Errorf("evaluate %s: permitted %v, want %v", body, *d.Permitted, want)
	}
	return nil
}
