package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/registry"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/natstest"
	"github.com/stele-go/stele/internal/testutil/redistest"
)

// storeCovenant builds a covenant with constraints and stores it.
func storeCovenant(t *testing.T, st store.Documents, constraints string) *covenant.Document {
	t.Helper()
	return storeCovenantAt(t, st, constraints, time.Time{})
}

func evalBody(id, action, resource, context string) []byte {
	b := fmt.Sprintf(`{"covenantId":%q,"action":%q,"resource":%q`, id, action, resource)
	if context != "" {
		b += `,"context":` + context
	}
	return []byte(b + "}")
}

func TestEvaluateEndpoints(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	doc := storeCovenant(t, e.st, "permit read on '/data/**'\ndeny write on '**' severity critical")
	id := doc.ID()

	status, hdr, body := do(t, "POST", e.url+"/v1/evaluate", "application/json", evalBody(id, "read", "/data/a", `{"user":"u1"}`))
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("evaluate: %d %s", status, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"permitted", "severity", "reason", "matchedRule", "auditEntry"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("decision lacks %q: %s", k, body)
		}
	}
	d := decode[evaluate.Decision](t, body)
	if !d.Permitted || d.MatchedRule == nil || d.MatchedRule.Line != 1 || d.MatchedRule.Type != "permit" || d.AuditEntry.Index != 0 {
		t.Fatalf("decision %s", body)
	}
	d = decode[evaluate.Decision](t, mustDo(t, "POST", e.url+"/v1/evaluate", evalBody(id, "write", "/data/a", ""), http.StatusOK))
	if d.Permitted || d.Severity != "critical" || d.AuditEntry.Index != 1 {
		t.Fatalf("denial %+v", d)
	}
	d = decode[evaluate.Decision](t, mustDo(t, "POST", e.url+"/v1/evaluate", evalBody(id, "exec", "/bin", "null"), http.StatusOK))
	if d.Permitted || d.MatchedRule != nil || d.AuditEntry.Index != 2 {
		t.Fatalf("default deny %+v", d)
	}

	// Errors name the field.
	for _, c := range []struct {
		body        []byte
		ct          string
		status      int
		code, field string
	}{
		{[]byte(`{`), "", 400, "invalid_json", "body"},
		{[]byte(`{"action":"read"}`), "", 400, "missing_field", "covenantId"},
		{evalBody("abc", "read", "/", ""), "", 400, "invalid_field", "covenantId"},
		{evalBody(id, "read", "/", `[1]`), "", 400, "invalid_field", "context"},
		{[]byte(`{"covenantId":"` + id + `","action":5}`), "", 400, "invalid_field", "action"},
		{evalBody(strings.Repeat("0", 64), "read", "/", ""), "", 404, "not_found", "covenantId"},
		{bytes.Repeat([]byte(" "), 64<<10+1), "", 413, "body_too_large", "body"},
		{evalBody(id, "read", "/", ""), "text/plain", 415, "unsupported_media_type", "Content-Type"},
	} {
		status, _, body := do(t, "POST", e.url+"/v1/evaluate", c.ct, c.body)
		ae := decode[apiError](t, body)
		if status != c.status || ae.Error.Code != c.code || ae.Error.Field != c.field {
			t.Errorf("%.50s: %d %s; want %d %s %s", c.body, status, body, c.status, c.code, c.field)
		}
	}

	// The trail: a page, the export, a proof, the verdict, a trim.
	base := e.url + "/v1/covenants/" + id + "/audit"
	page := decode[struct {
		Entries []audit.Entry `json:"entries"`
		Next    *int          `json:"next"`
	}](t, mustDo(t, "GET", base+"?from=1&limit=1", nil, http.StatusOK))
	if len(page.Entries) != 1 || page.Entries[0].Index != 1 || page.Entries[0].Action != "write" || page.Next == nil || *page.Next != 2 {
		t.Fatalf("page %+v", page)
	}
	status, hdr, body = do(t, "GET", base, "", nil, "Accept", "application/x-ndjson")
	if status != 200 || hdr.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("export: %d %s", status, body)
	}
	var exported []audit.Entry
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		en, err := audit.ParseEntry(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		exported = append(exported, en)
	}
	if len(exported) != 3 || audit.VerifyIntegrity(exported) != nil {
		t.Fatalf("export of %d entries: %v", len(exported), audit.VerifyIntegrity(exported))
	}
	// ?limit= bounds the export as it bounds a page.
	_, _, body = do(t, "GET", base+"?from=1&limit=1", "", nil, "Accept", "application/x-ndjson")
	if got, err := audit.ParseEntry(bytes.TrimSpace(body)); err != nil || bytes.Count(body, []byte("\n")) != 1 || got.Index != 1 {
		t.Fatalf("export from 1, limit 1: %q (%v)", body, err)
	}
	for _, bad := range []string{"0", "-1", "x"} {
		status, _, body := do(t, "GET", base+"?limit="+bad, "", nil, "Accept", "application/x-ndjson")
		expectError(t, "export limit="+bad, status, body, http.StatusBadRequest, "invalid_parameter", "limit")
	}
	p := decode[audit.Proof](t, mustDo(t, "GET", base+"/proof/1", nil, http.StatusOK))
	if !audit.VerifyProof(p) || p.EntryHash != exported[1].Hash {
		t.Fatalf("proof %+v", p)
	}
	rep := decode[evaluate.TrailReport](t, mustDo(t, "GET", base+"/verify", nil, http.StatusOK))
	hashes := []string{exported[0].Hash, exported[1].Hash, exported[2].Hash}
	if !rep.Valid || rep.Entries != 3 || rep.BrokenAt != nil || rep.MerkleRoot != audit.MerkleRoot(hashes) {
		t.Fatalf("verify %+v", rep)
	}
	tr := decode[struct {
		Trimmed        int    `json:"trimmed"`
		CheckpointHash string `json:"checkpointHash"`
	}](t, mustDo(t, "POST", base+"/trim", []byte(`{"upTo":2.0}`), http.StatusOK)) // as JavaScript may write 2
	if tr.Trimmed != 2 || tr.CheckpointHash != exported[1].Hash {
		t.Fatalf("trim %+v", tr)
	}
	rep = decode[evaluate.TrailReport](t, mustDo(t, "GET", base+"/verify", nil, http.StatusOK))
	if !rep.Valid || rep.Entries != 3 || rep.Checkpoint != 2 || rep.MerkleRoot != audit.MerkleRoot(hashes) {
		t.Fatalf("verify after trim %+v", rep)
	}
	_, _, body = do(t, "GET", base, "", nil, "Accept", "application/x-ndjson")
	if n := bytes.Count(body, []byte("\n")); n != 1 {
		t.Fatalf("export after trim: %d lines", n)
	}
	// The trail still holds the entry a decision named (a trimmed one too);
	// one it does not hold (a later index, another hash) breaks it.
	for _, c := range []struct {
		query string
		valid bool
	}{
		{fmt.Sprintf("index=%d&hash=%s", d.AuditEntry.Index, d.AuditEntry.Hash), true},
		{"index=0&hash=" + exported[0].Hash, true},
		{"index=3&hash=" + exported[2].Hash, false},
		{"index=2&hash=" + exported[1].Hash, false},
	} {
		rep := decode[evaluate.TrailReport](t, mustDo(t, "GET", base+"/verify?"+c.query, nil, http.StatusOK))
		if rep.Valid != c.valid {
			t.Errorf("verify?%s: %+v, want valid %v", c.query, rep, c.valid)
		}
	}
	for query, field := range map[string]string{
		"index=1":                                       "hash",
		"hash=" + exported[0].Hash:                      "index",
		"index=-1&hash=" + exported[0].Hash:             "index",
		"index=1&hash=xyz":                              "hash",
		"index=1&hash=" + exported[0].Hash + "&index=2": "index",
		"from=1": "from",
	} {
		status, _, body := do(t, "GET", base+"/verify?"+query, "", nil)
		if ae := decode[apiError](t, body); status != http.StatusBadRequest || ae.Error.Field != field {
			t.Errorf("verify?%s: %d %s; want 400 naming %s", query, status, body, field)
		}
	}
	unknown := e.url + "/v1/covenants/" + strings.Repeat("1", 64) + "/audit"
	for _, c := range []struct {
		method, url string
		body        []byte
		status      int
		field       string
	}{
		{"GET", base + "/proof/3", nil, 404, "index"},
		{"GET", base + "/proof/x", nil, 400, "index"},
		{"GET", base + "?limit=0", nil, 400, "limit"},
		{"GET", base + "?from=-1", nil, 400, "from"},
		{"POST", base + "/trim", []byte(`{"upTo":9}`), 400, "upTo"},
		{"POST", base + "/trim", []byte(`{}`), 400, "upTo"},
		{"POST", base + "/trim", []byte(`{"upTo":"a"}`), 400, "upTo"},
		{"POST", base + "/trim", []byte(`{"upTo":1.5}`), 400, "upTo"},
		{"POST", base + "/trim", []byte(`{"upTo":1e300}`), 400, "upTo"},
		{"POST", base + "/trim", []byte(`{"upTo":1,"force":true}`), 400, "force"},
		{"POST", base + "/trim", []byte(`{"UPTO":1}`), 400, "UPTO"},
		{"POST", base + "/trim", []byte(`{"upTo":null}`), 400, "upTo"},
		{"POST", base + "/trim", []byte(`{"upTo":1,"upTo":2}`), 400, "upTo"},
		{"POST", base + "/trim", []byte(`[]`), 400, "body"},
		{"POST", e.url + "/v1/evaluate", []byte(`{"covenantId":"` + strings.Repeat("a", 64) + `","action":"read","actor":"me"}`), 400, "actor"},
		{"GET", unknown, nil, 404, "id"},
		{"GET", unknown + "/verify", nil, 404, "id"},
		{"GET", e.url + "/v1/covenants/zz/audit/verify", nil, 400, "id"},
		{"DELETE", base, nil, 405, "method"},
	} {
		status, _, body := do(t, c.method, c.url, "", c.body)
		if ae := decode[apiError](t, body); status != c.status || ae.Error.Field != c.field {
			t.Errorf("%s %s: %d %s; want %d naming %s", c.method, c.url, status, body, c.status, c.field)
		}
	}
	// The message is the API's, not the store's.
	_, _, body = do(t, "POST", base+"/trim", "", []byte(`{"upTo":9}`))
	if msg := decode[apiError](t, body).Error.Message; msg != "9 is beyond the trail, which has 3 entries" {
		t.Errorf("trim beyond the head: message %q", msg)
	}
	status, _, body = do(t, "GET", unknown, "", nil, "Accept", "application/x-ndjson")
	if status != 404 {
		t.Errorf("export of an unknown covenant: %d %s", status, body)
	}
}

