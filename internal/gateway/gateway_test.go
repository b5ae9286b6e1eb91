package gateway_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/syncbuf"
)

const (
	ctJSON   = "application/json"
	ctNDJSON = "application/x-ndjson"
)

// TestVerifyRejects sends bad requests: each answers a 4xx naming the field
// with a stable code, and nothing reaches the work stream.
func TestVerifyRejects(t *testing.T) {
	e := newEnv(t, gateway.Limits{MaxItems: 4, MaxBodyBytes: 3 << 20, MaxDepth: 16})
	docs, _ := loadCorpus(t)
	doc := string(docs[0].JSON)
	id := strings.Repeat("ab", 32)
	big := `{"pad":"` + strings.Repeat("x", 1<<20) + `"}`
	mid := `{"pad":"` + strings.Repeat("m", 900<<10) + `"}`
	deep := strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20)
	items := func(list ...string) string { return `{"items":[` + strings.Join(list, ",") + `]}` }
	cases := []struct {
		name, query, ct, body string
		status                int
		code, field           string
	}{
		{"malformed JSON", "", ctJSON, `{"items":[`, 400, "invalid_json", "items[0]"},
		{"malformed items", "", ctJSON, `{"items":[{"document":{}} {"document":{}}]}`, 400, "invalid_json", "items"},
		{"not JSON", "", ctJSON, `hello`, 400, "invalid_json", "body"},
		{"not an object", "", ctJSON, `[]`, 400, "invalid_field", "body"},
		{"no items", "", ctJSON, `{}`, 400, "missing_field", "items"},
		{"null items", "", ctJSON, `{"items":null}`, 400, "missing_field", "items"},
		{"empty items", "", ctJSON, `{"items":[]}`, 400, "invalid_field", "items"},
		{"items not an array", "", ctJSON, `{"items":{}}`, 400, "invalid_field", "items"},
		{"item not an object", "", ctJSON, items(`{"document":`+doc+`}`, `7`), 400, "invalid_field", "items[1]"},
		{"item without document", "", ctJSON, items(`{"ref":"a"}`), 400, "missing_field", "items[0]"},
		{"item with both", "", ctJSON, items(`{"document":` + doc + `,"documentId":"` + id + `"}`), 400, "invalid_field", "items[0]"},
		{"document an array", "", ctJSON, items(`{"document":`+doc+`}`, `{"document":[1]}`), 400, "invalid_field", "items[1].document"},
		{"document a string", "", ctJSON, items(`{"document":"{}"}`), 400, "invalid_field", "items[0].document"},
		{"malformed document", "", ctJSON, items(`{"document":{"a":}}`), 400, "invalid_json", "items[0].document"},
		{"ref a number", "", ctJSON, items(`{"ref":5,"document":` + doc + `}`), 400, "invalid_field", "items[0].ref"},
		{"ref too long", "", ctJSON, items(`{"ref":"` + strings.Repeat("r", 2000) + `","document":{}}`), 400, "invalid_field", "items[0].ref"},
		{"bad documentId", "", ctJSON, items(`{"documentId":"xyz"}`), 400, "invalid_field", "items[0].documentId"},
		{"documentId a number", "", ctJSON, items(`{"documentId":12}`), 400, "invalid_field", "items[0].documentId"},
		{"unknown item field", "", ctJSON, items(`{"document":{},"extra":1}`), 400, "unknown_field", "items[0].extra"},
		{"duplicate item field", "", ctJSON, items(`{"ref":"a","ref":"b","document":{}}`), 400, "invalid_field", "items[0].ref"},
		{"unknown top-level field", "", ctJSON, `{"items":[{"document":{}}],"foo":1}`, 400, "unknown_field", "foo"},
		{"bad at", "", ctJSON, `{"items":[{"document":{}}],"at":"yesterday"}`, 400, "invalid_field", "at"},
		{"at a number", "", ctJSON, `{"items":[{"document":{}}],"at":5}`, 400, "invalid_field", "at"},
		{"at beyond 9999 in UTC", "", ctJSON, `{"items":[{"document":{}}],"at":"9999-12-31T23:59:59.999-23:59"}`, 400, "invalid_field", "at"},
		{"at parameter before 0000 in UTC", "?at=0000-01-01T00:00:00%2B01:00", ctNDJSON, doc, 400, "invalid_parameter", "at"},
		{"at twice", "?at=2026-01-01T00:00:00Z", ctJSON, `{"items":[{"document":{}}],"at":"2026-01-01T00:00:00Z"}`, 400, "invalid_parameter", "at"},
		{"trailing data", "", ctJSON, `{"items":[{"document":{}}]} {}`, 400, "invalid_json", "body"},
		{"empty body", "", ctJSON, ``, 400, "invalid_json", "body"},
		{"bad key", "", ctJSON, `{items:[]}`, 400, "invalid_json", "body"},
		{"too deep", "", ctJSON, items(`{"document":` + deep + `}`), 400, "too_deep", "items[0].document"},
		{"document over 1 MiB", "", ctJSON, items(`{"document":`+doc+`}`, `{"document":`+doc+`}`, `{"document":`+big+`}`), 413, "document_too_large", "items[2].document"},
		{"too many items", "", ctJSON, items(`{"document":{}}`, `{"document":{}}`, `{"document":{}}`, `{"document":{}}`, `{"document":{}}`), 413, "too_many_items", "items"},
		{"body too large", "", ctJSON, items(`{"document":`+mid+`}`, `{"document":`+mid+`}`, `{"document":`+mid+`}`, `{"document":`+mid+`}`), 413, "body_too_large", "body"},
		{"bad wait", "?wait=soon", ctJSON, items(`{"document":{}}`), 400, "invalid_parameter", "wait"},
		{"negative wait", "?wait=-1s", ctJSON, items(`{"document":{}}`), 400, "invalid_parameter", "wait"},
		{"bad at parameter", "?at=2026-13-01", ctNDJSON, doc, 400, "invalid_parameter", "at"},
		{"at parameter that does not decode", "?at=2026-01-01T00:00:00%2", ctNDJSON, doc, 400, "invalid_parameter", "at"},
		{"at parameter twice", "?at=2026-01-01T00:00:00Z&at=2020-01-01T00:00:00Z", ctNDJSON, doc, 400, "invalid_parameter", "at"},
		{"wait twice", "?wait=1s&wait=soon", ctJSON, items(`{"document":{}}`), 400, "invalid_parameter", "wait"},
		{"parameters separated by ;", "?wait=1s;chain=true", ctJSON, items(`{"document":{}}`), 400, "invalid_parameter", "wait"},
		{"unknown parameter", "?wiat=5s", ctJSON, items(`{"document":{}}`), 400, "invalid_parameter", "wiat"},
		{"parameter without a name", "?=5s", ctJSON, items(`{"document":{}}`), 400, "invalid_parameter", "query"},
		{"parameter without a name or value", "?wait=1s&=", ctJSON, items(`{"document":{}}`), 400, "invalid_parameter", "query"},
		{"unsupported type", "", "text/plain", `x`, 415, "unsupported_media_type", "Content-Type"},
		{"empty NDJSON", "", ctNDJSON, "\n \n\t\r\n", 400, "invalid_field", "body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := do(t, http.MethodPost, e.url+"/v1/verify"+c.query, c.ct, []byte(c.body))
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			if ct := hdr.Get("Content-Type"); ct != ctJSON {
				t.Errorf("Content-Type %q", ct)
			}
			got := decode[apiError](t, body)
			if got.Error.Code != c.code || got.Error.Field != c.field || got.Error.Message == "" {
				t.Errorf("error %+v, want code %q field %q and a message", got.Error, c.code, c.field)
			}
		})
	}
	if n := e.queued(t); n != 0 {
		t.Errorf("%d messages queued by rejected requests", n)
	}
}

