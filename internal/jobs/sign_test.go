package jobs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/keyring"
	"github.com/stele-go/stele/internal/store"
)

// testKey returns the key id with a seed derived from its ID.
func testKey(t testing.TB, id string, retired bool) *keyring.Key {
	t.Helper()
	seed := sha256.Sum256([]byte("test key " + id))
	priv, err := keys.NewPrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyring.NewKey(id, priv, retired)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testKeyring(t testing.TB, ids ...string) *keyring.Keyring {
	t.Helper()
	var ks []*keyring.Key
	for _, id := range ids {
		ks = append(ks, testKey(t, id, false))
	}
	r, err := keyring.New(ks...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newSignPipeline is newPipelineWith for sign jobs: the "signer" consumer.
func newSignPipeline(t testing.TB, st store.Store, cc jobs.ConsumerConfig, popts ...jobs.PublisherOption) *pipeline {
	t.Helper()
	url, js := setup(t)
	cons, err := jobs.EnsureConsumer(testContext(t), js, store.KindSign, cc)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jobs.NewPublisher(js, append([]jobs.PublisherOption{jobs.WithStaging(st)}, popts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline{url: url, nc: js.Conn(), js: js, cons: cons, st: st, pub: pub}
}

func (p *pipeline) signHandler(t testing.TB, kr jobs.KeySource, cfg jobs.SignConfig) *jobs.SignHandler {
	t.Helper()
	cfg.Keys = kr
	if cfg.Documents == nil {
		cfg.Documents = p.st
	}
	if cfg.Jobs == nil {
		cfg.Jobs = p.st
	}
	h, err := jobs.NewSignHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const benKey = "ab5e3b0c1e8a2f4d6c7b9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"

// signItem makes a sign item from a request.
func signItem(t testing.TB, ref string, req jobs.SignRequest) jobs.Item {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return jobs.Item{Ref: ref, Sign: b}
}

func buildReq(keyID string, n int) jobs.SignRequest {
	return jobs.SignRequest{
		KeyID:       keyID,
		Beneficiary: &jobs.SignParty{ID: fmt.Sprintf("agent-%d", n), PublicKey: benKey},
		Constraints: fmt.Sprintf("permit read on '/data/%d/**'\ndeny write on '**'", n),
		Metadata:    json.RawMessage(fmt.Sprintf(`{"name":"c%d","tags":["batch","n%d"]}`, n, n)),
	}
}

// storedCovenant reads and parses a stored covenant.
func storedCovenant(t testing.TB, st store.Documents, id string) (*covenant.Document, []byte) {
	t.Helper()
	raw, err := st.GetDocument(testContext(t), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	doc, err := covenant.Parse(raw)
	if err != nil {
		t.Fatalf("parse %s: %v", id, err)
	}
	return doc, raw
}

// mustVerify checks doc verifies with every check passing.
func mustVerify(t testing.TB, doc *covenant.Document) {
	t.Helper()
	v, err := covenant.NewVerifier()
	if err != nil {
		t.Fatal(err)
	}
	res := v.Verify(doc)
	if !res.Valid {
		t.Fatalf("covenant %s does not verify: %+v", doc.ID(), res.Checks)
	}
}

// A sign job through the pipeline: every item signed with the named key,
// stored once, verifying; the index fields filled in.
func TestSignPipeline(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newSignPipeline(t, sk.open(t), jobs.ConsumerConfig{}, jobs.WithChunkItems(7))
			kr := testKeyring(t, "k1", "k2")
			var items []jobs.Item
			for n := range 30 {
				req := buildReq([]string{"k1", "k2"}[n%2], n)
				if n%3 == 0 { // fixed bytes, as the gateway sends
					req.Nonce = fmt.Sprintf("%064x", n+1)
					req.CreatedAt = "2026-01-02T03:04:05.678Z"
					req.Issuer = &jobs.SignParty{ID: "ops", Name: "Operations"}
				}
				items = append(items, signItem(t, fmt.Sprintf("r%d", n), req))
			}
			job := jobs.Job{ID: "sign-1", Kind: store.KindSign}
			p.submit(t, job, items)
			p.startRunner(t, nil, p.signHandler(t, kr, jobs.SignConfig{}), jobs.RunnerConfig{Concurrency: 2})
			got := p.waitJob(t, job.ID)
			if got.Valid != len(items) || got.Failed != 0 {
				t.Fatalf("job = %+v, want %d valid", got, len(items))
			}
			results := p.results(t, job.ID)
			seen := map[string]bool{}
			for i, r := range results {
				if r.Index != i || r.Ref != fmt.Sprintf("r%d", i) || !r.Valid || r.Error != "" || r.DocumentID == "" {
					t.Fatalf("result %d = %+v", i, r)
				}
				if seen[r.DocumentID] {
					t.Fatalf("document %s twice", r.DocumentID)
				}
				seen[r.DocumentID] = true
				doc, _ := storedCovenant(t, p.st, r.DocumentID)
				mustVerify(t, doc)
				k, _ := kr.Get([]string{"k1", "k2"}[i%2])
				wantIssuer := covenant.Party{ID: k.ID, PublicKey: k.Public, Role: covenant.RoleIssuer}
				if i%3 == 0 {
					wantIssuer.ID, wantIssuer.Name = "ops", "Operations"
					if doc.CreatedAt() != "2026-01-02T03:04:05.678Z" || doc.Nonce() != fmt.Sprintf("%064x", i+1) {
						t.Errorf("item %d: createdAt %s nonce %s, want the request's", i, doc.CreatedAt(), doc.Nonce())
					}
				}
				if iss := doc.Issuer(); iss.ID != wantIssuer.ID || iss.PublicKey != wantIssuer.PublicKey ||
					iss.Role != wantIssuer.Role || iss.Name != wantIssuer.Name {
					t.Errorf("item %d: issuer %+v, want %+v", i, iss, wantIssuer)
				}
				if b := doc.Beneficiary(); b.ID != fmt.Sprintf("agent-%d", i) || b.PublicKey != benKey {
					t.Errorf("item %d: beneficiary %+v", i, b)
				}
				if md, ok := doc.Metadata(); !ok || md.Name != fmt.Sprintf("c%d", i) || len(md.Tags) != 2 {
					t.Errorf("item %d: metadata %+v", i, md)
				}
			}
			waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
			page, err := p.st.ListDocuments(testContext(t), store.DocumentQuery{Tag: "n4", Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Documents) != 1 || page.Documents[0].ID != results[4].DocumentID ||
				page.Documents[0].IssuerID != "k1" || page.Documents[0].BeneficiaryID != "agent-4" {
				t.Errorf("listing by tag n4 = %+v", page.Documents)
			}
		})
	}
}

// A chunk handled twice (a redelivery after the worker died between the
// write and the ack) stores one covenant with identical bytes, and the job's
// counters count every item once.
func TestSignRedeliveryIsIdempotent(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newSignPipeline(t, sk.open(t), jobs.ConsumerConfig{}, jobs.WithChunkItems(5))
			kr := testKeyring(t, "k1")
			var items []jobs.Item
			for n := range 12 {
				req := buildReq("k1", n)
				if n%2 == 0 {
					req.Nonce = fmt.Sprintf("%064x", n+1)
					req.CreatedAt = "2026-01-02T03:04:05.678Z"
				}
				items = append(items, signItem(t, "", req))
			}
			job := jobs.Job{ID: "sign-redeliver", Kind: store.KindSign}
			p.submit(t, job, items)
			// Without a committer the handler writes the documents itself,
			// then the first RecordResults of every chunk "fails" after
			// writing: each chunk is handled twice.
			flaky := &flakyJobs{Jobs: p.st, seen: map[int]bool{}}
			rec := &recordingDocs{Documents: p.st}
			h := p.signHandler(t, kr, jobs.SignConfig{Documents: rec})
			p.startRunner(t, flaky, h, jobs.RunnerConfig{Concurrency: 2})
			got := p.waitJob(t, job.ID)
			waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
			if got.Done != len(items) || got.Valid != len(items) {
				t.Fatalf("job = %+v, want %d valid", got, len(items))
			}
			if n := flaky.calls.Load(); n < 6 {
				t.Fatalf("%d RecordResults calls for 3 chunks each delivered twice", n)
			}
			// Every covenant was written with the same bytes each time.
			for id, versions := range rec.versions() {
				for _, v := range versions[1:] {
					if !bytes.Equal(v, versions[0]) {
						t.Fatalf("covenant %s written with different bytes:\n%s\n%s", id, versions[0], v)
					}
				}
			}
			results := p.results(t, job.ID)
			ids := map[string]bool{}
			for _, r := range results {
				ids[r.DocumentID] = true
			}
			if len(ids) != len(items) || len(rec.versions()) != len(items) {
				t.Fatalf("%d result IDs and %d written covenants for %d items", len(ids), len(rec.versions()), len(items))
			}
		})
	}
}

// recordingDocs records every document written.
type recordingDocs struct {
	store.Documents
	mu   sync.Mutex
	docs map[string][][]byte
}

func (r *recordingDocs) PutDocuments(ctx context.Context, docs []store.Document) error {
	r.mu.Lock()
	if r.docs == nil {
		r.docs = map[string][][]byte{}
	}
	for _, d := range docs {
		r.docs[d.ID] = append(r.docs[d.ID], bytes.Clone(d.JSON))
	}
	r.mu.Unlock()
	return r.Documents.PutDocuments(ctx, docs)
}

func (r *recordingDocs) versions() map[string][][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][][]byte{}
	for k, v := range r.docs {
		out[k] = v
	}
	return out
}

// A producer that publishes a chunk twice (different message IDs) without
// nonce or createdAt: the second copy has another stream timestamp, so it
// would build other covenants; the signer finds the recorded results and
// signs nothing again.
func TestSignDuplicatePublishWithDerivedFields(t *testing.T) {
	st := newSQLiteStore(t)
	p := newSignPipeline(t, st, jobs.ConsumerConfig{})
	kr := testKeyring(t, "k1")
	items := []jobs.Item{signItem(t, "a", buildReq("k1", 1)), signItem(t, "b", buildReq("k1", 2))}
	for i := range items {
		items[i].Index = i
	}
	b, err := json.Marshal(jobs.Chunk{V: 1, JobID: "dup-1", Kind: store.KindSign, Total: 2, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for range 2 {
		if _, err := p.js.Publish(ctx, jobs.SubjectSign, b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // distinct stream timestamps
	}
	rec := &recordingDocs{Documents: st}
	p.startRunner(t, nil, p.signHandler(t, kr, jobs.SignConfig{Documents: rec}), jobs.RunnerConfig{Concurrency: 1})
	waitFor(t, func() bool { _, err := st.GetJob(ctx, "dup-1"); return err == nil })
	got := p.waitJob(t, "dup-1")
	waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
	if got.Done != 2 || got.Valid != 2 {
		t.Fatalf("job = %+v", got)
	}
	// The runner commits through SQLite's CommitChunk, not PutDocuments:
	// count the stored covenants of the issuer by listing them.
	results := p.results(t, "dup-1")
	for _, r := range results {
		doc, _ := storedCovenant(t, st, r.DocumentID)
		mustVerify(t, doc)
	}
	page, err := st.ListDocuments(ctx, store.DocumentQuery{Issuer: "k1", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Documents) != 2 {
		t.Fatalf("%d covenants of issuer k1 stored, want 2: %+v", len(page.Documents), page.Documents)
	}
}

// countingHandler counts the deliveries of each chunk.
type countingHandler struct {
	jobs.Handler
	mu    sync.Mutex
	calls map[string]int
	max   map[string]uint64
}

func (c *countingHandler) HandleChunk(ctx context.Context, ch *jobs.Chunk) ([]store.Result, error) {
	info, _ := jobs.MessageInfo(ctx)
	c.mu.Lock()
	key := fmt.Sprintf("%s.%d", ch.JobID, ch.Chunk)
	c.calls[key]++
	c.max[key] = max(c.max[key], info.NumDelivered)
	c.mu.Unlock()
	return c.Handler.HandleChunk(ctx, ch)
}

// An item naming a key no signer holds is handed back a bounded number of
// times, then fails with unknown_key; the other items of its chunk are
// signed at once, and other jobs keep flowing meanwhile.
func TestSignUnknownKey(t *testing.T) {
	p := newSignPipeline(t, newStore(t), jobs.ConsumerConfig{MaxDeliver: 10})
	kr := testKeyring(t, "k1")
	slow := jobs.Job{ID: "unknown-1", Kind: store.KindSign}
	p.submit(t, slow, []jobs.Item{signItem(t, "", buildReq("k1", 1)), signItem(t, "", buildReq("nobody", 2))})
	h := &countingHandler{
		Handler: p.signHandler(t, kr, jobs.SignConfig{Directory: p.st, MaxUnknownKeyDeliveries: 4,
			UnknownKeyRetryDelay: 300 * time.Millisecond}),
		calls: map[string]int{}, max: map[string]uint64{},
	}
	// "nobody" is not advertised: k1 is.
	if err := kr.Advertise(testContext(t), p.st, time.Now()); err != nil {
		t.Fatal(err)
	}
	p.startRunner(t, nil, h, jobs.RunnerConfig{Concurrency: 2})

	// The known item is recorded on the first delivery.
	waitFor(t, func() bool {
		j, err := p.st.GetJob(testContext(t), slow.ID)
		return err == nil && j.Done == 1
	})
	fast := jobs.Job{ID: "known-1", Kind: store.KindSign}
	p.submit(t, fast, []jobs.Item{signItem(t, "", buildReq("k1", 3))})
	p.waitJob(t, fast.ID)
	if j, _ := p.st.GetJob(testContext(t), slow.ID); j.Status == store.StatusCompleted {
		t.Fatal("the job with an unknown key completed before the job submitted after it: the queue waited")
	}

	got := p.waitJob(t, slow.ID)
	if got.Valid != 1 || got.Failed != 1 {
		t.Fatalf("job = %+v, want 1 valid and 1 failed", got)
	}
	res := p.results(t, slow.ID)
	if !res[0].Valid || res[0].DocumentID == "" {
		t.Errorf("known item: %+v", res[0])
	}
	if want := `unknown_key: no signer holds key "nobody"`; res[1].Error != want {
		t.Errorf("unknown item error %q, want %q", res[1].Error, want)
	}
	h.mu.Lock()
	calls, maxDelivered := h.calls[slow.ID+".0"], h.max[slow.ID+".0"]
	h.mu.Unlock()
	if calls != 4 || maxDelivered != 4 {
		t.Errorf("chunk handled %d times, last delivery %d; want 4 and 4", calls, maxDelivered)
	}
	waitFor(t, func() bool { ack, pending := p.consumerState(t); return ack == 0 && pending == 0 })
	completed, _ := streamEvents(t, p.js, slow.ID)
	if len(completed) != 1 {
		t.Errorf("%d completion events, want 1", len(completed))
	}
}

// Two signers with different keyrings share the consumer: every item is
// signed by the signer holding its key, none fails, none is signed twice.
func TestSignTwoSignersDifferentKeys(t *testing.T) {
	p := newSignPipeline(t, newStore(t), jobs.ConsumerConfig{MaxDeliver: 40}, jobs.WithChunkItems(6))
	krA, krB := testKeyring(t, "a1", "a2"), testKeyring(t, "b1")
	ids := []string{"a1", "b1", "a2", "b1"}
	var items []jobs.Item
	for n := range 48 {
		items = append(items, signItem(t, "", buildReq(ids[(n/3)%len(ids)], n)))
	}
	job := jobs.Job{ID: "two-signers", Kind: store.KindSign}
	p.submit(t, job, items)
	var signedBy [2]atomic.Int64
	for i, kr := range []*keyring.Keyring{krA, krB} {
		if err := kr.Advertise(testContext(t), p.st, time.Now()); err != nil {
			t.Fatal(err)
		}
		cfg := jobs.SignConfig{Directory: p.st, MaxUnknownKeyDeliveries: 2, UnknownKeyRetryDelay: 20 * time.Millisecond}
		h := &countingHandler{Handler: p.signHandler(t, kr, cfg), calls: map[string]int{}, max: map[string]uint64{}}
		counted := jobs.HandlerFunc(func(ctx context.Context, c *jobs.Chunk) ([]store.Result, error) {
			signedBy[i].Add(1)
			return h.HandleChunk(ctx, c)
		})
		p.startRunner(t, nil, counted, jobs.RunnerConfig{Concurrency: 2, FetchBatch: 1})
	}
	got := p.waitJob(t, job.ID)
	if got.Valid != len(items) {
		t.Fatalf("job = %+v, want %d valid", got, len(items))
	}
	if signedBy[0].Load() == 0 || signedBy[1].Load() == 0 {
		t.Fatalf("chunks handled by A %d, by B %d: both must take part", signedBy[0].Load(), signedBy[1].Load())
	}
	for i, r := range p.results(t, job.ID) {
		id := ids[(i/3)%len(ids)]
		kr := krA
		if id == "b1" {
			kr = krB
		}
		k, _ := kr.Get(id)
		doc, _ := storedCovenant(t, p.st, r.DocumentID)
		mustVerify(t, doc)
		if doc.Issuer().PublicKey != k.Public || doc.Issuer().ID != id {
			t.Errorf("item %d signed by %+v, want key %s", i, doc.Issuer(), id)
		}
	}
}

// handle runs a sign handler on one chunk directly, as a first delivery at
// msgTime.
func handle(t testing.TB, h jobs.Handler, msgTime time.Time, items ...jobs.Item) []store.Result {
	t.Helper()
	return handleDelivery(t, h, "direct", 1, msgTime, items...)
}

// handleDelivery runs a sign handler on one chunk of job jobID, numbering
// its items from 0, as its delivered'th delivery at msgTime.
func handleDelivery(t testing.TB, h jobs.Handler, jobID string, delivered uint64, msgTime time.Time, items ...jobs.Item) []store.Result {
	t.Helper()
	for i := range items {
		items[i].Index = i
	}
	ctx := jobs.WithMessageInfo(testContext(t), jobs.MsgInfo{NumDelivered: delivered, Timestamp: msgTime})
	res, err := h.HandleChunk(ctx, &jobs.Chunk{V: 1, JobID: jobID, Kind: store.KindSign, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var msgTime = time.Date(2026, 3, 4, 5, 6, 7, 891_234_000, time.UTC)

// Requests that cannot be signed fail with their code and a message naming
// the member (or the CCL position).
func TestSignBadRequests(t *testing.T) {
	st := newSQLiteStore(t)
	kr := testKeyring(t, "k1")
	h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: kr, Documents: st})
	if err != nil {
		t.Fatal(err)
	}
	good := buildReq("k1", 1)
	raw := func(s string) jobs.Item { return jobs.Item{Sign: json.RawMessage(s)} }
	with := func(f func(*jobs.SignRequest)) jobs.Item {
		r := good
		f(&r)
		return signItem(t, "", r)
	}
	cases := []struct {
		item jobs.Item
		want string
	}{
		{jobs.Item{Error: "invalid_request: marked by the gateway"}, "invalid_request: marked by the gateway"},
		{jobs.Item{}, "invalid_request: item has no sign request"},
		{raw(`[1]`), "invalid_request: sign request is not a JSON object"},
		{raw(`{"keyId":5}`), "invalid_request: keyId: want a string, got a number"},
		{raw(`{"keyId":"k1","beneficiary":{"id":"x","publicKey":true}}`), "invalid_request: beneficiary.publicKey: want a string, got a boolean"},
		{raw(`{"keyId":"k1","beneficiary":"x"}`), "invalid_request: beneficiary: want an object, got a string"},
		{with(func(r *jobs.SignRequest) { r.KeyID = "" }), "invalid_request: keyId: required"},
		{with(func(r *jobs.SignRequest) { r.KeyID = "a b" }), "invalid_request: keyId: invalid key ID"},
		{with(func(r *jobs.SignRequest) { r.Beneficiary = nil }), "invalid_request: beneficiary: required"},
		{with(func(r *jobs.SignRequest) { r.Beneficiary = &jobs.SignParty{ID: "x", PublicKey: "zz"} }), "invalid_request: beneficiary.publicKey: want 64 hex digits"},
		{with(func(r *jobs.SignRequest) { r.Constraints = " " }), "invalid_request: constraints: required"},
		{with(func(r *jobs.SignRequest) { r.Constraints = "permit read on '/a'\npermit wrte on" }), "invalid_ccl: line 2, column "},
		{with(func(r *jobs.SignRequest) { r.ExpiresAt = "tomorrow" }), `invalid_request: expiresAt: "tomorrow" is not an ISO 8601 date-time`},
		{with(func(r *jobs.SignRequest) { r.Nonce = "abc" }), "invalid_request: nonce: want 64 hex digits"},
		{with(func(r *jobs.SignRequest) { r.Metadata = json.RawMessage(`[1]`) }), "invalid_request: metadata: want an object, got an array"},
		{with(func(r *jobs.SignRequest) { r.Obligations = json.RawMessage(`[{"id":"o1","description":"d"}]`) }), "invalid_request: obligations[0].action: required"},
		{with(func(r *jobs.SignRequest) { r.Relation = "delegates" }), "invalid_request: relation: given without parentId"},
		{with(func(r *jobs.SignRequest) { r.Issuer = &jobs.SignParty{ID: "x", PublicKey: benKey} }), "invalid_request: issuer.publicKey: "},
		{with(func(r *jobs.SignRequest) { r.ParentID = "no-such-parent" }), `parent_not_found: parent covenant "no-such-parent" is not in the store`},
		{signItem(t, "", jobs.SignRequest{KeyID: "k1", Countersign: "no-such-doc"}), `document_not_found: covenant "no-such-doc" is not in the store`},
	}
	items := make([]jobs.Item, len(cases))
	for i, c := range cases {
		items[i] = c.item
	}
	res := handle(t, h, msgTime, items...)
	for i, c := range cases {
		if !strings.HasPrefix(res[i].Error, c.want) || res[i].Valid {
			t.Errorf("case %d: result %+v, want error %q", i, res[i], c.want)
		}
	}
	// Obligations that are complete are written as given.
	res = handle(t, h, msgTime, with(func(r *jobs.SignRequest) {
		r.Obligations = json.RawMessage(`[{"id":"o1","description":"d","action":"log","extra":1}]`)
	}))
	doc, _ := storedCovenant(t, st, res[0].DocumentID)
	if ob := doc.Obligations(); len(ob) != 1 || ob[0].ID != "o1" || ob[0].Action != "log" || ob[0].Extra.Len() == 0 {
		t.Errorf("obligations %+v", ob)
	}
}

// Signing is deterministic: the same request at the same message time gives
// the same covenant, with the derived nonce and createdAt.
func TestSignDeterministic(t *testing.T) {
	st := newSQLiteStore(t)
	h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: testKeyring(t, "k1"), Documents: st})
	if err != nil {
		t.Fatal(err)
	}
	a := handle(t, h, msgTime, signItem(t, "", buildReq("k1", 1)), signItem(t, "", buildReq("k1", 1)))
	_, rawA := storedCovenant(t, st, a[0].DocumentID)
	b := handle(t, h, msgTime, signItem(t, "", buildReq("k1", 1)))
	_, rawB := storedCovenant(t, st, b[0].DocumentID)
	if a[0].DocumentID != b[0].DocumentID || !bytes.Equal(rawA, rawB) {
		t.Fatalf("same request, same message: %s vs %s", a[0].DocumentID, b[0].DocumentID)
	}
	if a[1].DocumentID == a[0].DocumentID {
		t.Fatal("two items of a job share a derived nonce")
	}
	doc, _ := storedCovenant(t, st, a[0].DocumentID)
	if doc.CreatedAt() != "2026-03-04T05:06:07.891Z" {
		t.Errorf("createdAt %s, want the message time", doc.CreatedAt())
	}
	c := handle(t, h, msgTime.Add(time.Second), signItem(t, "", buildReq("k1", 1)))
	if c[0].DocumentID == a[0].DocumentID {
		t.Error("another message time gives the same covenant")
	}
}

// Retired keys sign nothing new, and what they signed keeps verifying;
// revoked keys sign nothing.
func TestSignRetiredAndRevokedKeys(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			st := sk.open(t)
			ctx := testContext(t)
			active := testKeyring(t, "old", "bad", "good")
			h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: active, Documents: st, Revocations: st})
			if err != nil {
				t.Fatal(err)
			}
			before := handle(t, h, msgTime, signItem(t, "", buildReq("old", 1)))
			if !before[0].Valid {
				t.Fatalf("before rotation: %+v", before[0])
			}
			bad, _ := active.Get("bad")
			if err := st.RevokeKey(ctx, store.Revocation{PublicKey: bad.Public, KeyID: "bad", Reason: "leaked",
				RevokedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
				t.Fatalf("RevokeKey: %v", err)
			}
			rotated, err := keyring.New(testKey(t, "old", true), testKey(t, "bad", false), testKey(t, "good", false))
			if err != nil {
				t.Fatal(err)
			}
			h, err = jobs.NewSignHandler(jobs.SignConfig{Keys: rotated, Documents: st, Revocations: st})
			if err != nil {
				t.Fatal(err)
			}
			res := handle(t, h, msgTime,
				signItem(t, "", buildReq("old", 2)), signItem(t, "", buildReq("bad", 3)), signItem(t, "", buildReq("good", 4)),
				signItem(t, "", jobs.SignRequest{KeyID: "old", Countersign: before[0].DocumentID}))
			if want := `retired_key: key "old" was rotated out`; !strings.HasPrefix(res[0].Error, want) {
				t.Errorf("retired: %+v, want %q", res[0], want)
			}
			if want := `revoked_key: key "bad" is revoked since 2026-02-01T00:00:00Z: leaked`; res[1].Error != want {
				t.Errorf("revoked: %q, want %q", res[1].Error, want)
			}
			if !res[2].Valid {
				t.Errorf("good key: %+v", res[2])
			}
			if !strings.HasPrefix(res[3].Error, "retired_key:") {
				t.Errorf("retired countersign: %+v", res[3])
			}
			doc, _ := storedCovenant(t, st, before[0].DocumentID)
			mustVerify(t, doc)
		})
	}
}

