package gateway_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// storeKinds are the stores the registry tests run against.
var storeKinds = []string{"sqlite", "redis"}

// testKey returns a deterministic key for n.
func testKey(t testing.TB, n byte) *keys.PrivateKey {
	t.Helper()
	seed := make([]byte, keys.SeedSize)
	seed[0], seed[31] = 0x5e, n
	k, err := keys.NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// buildOpts are the options of buildDoc.
type buildOpts struct {
	issuer      string
	constraints string
	parent      *covenant.Document
	created     time.Time
	expires     string
	activates   string
	tags        []string
}

// buildDoc signs a fresh covenant with k.
func buildDoc(t testing.TB, k *keys.PrivateKey, o buildOpts) *covenant.Document {
	t.Helper()
	if o.issuer == "" {
		o.issuer = "issuer-" + k.PublicHex()[:8]
	}
	if o.constraints == "" {
		o.constraints = "permit read on '/data/**'"
	}
	opts := covenant.BuildOptions{
		Issuer:      covenant.Party{ID: o.issuer, PublicKey: k.PublicHex(), Role: covenant.RoleIssuer},
		Beneficiary: covenant.Party{ID: "agent", PublicKey: testKey(t, 200).PublicHex(), Role: covenant.RoleBeneficiary},
		Constraints: o.constraints,
		ExpiresAt:   o.expires,
		ActivatesAt: o.activates,
	}
	if !o.created.IsZero() {
		opts.Now = func() time.Time { return o.created }
	}
	if o.tags != nil {
		opts.Metadata = &covenant.Metadata{Tags: o.tags}
	}
	if o.parent != nil {
		opts.Chain = &covenant.ChainRef{ParentID: o.parent.ID(), Relation: "restricts", Depth: 1}
		if ref, ok := o.parent.Chain(); ok {
			opts.Chain.Depth = ref.Depth + 1
		}
	}
	d, err := covenant.Build(opts, k)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func docJSON(d *covenant.Document) []byte { return d.AppendJSON(nil) }

// advertise puts keys in the store's key directory as a signer would.
func (e *testEnv) advertise(t *testing.T, ks ...store.SigningKey) {
	t.Helper()
	for i := range ks {
		ks[i].SeenAt = time.Now()
	}
	if err := e.st.AdvertiseKeys(testContext(t), ks); err != nil {
		t.Fatalf("AdvertiseKeys: %v", err)
	}
}

// expectError checks an error answer's status, code and field.
func expectError(t *testing.T, what string, status int, body []byte, wantStatus int, code, field string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d (%s)", what, status, wantStatus, body)
		return
	}
	e := decode[apiError](t, body)
	if e.Error.Code != code || e.Error.Field != field {
		t.Errorf("%s: error %+v, want code %q field %q", what, e.Error, code, field)
	}
	if e.Error.Message == "" {
		t.Errorf("%s: empty message", what)
	}
}

// TestSignRejects sends malformed sign requests: each is a 4xx naming the
// field, and nothing is queued.
func TestSignRejects(t *testing.T) {
	e := newEnv(t, gateway.Limits{MaxItems: 3, MaxDepth: 8})
	pub := testKey(t, 1).PublicHex()
	good := `{"keyId":"k1","beneficiary":{"id":"b","publicKey":"` + pub + `"},"constraints":"permit read on '/x'"}`
	with := func(extra string) string {
		return `{"items":[` + good + `,{"keyId":"k1","beneficiary":{"id":"b","publicKey":"` + pub + `"},"constraints":"permit read on '/x'"` + extra + `}]}`
	}
	without := func(member string) string {
		m := map[string]any{"keyId": "k1", "beneficiary": map[string]string{"id": "b", "publicKey": pub}, "constraints": "permit a on 'b'"}
		delete(m, member)
		b, _ := json.Marshal(m)
		return `{"items":[` + string(b) + `]}`
	}
	deep := strings.Repeat(`{"a":`, 10) + "1" + strings.Repeat("}", 10)
	cases := []struct {
		name, query, ct, body string
		status                int
		code, field           string
	}{
		{"not JSON", "", ctJSON, `nope`, 400, "invalid_json", "body"},
		{"not an object", "", ctJSON, `[1]`, 400, "invalid_field", "body"},
		{"empty body", "", ctJSON, ``, 400, "invalid_json", "body"},
		{"no items", "", ctJSON, `{}`, 400, "missing_field", "items"},
		{"empty items", "", ctJSON, `{"items":[]}`, 400, "invalid_field", "items"},
		{"items an object", "", ctJSON, `{"items":{}}`, 400, "invalid_field", "items"},
		{"unknown top-level", "", ctJSON, `{"items":[` + good + `],"at":"x"}`, 400, "unknown_field", "at"},
		{"too many items", "", ctJSON, `{"items":[` + strings.Repeat(good+",", 3) + good + `]}`, 413, "too_many_items", "items"},
		{"item not an object", "", ctJSON, `{"items":[` + good + `,5]}`, 400, "invalid_field", "items[1]"},
		{"missing keyId", "", ctJSON, without("keyId"), 400, "missing_field", "items[0].keyId"},
		{"null keyId", "", ctJSON, `{"items":[{"keyId":null,"beneficiary":{"id":"b","publicKey":"` + pub + `"},"constraints":"permit a on 'b'"}]}`, 400, "missing_field", "items[0].keyId"},
		{"null constraints", "", ctJSON, `{"items":[{"keyId":"k1","beneficiary":{"id":"b","publicKey":"` + pub + `"},"constraints":null}]}`, 400, "missing_field", "items[0].constraints"},
		{"null unknown member", "", ctJSON, with(`,"nonce":null`), 400, "unknown_field", "items[1].nonce"},
		{"missing beneficiary", "", ctJSON, without("beneficiary"), 400, "missing_field", "items[0].beneficiary"},
		{"missing constraints", "", ctJSON, without("constraints"), 400, "missing_field", "items[0].constraints"},
		{"bad keyId", "", ctJSON, `{"items":[{"keyId":"a/b"}]}`, 400, "invalid_field", "items[0].keyId"},
		{"keyId a number", "", ctJSON, `{"items":[{"keyId":7}]}`, 400, "invalid_field", "items[0].keyId"},
		{"issuer public key", "", ctJSON, with(`,"issuer":{"id":"i","publicKey":"` + pub + `"}`), 400, "invalid_field", "items[1].issuer.publicKey"},
		{"issuer without id", "", ctJSON, with(`,"issuer":{"name":"n"}`), 400, "missing_field", "items[1].issuer.id"},
		{"issuer unknown member", "", ctJSON, with(`,"issuer":{"id":"i","role":"x"}`), 400, "unknown_field", "items[1].issuer.role"},
		{"beneficiary key short", "", ctJSON, `{"items":[{"keyId":"k","beneficiary":{"id":"b","publicKey":"abcd"}}]}`, 400, "invalid_field", "items[0].beneficiary.publicKey"},
		{"beneficiary key not hex", "", ctJSON, `{"items":[{"keyId":"k","beneficiary":{"id":"b","publicKey":"` + strings.Repeat("zz", 32) + `"}}]}`, 400, "invalid_field", "items[0].beneficiary.publicKey"},
		{"beneficiary without key", "", ctJSON, `{"items":[{"keyId":"k","beneficiary":{"id":"b"}}]}`, 400, "missing_field", "items[0].beneficiary.publicKey"},
		{"beneficiary a string", "", ctJSON, `{"items":[{"keyId":"k","beneficiary":"b"}]}`, 400, "invalid_field", "items[0].beneficiary"},
		{"empty beneficiary id", "", ctJSON, `{"items":[{"keyId":"k","beneficiary":{"id":""}}]}`, 400, "invalid_field", "items[0].beneficiary.id"},
		{"constraints a number", "", ctJSON, with(`,"constraints":1`), 400, "invalid_field", "items[1].constraints"},
		{"duplicate member", "", ctJSON, `{"items":[{"keyId":"k","keyId":"k"}]}`, 400, "invalid_field", "items[0].keyId"},
		{"bad expiresAt", "", ctJSON, with(`,"expiresAt":"next week"`), 400, "invalid_field", "items[1].expiresAt"},
		{"bad activatesAt", "", ctJSON, with(`,"activatesAt":12`), 400, "invalid_field", "items[1].activatesAt"},
		{"metadata an array", "", ctJSON, with(`,"metadata":[]`), 400, "invalid_field", "items[1].metadata"},
		{"obligations an object", "", ctJSON, with(`,"obligations":{}`), 400, "invalid_field", "items[1].obligations"},
		{"obligation a string", "", ctJSON, with(`,"obligations":[{"id":"o"},"x"]`), 400, "invalid_field", "items[1].obligations[1]"},
		{"bad parentId", "", ctJSON, with(`,"parentId":"p","relation":"restricts"`), 400, "invalid_field", "items[1].parentId"},
		{"parent without relation", "", ctJSON, with(`,"parentId":"` + strings.Repeat("a", 64) + `"`), 400, "missing_field", "items[1].relation"},
		{"relation without parent", "", ctJSON, with(`,"relation":"restricts"`), 400, "invalid_field", "items[1].relation"},
		{"unknown item member", "", ctJSON, with(`,"nonce":"x"`), 400, "unknown_field", "items[1].nonce"},
		{"ref too long", "", ctJSON, with(`,"ref":"` + strings.Repeat("r", 2000) + `"`), 400, "invalid_field", "items[1].ref"},
		{"too deep", "", ctJSON, with(`,"metadata":` + deep), 400, "too_deep", "body"},
		{"bad wait", "?wait=later", ctJSON, `{"items":[` + good + `]}`, 400, "invalid_parameter", "wait"},
		{"NDJSON", "", ctNDJSON, good, 415, "unsupported_media_type", "Content-Type"},
	}
	for _, c := range cases {
		status, _, body := do(t, "POST", e.url+"/v1/sign"+c.query, c.ct, []byte(c.body))
		expectError(t, c.name, status, body, c.status, c.code, c.field)
	}
	if n := e.queued(t); n != 0 {
		t.Errorf("%d messages queued by rejected requests", n)
	}
}

// TestSignItemTooLargeForChunk sends an item within the document limit but
// too large for one chunk message: 413 naming it, and nothing queued.
func TestSignItemTooLargeForChunk(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	e.advertise(t, store.SigningKey{KeyID: "k1", PublicKey: testKey(t, 1).PublicHex()})
	pub := testKey(t, 9).PublicHex()
	item := func(pad int) string {
		return `{"keyId":"k1","beneficiary":{"id":"b","publicKey":"` + pub + `"},"constraints":"permit a on 'b'","metadata":{"name":"` + strings.Repeat("x", pad) + `"}}`
	}
	status, _, body := do(t, "POST", e.url+"/v1/sign", ctJSON, []byte(`{"items":[`+item(10)+","+item(900<<10)+`]}`))
	expectError(t, "item over a chunk", status, body, 413, "document_too_large", "items[1]")
	if n := e.queued(t); n != 0 {
		t.Errorf("%d messages queued", n)
	}
	if status, _, body := do(t, "POST", e.url+"/v1/sign", ctJSON, []byte(`{"items":[`+item(400<<10)+`]}`)); status != 202 {
		t.Errorf("item within a chunk: %d %s", status, body)
	}
	// Optional members given as null are absent, as in a verify item.
	nulls := `{"items":[{"keyId":"k1","beneficiary":{"id":"b","publicKey":"` + pub + `"},"constraints":"permit a on 'b'",` +
		`"ref":null,"issuer":null,"expiresAt":null,"activatesAt":null,"metadata":null,"obligations":null,"parentId":null,"relation":null}]}`
	if status, _, body := do(t, "POST", e.url+"/v1/sign", ctJSON, []byte(nulls)); status != 202 {
		t.Errorf("optional members null: %d %s, want 202", status, body)
	}
}

// TestSignQueues checks what a sign job carries: the gateway's nonce and
// creation time, no issuer public key, and per-item errors for unknown,
// retired and revoked keys and for constraints that do not parse.
func TestSignQueues(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnvOn(t, gateway.Limits{}, kind)
			ctx := testContext(t)
			e.advertise(t,
				store.SigningKey{KeyID: "live", PublicKey: testKey(t, 1).PublicHex()},
				store.SigningKey{KeyID: "old", PublicKey: testKey(t, 2).PublicHex(), Retired: true},
				store.SigningKey{KeyID: "bad", PublicKey: testKey(t, 3).PublicHex()},
			)
			if err := e.st.RevokeKey(ctx, store.Revocation{PublicKey: testKey(t, 3).PublicHex(), KeyID: "bad", Reason: "leaked"}); err != nil {
				t.Fatal(err)
			}
			pub := testKey(t, 9).PublicHex()
			item := func(ref, key, constraints string) map[string]any {
				return map[string]any{
					"ref": ref, "keyId": key, "constraints": constraints,
					"issuer":      map[string]string{"id": "alice", "name": "Alice"},
					"beneficiary": map[string]string{"id": "bob", "publicKey": strings.ToUpper(pub)},
				}
			}
			first := item("a", "live", "permit read on '/data/**'")
			first["metadata"] = map[string]any{"name": "demo", "tags": []string{"x"}}
			first["obligations"] = []any{map[string]string{"id": "o1", "description": "d", "action": "log"}}
			first["expiresAt"] = "2099-01-01T00:00:00.000Z"
			first["parentId"] = strings.Repeat("AB", 32)
			first["relation"] = "restricts"
			req := map[string]any{"items": []any{
				first,
				item("b", "live", "permit read on '/x'"),
				item("c", "nobody", "permit read on '/x'"),
				item("d", "old", "permit read on '/x'"),
				item("e", "bad", "permit read on '/x'"),
				item("f", "live", "permit read on '/x'\npermit"),
			}}
			body, _ := json.Marshal(req)
			before := time.Now().Add(-20 * time.Millisecond) // the env's clock ticks in hundredths
			status, hdr, resp := do(t, "POST", e.url+"/v1/sign", ctJSON, body)
			if status != 202 {
				t.Fatalf("status %d: %s", status, resp)
			}
			ans := decode[jobAnswer](t, resp)
			if ans.Kind != store.KindSign || ans.Total != 6 || ans.Status != store.StatusQueued || hdr.Get("Location") != ans.Links.Self {
				t.Errorf("answer %+v, Location %q", ans, hdr.Get("Location"))
			}
			job, err := e.st.GetJob(ctx, ans.ID)
			if err != nil || job.Kind != store.KindSign || job.Total != 6 {
				t.Fatalf("job record %+v, %v", job, err)
			}
			chunks := e.chunks(t)
			if len(chunks) != 1 || chunks[0].Kind != store.KindSign || chunks[0].JobID != ans.ID || len(chunks[0].Items) != 6 {
				t.Fatalf("chunks %+v", chunks)
			}
			items := chunks[0].Items
			nonces := map[string]bool{}
			for _, i := range []int{0, 1} {
				var sr jobs.SignRequest
				if err := json.Unmarshal(items[i].Sign, &sr); err != nil {
					t.Fatalf("item %d: %v", i, err)
				}
				if items[i].Error != "" {
					t.Errorf("item %d: error %q", i, items[i].Error)
				}
				if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sr.Nonce) || nonces[sr.Nonce] {
					t.Errorf("item %d: nonce %q", i, sr.Nonce)
				}
				nonces[sr.Nonce] = true
				created, ok := jstime.Parse(sr.CreatedAt)
				if !ok || created.Before(before) || created.After(time.Now()) || sr.CreatedAt != jstime.Format(created) {
					t.Errorf("item %d: createdAt %q", i, sr.CreatedAt)
				}
				if sr.KeyID != "live" || sr.Issuer == nil || sr.Issuer.ID != "alice" || sr.Issuer.PublicKey != "" || sr.Issuer.Name != "Alice" {
					t.Errorf("item %d: key/issuer %+v %+v", i, sr.KeyID, sr.Issuer)
				}
				if sr.Beneficiary == nil || sr.Beneficiary.PublicKey != pub {
					t.Errorf("item %d: beneficiary %+v (want the key in lower case)", i, sr.Beneficiary)
				}
			}
			var sr jobs.SignRequest
			_ = json.Unmarshal(items[0].Sign, &sr)
			if sr.ParentID != strings.Repeat("ab", 32) || sr.Relation != "restricts" || sr.ExpiresAt != "2099-01-01T00:00:00.000Z" ||
				string(sr.Metadata) != `{"name":"demo","tags":["x"]}` || !strings.Contains(string(sr.Obligations), `"o1"`) {
				t.Errorf("item 0: %+v", sr)
			}
			wantErr := []string{
				2: `^unknown_key: .*"nobody"`,
				3: `^retired_key: .*"old"`,
				4: `^revoked_key: .*"bad" was revoked at .*: leaked$`,
				5: `^invalid_ccl: line 2, column \d+: .+`,
			}
			for i := 2; i < 6; i++ {
				if !regexp.MustCompile(wantErr[i]).MatchString(items[i].Error) {
					t.Errorf("item %d: error %q, want %s", i, items[i].Error, wantErr[i])
				}
				if items[i].Ref != string(rune('a'+i)) {
					t.Errorf("item %d: ref %q", i, items[i].Ref)
				}
			}
		})
	}
}