// TestCompressedBodiesRefused sends gzip-compressed bodies to every route
// that takes one: each answers 415 naming Content-Encoding rather than
// reading the compressed bytes as JSON (an NDJSON upload would otherwise
// become a job of failed lines), and nothing is queued.
func TestCompressedBodiesRefused(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	docs, _ := loadCorpus(t)
	id := strings.Repeat("ab", 32)
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	cases := []struct{ method, path, ct, body string }{
		{http.MethodPost, "/v1/verify", ctJSON, `{"items":[{"document":` + string(docs[0].JSON) + `}]}`},
		{http.MethodPost, "/v1/verify", ctNDJSON, string(docs[0].JSON) + "\n" + string(docs[1].JSON) + "\n"},
		{http.MethodPost, "/v1/sign", ctJSON, `{"items":[]}`},
		{http.MethodPost, "/v1/countersign", ctJSON, `{"documentId":"` + id + `","keyId":"k"}`},
		{http.MethodPut, "/v1/covenants", ctJSON, string(docs[0].JSON)},
		{http.MethodPost, "/v1/revocations", ctJSON, `{"publicKey":"` + id + `","reason":"x"}`},
		{http.MethodPost, "/v1/evaluate", ctJSON, `{"covenantId":"` + id + `","action":"read"}`},
		{http.MethodPost, "/v1/covenants/" + id + "/audit/trim", ctJSON, `{"upTo":0}`},
	}
	for _, c := range cases {
		status, _, body := do(t, c.method, e.url+c.path, c.ct, gz(c.body), "Content-Encoding", "gzip")
		expectError(t, c.method+" "+c.path+" "+c.ct, status, body, 415, "unsupported_media_type", "Content-Encoding")
	}
	status, _, body := do(t, http.MethodPost, e.url+"/v1/verify", ctJSON, []byte(cases[0].body), "Content-Encoding", "identity")
	if status != http.StatusAccepted {
		t.Errorf("Content-Encoding: identity: %d %s, want 202", status, body)
	}
	if n := e.queued(t); n != 1 {
		t.Errorf("%d messages queued, want only the identity-encoded request's", n)
	}
}