// A chunk redelivered after its key was retired or revoked (the first
// delivery signed and stored, then lost its acknowledgement before the
// results were recorded) names the covenants the first delivery stored, and
// signs nothing that was not signed before.
func TestSignRedeliveryAfterKeyRefused(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			st := sk.open(t)
			ctx := testContext(t)
			h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: testKeyring(t, "old", "bad"), Documents: st, Revocations: st})
			if err != nil {
				t.Fatal(err)
			}
			target := handle(t, h, msgTime, signItem(t, "", buildReq("old", 100)))[0]
			if !target.Valid {
				t.Fatalf("target: %+v", target)
			}
			chunk := func(delivered uint64) []store.Result {
				t.Helper()
				return handleDelivery(t, h, "refused", delivered, msgTime,
					signItem(t, "r", buildReq("old", 1)), signItem(t, "b", buildReq("bad", 2)),
					signItem(t, "c", jobs.SignRequest{KeyID: "old", Countersign: target.DocumentID}))
			}
			count := func() int {
				t.Helper()
				page, err := st.ListDocuments(ctx, store.DocumentQuery{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				return len(page.Documents)
			}
			first := chunk(1)
			for i, r := range first {
				if !r.Valid {
					t.Fatalf("first delivery, item %d: %+v", i, r)
				}
			}
			stored := count()

			// The key "old" is retired and "bad" revoked; the chunk comes back.
			rotated, err := keyring.New(testKey(t, "old", true), testKey(t, "bad", false))
			if err != nil {
				t.Fatal(err)
			}
			bad, _ := rotated.Get("bad")
			if err := st.RevokeKey(ctx, store.Revocation{PublicKey: bad.Public, KeyID: "bad", Reason: "leaked"}); err != nil {
				t.Fatal(err)
			}
			if h, err = jobs.NewSignHandler(jobs.SignConfig{Keys: rotated, Documents: st, Revocations: st}); err != nil {
				t.Fatal(err)
			}
			again := chunk(2)
			for i := range first {
				if again[i].Valid != first[i].Valid || again[i].DocumentID != first[i].DocumentID || again[i].Error != "" {
					t.Errorf("redelivered item %d: %+v, want %+v", i, again[i], first[i])
				}
			}
			if n := count(); n != stored {
				t.Errorf("%d covenants stored after the redelivery, want %d", n, stored)
			}

			// Items the earlier delivery never signed are refused, first
			// delivery or not.
			for _, delivered := range []uint64{1, 3} {
				res := handleDelivery(t, h, "refused-new", delivered, msgTime,
					signItem(t, "", buildReq("old", 7)), signItem(t, "", buildReq("bad", 8)),
					signItem(t, "", jobs.SignRequest{KeyID: "bad", Countersign: target.DocumentID}))
				for i, want := range []string{"retired_key:", "revoked_key:", "revoked_key:"} {
					if !strings.HasPrefix(res[i].Error, want) || res[i].Valid || res[i].DocumentID != "" {
						t.Errorf("delivery %d, item %d: %+v, want %s", delivered, i, res[i], want)
					}
				}
			}
			if n := count(); n != stored {
				t.Errorf("%d covenants stored after refused items, want %d", n, stored)
			}
			doc, _ := storedCovenant(t, st, target.DocumentID)
			if len(doc.Countersignatures()) != 1 {
				t.Errorf("target carries %d countersignatures, want 1", len(doc.Countersignatures()))
			}
		})
	}
}