func mustDo(t *testing.T, method, url string, body []byte, want int) []byte {
	t.Helper()
	status, _, data := do(t, method, url, "", body)
	if status != want {
		t.Fatalf("%s %s: %d %s; want %d", method, url, status, data, want)
	}
	return data
}

// TestEvaluateTwoGateways: 1,000 concurrent evaluations through two gateway
// servers whose stores share one Redis, against `limit … 100 per 1 minute`:
// exactly 100 permitted; the trail verifies, and an edited entry is found.
func TestEvaluateTwoGateways(t *testing.T) {
	ctx := testContext(t)
	redisURL, prefix := redistest.Start(t), redistest.KeyPrefix(t)
	natsURL := natstest.StartServer(t, natstest.Options{}).ClientURL()
	var urls []string
	var first store.Store
	for range 2 {
		st, err := redisstore.Open(ctx, redisURL, redisstore.WithKeyPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		urls = append(urls, serveOnNATS(t, st, natsURL, nil))
		if first == nil {
			first = st
		}
	}
	doc := storeCovenant(t, first, "permit api.call on '**'\nlimit api.call 100 per 1 minutes")

	const n = 1000
	var permitted atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			req, _ := http.NewRequestWithContext(ctx, "POST", urls[i%2]+"/v1/evaluate",
				bytes.NewReader(evalBody(doc.ID(), "api.call", fmt.Sprintf("/r/%d", i), `{"i":`+fmt.Sprint(i)+`}`)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var d evaluate.Decision
			if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != 200 {
				errs <- fmt.Errorf("status %d: %v", resp.StatusCode, err)
				return
			}
			if d.Permitted {
				permitted.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if permitted.Load() != 100 {
		t.Fatalf("%d permitted through two gateways, want 100", permitted.Load())
	}
	base := "/v1/covenants/" + doc.ID() + "/audit"
	rep := decode[evaluate.TrailReport](t, mustDo(t, "GET", urls[1]+base+"/verify", nil, 200))
	hashes, err := first.AuditHashes(ctx, doc.ID(), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Valid || rep.Entries != n || rep.MerkleRoot != audit.MerkleRoot(hashes) {
		t.Fatalf("verify %+v", rep)
	}
	p := decode[audit.Proof](t, mustDo(t, "GET", urls[0]+base+"/proof/999", nil, 200))
	if !audit.VerifyProof(p) || p.Root != rep.MerkleRoot {
		t.Fatalf("proof %+v", p)
	}

	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opts)
	defer rc.Close()
	key := prefix + "{audit:" + doc.ID() + "}:entries"
	raw, err := rc.LIndex(ctx, key, 321).Result()
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(raw, `"outcome":"DENIED"`, `"outcome":"EXECUTED"`, 1)
	if edited == raw {
		edited = strings.Replace(raw, `"outcome":"EXECUTED"`, `"outcome":"DENIED"`, 1)
	}
	if err := rc.LSet(ctx, key, 321, edited).Err(); err != nil {
		t.Fatal(err)
	}
	rep = decode[evaluate.TrailReport](t, mustDo(t, "GET", urls[0]+base+"/verify", nil, 200))
	if rep.Valid || rep.BrokenAt == nil || *rep.BrokenAt != 321 {
		t.Fatalf("after editing entry 321: %+v", rep)
	}
}

// TestEvaluateAfterRevocation revokes a covenant's issuer key through the
// gateway that has just evaluated under it: its next evaluation is denied,
// without waiting for the revocation list's refresh period.
func TestEvaluateAfterRevocation(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnvOn(t, gateway.Limits{}, kind)
			doc := storeCovenant(t, e.st, "permit read on '/data/**'")
			d := decode[evaluate.Decision](t, mustDo(t, "POST", e.url+"/v1/evaluate", evalBody(doc.ID(), "read", "/data/a", ""), http.StatusOK))
			if !d.Permitted {
				t.Fatalf("before the revocation: %+v", d)
			}
			rev := []byte(`{"publicKey":"` + doc.Issuer().PublicKey + `","reason":"leaked"}`)
			mustDo(t, "POST", e.url+"/v1/revocations", rev, http.StatusCreated)
			d = decode[evaluate.Decision](t, mustDo(t, "POST", e.url+"/v1/evaluate", evalBody(doc.ID(), "read", "/data/a", ""), http.StatusOK))
			if d.Permitted || d.Severity != "critical" || !strings.Contains(d.Reason, "leaked") {
				t.Fatalf("right after the revocation: %+v, want a denial naming it", d)
			}
		})
	}
}

// TestEvaluateAfterRevocationElsewhere: a key revoked through one gateway
// is honoured at once by another gateway sharing the store and NATS (its
// revocation list is re-read on the announcement, not after the refresh
// period; the refresh here is an hour, so only the announcement can do it).
func TestEvaluateAfterRevocationElsewhere(t *testing.T) {
	e := newEnvOn(t, gateway.Limits{}, "redis")
	ev, err := evaluate.New(evaluate.Config{Documents: e.st, Audit: e.st, Limits: e.st, Revocations: e.st,
		Resolver: registry.NewResolver(e.st), RevocationRefresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srvURL := serveGateway(t, gateway.Config{Store: e.st, NATS: e.nc, SpoolDir: t.TempDir(), Logger: quietLogger(), Evaluate: ev})

	doc := storeCovenant(t, e.st, "permit read on '/data/**'")
	body := evalBody(doc.ID(), "read", "/data/a", "")
	if d := decode[evaluate.Decision](t, mustDo(t, "POST", srvURL+"/v1/evaluate", body, http.StatusOK)); !d.Permitted {
		t.Fatalf("before the revocation: %+v", d)
	}
	rev := []byte(`{"publicKey":"` + doc.Issuer().PublicKey + `","reason":"leaked"}`)
	mustDo(t, "POST", e.url+"/v1/revocations", rev, http.StatusCreated)
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := decode[evaluate.Decision](t, mustDo(t, "POST", srvURL+"/v1/evaluate", body, http.StatusOK))
		if !d.Permitted {
			if d.Severity != "critical" || !strings.Contains(d.Reason, "leaked") {
				t.Fatalf("after the revocation: %+v, want a denial naming it", d)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the other gateway still permits 10s after the revocation")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEvaluateStoreClock: two gateways on hosts whose clocks are two
// minutes fast and two minutes slow decide by the Redis server's clock when
// each is given a redisstore.Clock: a covenant expiring in a minute is in
// force on both, and a limit of 5 per minute permits exactly 5 across them.
// Deciding by their hosts' clocks instead, the fast one finds the covenant
// expired, and the two together permit 6 (the slow one's window is reset by
// the fast one, then never ends for the slow one).
func TestEvaluateStoreClock(t *testing.T) {
	ctx := testContext(t)
	redisURL, natsURL := redistest.Start(t), natstest.StartServer(t, natstest.Options{}).ClientURL()
	for _, storeClock := range []bool{true, false} {
		t.Run(fmt.Sprintf("store clock %v", storeClock), func(t *testing.T) {
			prefix := redistest.KeyPrefix(t)
			var urls []string
			var first store.Store
			for _, skew := range []time.Duration{2 * time.Minute, -2 * time.Minute} {
				st, err := redisstore.Open(ctx, redisURL, redisstore.WithKeyPrefix(prefix))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				host := func() time.Time { return time.Now().Add(skew) }
				now := host
				if storeClock {
					clock := st.NewClock(host, quietLogger())
					if err := clock.Sync(ctx); err != nil {
						t.Fatal(err)
					}
					now = clock.Now
				}
				urls = append(urls, serveOnNATS(t, st, natsURL, now))
				if first == nil {
					first = st
				}
			}

			expiring := storeCovenantAt(t, first, "permit read on '**'", time.Now().Add(time.Minute))
			for i, u := range urls {
				d := decode[evaluate.Decision](t, mustDo(t, "POST", u+"/v1/evaluate", evalBody(expiring.ID(), "read", "/a", ""), http.StatusOK))
				inForce := storeClock || i == 1 // only the fast host finds it expired
				if d.Permitted != inForce {
					t.Errorf("gateway %d (skew %s): permitted %v (%s), want %v", i, []string{"+2m", "-2m"}[i], d.Permitted, d.Reason, inForce)
				}
			}

			limited := storeCovenantAt(t, first, "permit api.call on '**'\nlimit api.call 5 per 1 minutes", time.Time{})
			permitted := 0
			for i := range 10 {
				u := urls[1-i%2] // the slow gateway first, then alternately
				d := decode[evaluate.Decision](t, mustDo(t, "POST", u+"/v1/evaluate", evalBody(limited.ID(), "api.call", "/x", ""), http.StatusOK))
				if d.Permitted {
					permitted++
				}
			}
			want := 5
			if !storeClock {
				want = 6
			}
			if permitted != want {
				t.Errorf("permitted %d of 10 under a limit of 5 per minute, want %d", permitted, want)
			}
		})
	}
}

// serveOnNATS serves a gateway over st and a connection of its own to the
// NATS server at natsURL, with the clock now (nil: time.Now), until the test
// ends, and returns its URL.
func serveOnNATS(t *testing.T, st store.Store, natsURL string, now func() time.Time) string {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return serveGateway(t, gateway.Config{Store: st, NATS: nc, Logger: quietLogger(), Now: now})
}

// storeCovenantAt stores a covenant with constraints that expires at
// expires (never when zero).
func storeCovenantAt(t *testing.T, st store.Documents, constraints string, expires time.Time) *covenant.Document {
	t.Helper()
	iss, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ben, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	opts := covenant.BuildOptions{
		Issuer:      covenant.Party{ID: "alice", PublicKey: iss.PublicHex(), Role: covenant.RoleIssuer},
		Beneficiary: covenant.Party{ID: "agent", PublicKey: ben.PublicHex(), Role: covenant.RoleBeneficiary},
		Constraints: constraints,
	}
	if !expires.IsZero() {
		opts.ExpiresAt = jstime.Format(expires)
	}
	d, err := covenant.Build(opts, iss)
	if err != nil {
		t.Fatal(err)
	}
	err = st.PutDocuments(testContext(t), []store.Document{{ID: d.ID(), JSON: d.AppendJSON(nil), IssuerID: "alice", BeneficiaryID: "agent", CreatedAt: d.CreatedAt()}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