// TestUnknownParametersRefused: the routes that take no query parameters
// refuse one, as the others refuse parameters they do not know, rather than
// ignoring it (POST /v1/evaluate?dryRun=true would be recorded like any
// evaluation). Nothing is evaluated, revoked or trimmed.
func TestUnknownParametersRefused(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	doc := storeCovenant(t, e.st, "permit read on '/data/**'")
	id := doc.ID()
	job := strings.Repeat("a", 32)
	cases := []struct{ method, path, body string }{
		{http.MethodGet, "/v1/jobs/" + job + "?verbose=1", ""},
		{http.MethodGet, "/v1/covenants/" + id + "?format=pretty", ""},
		{http.MethodGet, "/v1/covenants/" + id + "/chain?depth=1", ""},
		{http.MethodGet, "/v1/keys?revoked=true", ""},
		{http.MethodGet, "/v1/revocations?limit=1", ""},
		{http.MethodPost, "/v1/revocations?dryRun=true", `{"publicKey":"` + doc.Issuer().PublicKey + `","reason":"x"}`},
		{http.MethodPost, "/v1/evaluate?dryRun=true", string(evalBody(id, "read", "/data/a", ""))},
		{http.MethodGet, "/v1/covenants/" + id + "/audit/proof/0?root=x", ""},
		{http.MethodGet, "/v1/covenants/" + id + "/audit/verify?from=3", ""},
		{http.MethodPost, "/v1/covenants/" + id + "/audit/trim?dryRun=true", `{"upTo":0}`},
	}
	for _, c := range cases {
		ct := ""
		if c.body != "" {
			ct = ctJSON
		}
		status, _, body := do(t, c.method, e.url+c.path, ct, []byte(c.body))
		_, query, _ := strings.Cut(c.path, "?")
		param, _, _ := strings.Cut(query, "=")
		expectError(t, c.method+" "+c.path, status, body, 400, "invalid_parameter", param)
	}
	if entries := decode[evaluate.TrailReport](t, mustDo(t, "GET", e.url+"/v1/covenants/"+id+"/audit/verify", nil, 200)).Entries; entries != 0 {
		t.Errorf("%d audit entries after refused evaluations, want 0", entries)
	}
	if body := mustDo(t, "GET", e.url+"/v1/revocations", nil, 200); string(body) != "{\"items\":[]}\n" {
		t.Errorf("revocations after a refused one: %s", body)
	}
}

// TestVerifyQueuesJSON checks the 202 answer, the job record and the chunk a
// JSON request produces.
func TestVerifyQueuesJSON(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	docs, _ := loadCorpus(t)
	ref := strings.Repeat("CD", 32)
	body := fmt.Sprintf(`{"at":"2026-11-26T22:02:18+01:00","items":[{"ref":"a","document":%s},{"document":%s},{"ref":"c","documentId":"%s"}]}`,
		docs[0].JSON, docs[1].JSON, ref)
	status, hdr, resp := do(t, http.MethodPost, e.url+"/v1/verify", ctJSON, []byte(body))
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, resp)
	}
	ans := decode[jobAnswer](t, resp)
	if ans.ID == "" || ans.Status != store.StatusQueued || ans.Total != 3 || ans.Kind != store.KindVerify {
		t.Fatalf("answer %+v", ans)
	}
	if want := "/v1/jobs/" + ans.ID; hdr.Get("Location") != want || ans.Links.Self != want || ans.Links.Results != want+"/results" {
		t.Errorf("Location %q, links %+v", hdr.Get("Location"), ans.Links)
	}
	status, _, resp = do(t, http.MethodGet, e.url+"/v1/jobs/"+ans.ID, "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET job: %d %s", status, resp)
	}
	job := decode[store.Job](t, resp)
	if job.ID != ans.ID || job.Total != 3 || job.Done != 0 || job.Status != store.StatusQueued {
		t.Errorf("job %+v", job)
	}
	chunks := e.chunks(t)
	if len(chunks) != 1 {
		t.Fatalf("%d chunks, want 1", len(chunks))
	}
	c := chunks[0]
	if c.JobID != ans.ID || c.Kind != store.KindVerify || c.At != "2026-11-26T21:02:18.000Z" {
		t.Errorf("chunk header %+v", c)
	}
	want := []jobs.Item{
		{Index: 0, Ref: "a", Document: bytes.TrimSpace(docs[0].JSON)}, // as received, byte for byte
		{Index: 1, Document: bytes.TrimSpace(docs[1].JSON)},
		{Index: 2, Ref: "c", DocumentID: strings.ToLower(ref)},
	}
	if diff := cmp.Diff(want, c.Items, cmp.Comparer(func(a, b json.RawMessage) bool { return bytes.Equal(a, b) })); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
}

// TestVerifyQueuesNDJSON checks the items an NDJSON upload produces: one per
// non-blank line, refs are line numbers, unusable lines travel as failures.
func TestVerifyQueuesNDJSON(t *testing.T) {
	e := newEnv(t, gateway.Limits{MaxDepth: 8})
	docs, _ := loadCorpus(t)
	d0, d1, d2 := compact(t, docs[0].JSON), compact(t, docs[1].JSON), compact(t, docs[2].JSON)
	lines := []string{
		string(d0),               // 1
		"",                       // 2 (skipped)
		"not json",               // 3
		"  [1,2]  ",              // 4
		"\t" + string(d1) + "\r", // 5
		`{"pad":"` + strings.Repeat("y", 1<<20) + `"}`,                  // 6: over 1 MiB, fits the line buffer
		`{"pad":"` + strings.Repeat("z", 3<<20) + `"}`,                  // 7: over the line buffer
		strings.Repeat("[", 9) + strings.Repeat("]", 9),                 // 8: too deep (and not an object)
		`{"a":` + strings.Repeat("[", 9) + strings.Repeat("]", 9) + `}`, // 9: too deep
		`{"a":1,}`,                 // 10: malformed
		strings.Repeat(" ", 2<<20), // 11: blank, over the line buffer
		string(d2),                 // 12 (no newline at the end)
	}
	status, _, resp := do(t, http.MethodPost, e.url+"/v1/verify", ctNDJSON+"; charset=utf-8", []byte(strings.Join(lines, "\n")))
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, resp)
	}
	ans := decode[jobAnswer](t, resp)
	if ans.Total != 10 {
		t.Fatalf("total %d, want 10", ans.Total)
	}
	var items []jobs.Item
	for _, c := range e.chunks(t) {
		items = append(items, c.Items...)
	}
	type row struct {
		Index int
		Ref   string
		Doc   string
		Error string // prefix
	}
	want := []row{
		{0, "1", string(d0), ""},
		{1, "3", "", "line 3: malformed JSON"},
		{2, "4", "", "line 4: document must be a JSON object, got an array"},
		{3, "5", string(d1), ""},
		{4, "6", "", "line 6: document exceeds 1048576 bytes"},
		{5, "7", "", "line 7: document exceeds 1048576 bytes"},
		{6, "8", "", "line 8: document nests deeper than 8 levels"},
		{7, "9", "", "line 9: document nests deeper than 8 levels"},
		{8, "10", "", "line 10: malformed JSON"},
		{9, "12", string(d2), ""},
	}
	var got []row
	for _, it := range items {
		r := row{Index: it.Index, Ref: it.Ref, Doc: string(it.Document)}
		for _, w := range want {
			if w.Index == it.Index && w.Error != "" && strings.HasPrefix(it.Error, w.Error) {
				r.Error = w.Error
			} else if w.Index == it.Index && it.Error != "" {
				r.Error = it.Error
			}
		}
		got = append(got, r)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
}