// Chains: a child's depth follows its parent's; a child broadening its
// parent is refused.
func TestSignChain(t *testing.T) {
	st := newSQLiteStore(t)
	h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: testKeyring(t, "k1"), Documents: st})
	if err != nil {
		t.Fatal(err)
	}
	root := buildReq("k1", 0)
	root.Constraints = "permit read on '/data/**'\ndeny delete on '**'"
	r0 := handle(t, h, msgTime, signItem(t, "", root))[0]
	child := buildReq("k1", 1)
	child.Constraints = "permit read on '/data/public/**'"
	child.ParentID = r0.DocumentID
	r1 := handle(t, h, msgTime, signItem(t, "", child))[0]
	grand := buildReq("k1", 2)
	grand.Constraints = "permit read on '/data/public/x/**'"
	grand.ParentID, grand.Relation = r1.DocumentID, "restricts"
	broad := buildReq("k1", 3)
	broad.Constraints = "permit read on '/**'"
	broad.ParentID = r1.DocumentID
	res := handle(t, h, msgTime, signItem(t, "", grand), signItem(t, "", broad))
	for _, r := range []store.Result{r0, r1, res[0]} {
		if !r.Valid {
			t.Fatalf("chain member failed: %+v", r)
		}
	}
	d1, _ := storedCovenant(t, st, r1.DocumentID)
	d2, _ := storedCovenant(t, st, res[0].DocumentID)
	c1, ok1 := d1.Chain()
	c2, ok2 := d2.Chain()
	if !ok1 || c1.Depth != 1 || c1.ParentID != r0.DocumentID || c1.Relation != "delegates" {
		t.Errorf("child chain %+v", c1)
	}
	if !ok2 || c2.Depth != 2 || c2.ParentID != r1.DocumentID || c2.Relation != "restricts" {
		t.Errorf("grandchild chain %+v", c2)
	}
	if want := "broadens_parent: the constraints broaden the parent's: Child permit 'read' on '/**' is not a subset of any parent permit"; res[1].Error != want {
		t.Errorf("broadening child: %q, want %q", res[1].Error, want)
	}
}