// TestSignSeesNewKey checks that a key advertised after the directory was
// cached is found without waiting for the cache to expire.
func TestSignSeesNewKey(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	pub := testKey(t, 9).PublicHex()
	body := []byte(`{"items":[{"keyId":"fresh","beneficiary":{"id":"b","publicKey":"` + pub + `"},"constraints":"permit a on 'b'"}]}`)
	if status, _, resp := do(t, "POST", e.url+"/v1/sign", ctJSON, body); status != 202 {
		t.Fatalf("status %d: %s", status, resp)
	}
	e.advertise(t, store.SigningKey{KeyID: "fresh", PublicKey: testKey(t, 4).PublicHex()})
	time.Sleep(1100 * time.Millisecond) // the directory is re-read for a missing key at most once a second
	if status, _, resp := do(t, "POST", e.url+"/v1/sign", ctJSON, body); status != 202 {
		t.Fatalf("status %d: %s", status, resp)
	}
	chunks := e.chunks(t)
	if len(chunks) != 2 {
		t.Fatalf("%d chunks", len(chunks))
	}
	if !strings.HasPrefix(chunks[0].Items[0].Error, "unknown_key: ") || chunks[1].Items[0].Error != "" {
		t.Errorf("errors %q then %q", chunks[0].Items[0].Error, chunks[1].Items[0].Error)
	}
}