// TestVerifyWaitConformance submits the reference corpus with ?wait and a
// running verifier: the answer is 200 with every item, and each verdict is
// the reference's.
func TestVerifyWaitConformance(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	e.startVerifier(t)
	docs, at := loadCorpus(t)
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i, d := range docs {
		fmt.Fprintf(&b, `{"ref":%q,"document":%s},`, d.Name, d.JSON)
		_ = i
	}
	missing := strings.Repeat("0", 64)
	fmt.Fprintf(&b, `{"ref":"not a covenant","document":{"foo":1}},{"ref":"missing","documentId":%q}],"at":%q}`, missing, at.Format(time.RFC3339Nano))
	status, _, resp := do(t, http.MethodPost, e.url+"/v1/verify?wait=60s", ctJSON, []byte(b.String()))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, resp)
	}
	ans := decode[jobAnswer](t, resp)
	n := len(docs) + 2
	if ans.Status != store.StatusCompleted || ans.Total != n || ans.Done != n || len(ans.Items) != n || ans.Next != nil {
		t.Fatalf("job %+v with %d items, next %v", ans.Job, len(ans.Items), ans.Next)
	}
	valid, invalid := 0, 0
	for i, d := range docs {
		r := ans.Items[i]
		if r.Index != i || r.Ref != d.Name || r.Error != "" {
			t.Errorf("%s: result %+v", d.Name, r)
			continue
		}
		if r.Valid != d.Valid || !slices.Equal(failedChecks(r), d.Failed) || len(r.Checks) != 11 {
			t.Errorf("%s: valid %v failed %v, reference: valid %v failed %v", d.Name, r.Valid, failedChecks(r), d.Valid, d.Failed)
		}
		if d.ID != "" && r.DocumentID != d.ID {
			t.Errorf("%s: documentId %s, want %s", d.Name, r.DocumentID, d.ID)
		}
		if d.Valid {
			valid++
		} else {
			invalid++
		}
	}
	if ans.Valid != valid || ans.Invalid != invalid || ans.Failed != 2 {
		t.Errorf("counters valid %d invalid %d failed %d, want %d %d 2", ans.Valid, ans.Invalid, ans.Failed, valid, invalid)
	}
	for _, r := range ans.Items[len(docs):] {
		if r.Valid || r.Error == "" {
			t.Errorf("item %d (%s) should have failed: %+v", r.Index, r.Ref, r)
		}
	}
	if !strings.Contains(ans.Items[n-1].Error, "not found") {
		t.Errorf("missing document error %q", ans.Items[n-1].Error)
	}

	// A valid document verified inline is stored and served.
	status, hdr, got := do(t, http.MethodGet, e.url+"/v1/covenants/"+strings.ToUpper(docs[0].ID), "", nil)
	if status != http.StatusOK || hdr.Get("Content-Type") != ctJSON {
		t.Fatalf("GET covenant: %d %s", status, got)
	}
	var want, have any
	if err := json.Unmarshal(docs[0].JSON, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &have); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("stored covenant (-want +got):\n%s", diff)
	}

	// The results endpoint pages through the same results.
	var paged []store.Result
	for off := 0; ; {
		status, _, resp := do(t, http.MethodGet, fmt.Sprintf("%s/v1/jobs/%s/results?offset=%d&limit=7", e.url, ans.ID, off), "", nil)
		if status != http.StatusOK {
			t.Fatalf("results page at %d: %d %s", off, status, resp)
		}
		page := decode[struct {
			Items []store.Result `json:"items"`
			Next  *int           `json:"next"`
		}](t, resp)
		paged = append(paged, page.Items...)
		if page.Next == nil {
			break
		}
		if *page.Next != off+7 {
			t.Fatalf("next %d after offset %d", *page.Next, off)
		}
		off = *page.Next
	}
	if diff := cmp.Diff(ans.Items, paged); diff != "" {
		t.Errorf("paged results differ from the ?wait items (-wait +paged):\n%s", diff)
	}
}

