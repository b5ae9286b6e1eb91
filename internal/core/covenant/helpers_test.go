package covenant

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/testutil/vectors"
)

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type expectation struct {
	Valid  bool     `json:"valid"`
	Failed []string `json:"failed"`
}

type manifestEntry struct {
	File              string      `json:"file"`
	ID                string      `json:"id"`
	IssuerKey         string      `json:"issuerKey"`
	BeneficiaryKey    string      `json:"beneficiaryKey"`
	CountersignerKeys []string    `json:"countersignerKeys"`
	Features          []string    `json:"features"`
	Expected          expectation `json:"expected"`
}

type tamperedEntry struct {
	File            string      `json:"file"`
	BasedOn         string      `json:"basedOn"`
	Note            string      `json:"note"`
	ReferenceResult expectation `json:"referenceResult"`
}

// corpus is the reference corpus, loaded and parsed.
type corpus struct {
	dir         string
	generatedAt time.Time
	manifest    []manifestEntry
	docs        map[string]*Document // by file name
	raw         map[string][]byte
	keys        map[string]*keys.PrivateKey
	tampered    []tamperedEntry
	tamperedDoc map[string]*Document
}

func loadCorpus(t testing.TB) *corpus {
	t.Helper()
	c := &corpus{
		dir:         filepath.Join(vectors.Dir(t), "reference-corpus"),
		docs:        map[string]*Document{},
		raw:         map[string][]byte{},
		keys:        map[string]*keys.PrivateKey{},
		tamperedDoc: map[string]*Document{},
	}
	at, err := os.ReadFile(filepath.Join(c.dir, "GENERATED_AT"))
	if err != nil {
		t.Fatal(err)
	}
	c.generatedAt, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(string(at)))
	if err != nil {
		t.Fatal(err)
	}
	readJSON(t, filepath.Join(c.dir, "manifest.json"), &c.manifest)
	if len(c.manifest) != 60 {
		t.Fatalf("manifest has %d entries, want 60", len(c.manifest))
	}
	var kf struct {
		Keys map[string]struct {
			PrivateKeyHex string `json:"privateKeyHex"`
			PublicKeyHex  string `json:"publicKeyHex"`
		} `json:"keys"`
	}
	readJSON(t, filepath.Join(c.dir, "keys.json"), &kf)
	for name, k := range kf.Keys {
		pk, err := keys.ParsePrivateKeyHex(k.PrivateKeyHex)
		if err != nil {
			t.Fatalf("key %s: %v", name, err)
		}
		if pk.PublicHex() != k.PublicKeyHex {
			t.Fatalf("key %s: public key %s, keys.json says %s", name, pk.PublicHex(), k.PublicKeyHex)
		}
		c.keys[name] = pk
	}
	for _, e := range c.manifest {
		data, err := os.ReadFile(filepath.Join(c.dir, e.File))
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", e.File, err)
		}
		c.docs[e.File], c.raw[e.File] = d, data
	}
	readJSON(t, filepath.Join(c.dir, "tampered", "notes.json"), &c.tampered)
	if len(c.tampered) != 16 {
		t.Fatalf("notes.json has %d entries, want 16", len(c.tampered))
	}
	for _, e := range c.tampered {
		data, err := os.ReadFile(filepath.Join(c.dir, "tampered", e.File))
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(data)
		if err != nil {
			t.Fatalf("tampered/%s: %v", e.File, err)
		}
		c.tamperedDoc[e.File] = d
	}
	return c
}

// all returns every corpus and tampered document with its expectation.
func (c *corpus) all() ([]*Document, []expectation, []string) {
	var docs []*Document
	var exp []expectation
	var names []string
	for _, e := range c.manifest {
		docs, exp, names = append(docs, c.docs[e.File]), append(exp, e.Expected), append(names, e.File)
	}
	for _, e := range c.tampered {
		docs, exp, names = append(docs, c.tamperedDoc[e.File]), append(exp, e.ReferenceResult), append(names, "tampered/"+e.File)
	}
	return docs, exp, names
}

func mustVerifier(t testing.TB, opts ...VerifierOption) *Verifier {
	t.Helper()
	v, err := NewVerifier(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fixedClock(at time.Time) func() time.Time { return func() time.Time { return at } }

func seedKey(t testing.TB, last byte) *keys.PrivateKey {
	t.Helper()
	seed := make([]byte, 32)
	seed[31] = last
	k, err := keys.NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustObject(t testing.TB, js string) *canon.Object {
	t.Helper()
	v, err := canon.Parse([]byte(js))
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	o, ok := v.(*canon.Object)
	if !ok {
		t.Fatalf("%s is not an object", js)
	}
	return o
}

// fixedNonce returns a reader yielding the 32 bytes of nonce (hex).
func fixedNonce(t testing.TB, nonce string) *bytes.Reader {
	t.Helper()
	b, err := keys.DecodeHex(nonce)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad nonce %q: %v", nonce, err)
	}
	return bytes.NewReader(b)
}

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// basicOptions returns valid build options: issuer seed 1, beneficiary seed
// 2, fixed clock and nonce.
func basicOptions(t testing.TB) (BuildOptions, *keys.PrivateKey) {
	t.Helper()
	issuer, ben := seedKey(t, 1), seedKey(t, 2)
	return BuildOptions{
		Issuer:      Party{ID: "alice", PublicKey: issuer.PublicHex(), Role: RoleIssuer},
		Beneficiary: Party{ID: "bob", PublicKey: ben.PublicHex(), Role: RoleBeneficiary},
		Constraints: "permit read on '/data/**'\ndeny delete on '/system/**'",
		Now:         fixedClock(testNow),
		Rand:        bytes.NewReader(bytes.Repeat([]byte{7}, 32)),
	}, issuer
}

func mustBuild(t testing.TB, opts BuildOptions, key *keys.PrivateKey) *Document {
	t.Helper()
	d, err := Build(opts, key)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mutate returns a copy of d with f applied to its object, bypassing
// signing (for tests of the checks).
func mutate(t testing.TB, d *Document, f func(o *canon.Object)) *Document {
	t.Helper()
	o := canon.CloneObject(d.Object())
	f(o)
	nd, err := FromObject(o)
	if err != nil {
		t.Fatalf("mutated document: %v", err)
	}
	return nd
}

func failedNames(r Result) []string {
	f := r.Failed()
	if f == nil {
		f = []string{}
	}
	return f
}

func newTestLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