// Countersigning adds the key's countersignature once; several keys in one
// chunk all land on the stored covenant.
func TestSignCountersign(t *testing.T) {
	st := newSQLiteStore(t)
	kr := testKeyring(t, "issuer", "aud1", "aud2")
	h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: kr, Documents: st})
	if err != nil {
		t.Fatal(err)
	}
	id := handle(t, h, msgTime, signItem(t, "", buildReq("issuer", 1)))[0].DocumentID
	cs := func(key, role string) jobs.Item {
		return signItem(t, "", jobs.SignRequest{KeyID: key, Countersign: id, Role: role, Timestamp: "2026-05-01T00:00:00.000Z"})
	}
	res := handle(t, h, msgTime, cs("aud1", ""), cs("aud2", "regulator"), cs("aud1", ""))
	for _, r := range res {
		if !r.Valid || r.DocumentID != id {
			t.Fatalf("countersign result %+v", r)
		}
	}
	doc, first := storedCovenant(t, st, id)
	mustVerify(t, doc)
	got := doc.Countersignatures()
	a1, _ := kr.Get("aud1")
	a2, _ := kr.Get("aud2")
	if len(got) != 2 || got[0].SignerPublicKey != a1.Public || got[0].SignerRole != "auditor" ||
		got[1].SignerPublicKey != a2.Public || got[1].SignerRole != "regulator" || got[0].Timestamp != "2026-05-01T00:00:00.000Z" {
		t.Fatalf("countersignatures %+v", got)
	}
	// Again (a redelivery): nothing changes.
	handle(t, h, msgTime.Add(time.Minute), cs("aud1", ""), cs("aud2", "regulator"))
	_, again := storedCovenant(t, st, id)
	if !bytes.Equal(first, again) {
		t.Fatalf("repeated countersign changed the covenant:\n%s\n%s", first, again)
	}
}

func TestNewSignHandlerRejectsBadConfig(t *testing.T) {
	st := newSQLiteStore(t)
	kr := testKeyring(t, "k1")
	for _, cfg := range []jobs.SignConfig{
		{Documents: st},
		{Keys: kr},
		{Keys: kr, Documents: st, MaxUnknownKeyDeliveries: -1},
		{Keys: kr, Documents: st, UnknownKeyRetryDelay: -1},
		{Keys: kr, Documents: st, Concurrency: -2},
	} {
		if _, err := jobs.NewSignHandler(cfg); err == nil {
			t.Errorf("NewSignHandler(%+v) accepted", cfg)
		}
	}
	h, _ := jobs.NewSignHandler(jobs.SignConfig{Keys: kr, Documents: st})
	_, err := h.HandleChunk(testContext(t), &jobs.Chunk{V: 1, JobID: "x", Kind: store.KindVerify})
	if err == nil {
		t.Error("verify chunk accepted by the sign handler")
	}
}