// TestNDJSONWaitAndStream uploads the corpus as NDJSON with a malformed line,
// waits for it, then reads every result back as an NDJSON stream.
func TestNDJSONWaitAndStream(t *testing.T) {
	e := newEnv(t, gateway.Limits{MaxPageSize: 10})
	e.startVerifier(t)
	docs, at := loadCorpus(t)
	var b bytes.Buffer
	for i, d := range docs {
		b.Write(compact(t, d.JSON))
		b.WriteByte('\n')
		if i == 30 {
			b.WriteString("{\"broken\": \n")
		}
	}
	n := len(docs) + 1
	status, _, resp := do(t, http.MethodPost, e.url+"/v1/verify?wait=60s&at="+at.Format(time.RFC3339), ctNDJSON, b.Bytes())
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, resp)
	}
	ans := decode[jobAnswer](t, resp)
	if ans.Status != store.StatusCompleted || ans.Total != n || ans.Failed != 1 || len(ans.Items) != 10 || ans.Next == nil || *ans.Next != 10 {
		t.Fatalf("job %+v, %d items, next %v", ans.Job, len(ans.Items), ans.Next)
	}
	status, hdr, resp := do(t, http.MethodGet, e.url+"/v1/jobs/"+ans.ID+"/results", "", nil, "Accept", ctNDJSON)
	if status != http.StatusOK || hdr.Get("Content-Type") != ctNDJSON {
		t.Fatalf("stream: %d %q", status, hdr.Get("Content-Type"))
	}
	seen := map[int]bool{}
	sc := bufio.NewScanner(bytes.NewReader(resp))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		r := decode[store.Result](t, sc.Bytes())
		if seen[r.Index] {
			t.Fatalf("index %d streamed twice", r.Index)
		}
		seen[r.Index] = true
		line, _ := strconv.Atoi(r.Ref)
		switch {
		case r.Index == 31:
			if line != 32 || r.Error == "" {
				t.Errorf("malformed line: %+v", r)
			}
		case r.Index < 31:
			if line != r.Index+1 || r.Valid != docs[r.Index].Valid {
				t.Errorf("index %d: %+v, want valid %v", r.Index, r, docs[r.Index].Valid)
			}
		default:
			if line != r.Index+1 || r.Valid != docs[r.Index-1].Valid {
				t.Errorf("index %d: %+v, want valid %v", r.Index, r, docs[r.Index-1].Valid)
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d results streamed, want %d", len(seen), n)
	}
	// ?limit= bounds the stream as it bounds a page (here across pages of
	// 10), rather than being ignored; a bad one is refused.
	status, _, resp = do(t, http.MethodGet, e.url+"/v1/jobs/"+ans.ID+"/results?offset=3&limit=25", "", nil, "Accept", ctNDJSON)
	if status != http.StatusOK {
		t.Fatalf("stream with a limit: %d %s", status, resp)
	}
	var got []int
	for line := range bytes.Lines(resp) {
		got = append(got, decode[store.Result](t, line).Index)
	}
	if len(got) != 25 || got[0] != 3 || got[24] != 27 {
		t.Errorf("stream of offset 3, limit 25: indices %v", got)
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=ten"} {
		status, _, resp = do(t, http.MethodGet, e.url+"/v1/jobs/"+ans.ID+"/results?"+q, "", nil, "Accept", ctNDJSON)
		expectError(t, "stream with "+q, status, resp, 400, "invalid_parameter", "limit")
	}
}

// TestVerifyWaitTimeout: without a verifier the job cannot finish, so ?wait
// answers 202 once it expires.
func TestVerifyWaitTimeout(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	docs, _ := loadCorpus(t)
	start := time.Now()
	status, _, resp := do(t, http.MethodPost, e.url+"/v1/verify?wait=300ms", ctJSON, []byte(`{"items":[{"document":`+string(docs[0].JSON)+`}]}`))
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, resp)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("answered after %v, before the wait expired", el)
	}
	ans := decode[jobAnswer](t, resp)
	if ans.Status != store.StatusQueued || ans.Total != 1 || ans.Items != nil {
		t.Errorf("answer %+v", ans)
	}
}