// TestCountersign checks POST /v1/countersign: validation, 404 for a
// covenant the store lacks, and the queued item.
func TestCountersign(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	ctx := testContext(t)
	e.advertise(t, store.SigningKey{KeyID: "auditor", PublicKey: testKey(t, 5).PublicHex()})
	doc := buildDoc(t, testKey(t, 1), buildOpts{})
	if err := e.st.PutDocuments(ctx, []store.Document{jobs.StoredDocument(doc)}); err != nil {
		t.Fatal(err)
	}
	missing := strings.Repeat("cd", 32)
	cases := []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"no documentId", `{"keyId":"auditor"}`, 400, "missing_field", "documentId"},
		{"no keyId", `{"documentId":"` + doc.ID() + `"}`, 400, "missing_field", "keyId"},
		{"bad documentId", `{"documentId":"x","keyId":"auditor"}`, 400, "invalid_field", "documentId"},
		{"bad role", `{"documentId":"` + doc.ID() + `","keyId":"auditor","role":""}`, 400, "invalid_field", "role"},
		{"unknown member", `{"documentId":"` + doc.ID() + `","keyId":"auditor","at":1}`, 400, "unknown_field", "at"},
		{"unknown document", `{"documentId":"` + missing + `","keyId":"auditor"}`, 404, "not_found", "documentId"},
	}
	for _, c := range cases {
		status, _, body := do(t, "POST", e.url+"/v1/countersign", ctJSON, []byte(c.body))
		expectError(t, c.name, status, body, c.status, c.code, c.field)
	}
	if n := e.queued(t); n != 0 {
		t.Fatalf("%d messages queued by rejected requests", n)
	}
	status, _, resp := do(t, "POST", e.url+"/v1/countersign", ctJSON,
		[]byte(`{"documentId":"`+strings.ToUpper(doc.ID())+`","keyId":"auditor","role":"witness"}`))
	if status != 202 {
		t.Fatalf("status %d: %s", status, resp)
	}
	status, _, resp = do(t, "POST", e.url+"/v1/countersign", ctJSON, []byte(`{"documentId":"`+doc.ID()+`","keyId":"ghost"}`))
	if status != 202 {
		t.Fatalf("status %d: %s", status, resp)
	}
	chunks := e.chunks(t)
	if len(chunks) != 2 || len(chunks[0].Items) != 1 || chunks[0].Kind != store.KindSign {
		t.Fatalf("chunks %+v", chunks)
	}
	var sr jobs.SignRequest
	if err := json.Unmarshal(chunks[0].Items[0].Sign, &sr); err != nil {
		t.Fatal(err)
	}
	if sr.Countersign != doc.ID() || sr.KeyID != "auditor" || sr.Role != "witness" || sr.Nonce != "" {
		t.Errorf("sign request %+v", sr)
	}
	if _, ok := jstime.Parse(sr.Timestamp); !ok {
		t.Errorf("timestamp %q", sr.Timestamp)
	}
	if !strings.HasPrefix(chunks[1].Items[0].Error, "unknown_key: ") {
		t.Errorf("unknown key: item %+v", chunks[1].Items[0])
	}
}

