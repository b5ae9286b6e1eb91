package covenant

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
)

// fullDocument builds a document with every optional member and one
// countersignature (seed 3).
func fullDocument(t testing.TB) *Document {
	t.Helper()
	opts, key := basicOptions(t)
	opts.Obligations = []Obligation{{ID: "o", Description: "d", Action: "log"}}
	opts.Chain = &ChainRef{ParentID: strings.Repeat("ab", 32), Relation: "restricts", Depth: 1}
	opts.Enforcement = &Enforcement{Type: "monitor", Config: mustObject(t, `{}`)}
	opts.Proof = &Proof{Type: "tee", Config: mustObject(t, `{}`)}
	opts.Metadata = &Metadata{Name: "full"}
	opts.ExpiresAt = "2030-01-01T00:00:00.000Z"
	opts.ActivatesAt = "2020-01-01T00:00:00Z"
	d := mustBuild(t, opts, key)
	d, err := CountersignAt(d, seedKey(t, 3), RoleAuditor, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func messages(r Result) map[string]string {
	m := map[string]string{}
	for _, c := range r.Checks {
		m[c.Name] = c.Message
	}
	return m
}

func TestVerifySuccessMessages(t *testing.T) {
	v := mustVerifier(t, WithClock(fixedClock(testNow)))
	full := fullDocument(t)
	r := v.Verify(full)
	if !r.Valid || r.Document != full {
		t.Fatalf("full document: %+v", r)
	}
	want := map[string]string{
		CheckIDMatch:           "Document ID matches canonical hash",
		CheckSignatureValid:    "Issuer signature is valid",
		CheckNotExpired:        "Document has not expired",
		CheckActive:            "Document is active",
		CheckCCLParses:         "CCL parsed successfully (2 statement(s))",
		CheckEnforcementValid:  "Enforcement type 'monitor' is valid",
		CheckProofValid:        "Proof type 'tee' is valid",
		CheckChainDepth:        "Chain depth 1 is within limit",
		CheckDocumentSize:      "Document size " + strconv.Itoa(len(mustJSON(t, full))) + " bytes is within limit",
		CheckCountersignatures: "All 1 countersignature(s) are valid",
		CheckNoncePresent:      "Nonce is present and valid (64-char hex)",
	}
	if got := messages(r); !equalMaps(got, want) {
		t.Errorf("messages\n got %v\nwant %v", got, want)
	}

	opts, key := basicOptions(t)
	r = v.Verify(mustBuild(t, opts, key))
	for name, msg := range map[string]string{
		CheckNotExpired:        "No expiry set",
		CheckActive:            "No activation time set",
		CheckEnforcementValid:  "No enforcement config present",
		CheckProofValid:        "No proof config present",
		CheckChainDepth:        "No chain reference present",
		CheckCountersignatures: "No countersignatures present",
	} {
		if c, _ := r.Check(name); !c.Passed || c.Message != msg {
			t.Errorf("minimal document: %s = %+v, want passed %q", name, c, msg)
		}
	}
}

func mustJSON(t testing.TB, d *Document) []byte {
	t.Helper()
	b, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestVerifyFailureMessages(t *testing.T) {
	v := mustVerifier(t, WithClock(fixedClock(testNow)))
	full := fullDocument(t)
	cclErr := func(src string) string {
		_, err := ccl.Parse(src)
		if err == nil {
			t.Fatalf("%q parses", src)
		}
		return "CCL parse error: " + err.Error()
	}
	tests := []struct {
		name  string
		edit  func(o *canon.Object)
		check string
		// passed reports the expected outcome of check.
		passed bool
		msg    string // exact, or prefix ending in "…"
	}{
		{"id", func(o *canon.Object) { o.Set("id", "abc") }, CheckIDMatch, false, "ID mismatch: expected " + full.ID() + ", got abc"},
		{"signature", func(o *canon.Object) { o.Set("signature", strings.Repeat("0", 128)) }, CheckSignatureValid, false, "Issuer signature verification failed"},
		{"signature odd hex", func(o *canon.Object) { o.Set("signature", full.Signature()[1:]) }, CheckSignatureValid, false, "Issuer signature verification failed"},
		{"signature uppercase", func(o *canon.Object) { o.Set("signature", strings.ToUpper(full.Signature())) }, CheckSignatureValid, true, "Issuer signature is valid"},
		{"expired", func(o *canon.Object) { o.Set("expiresAt", "2026-03-01T12:00:00.000Z") }, CheckNotExpired, false, "Document expired at 2026-03-01T12:00:00.000Z"},
		{"expiry garbage", func(o *canon.Object) { o.Set("expiresAt", "soon") }, CheckNotExpired, false, "Document expired at soon"},
		{"expiry empty", func(o *canon.Object) { o.Set("expiresAt", "") }, CheckNotExpired, true, "No expiry set"},
		{"expiry zero", func(o *canon.Object) { o.Set("expiresAt", 0.0) }, CheckNotExpired, true, "No expiry set"},
		{"expiry number", func(o *canon.Object) { o.Set("expiresAt", 1e15) }, CheckNotExpired, true, "Document has not expired"},
		{"expiry small number", func(o *canon.Object) { o.Set("expiresAt", 86400000.0) }, CheckNotExpired, false, "Document expired at 86400000"},
		{"expiry true", func(o *canon.Object) { o.Set("expiresAt", true) }, CheckNotExpired, false, "Document expired at true"},
		{"expiry object", func(o *canon.Object) { o.Set("expiresAt", canon.NewObject(0)) }, CheckNotExpired, false, "Document expired at [object Object]"},
		{"expiry array", func(o *canon.Object) { o.Set("expiresAt", []any{"2099-01-01"}) }, CheckNotExpired, true, "Document has not expired"},
		{"expiry date only", func(o *canon.Object) { o.Set("expiresAt", "2026-03-02") }, CheckNotExpired, true, "Document has not expired"},
		{"expiry no offset (UTC)", func(o *canon.Object) { o.Set("expiresAt", "2026-03-01T12:00:01") }, CheckNotExpired, true, "Document has not expired"},
		{"expiry no offset past", func(o *canon.Object) { o.Set("expiresAt", "2026-03-01T11:59:59") }, CheckNotExpired, false, "Document expired at 2026-03-01T11:59:59"},
		{"not active", func(o *canon.Object) { o.Set("activatesAt", "2026-03-01T12:00:00.001Z") }, CheckActive, false, "Document activates at 2026-03-01T12:00:00.001Z"},
		{"active at the instant", func(o *canon.Object) { o.Set("activatesAt", "2026-03-01T12:00:00.000Z") }, CheckActive, true, "Document is active"},
		{"activation garbage", func(o *canon.Object) { o.Set("activatesAt", "2026-13-01T00:00:00Z") }, CheckActive, false, "Document activates at 2026-13-01T00:00:00Z"},
		{"activation null", func(o *canon.Object) { o.Set("activatesAt", nil) }, CheckActive, true, "No activation time set"},
		{"ccl", func(o *canon.Object) { o.Set("constraints", "permit file-read on '/x'") }, CheckCCLParses, false, cclErr("permit file-read on '/x'")},
		{"ccl empty", func(o *canon.Object) { o.Set("constraints", "  ") }, CheckCCLParses, false, cclErr("  ")},
		{"ccl too many", func(o *canon.Object) { o.Set("constraints", strings.Repeat("deny x on '/y'\n", 1001)) }, CheckCCLParses, false, "Constraints exceed maximum of 1000 statements"},
		{"enforcement type", func(o *canon.Object) { o.Set("enforcement", mustObject(t, `{"type":"police"}`)) }, CheckEnforcementValid, false, "Unknown enforcement type 'police'"},
		{"enforcement string", func(o *canon.Object) { o.Set("enforcement", "monitor") }, CheckEnforcementValid, false, "Unknown enforcement type 'undefined'"},
		{"enforcement type null", func(o *canon.Object) { o.Set("enforcement", mustObject(t, `{"type":null}`)) }, CheckEnforcementValid, false, "Unknown enforcement type 'null'"},
		{"enforcement false", func(o *canon.Object) { o.Set("enforcement", false) }, CheckEnforcementValid, true, "No enforcement config present"},
		{"proof type", func(o *canon.Object) { o.Set("proof", mustObject(t, `{"type":["tee"]}`)) }, CheckProofValid, false, "Unknown proof type 'tee'"},
		{"chain depth 0", func(o *canon.Object) { o.Set("chain", mustObject(t, `{"parentId":"p","relation":"r","depth":0}`)) }, CheckChainDepth, false, "Chain depth 0 exceeds maximum of 16"},
		{"chain depth 17", func(o *canon.Object) { o.Set("chain", mustObject(t, `{"parentId":"p","relation":"r","depth":17}`)) }, CheckChainDepth, false, "Chain depth 17 exceeds maximum of 16"},
		{"chain depth 16", func(o *canon.Object) { o.Set("chain", mustObject(t, `{"parentId":"p","relation":"r","depth":16}`)) }, CheckChainDepth, true, "Chain depth 16 is within limit"},
		{"chain depth 1.5", func(o *canon.Object) { o.Set("chain", mustObject(t, `{"parentId":"p","relation":"r","depth":1.5}`)) }, CheckChainDepth, true, "Chain depth 1.5 is within limit"},
		{"chain depth inf", func(o *canon.Object) { o.Set("chain", mustObject(t, `{"parentId":"p","relation":"r","depth":1e400}`)) }, CheckChainDepth, false, "Chain depth Infinity exceeds maximum of 16"},
		{"size", func(o *canon.Object) { o.Set("padding", strings.Repeat("é", MaxDocumentSize/2)) }, CheckDocumentSize, false, "Document size " + strconv.Itoa(len(mustJSON(t, full))+len(`,"padding":""`)+MaxDocumentSize) + " bytes exceeds maximum of 1048576"},
		{"countersignature", func(o *canon.Object) {
			cs, _ := o.Get("countersignatures")
			c0 := canon.CloneObject(cs.([]any)[0].(*canon.Object))
			c0.Set("signature", strings.Repeat("1", 128))
			o.Set("countersignatures", []any{cs.([]any)[0], c0, nil, mustObject(t, `{"signerPublicKey":["ab","cd"]}`), mustObject(t, `{"signerPublicKey":"short","signature":5}`)})
		}, CheckCountersignatures, false, "Invalid countersignature(s) from: " + seedKey(t, 3).PublicHex()[:16] + "..., (malformed countersignature), ab,cd..., short..."},
		{"countersignature label utf16", func(o *canon.Object) {
			o.Set("countersignatures", []any{mustObject(t, `{"signerPublicKey":"aaaaaaaaaaaaaaa😀😀","signature":"00"}`)})
		}, CheckCountersignatures, false, "Invalid countersignature(s) from: aaaaaaaaaaaaaaa\xed\xa0\xbd..."},
		{"countersignatures string", func(o *canon.Object) { o.Set("countersignatures", "abc") }, CheckCountersignatures, false, "Invalid countersignature(s): countersignatures is not an array"},
		{"countersignatures object with length", func(o *canon.Object) { o.Set("countersignatures", mustObject(t, `{"length":"2"}`)) }, CheckCountersignatures, false, "Invalid countersignature(s): countersignatures is not an array"},
		{"countersignatures object", func(o *canon.Object) { o.Set("countersignatures", mustObject(t, `{"a":1}`)) }, CheckCountersignatures, true, "No countersignatures present"},
		{"countersignatures number", func(o *canon.Object) { o.Set("countersignatures", 3.0) }, CheckCountersignatures, true, "No countersignatures present"},
		{"countersignatures empty", func(o *canon.Object) { o.Set("countersignatures", []any{}) }, CheckCountersignatures, true, "No countersignatures present"},
		{"nonce empty", func(o *canon.Object) { o.Set("nonce", "") }, CheckNoncePresent, false, "Nonce is missing or empty"},
		{"nonce short", func(o *canon.Object) { o.Set("nonce", "abc") }, CheckNoncePresent, false, "Nonce is malformed: expected 64-char hex string, got 3 chars"},
		{"nonce emoji", func(o *canon.Object) { o.Set("nonce", "😀") }, CheckNoncePresent, false, "Nonce is malformed: expected 64-char hex string, got 2 chars"},
		{"nonce not hex", func(o *canon.Object) { o.Set("nonce", strings.Repeat("g", 64)) }, CheckNoncePresent, false, "Nonce is malformed: expected 64-char hex string, got 64 chars"},
		{"nonce uppercase", func(o *canon.Object) { o.Set("nonce", strings.Repeat("AB", 32)) }, CheckNoncePresent, true, "Nonce is present and valid (64-char hex)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mutate(t, full, tt.edit)
			r := v.Verify(d)
			c, ok := r.Check(tt.check)
			if !ok {
				t.Fatalf("no %s check", tt.check)
			}
			if c.Passed != tt.passed || c.Message != tt.msg {
				t.Errorf("%s = {passed %v, %q}\n want {passed %v, %q}", tt.check, c.Passed, c.Message, tt.passed, tt.msg)
			}
			if r.Valid {
				for _, ch := range r.Checks {
					if !ch.Passed {
						t.Errorf("valid with failed check %s", ch.Name)
					}
				}
			}
		})
	}
}

func TestVerifyClock(t *testing.T) {
	opts, key := basicOptions(t)
	opts.ActivatesAt = "2026-06-01T00:00:00.000Z"
	opts.ExpiresAt = "2026-07-01T00:00:00.000Z"
	d := mustBuild(t, opts, key)
	v := mustVerifier(t)
	for _, tc := range []struct {
		at    string
		valid bool
	}{
		{"2026-05-31T23:59:59.999Z", false},
		{"2026-06-01T00:00:00.000Z", true},
		{"2026-06-30T23:59:59.999Z", true},
		{"2026-07-01T00:00:00.000Z", false},
	} {
		at, _ := time.Parse(time.RFC3339Nano, tc.at)
		if r := v.At(at).Verify(d); r.Valid != tc.valid {
			t.Errorf("at %s: valid=%v, want %v (%v)", tc.at, r.Valid, tc.valid, r.Failed())
		}
	}
	if _, err := NewVerifier(WithClock(nil)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("nil clock: %v", err)
	}
	if _, err := NewVerifier(WithSignatureCache(nil)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("nil cache: %v", err)
	}
	if _, err := NewVerifier(WithLogger(nil)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("nil logger: %v", err)
	}
}

func TestVerifyNil(t *testing.T) {
	if r := Verify(nil); r.Valid || r.Checks != nil {
		t.Errorf("nil document: %+v", r)
	}
	if r := Verify(&Document{}); r.Valid || r.Checks != nil {
		t.Errorf("zero document: %+v", r)
	}
}

// countingCache counts lookups, hits and stores around a MemorySignatureCache.
type countingCache struct {
	*MemorySignatureCache
	gets, hits, puts atomic.Int64
	err              error
}

func (c *countingCache) GetSigs(ctx context.Context, keys [][32]byte) ([]byte, error) {
	c.gets.Add(int64(len(keys)))
	if c.err != nil {
		return nil, c.err
	}
	out, err := c.MemorySignatureCache.GetSigs(ctx, keys)
	for _, o := range out {
		if o != 0 {
			c.hits.Add(1)
		}
	}
	return out, err
}

func (c *countingCache) PutSigs(ctx context.Context, keys [][32]byte, valid []bool) error {
	c.puts.Add(int64(len(keys)))
	if c.err != nil {
		return c.err
	}
	return c.MemorySignatureCache.PutSigs(ctx, keys, valid)
}

func TestSignatureCache(t *testing.T) {
	cache := &countingCache{MemorySignatureCache: NewMemorySignatureCache(100)}
	v := mustVerifier(t, WithClock(fixedClock(testNow)), WithSignatureCache(cache))
	full := fullDocument(t) // issuer signature + one countersignature
	first := v.Verify(full)
	if !first.Valid || cache.puts.Load() != 2 || cache.hits.Load() != 0 {
		t.Fatalf("first: valid=%v puts=%d hits=%d", first.Valid, cache.puts.Load(), cache.hits.Load())
	}
	second := v.Verify(full)
	if !second.Valid || cache.hits.Load() != 2 || cache.puts.Load() != 2 {
		t.Errorf("second: valid=%v hits=%d puts=%d (want both signatures from the cache)", second.Valid, cache.hits.Load(), cache.puts.Load())
	}
	// Other checks are recomputed on a hit.
	if r := v.At(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)).Verify(full); r.Valid || !equalStrings(r.Failed(), []string{CheckNotExpired}) {
		t.Errorf("later: %v", r.Failed())
	}
	// A changed document with the same claimed id, signature and key must
	// miss the cache: its key covers the recomputed canonical form.
	tampered := mutate(t, full, func(o *canon.Object) { o.Set("constraints", "permit everything on '**'") })
	hits := cache.hits.Load()
	r := v.Verify(tampered)
	if c, _ := r.Check(CheckSignatureValid); c.Passed {
		t.Error("tampered document passed signature_valid through the cache")
	}
	if cache.hits.Load() != hits {
		t.Error("tampered document hit the cache")
	}
	// Batches use the cache too.
	hits = cache.hits.Load()
	res := v.VerifyBatch([]*Document{full, full})
	if !res[0].Valid || !res[1].Valid || cache.hits.Load() != hits+4 {
		t.Errorf("batch: hits %d -> %d", hits, cache.hits.Load())
	}
}

// TestSignatureCachePoisoned shows that an outcome in the cache replaces the
// Ed25519 verification (so a cache must only be written by verifiers).
func TestSignatureCachePoisoned(t *testing.T) {
	opts, key := basicOptions(t)
	d := mustBuild(t, opts, key)
	cache := NewMemorySignatureCache(10)
	v := mustVerifier(t, WithSignatureCache(cache))
	if !v.Verify(d).Valid {
		t.Fatal("invalid")
	}
	keys := make([][32]byte, 0, 1)
	for k := range cache.entries {
		keys = append(keys, k)
	}
	if len(keys) != 1 {
		t.Fatalf("%d entries", len(keys))
	}
	cache.entries[keys[0]] = false
	if r := v.Verify(d); r.Valid {
		t.Error("cached outcome ignored")
	}
}

func TestSignatureCacheFailure(t *testing.T) {
	cache := &countingCache{MemorySignatureCache: NewMemorySignatureCache(10), err: errors.New("redis down")}
	var logged strings.Builder
	v := mustVerifier(t, WithClock(fixedClock(testNow)), WithSignatureCache(cache), WithLogger(newTestLogger(&logged)))
	full := fullDocument(t)
	if r := v.Verify(full); !r.Valid {
		t.Errorf("cache failure made verification fail: %v", r.Failed())
	}
	bad := mutate(t, full, func(o *canon.Object) { o.Set("signature", strings.Repeat("0", 128)) })
	if r := v.Verify(bad); r.Valid {
		t.Error("cache failure made a bad signature pass")
	}
	if !strings.Contains(logged.String(), "redis down") {
		t.Errorf("cache failure not logged: %q", logged.String())
	}
}

func TestMemorySignatureCacheBound(t *testing.T) {
	c := NewMemorySignatureCache(3)
	ctx := context.Background()
	k := func(i byte) [32]byte { return [32]byte{i} }
	for i := byte(0); i < 5; i++ {
		if err := c.PutSigs(ctx, [][32]byte{k(i)}, []bool{i%2 == 0}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := c.GetSigs(ctx, [][32]byte{k(0), k(1), k(2), k(3), k(4)})
	if string(got) != string([]byte{0, 0, 1, 2, 1}) || c.Len() != 3 {
		t.Errorf("got %v len %d", got, c.Len())
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestVerifierConcurrent shares one Verifier (scratch pool, cache) between
// goroutines verifying the corpus singly and in batches.
func TestVerifierConcurrent(t *testing.T) {
	c := loadCorpus(t)
	docs, exp, names := c.all()
	v := mustVerifier(t, WithClock(fixedClock(c.generatedAt)), WithSignatureCache(NewMemorySignatureCache(64)))
	errs := make(chan string, 1000)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for round := 0; round < 3; round++ {
				for i := range docs {
					j := (i + g*7) % len(docs)
					if r := v.Verify(docs[j]); r.Valid != exp[j].Valid || !equalStrings(failedNames(r), orEmpty(exp[j].Failed)) {
						errs <- names[j]
					}
				}
				for i, r := range v.VerifyBatch(docs) {
					if r.Valid != exp[i].Valid {
						errs <- "batch " + names[i]
					}
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestMessageTables checks the precomputed messages against the formatting
// they replace.
func TestMessageTables(t *testing.T) {
	for n, m := range cclParsedMessages {
		if m != "CCL parsed successfully ("+strconv.Itoa(n)+" statement(s))" {
			t.Errorf("cclParsedMessages[%d] = %q", n, m)
		}
	}
	for d := 1; d < len(chainDepthMessages); d++ {
		if m := chainDepthMessage(float64(d), "x"); m != "Chain depth "+strconv.Itoa(d)+" is within limit" {
			t.Errorf("depth %d: %q", d, m)
		}
	}
	for _, typ := range []string{"capability", "monitor", "audit", "bond", "composite"} {
		if m := validTypeMessages["Enforcement "+typ]; m != "Enforcement type '"+typ+"' is valid" || !ValidEnforcementType(typ) {
			t.Errorf("enforcement %s: %q", typ, m)
		}
	}
	for _, typ := range []string{"tee", "capability_manifest", "audit_log", "bond_reference", "zkp", "composite"} {
		if m := validTypeMessages["Proof "+typ]; m != "Proof type '"+typ+"' is valid" || !ValidProofType(typ) {
			t.Errorf("proof %s: %q", typ, m)
		}
	}
	if len(validTypeMessages) != 11 {
		t.Errorf("%d type messages", len(validTypeMessages))
	}
}

func TestZeroVerifier(t *testing.T) {
	var v Verifier
	full := fullDocument(t)
	if r := v.Verify(full); !r.Valid {
		t.Errorf("zero Verifier: %v", r.Failed())
	}
	if rs := v.VerifyBatch([]*Document{full}); !rs[0].Valid {
		t.Errorf("zero Verifier batch: %v", rs[0].Failed())
	}
}