// TestConcurrentWaits runs many single-document ?wait requests at once.
func TestConcurrentWaits(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	e.startVerifier(t)
	docs, at := loadCorpus(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		d := docs[i%len(docs)]
		wg.Go(func() {
			body := fmt.Sprintf(`{"items":[{"ref":"r%d","document":%s}],"at":%q}`, i, d.JSON, at.Format(time.RFC3339))
			status, _, resp := do(t, http.MethodPost, e.url+"/v1/verify?wait=30s", ctJSON, []byte(body))
			if status != http.StatusOK {
				errs <- fmt.Errorf("request %d: %d %s", i, status, resp)
				return
			}
			var ans jobAnswer
			if err := json.Unmarshal(resp, &ans); err != nil {
				errs <- err
				return
			}
			if len(ans.Items) != 1 || ans.Items[0].Valid != d.Valid || ans.Items[0].Ref != fmt.Sprintf("r%d", i) {
				errs <- fmt.Errorf("request %d (%s): %+v", i, d.Name, ans.Items)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestReadErrors covers the 4xx answers of the read endpoints.
func TestReadErrors(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	unknownJob := strings.Repeat("f", 32)
	cases := []struct {
		method, path string
		status       int
		code, field  string
	}{
		{"GET", "/v1/jobs/bad.id", 400, "invalid_parameter", "id"},
		{"GET", "/v1/jobs/" + unknownJob, 404, "not_found", "id"},
		{"GET", "/v1/jobs/" + unknownJob + "/results", 404, "not_found", "id"},
		{"GET", "/v1/jobs/" + unknownJob + "/results?limit=0", 400, "invalid_parameter", "limit"},
		{"GET", "/v1/jobs/" + unknownJob + "/results?limit=5000", 400, "invalid_parameter", "limit"},
		{"GET", "/v1/jobs/" + unknownJob + "/results?offset=-1", 400, "invalid_parameter", "offset"},
		{"GET", "/v1/jobs/" + unknownJob + "/results?offset=x", 400, "invalid_parameter", "offset"},
		{"GET", "/v1/covenants/xyz", 400, "invalid_parameter", "id"},
		{"GET", "/v1/covenants/" + strings.Repeat("e", 64), 404, "not_found", "id"},
		{"DELETE", "/v1/jobs/" + unknownJob, 405, "method_not_allowed", "method"},
		{"GET", "/v1/verify", 405, "method_not_allowed", "method"},
		{"GET", "/v2/nothing", 404, "not_found", "path"},
		{"POST", "/v1/covenants", 405, "method_not_allowed", "method"},
		{"GET", "/v1/jobs/" + unknownJob + "/results?limit=1&limit=2", 400, "invalid_parameter", "limit"},
		{"GET", "/v1/jobs/" + unknownJob + "/results?offest=1", 400, "invalid_parameter", "offest"},
		{"GET", "/v1/jobs/" + unknownJob + "/results?offset=%zz", 400, "invalid_parameter", "offset"},
		{"GET", "/v1/covenants/" + strings.Repeat("e", 64) + "/audit?from=1&from=2", 400, "invalid_parameter", "from"},
	}
	// A 405 says which methods the path takes (RFC 9110, 15.5.6).
	allow := map[string]string{
		"/v1/jobs/" + unknownJob: "GET, HEAD",
		"/v1/verify":             "POST",
		"/v1/covenants":          "PUT, GET, HEAD",
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			status, hdr, body := do(t, c.method, e.url+c.path, "", nil)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			if status == http.StatusMethodNotAllowed && hdr.Get("Allow") != allow[c.path] {
				t.Errorf("Allow %q, want %q", hdr.Get("Allow"), allow[c.path])
			}
			got := decode[apiError](t, body)
			if got.Error.Code != c.code || got.Error.Field != c.field || got.Error.Message == "" {
				t.Errorf("error %+v, want code %q field %q", got.Error, c.code, c.field)
			}
		})
	}
}

// TestHealth checks /healthz, /readyz and /health with every dependency up,
// then with NATS down.
func TestHealth(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	type report struct {
		Status     string `json:"status"`
		Components []struct {
			Name      string  `json:"name"`
			Status    string  `json:"status"`
			LatencyMs float64 `json:"latencyMs"`
			Message   string  `json:"message"`
		} `json:"components"`
	}
	if status, _, body := do(t, "GET", e.url+"/healthz", "", nil); status != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("healthz: %d %s", status, body)
	}
	if status, _, body := do(t, "GET", e.url+"/readyz", "", nil); status != 200 {
		t.Errorf("readyz: %d %s", status, body)
	}
	status, _, body := do(t, "GET", e.url+"/health", "", nil)
	rep := decode[report](t, body)
	if status != 200 || rep.Status != "healthy" || len(rep.Components) != 3 {
		t.Fatalf("health: %d %s", status, body)
	}
	for i, name := range []string{"nats", "jetstream", "store"} {
		if c := rep.Components[i]; c.Name != name || c.Status != "healthy" || c.LatencyMs < 0 {
			t.Errorf("component %d: %+v", i, c)
		}
	}

	e.ns.Shutdown()
	e.ns.WaitForShutdown()
	status, _, body = do(t, "GET", e.url+"/readyz", "", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "nats") {
		t.Errorf("readyz with NATS down: %d %s", status, body)
	}
	status, _, body = do(t, "GET", e.url+"/health", "", nil)
	rep = decode[report](t, body)
	if status != http.StatusServiceUnavailable || rep.Status != "unhealthy" || rep.Components[0].Status != "unhealthy" || rep.Components[2].Status != "healthy" {
		t.Errorf("health with NATS down: %d %s", status, body)
	}
	// What failed, in words of the gateway's own: no address, no error of
	// the libraries below (the log has those).
	if got := []string{rep.Components[0].Message, rep.Components[1].Message}; got[0] != "not connected; reconnecting" || got[1] != "no answer within 2s" {
		t.Errorf("health with NATS down says %q, want the gateway's own words", got)
	}
	if status, _, _ := do(t, "GET", e.url+"/healthz", "", nil); status != 200 {
		t.Errorf("healthz with NATS down: %d", status)
	}
	// A verify request now fails as unavailable, not as a client error.
	docs, _ := loadCorpus(t)
	status, _, body = do(t, "POST", e.url+"/v1/verify", ctJSON, []byte(`{"items":[{"document":`+string(docs[0].JSON)+`}]}`))
	if status != http.StatusServiceUnavailable || decode[apiError](t, body).Error.Code != "unavailable" {
		t.Errorf("verify with NATS down: %d %s", status, body)
	}
}

// TestLargeDocumentStaged sends a document too large for a job message but
// within the 1 MiB limit: it is staged in the store and travels by
// reference.
func TestLargeDocumentStaged(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	doc := `{"pad":"` + strings.Repeat("p", (1<<20)-20) + `"}`
	status, _, resp := do(t, http.MethodPost, e.url+"/v1/verify", ctJSON, []byte(`{"items":[{"ref":"big","document":`+doc+`}]}`))
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %.300s", status, resp)
	}
	chunks := e.chunks(t)
	if len(chunks) != 1 || len(chunks[0].Items) != 1 {
		t.Fatalf("chunks %+v", chunks)
	}
	it := chunks[0].Items[0]
	if it.Document != nil || it.Blob == "" || it.Ref != "big" {
		t.Fatalf("item %+v, want a staged document", it)
	}
	got, err := e.st.GetBlobs(testContext(t), []string{it.Blob})
	if err != nil || string(got[0]) != doc {
		t.Errorf("staged document: %d bytes, %v", len(got[0]), err)
	}
	// Staged bytes are not verified: they are not a covenant of the
	// registry, and the listing does not show them.
	status, _, resp = do(t, http.MethodGet, e.url+"/v1/covenants", "", nil)
	if status != http.StatusOK || strings.Contains(string(resp), `"pad"`) || strings.Contains(string(resp), it.Blob) {
		t.Errorf("GET /v1/covenants after staging: %d %.300s", status, resp)
	}
}

// TestJobShape: the 202 answer and GET /v1/jobs/{id} show every member of
// a job, "completedAt" null until it completes, and agree on "createdAt".
func TestJobShape(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	status, _, body := do(t, http.MethodPost, e.url+"/v1/verify", ctJSON, []byte(`{"items":[{"ref":"a","document":{"x":1}}]}`))
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, body)
	}
	var queued map[string]any
	if err := json.Unmarshal(body, &queued); err != nil {
		t.Fatal(err)
	}
	id, _ := queued["jobId"].(string)
	status, _, body = do(t, http.MethodGet, e.url+"/v1/jobs/"+id, "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET job: status %d: %s", status, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"jobId", "kind", "status", "total", "done", "valid", "invalid", "failed", "createdAt", "completedAt"} {
		for what, m := range map[string]map[string]any{"202": queued, "GET": got} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s answer lacks %q", what, k)
			}
		}
	}
	if got["completedAt"] != nil || queued["completedAt"] != nil {
		t.Errorf("completedAt of a queued job: %v / %v, want null", queued["completedAt"], got["completedAt"])
	}
	if queued["createdAt"] != got["createdAt"] {
		t.Errorf("createdAt %v in the 202 answer, %v from GET", queued["createdAt"], got["createdAt"])
	}
}