// putAnswer is the answer of PUT /v1/covenants.
type putAnswer struct {
	ID     string `json:"id"`
	Stored bool   `json:"stored"`
}

// invalidAnswer is the 422 answer of PUT /v1/covenants.
type invalidAnswer struct {
	apiError
	Checks []store.Check `json:"checks"`
}

func (e *testEnv) put(t *testing.T, query string, doc []byte) (int, []byte) {
	t.Helper()
	status, _, body := do(t, "PUT", e.url+"/v1/covenants"+query, ctJSON, doc)
	return status, body
}

// expectInvalid checks a 422 answer and that check failed.
func expectInvalid(t *testing.T, what string, status int, body []byte, check string) {
	t.Helper()
	if status != 422 {
		t.Errorf("%s: status %d, want 422 (%s)", what, status, body)
		return
	}
	a := decode[invalidAnswer](t, body)
	if a.Error.Code != "invalid_covenant" || !strings.Contains(a.Error.Message, check) {
		t.Errorf("%s: error %+v", what, a.Error)
	}
	if !slices.Contains(failedChecks(store.Result{Checks: a.Checks}), check) {
		t.Errorf("%s: failed checks %v, want %s", what, failedChecks(store.Result{Checks: a.Checks}), check)
	}
}

// TestPutCovenant stores covenants signed elsewhere and rejects those that
// do not verify, on both stores.
func TestPutCovenant(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnvOn(t, gateway.Limits{MaxDocumentBytes: 64 << 10, MaxDepth: 16}, kind)
			ctx := testContext(t)
			doc := buildDoc(t, testKey(t, 1), buildOpts{tags: []string{"t1"}})

			status, body := e.put(t, "", docJSON(doc))
			if status != 201 || decode[putAnswer](t, body) != (putAnswer{ID: doc.ID(), Stored: true}) {
				t.Fatalf("first PUT: %d %s", status, body)
			}
			status, body = e.put(t, "", docJSON(doc))
			if status != 200 || decode[putAnswer](t, body) != (putAnswer{ID: doc.ID(), Stored: true}) {
				t.Fatalf("second PUT: %d %s", status, body)
			}
			if status, _, got := do(t, "GET", e.url+"/v1/covenants/"+doc.ID(), "", nil); status != 200 || string(got) != string(docJSON(doc)) {
				t.Fatalf("GET: %d %s", status, got)
			}
			page, err := e.st.ListDocuments(ctx, store.DocumentQuery{Tag: "t1"})
			if err != nil || len(page.Documents) != 1 || page.Documents[0].IssuerID != doc.Issuer().ID {
				t.Fatalf("indexed: %+v, %v", page, err)
			}

			// A countersigned copy replaces the stored one; a copy with
			// fewer countersignatures does not.
			cs, err := covenant.Countersign(doc, testKey(t, 7), "auditor")
			if err != nil {
				t.Fatal(err)
			}
			if status, body := e.put(t, "", docJSON(cs)); status != 200 {
				t.Fatalf("countersigned PUT: %d %s", status, body)
			}
			if status, body := e.put(t, "", docJSON(doc)); status != 200 {
				t.Fatalf("older PUT: %d %s", status, body)
			}
			if got, err := e.st.GetDocument(ctx, doc.ID()); err != nil || string(got) != string(docJSON(cs)) {
				t.Errorf("stored copy lost its countersignature: %s, %v", got, err)
			}
			// A copy countersigned by another key only would drop the
			// stored countersignature: 409, the stored copy unchanged; with
			// both it replaces the stored copy.
			other, err := covenant.Countersign(doc, testKey(t, 8), "auditor")
			if err != nil {
				t.Fatal(err)
			}
			status, body = e.put(t, "", docJSON(other))
			expectError(t, "PUT dropping a countersignature", status, body, 409, "conflict", "body")
			if got, _ := e.st.GetDocument(ctx, doc.ID()); string(got) != string(docJSON(cs)) {
				t.Errorf("a refused PUT changed the stored copy: %s", got)
			}
			both, err := covenant.Countersign(cs, testKey(t, 8), "auditor")
			if err != nil {
				t.Fatal(err)
			}
			if status, body := e.put(t, "", docJSON(both)); status != 200 {
				t.Fatalf("PUT with both countersignatures: %d %s", status, body)
			}
			if got, _ := e.st.GetDocument(ctx, doc.ID()); string(got) != string(docJSON(both)) {
				t.Errorf("stored copy %s, want the one with both countersignatures", got)
			}

			// Tampered, expired, revoked.
			tampered := strings.Replace(string(docJSON(buildDoc(t, testKey(t, 1), buildOpts{constraints: "permit read on '/a'"}))), "/a", "/b", 1)
			status, body = e.put(t, "", []byte(tampered))
			expectInvalid(t, "tampered", status, body, covenant.CheckIDMatch)
			expired := buildDoc(t, testKey(t, 1), buildOpts{expires: "2020-01-01T00:00:00.000Z"})
			status, body = e.put(t, "", docJSON(expired))
			expectInvalid(t, "expired", status, body, covenant.CheckNotExpired)
			// A covenant that takes effect later is stored, as a signer
			// stores the ones it issues; one that is also expired is not.
			later := buildDoc(t, testKey(t, 1), buildOpts{activates: "2999-01-01T00:00:00.000Z"})
			if status, body := e.put(t, "", docJSON(later)); status != 201 {
				t.Errorf("PUT of a covenant active from 2999: %d %s, want 201", status, body)
			}
			laterExpired := buildDoc(t, testKey(t, 1), buildOpts{activates: "2999-01-01T00:00:00.000Z", expires: "2020-01-01T00:00:00.000Z"})
			status, body = e.put(t, "", docJSON(laterExpired))
			expectInvalid(t, "expired and not yet active", status, body, covenant.CheckNotExpired)
			revokedDoc := buildDoc(t, testKey(t, 2), buildOpts{})
			if err := e.st.RevokeKey(ctx, store.Revocation{PublicKey: testKey(t, 2).PublicHex(), Reason: "stolen"}); err != nil {
				t.Fatal(err)
			}
			status, body = e.put(t, "", docJSON(revokedDoc))
			expectInvalid(t, "revoked", status, body, "key_not_revoked")
			for _, id := range []string{expired.ID(), laterExpired.ID(), revokedDoc.ID()} {
				if _, err := e.st.GetDocument(ctx, id); err == nil {
					t.Errorf("invalid covenant %s stored", id)
				}
			}

			// Chains: with ?chain=true a broadening child and an orphan are
			// refused; without it they are stored.
			parent := buildDoc(t, testKey(t, 3), buildOpts{constraints: "permit read on '/data/**'"})
			if status, body := e.put(t, "", docJSON(parent)); status != 201 {
				t.Fatalf("parent: %d %s", status, body)
			}
			narrow := buildDoc(t, testKey(t, 4), buildOpts{constraints: "permit read on '/data/x/**'", parent: parent})
			broad := buildDoc(t, testKey(t, 4), buildOpts{constraints: "permit read on '/data/**'\npermit write on '/data/**'", parent: parent})
			orphan := buildDoc(t, testKey(t, 4), buildOpts{parent: buildDoc(t, testKey(t, 5), buildOpts{})})
			if status, body := e.put(t, "?chain=true", docJSON(narrow)); status != 201 {
				t.Errorf("narrowing child: %d %s", status, body)
			}
			status, body = e.put(t, "?chain=true", docJSON(broad))
			expectInvalid(t, "broadening child", status, body, "chain_narrowing")
			status, body = e.put(t, "?chain=true", docJSON(orphan))
			expectInvalid(t, "orphan", status, body, "chain_resolved")
			if status, body := e.put(t, "", docJSON(broad)); status != 201 {
				t.Errorf("broadening child without ?chain: %d %s", status, body)
			}

			// Requests that are not covenants.
			deep := `{"a":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`
			rejects := []struct {
				name, query, ct, body string
				status                int
				code, field           string
			}{
				{"malformed", "", ctJSON, `{"id":`, 400, "invalid_json", "body"},
				{"not a covenant", "", ctJSON, `{"id":"x"}`, 400, "invalid_field", "body"},
				{"array", "", ctJSON, `[]`, 400, "invalid_field", "body"},
				{"too deep", "", ctJSON, deep, 400, "too_deep", "body"},
				{"too large", "", ctJSON, `{"pad":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "document_too_large", "body"},
				{"bad chain", "?chain=yes", ctJSON, string(docJSON(doc)), 400, "invalid_parameter", "chain"},
				{"text", "", "text/plain", string(docJSON(doc)), 415, "unsupported_media_type", "Content-Type"},
			}
			for _, c := range rejects {
				status, _, body := do(t, "PUT", e.url+"/v1/covenants"+c.query, c.ct, []byte(c.body))
				expectError(t, c.name, status, body, c.status, c.code, c.field)
			}
		})
	}
}

// listAnswer is the answer of GET /v1/covenants.
type listAnswer struct {
	Items []struct {
		ID            string          `json:"id"`
		IssuerID      string          `json:"issuerId"`
		BeneficiaryID string          `json:"beneficiaryId"`
		CreatedAt     string          `json:"createdAt"`
		HasChain      bool            `json:"hasChain"`
		Tags          []string        `json:"tags"`
		Document      json.RawMessage `json:"document"`
	} `json:"items"`
	Next *string `json:"next"`
}

// listAll pages through a listing and returns the IDs.
func (e *testEnv) listAll(t *testing.T, query url.Values, limit int) []string {
	t.Helper()
	var ids []string
	query = maps.Clone(query)
	if query == nil {
		query = url.Values{}
	}
	query.Set("limit", fmt.Sprint(limit))
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("listing does not end")
		}
		status, _, body := do(t, "GET", e.url+"/v1/covenants?"+query.Encode(), "", nil)
		if status != 200 {
			t.Fatalf("list %s: %d %s", query.Encode(), status, body)
		}
		a := decode[listAnswer](t, body)
		for _, it := range a.Items {
			ids = append(ids, it.ID)
			d, err := covenant.Parse(it.Document)
			if err != nil || d.ID() != it.ID || d.Issuer().ID != it.IssuerID || d.CreatedAt() != it.CreatedAt || it.Tags == nil {
				t.Fatalf("item %+v does not match its document (%v)", it, err)
			}
		}
		if a.Next == nil {
			return ids
		}
		if len(a.Items) != limit {
			t.Fatalf("short page of %d before the end", len(a.Items))
		}
		query.Set("cursor", *a.Next)
	}
}

// TestListCovenants lists stored covenants by every filter, a page at a
// time, on both stores.
func TestListCovenants(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnvOn(t, gateway.Limits{}, kind)
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var all, byAlice, tagged, chained, early []string
			var root *covenant.Document
			for i := range 12 {
				o := buildOpts{issuer: "bob", created: base.Add(time.Duration(i) * time.Hour)}
				if i%3 == 0 {
					o.issuer = "alice"
				}
				if i%4 == 0 {
					o.tags = []string{"red", "blue"}
				}
				if i > 0 && i%5 == 0 {
					o.parent = root
				}
				d := buildDoc(t, testKey(t, byte(10+i)), o)
				if i == 0 {
					root = d
				}
				if status, body := e.put(t, "", docJSON(d)); status != 201 {
					t.Fatalf("PUT %d: %d %s", i, status, body)
				}
				all = append(all, d.ID())
				if o.issuer == "alice" {
					byAlice = append(byAlice, d.ID())
				}
				if o.tags != nil {
					tagged = append(tagged, d.ID())
				}
				if o.parent != nil {
					chained = append(chained, d.ID())
				}
				if i < 4 {
					early = append(early, d.ID())
				}
			}
			cases := []struct {
				name  string
				query url.Values
				want  []string
			}{
				{"all", url.Values{}, all},
				{"issuer", url.Values{"issuer": {"alice"}}, byAlice},
				{"beneficiary", url.Values{"beneficiary": {"agent"}}, all},
				{"no such beneficiary", url.Values{"beneficiary": {"carol"}}, nil},
				{"tag", url.Values{"tag": {"blue"}}, tagged},
				{"hasChain", url.Values{"hasChain": {"true"}}, chained},
				{"hasChain empty", url.Values{"hasChain": {""}}, all},
				{"createdBefore", url.Values{"createdBefore": {base.Add(3*time.Hour + time.Minute).Format(time.RFC3339)}}, early},
				{"createdAfter", url.Values{"createdAfter": {base.Add(7 * time.Hour).Format(time.RFC3339)}}, all[8:]},
				// RFC 3339 (section 5.6) allows a lower-case "t" and "z".
				{"createdAfter in lower case", url.Values{"createdAfter": {strings.ToLower(base.Add(7 * time.Hour).Format(time.RFC3339))}}, all[8:]},
				{"issuer and tag", url.Values{"issuer": {"alice"}, "tag": {"red"}}, []string{all[0]}},
				// The year 1 is a bound like any other, however it is spelled.
				{"createdBefore the year 1", url.Values{"createdBefore": {"0001-01-01T00:00:00Z"}}, nil},
				{"createdBefore the year 1 with an offset", url.Values{"createdBefore": {"0001-01-01T01:00:00+01:00"}}, nil},
				{"createdAfter the year 1", url.Values{"createdAfter": {"0001-01-01T00:00:00Z"}}, all},
			}
			for _, c := range cases {
				for _, limit := range []int{1, 5, 1000} {
					got := e.listAll(t, c.query, limit)
					if !slices.Equal(got, c.want) {
						t.Errorf("%s, limit %d: got %d items %v, want %v", c.name, limit, len(got), got, c.want)
					}
				}
			}
			rejects := []struct{ query, field string }{
				{"limit=0", "limit"},
				{"limit=1001", "limit"},
				{"limit=x", "limit"},
				{"createdAfter=yesterday", "createdAfter"},
				{"createdBefore=2026-01-01", "createdBefore"},
				{"hasChain=1", "hasChain"},
				{"cursor=%21%21", "cursor"},
				{"issuer=a&issuer=b", "issuer"},
				{"isuer=alice", "isuer"},
			}
			for _, c := range rejects {
				status, _, body := do(t, "GET", e.url+"/v1/covenants?"+c.query, "", nil)
				expectError(t, c.query, status, body, 400, "invalid_parameter", c.field)
			}
		})
	}
}

// chainAnswer is the answer of GET /v1/covenants/{id}/chain.
type chainAnswer struct {
	ID        string `json:"id"`
	Depth     int    `json:"depth"`
	Ancestors []struct {
		ID          string `json:"id"`
		Constraints string `json:"constraints"`
		Depth       int    `json:"depth"`
	} `json:"ancestors"`
	EffectiveConstraints string `json:"effectiveConstraints"`
	Narrowing            []struct {
		Child      string   `json:"child"`
		Parent     string   `json:"parent"`
		Valid      bool     `json:"valid"`
		Violations []string `json:"violations"`
	} `json:"narrowing"`
	Valid bool `json:"valid"`
}

// TestChainEndpoint resolves a three-level chain whose grandchild broadens
// its parent, and reports missing covenants.
func TestChainEndpoint(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	ctx := testContext(t)
	root := buildDoc(t, testKey(t, 1), buildOpts{constraints: "permit read on '/data/**'\npermit write on '/data/**'"})
	child := buildDoc(t, testKey(t, 2), buildOpts{constraints: "permit read on '/data/**'", parent: root})
	grandchild := buildDoc(t, testKey(t, 3), buildOpts{constraints: "permit read on '/data/public/**'\npermit write on '/data/public/**'", parent: child})
	orphan := buildDoc(t, testKey(t, 4), buildOpts{parent: buildDoc(t, testKey(t, 5), buildOpts{})})
	var sds []store.Document
	for _, d := range []*covenant.Document{root, child, grandchild, orphan} {
		sds = append(sds, jobs.StoredDocument(d))
	}
	if err := e.st.PutDocuments(ctx, sds); err != nil {
		t.Fatal(err)
	}

	status, _, body := do(t, "GET", e.url+"/v1/covenants/"+grandchild.ID()+"/chain", "", nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	a := decode[chainAnswer](t, body)
	if a.ID != grandchild.ID() || a.Depth != 2 || len(a.Ancestors) != 2 || a.Ancestors[0].ID != child.ID() || a.Ancestors[1].ID != root.ID() || a.Valid {
		t.Errorf("chain %+v", a)
	}
	if len(a.Narrowing) != 2 || a.Narrowing[0].Valid || a.Narrowing[0].Child != grandchild.ID() || len(a.Narrowing[0].Violations) == 0 || !a.Narrowing[1].Valid {
		t.Errorf("narrowing %+v", a.Narrowing)
	}
	status, _, body = do(t, "GET", e.url+"/v1/covenants/"+child.ID()+"/chain", "", nil)
	if a := decode[chainAnswer](t, body); status != 200 || !a.Valid || a.EffectiveConstraints == "" || !strings.Contains(a.EffectiveConstraints, "read") {
		t.Errorf("child chain: %d %s", status, body)
	}
	status, _, body = do(t, "GET", e.url+"/v1/covenants/"+root.ID()+"/chain", "", nil)
	if a := decode[chainAnswer](t, body); status != 200 || !a.Valid || a.Depth != 0 || a.Ancestors == nil || a.Narrowing == nil {
		t.Errorf("root chain: %d %s", status, body)
	}

	parentID, _ := orphan.Chain()
	status, _, body = do(t, "GET", e.url+"/v1/covenants/"+orphan.ID()+"/chain", "", nil)
	expectError(t, "orphan", status, body, 404, "not_found", "id")
	if !strings.Contains(string(body), parentID.ParentID) {
		t.Errorf("orphan: the error does not name the missing ancestor: %s", body)
	}
	status, _, body = do(t, "GET", e.url+"/v1/covenants/"+strings.Repeat("0", 64)+"/chain", "", nil)
	expectError(t, "unknown", status, body, 404, "not_found", "id")
	status, _, body = do(t, "GET", e.url+"/v1/covenants/xyz/chain", "", nil)
	expectError(t, "bad id", status, body, 400, "invalid_parameter", "id")
}

// TestRevocations revokes keys by ID and by public key and lists them, on
// both stores.
func TestRevocations(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnvOn(t, gateway.Limits{}, kind)
			e.advertise(t, store.SigningKey{KeyID: "k1", PublicKey: testKey(t, 1).PublicHex()})
			status, _, body := do(t, "GET", e.url+"/v1/revocations", "", nil)
			if status != 200 || string(body) != "{\"items\":[]}\n" {
				t.Fatalf("empty list: %d %s", status, body)
			}
			status, _, body = do(t, "POST", e.url+"/v1/revocations", ctJSON, []byte(`{"keyId":"k1","reason":"laptop stolen"}`))
			if status != 201 {
				t.Fatalf("revoke k1: %d %s", status, body)
			}
			r1 := decode[store.Revocation](t, body)
			if r1.PublicKey != testKey(t, 1).PublicHex() || r1.KeyID != "k1" || r1.Reason != "laptop stolen" || time.Since(r1.RevokedAt) > time.Minute {
				t.Errorf("record %+v", r1)
			}
			// revokedAt in the reference's form, as covenants give their
			// times: three digits of milliseconds, even when they end in 0.
			if at := decode[struct {
				RevokedAt string `json:"revokedAt"`
			}](t, body).RevokedAt; !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(at) {
				t.Errorf("revokedAt %q, want YYYY-MM-DDTHH:MM:SS.mmmZ", at)
			}
			status, _, body = do(t, "POST", e.url+"/v1/revocations", ctJSON, []byte(`{"publicKey":"`+testKey(t, 1).PublicHex()+`","reason":"again"}`))
			expectError(t, "again", status, body, 409, "conflict", "publicKey")
			var conflict struct {
				Revocation store.Revocation `json:"revocation"`
			}
			if err := json.Unmarshal(body, &conflict); err != nil || conflict.Revocation.Reason != "laptop stolen" {
				t.Errorf("409 does not carry the first record: %s", body)
			}
			other := strings.ToUpper(testKey(t, 2).PublicHex())
			status, _, body = do(t, "POST", e.url+"/v1/revocations", ctJSON, []byte(`{"publicKey":"`+other+`","reason":"unknown key"}`))
			if status != 201 || decode[store.Revocation](t, body).PublicKey != testKey(t, 2).PublicHex() {
				t.Fatalf("revoke by public key: %d %s", status, body)
			}
			status, _, body = do(t, "GET", e.url+"/v1/revocations", "", nil)
			list := decode[struct {
				Items []store.Revocation `json:"items"`
			}](t, body)
			if status != 200 || len(list.Items) != 2 || list.Items[0].KeyID != "k1" || list.Items[1].PublicKey != testKey(t, 2).PublicHex() {
				t.Errorf("list: %d %s", status, body)
			}
			cases := []struct {
				name, body  string
				status      int
				code, field string
			}{
				{"nothing", `{"reason":"x"}`, 400, "missing_field", "keyId"},
				{"both", `{"keyId":"k1","publicKey":"` + testKey(t, 3).PublicHex() + `","reason":"x"}`, 400, "invalid_field", "publicKey"},
				{"no reason", `{"keyId":"k1"}`, 400, "missing_field", "reason"},
				{"bad key", `{"publicKey":"abc","reason":"x"}`, 400, "invalid_field", "publicKey"},
				{"bad key ID", `{"keyId":"a b","reason":"x"}`, 400, "invalid_field", "keyId"},
				{"long reason", `{"keyId":"k1","reason":"` + strings.Repeat("r", 2000) + `"}`, 400, "invalid_field", "reason"},
				{"unknown member", `{"keyId":"k1","reason":"x","when":1}`, 400, "unknown_field", "when"},
				{"unknown key ID", `{"keyId":"nobody","reason":"x"}`, 404, "not_found", "keyId"},
			}
			for _, c := range cases {
				status, _, body := do(t, "POST", e.url+"/v1/revocations", ctJSON, []byte(c.body))
				expectError(t, c.name, status, body, c.status, c.code, c.field)
			}
		})
	}
}

// TestVerifyChainFlag checks that "chain": true and ?chain=true reach the
// chunks.
func TestVerifyChainFlag(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	doc := string(docJSON(buildDoc(t, testKey(t, 1), buildOpts{})))
	for _, c := range []struct {
		query, ct, body string
		want            bool
	}{
		{"", ctJSON, `{"items":[{"document":` + doc + `}],"chain":true}`, true},
		{"?chain=true", ctJSON, `{"items":[{"document":` + doc + `}]}`, true},
		{"", ctJSON, `{"items":[{"document":` + doc + `}],"chain":false}`, false},
		{"?chain=true", ctNDJSON, doc, true},
		{"", ctNDJSON, doc, false},
	} {
		if status, _, body := do(t, "POST", e.url+"/v1/verify"+c.query, c.ct, []byte(c.body)); status != 202 {
			t.Fatalf("status %d: %s", status, body)
		}
		chunks := e.chunks(t)
		if got := chunks[len(chunks)-1].Chain; got != c.want {
			t.Errorf("%s %s %.40s: chain %v, want %v", c.query, c.ct, c.body, got, c.want)
		}
	}
	status, _, body := do(t, "POST", e.url+"/v1/verify", ctJSON, []byte(`{"items":[{"document":`+doc+`}],"chain":"yes"}`))
	expectError(t, "chain a string", status, body, 400, "invalid_field", "chain")
	status, _, body = do(t, "POST", e.url+"/v1/verify?chain=1", ctNDJSON, []byte(doc))
	expectError(t, "chain=1", status, body, 400, "invalid_parameter", "chain")
}

// TestListByLongValues: PUT stores covenants whose issuer, beneficiary or
// tag are longer than a signing request may make them (only the document's
// size bounds them), and the listing finds them by those values rather than
// refusing the filter, on both stores. A value longer than any storable
// document is still 400 naming the parameter.
func TestListByLongValues(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnvOn(t, gateway.Limits{}, kind)
			long := strings.Repeat("i", 2000)
			tag := strings.Repeat("t", 3000)
			d := buildDoc(t, testKey(t, 90), buildOpts{issuer: long, tags: []string{tag}})
			if status, body := e.put(t, "", docJSON(d)); status != 201 {
				t.Fatalf("PUT: %d %s", status, body)
			}
			for _, q := range []url.Values{{"issuer": {long}}, {"tag": {tag}}, {"issuer": {long}, "tag": {tag}}} {
				if got := e.listAll(t, q, 10); !slices.Equal(got, []string{d.ID()}) {
					t.Errorf("list by %d-byte values: got %v, want [%s]", len(q.Get("issuer"))+len(q.Get("tag")), got, d.ID())
				}
			}
			huge := strings.Repeat("x", gateway.DefaultMaxDocumentBytes+1)
			for _, field := range []string{"issuer", "beneficiary", "tag"} {
				status, _, body := do(t, "GET", e.url+"/v1/covenants?"+url.Values{field: {huge}}.Encode(), "", nil)
				expectError(t, field+" beyond a document's size", status, body, 400, "invalid_parameter", field)
			}
		})
	}
}

// TestSignMemberDepth: metadata or obligations nested deeper than a signer
// takes (jobs.MaxSignRequestDepth, the request object included) are 400
// naming the member instead of a queued item that fails as "not valid
// JSON"; at the bound the request is queued.
func TestSignMemberDepth(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	pub := testKey(t, 1).PublicHex()
	nest := func(levels int) string { // an object nesting levels deep
		return strings.Repeat(`{"a":`, levels-1) + "{}" + strings.Repeat("}", levels-1)
	}
	item := func(extra string) []byte {
		return []byte(`{"items":[{"keyId":"k1","beneficiary":{"id":"b","publicKey":"` + pub + `"},"constraints":"permit read on '/x'"` + extra + `}]}`)
	}
	max := jobs.MaxSignRequestDepth - 1
	for _, c := range []struct{ name, extra, field string }{
		{"metadata", `,"metadata":` + nest(max+1), "items[0].metadata"},
		{"obligations", `,"obligations":[{"id":"o","description":"d","action":"a","x":` + nest(max-1) + `}]`, "items[0].obligations"},
	} {
		status, _, body := do(t, "POST", e.url+"/v1/sign", ctJSON, item(c.extra))
		expectError(t, c.name+" too deep", status, body, 400, "too_deep", c.field)
	}
	if n := e.queued(t); n != 0 {
		t.Errorf("%d messages queued by rejected requests", n)
	}
	if status, _, body := do(t, "POST", e.url+"/v1/sign", ctJSON, item(`,"metadata":`+nest(max))); status != 202 {
		t.Errorf("metadata nesting %d levels: %d %s, want 202", max, status, body)
	}
}

// TestPutCovenantClock: PUT /v1/covenants checks expiry by the gateway's
// clock (Config.Now, the cluster's), not its host's: on a gateway whose
// clock is two minutes ahead of the host, a covenant that expires in a
// minute by the host has expired, as the workers and evaluations find.
func TestPutCovenantClock(t *testing.T) {
	e := newEnv(t, gateway.Limits{MaxDocumentBytes: 64 << 10, MaxDepth: 16})
	ahead := func() time.Time { return time.Now().Add(2 * time.Minute) }
	u := serveOnNATS(t, e.st, e.ns.ClientURL(), ahead)
	doc := buildDoc(t, testKey(t, 1), buildOpts{expires: jstime.Format(time.Now().Add(time.Minute))})
	status, _, body := do(t, "PUT", u+"/v1/covenants", ctJSON, docJSON(doc))
	expectInvalid(t, "expired by the gateway's clock", status, body, covenant.CheckNotExpired)
}