// TestResultShape: a result shows every member of the shape,
// {"index","ref","documentId","valid","checks","error"}, in the ?wait
// answer, the results page and the NDJSON stream: null for what it lacks,
// "checks" an array. The ?wait answer carries "next" like the page.
func TestResultShape(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	e.startVerifier(t)
	docs, _ := loadCorpus(t)
	body := fmt.Sprintf(`{"items":[{"ref":"good","document":%s},{"document":{"x":1}}]}`, docs[0].JSON)
	status, _, resp := do(t, http.MethodPost, e.url+"/v1/verify?wait=20s", ctJSON, []byte(body))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, resp)
	}
	var waited struct {
		JobID string                       `json:"jobId"`
		Items []map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(resp, &waited); err != nil {
		t.Fatal(err)
	}
	if next, ok := decode[map[string]json.RawMessage](t, resp)["next"]; !ok || string(next) != "null" {
		t.Errorf("?wait answer: next %s (present: %v), want null", next, ok)
	}
	status, _, page := do(t, http.MethodGet, e.url+"/v1/jobs/"+waited.JobID+"/results", "", nil)
	if status != http.StatusOK {
		t.Fatalf("results: %d %s", status, page)
	}
	var paged struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(page, &paged); err != nil {
		t.Fatal(err)
	}
	status, _, stream := do(t, http.MethodGet, e.url+"/v1/jobs/"+waited.JobID+"/results", "", nil, "Accept", ctNDJSON)
	if status != http.StatusOK {
		t.Fatalf("results stream: %d %s", status, stream)
	}
	var streamed []map[string]json.RawMessage
	for line := range bytes.Lines(stream) {
		streamed = append(streamed, decode[map[string]json.RawMessage](t, line))
	}
	for what, items := range map[string][]map[string]json.RawMessage{"?wait": waited.Items, "page": paged.Items, "stream": streamed} {
		if len(items) != 2 {
			t.Fatalf("%s: %d items, want 2", what, len(items))
		}
		for i, it := range items {
			for _, k := range []string{"index", "ref", "documentId", "valid", "checks", "error"} {
				if _, ok := it[k]; !ok {
					t.Errorf("%s: item %d lacks %q", what, i, k)
				}
			}
			if c := it["checks"]; len(c) == 0 || c[0] != '[' {
				t.Errorf("%s: item %d checks %s, want an array", what, i, c)
			}
		}
		if string(items[0]["error"]) != "null" || string(items[0]["ref"]) != `"good"` {
			t.Errorf("%s: valid item: error %s, ref %s", what, items[0]["error"], items[0]["ref"])
		}
		if string(items[1]["ref"]) != "null" || string(items[1]["documentId"]) != "null" || string(items[1]["checks"]) != "[]" {
			t.Errorf("%s: malformed item: ref %s, documentId %s, checks %s", what, items[1]["ref"], items[1]["documentId"], items[1]["checks"])
		}
	}
}

// TestUploadsBounded: with MaxUploads 1, an NDJSON upload that arrives
// while another is still being received is answered 503 (field body,
// Retry-After) before its body is read, and is taken once the first is done.
// Being turned away under load is logged as a warning, not an error.
func TestUploadsBounded(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	var logs syncbuf.Buffer
	srvURL := serveGateway(t, gateway.Config{Store: e.st, NATS: e.nc, Limits: gateway.Limits{MaxUploads: 1}, SpoolDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	e.url = srvURL
	docs, _ := loadCorpus(t)
	var buf bytes.Buffer
	if err := json.Compact(&buf, docs[0].JSON); err != nil {
		t.Fatal(err)
	}
	line := append(buf.Bytes(), '\n')

	// The first upload sends one line, then holds its body open.
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(testContext(t), "POST", e.url+"/v1/verify", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctNDJSON)
	first := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			first <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	if _, err := pw.Write(line); err != nil {
		t.Fatal(err)
	}

	// While it is in progress (its line has reached the server), another is
	// turned away.
	var status int
	var hdr http.Header
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, hdr, body = do(t, "POST", e.url+"/v1/verify", ctNDJSON, line)
		if status == 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the first upload has not reached the handler yet
	}
	expectError(t, "second upload", status, body, 503, "unavailable", "body")
	if hdr.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %v", hdr)
	}
	if out := logs.String(); strings.Contains(out, "level=ERROR") || !strings.Contains(out, "level=WARN") {
		t.Errorf("the upload turned away was not logged as a warning:\n%s", out)
	}

	pw.Close()
	if got := <-first; got != 202 {
		t.Fatalf("first upload: status %d, want 202", got)
	}
	if status, _, body := do(t, "POST", e.url+"/v1/verify", ctNDJSON, line); status != 202 {
		t.Errorf("upload after the first finished: %d %s, want 202", status, body)
	}
}

// TestBodyMemoryBounded: JSON bodies are read into memory, and a client
// may send most of a large one and then hold it with a byte now and then
// (the minimum rate is an average over the whole body): without a bound on
// them all, a few hundred such requests took the gateway's memory (twelve
// of 60 MB held 800 MB). With MaxBodyMemory taken by bodies in progress, a
// request whose body does not fit in what is left is answered 503 (field body,
// Retry-After), a small one that fits is served, and once the held bodies are
// gone the large one is taken again. NDJSON uploads go to disk and do not
// count. (The bodies held here are those of requests waiting for their jobs,
// which no worker takes: they are known to be read whole once queued.)
func TestBodyMemoryBounded(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	srvURL := serveGateway(t, gateway.Config{Store: e.st, NATS: e.nc, SpoolDir: t.TempDir(), Logger: quietLogger(),
		Limits: gateway.Limits{MaxBodyBytes: 1 << 20, MaxBodyMemory: 2 << 20}})
	e.url = srvURL

	// Two requests of 900 kB each wait for their jobs, holding their bodies.
	ctx, cancel := context.WithCancel(testContext(t))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	held := []byte(`{"items":[{"ref":"h","document":{"pad":"` + strings.Repeat("a", 900_000) + `"}}]}`)
	for range 2 {
		req, err := http.NewRequestWithContext(ctx, "POST", e.url+"/v1/verify?wait=60s", bytes.NewReader(held))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		wg.Go(func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); e.queued(t) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the 2 held requests queued", e.queued(t))
		}
	}

	large := append(append([]byte(`{"items":[`), bytes.Repeat([]byte(" "), 400_000)...), "]}"...)
	status, hdr, body := do(t, "POST", e.url+"/v1/verify", "application/json", large)
	expectError(t, "a body beyond the memory left", status, body, 503, "unavailable", "body")
	if hdr.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %v", hdr)
	}
	// A small request fits in what is left.
	status, _, body = do(t, "POST", e.url+"/v1/verify", "application/json", []byte(`{"items":[]}`))
	expectError(t, "a small body", status, body, 400, "invalid_field", "items")
	// An NDJSON upload is spooled to disk, not held in memory.
	docs, _ := loadCorpus(t)
	status, _, body = do(t, "POST", e.url+"/v1/verify", ctNDJSON, append(compact(t, docs[0].JSON), '\n'))
	if status != 202 {
		t.Errorf("NDJSON upload while the memory is taken: %d %s, want 202", status, body)
	}

	cancel()
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, body = do(t, "POST", e.url+"/v1/verify", "application/json", large)
		if status != 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the held requests' handlers are still returning
	}
	expectError(t, "the large body once the others are gone", status, body, 400, "invalid_field", "items")
}

// TestClaimedLengthCostsNothing: a request's Content-Length costs no memory
// before its body arrives. The body buffer was sized from it up front (up to
// 1 MiB), so connections that sent only the headers of a POST with
// Content-Length: 1048576 held a megabyte each without sending a byte (500
// of them took 500 MB), beyond every bound on the bodies read.
func TestClaimedLengthCostsNothing(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	addr := strings.TrimPrefix(e.url, "http://")
	const conns = 64
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := fmt.Fprintf(c, "POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the handlers wait for the bodies
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
		t.Errorf("%d connections that sent only headers hold %d MB", conns, grown>>20)
	}
}

// TestNoSniff: every response, a success as much as an error, tells browsers
// not to guess its type: a stored covenant's content is its submitter's.
func TestNoSniff(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	docs, _ := loadCorpus(t)
	var doc struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(docs[0].JSON, &doc); err != nil {
		t.Fatal(err)
	}
	if err := e.st.PutDocuments(testContext(t), []store.Document{{ID: doc.ID, JSON: docs[0].JSON}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/healthz", 200},
		{"/v1/covenants/" + doc.ID, 200},
		{"/v1/covenants/" + strings.Repeat("e", 64), 404},
		{"/nowhere", 404},
	} {
		status, hdr, body := do(t, "GET", e.url+c.path, "", nil)
		if status != c.status || hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d, X-Content-Type-Options %q (%.200s); want %d and nosniff", c.path, status, hdr.Get("X-Content-Type-Options"), body, c.status)
		}
	}
}
