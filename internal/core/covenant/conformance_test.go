package covenant

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/testutil/vectors"
)

var ignoreDocument = cmpopts.IgnoreFields(Result{}, "Document")

func TestCorpusIDs(t *testing.T) {
	c := loadCorpus(t)
	for _, e := range c.manifest {
		d := c.docs[e.File]
		if got := d.ComputeID(); got != e.ID {
			t.Errorf("%s: ComputeID = %s, manifest says %s", e.File, got, e.ID)
		}
		if d.ID() != e.ID {
			t.Errorf("%s: ID() = %s, manifest says %s", e.File, d.ID(), e.ID)
		}
	}
}

func TestCorpusVerify(t *testing.T) {
	c := loadCorpus(t)
	v := mustVerifier(t, WithClock(fixedClock(c.generatedAt)))
	for _, e := range c.manifest {
		r := v.Verify(c.docs[e.File])
		if len(r.Checks) != 11 {
			t.Fatalf("%s: %d checks", e.File, len(r.Checks))
		}
		for i, ch := range r.Checks {
			if ch.Name != checkNames[i] {
				t.Errorf("%s: check %d is %s, want %s", e.File, i, ch.Name, checkNames[i])
			}
		}
		want := e.Expected.Failed
		if want == nil {
			want = []string{}
		}
		if r.Valid != e.Expected.Valid || !cmp.Equal(failedNames(r), want) {
			t.Errorf("%s (%v): valid=%v failed=%v, reference valid=%v failed=%v",
				e.File, e.Features, r.Valid, r.Failed(), e.Expected.Valid, want)
		}
	}
}

func TestCorpusSerializeRoundTrip(t *testing.T) {
	c := loadCorpus(t)
	v := mustVerifier(t, WithClock(fixedClock(c.generatedAt)))
	docs, _, names := c.all()
	for i, d := range docs {
		out, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != d.Size() {
			t.Errorf("%s: Size() = %d, len(MarshalJSON) = %d", names[i], d.Size(), len(out))
		}
		d2, err := Parse(out)
		if err != nil {
			t.Fatalf("%s: Parse(MarshalJSON): %v", names[i], err)
		}
		if d2.ComputeID() != d.ComputeID() || d2.ID() != d.ID() {
			t.Errorf("%s: round trip changed the ID", names[i])
		}
		out2, _ := d2.MarshalJSON()
		if !bytes.Equal(out, out2) {
			t.Errorf("%s: MarshalJSON not stable:\n%s\n%s", names[i], out, out2)
		}
		if diff := cmp.Diff(v.Verify(d), v.Verify(d2), ignoreDocument); diff != "" {
			t.Errorf("%s: verification changed by round trip (-before +after):\n%s", names[i], diff)
		}
	}
}

func TestTamperedCorpus(t *testing.T) {
	c := loadCorpus(t)
	v := mustVerifier(t, WithClock(fixedClock(c.generatedAt)))
	controls := 0
	for _, e := range c.tampered {
		r := v.Verify(c.tamperedDoc[e.File])
		want := e.ReferenceResult.Failed
		if want == nil {
			want = []string{}
		}
		if r.Valid != e.ReferenceResult.Valid || !cmp.Equal(failedNames(r), want) {
			t.Errorf("%s (%s): valid=%v failed=%v, reference valid=%v failed=%v",
				e.File, e.Note, r.Valid, r.Failed(), e.ReferenceResult.Valid, want)
		}
		if e.ReferenceResult.Valid {
			controls++
		}
	}
	if controls != 3 {
		t.Errorf("%d controls, want 3", controls)
	}
}

// TestCorpusRebuild rebuilds every corpus document from its accessors with
// the reference's nonce, timestamp and key, then adds its countersignatures,
// and requires the very same document: canonical form, ID, signature, member
// order and countersignatures (Ed25519 signatures are deterministic).
func TestCorpusRebuild(t *testing.T) {
	c := loadCorpus(t)
	for _, e := range c.manifest {
		orig := c.docs[e.File]
		created, ok := jstime.Parse(orig.CreatedAt())
		if !ok {
			t.Fatalf("%s: createdAt %q", e.File, orig.CreatedAt())
		}
		opts := BuildOptions{
			Issuer:      orig.Issuer(),
			Beneficiary: orig.Beneficiary(),
			Constraints: orig.Constraints(),
			Obligations: orig.Obligations(),
			ExpiresAt:   orig.ExpiresAt(),
			ActivatesAt: orig.ActivatesAt(),
			Now:         fixedClock(created),
			Rand:        fixedNonce(t, orig.Nonce()),
		}
		if ch, ok := orig.Chain(); ok {
			opts.Chain = &ch
		}
		if x, ok := orig.Enforcement(); ok {
			opts.Enforcement = &x
		}
		if x, ok := orig.Proof(); ok {
			opts.Proof = &x
		}
		if x, ok := orig.Revocation(); ok {
			opts.Revocation = &x
		}
		if x, ok := orig.Metadata(); ok {
			opts.Metadata = &x
		}
		d, err := Build(opts, c.keys[e.IssuerKey])
		if err != nil {
			t.Fatalf("%s: %v", e.File, err)
		}
		for i, cs := range orig.Countersignatures() {
			at, ok := jstime.Parse(cs.Timestamp)
			if !ok {
				t.Fatalf("%s: countersignature timestamp %q", e.File, cs.Timestamp)
			}
			d, err = CountersignAt(d, c.keys[e.CountersignerKeys[i]], cs.SignerRole, at)
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(d.CanonicalForm(), orig.CanonicalForm()) {
			t.Errorf("%s: canonical form differs:\n got %s\nwant %s", e.File, d.CanonicalForm(), orig.CanonicalForm())
		}
		if d.ID() != e.ID || d.Signature() != orig.Signature() {
			t.Errorf("%s: id/signature %s/%s, want %s/%s", e.File, d.ID(), d.Signature(), e.ID, orig.Signature())
		}
		got, _ := d.MarshalJSON()
		want, _ := orig.MarshalJSON()
		if !bytes.Equal(got, want) {
			t.Errorf("%s: serialisation differs:\n got %s\nwant %s", e.File, got, want)
		}
	}
}

// TestVerifyBatchEqualsSingle checks batch verification against one-by-one
// verification on the corpus and its tampered copies, mixed and shuffled, on
// random subsets, and with nil entries.
func TestVerifyBatchEqualsSingle(t *testing.T) {
	c := loadCorpus(t)
	v := mustVerifier(t, WithClock(fixedClock(c.generatedAt)))
	docs, exp, _ := c.all()
	single := make(map[*Document]Result, len(docs))
	for _, d := range docs {
		single[d] = v.Verify(d)
	}
	check := func(name string, batch []*Document) {
		t.Helper()
		got := v.VerifyBatch(batch)
		if len(got) != len(batch) {
			t.Fatalf("%s: %d results for %d documents", name, len(got), len(batch))
		}
		for i, d := range batch {
			if d == nil {
				if got[i].Valid || got[i].Checks != nil {
					t.Errorf("%s: nil entry %d gave %+v", name, i, got[i])
				}
				continue
			}
			if got[i].Document != d {
				t.Errorf("%s: result %d names another document", name, i)
			}
			if diff := cmp.Diff(single[d], got[i], ignoreDocument); diff != "" {
				t.Errorf("%s: entry %d (-single +batch):\n%s", name, i, diff)
			}
		}
	}
	check("all", docs)
	// The batch must reproduce the reference's verdicts too.
	res := v.VerifyBatch(docs)
	for i := range docs {
		if res[i].Valid != exp[i].Valid {
			t.Errorf("document %d: batch valid=%v, reference %v", i, res[i].Valid, exp[i].Valid)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		perm := rng.Perm(len(docs))
		n := 1 + rng.IntN(len(docs))
		batch := make([]*Document, 0, n+2)
		for _, i := range perm[:n] {
			batch = append(batch, docs[i])
		}
		if round%3 == 0 {
			batch = append(batch, nil)
			batch = append(batch, docs[perm[0]]) // a duplicate
		}
		rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		check("random subset", batch)
	}
	check("empty", nil)
	check("only nil", []*Document{nil, nil})
}

// vectorFile is the covenant and chain part of canonical-vectors.json.
type vectorFile struct {
	Vectors struct {
		Covenant []struct {
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
			// Expected is decoded per vector.
			Expected json.RawMessage `json:"expected"`
		} `json:"covenant"`
		Chain []struct {
			Name  string `json:"name"`
			Input struct {
				ParentConstraints string          `json:"parentConstraints"`
				ChildConstraints  string          `json:"childConstraints"`
				ChildChain        json.RawMessage `json:"childChain"`
			} `json:"input"`
			Expected struct {
				Valid            bool     `json:"valid"`
				ViolationsCount  int      `json:"violations_count"`
				ViolationReasons []string `json:"violation_reasons"`
			} `json:"expected"`
		} `json:"chain"`
	} `json:"vectors"`
}

func loadVectors(t *testing.T) vectorFile {
	var f vectorFile
	readJSON(t, filepath.Join(vectors.Dir(t), "canonical-vectors.json"), &f)
	if len(f.Vectors.Covenant) != 6 || len(f.Vectors.Chain) != 3 {
		t.Fatalf("%d covenant and %d chain vectors, want 6 and 3", len(f.Vectors.Covenant), len(f.Vectors.Chain))
	}
	return f
}

func TestCovenantVectors(t *testing.T) {
	f := loadVectors(t)
	byName := map[string]int{}
	for i, vec := range f.Vectors.Covenant {
		byName[vec.Name] = i
	}
	v := mustVerifier(t)

	// build-basic
	var basicIn struct {
		Issuer, Beneficiary struct{ ID, PublicKey, Role string }
		Constraints         string
		SignerPrivateKey    string
	}
	var basicOut struct {
		Version, ID, Nonce, Signature, CreatedAt string
		CanonicalForm                            string `json:"canonical_form"`
	}
	vec := f.Vectors.Covenant[byName["build-basic"]]
	if err := json.Unmarshal(vec.Input, &basicIn); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(vec.Expected, &basicOut); err != nil {
		t.Fatal(err)
	}
	key, err := keys.ParsePrivateKeyHex(basicIn.SignerPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	created, ok := jstime.Parse(basicOut.CreatedAt)
	if !ok {
		t.Fatal("createdAt")
	}
	basic, err := Build(BuildOptions{
		Issuer:      Party{ID: basicIn.Issuer.ID, PublicKey: basicIn.Issuer.PublicKey, Role: basicIn.Issuer.Role},
		Beneficiary: Party{ID: basicIn.Beneficiary.ID, PublicKey: basicIn.Beneficiary.PublicKey, Role: basicIn.Beneficiary.Role},
		Constraints: basicIn.Constraints,
		Now:         fixedClock(created),
		Rand:        fixedNonce(t, basicOut.Nonce),
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(basic.CanonicalForm()); got != basicOut.CanonicalForm {
		t.Errorf("build-basic canonical form:\n got %s\nwant %s", got, basicOut.CanonicalForm)
	}
	if basic.ID() != basicOut.ID || basic.ComputeID() != basicOut.ID || basic.Signature() != basicOut.Signature ||
		basic.Nonce() != basicOut.Nonce || basic.Version() != basicOut.Version || basic.CreatedAt() != basicOut.CreatedAt {
		t.Errorf("build-basic: id %s sig %s nonce %s version %s createdAt %s", basic.ID(), basic.Signature(), basic.Nonce(), basic.Version(), basic.CreatedAt())
	}

	// verify-*
	for _, name := range []string{"verify-valid", "verify-tampered-signature", "verify-tampered-constraints", "verify-countersigned"} {
		vec := f.Vectors.Covenant[byName[name]]
		var in struct{ Document json.RawMessage }
		var out struct {
			Valid  bool
			Checks []struct {
				Name   string
				Passed bool
			}
			FailedChecks []string `json:"failed_checks"`
		}
		if err := json.Unmarshal(vec.Input, &in); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(vec.Expected, &out); err != nil {
			t.Fatal(err)
		}
		d, err := Parse(in.Document)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := v.Verify(d)
		if r.Valid != out.Valid {
			t.Errorf("%s: valid = %v, want %v (%v)", name, r.Valid, out.Valid, r.Failed())
		}
		if out.Checks != nil {
			if len(out.Checks) != len(r.Checks) {
				t.Fatalf("%s: %d checks, want %d", name, len(r.Checks), len(out.Checks))
			}
			for i, want := range out.Checks {
				if r.Checks[i].Name != want.Name || r.Checks[i].Passed != want.Passed {
					t.Errorf("%s: check %d = %+v, want %+v", name, i, r.Checks[i], want)
				}
			}
		}
		if out.FailedChecks != nil && !cmp.Equal(failedNames(r), out.FailedChecks) {
			t.Errorf("%s: failed %v, want %v", name, r.Failed(), out.FailedChecks)
		}
	}

	// countersign
	vec = f.Vectors.Covenant[byName["countersign"]]
	var csIn struct {
		DocumentID       string `json:"document_id"`
		SignerPublicKey  string
		SignerPrivateKey string
		SignerRole       string
	}
	var csOut struct {
		Count     int    `json:"countersignature_count"`
		Role      string `json:"countersigner_role"`
		PublicKey string `json:"countersigner_publicKey"`
		Signature string `json:"countersignature_signature"`
	}
	if err := json.Unmarshal(vec.Input, &csIn); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(vec.Expected, &csOut); err != nil {
		t.Fatal(err)
	}
	if basic.ID() != csIn.DocumentID {
		t.Fatalf("countersign vector is over %s, built %s", csIn.DocumentID, basic.ID())
	}
	signer, err := keys.ParsePrivateKeyHex(csIn.SignerPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := Countersign(basic, signer, csIn.SignerRole)
	if err != nil {
		t.Fatal(err)
	}
	list := cs.Countersignatures()
	if len(list) != csOut.Count || list[0].SignerRole != csOut.Role || list[0].SignerPublicKey != csOut.PublicKey ||
		list[0].Signature != csOut.Signature || csIn.SignerPublicKey != csOut.PublicKey {
		t.Errorf("countersign: %+v, want %+v", list, csOut)
	}
	if cs.ID() != basic.ID() || cs.Signature() != basic.Signature() {
		t.Error("countersigning changed id or signature")
	}
	if r := v.Verify(cs); !r.Valid {
		t.Errorf("countersigned document invalid: %v", r.Failed())
	}
}

func TestChainVectors(t *testing.T) {
	f := loadVectors(t)
	parentKey, childKey := seedKey(t, 1), seedKey(t, 2)
	for _, vec := range f.Vectors.Chain {
		t.Run(vec.Name, func(t *testing.T) {
			parent := mustBuild(t, BuildOptions{
				Issuer:      Party{ID: "root", PublicKey: parentKey.PublicHex(), Role: RoleIssuer},
				Beneficiary: Party{ID: "mid", PublicKey: childKey.PublicHex(), Role: RoleBeneficiary},
				Constraints: vec.Input.ParentConstraints,
			}, parentKey)
			opts := BuildOptions{
				Issuer:      Party{ID: "mid", PublicKey: childKey.PublicHex(), Role: RoleIssuer},
				Beneficiary: Party{ID: "leaf", PublicKey: parentKey.PublicHex(), Role: RoleBeneficiary},
				Constraints: vec.Input.ChildConstraints,
				Chain:       &ChainRef{ParentID: parent.ID(), Relation: "delegates", Depth: 1},
			}
			if vec.Input.ChildChain != nil {
				var cr struct {
					Relation string
					Depth    float64
				}
				if err := json.Unmarshal(vec.Input.ChildChain, &cr); err != nil {
					t.Fatal(err)
				}
				opts.Chain.Relation, opts.Chain.Depth = cr.Relation, cr.Depth
			}
			child := mustBuild(t, opts, childKey)
			res, err := ValidateChainNarrowing(child, parent)
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid != vec.Expected.Valid || len(res.Violations) != vec.Expected.ViolationsCount {
				t.Fatalf("valid=%v violations=%d, want %v/%d", res.Valid, len(res.Violations), vec.Expected.Valid, vec.Expected.ViolationsCount)
			}
			for i, want := range vec.Expected.ViolationReasons {
				if res.Violations[i].Reason != want {
					t.Errorf("violation %d: %q, want %q", i, res.Violations[i].Reason, want)
				}
			}
		})
	}
}

// TestProtocolExampleWithOptionalMembers is the second worked example of
// PROTOCOL.md §3.11.
func TestProtocolExampleWithOptionalMembers(t *testing.T) {
	issuer, ben := seedKey(t, 1), seedKey(t, 2)
	d, err := Build(BuildOptions{
		Issuer:      Party{ID: "alice", PublicKey: issuer.PublicHex(), Role: RoleIssuer, Name: "Alice"},
		Beneficiary: Party{ID: "bob", PublicKey: ben.PublicHex(), Role: RoleBeneficiary},
		Constraints: "permit read on '/data/**'\ndeny read on '/data/secret'",
		Chain:       &ChainRef{ParentID: string(bytes.Repeat([]byte("ab"), 32)), Relation: "restricts", Depth: 1},
		Metadata: &Metadata{Name: "demo", Tags: []string{"x"},
			Custom: mustObject(t, `{"10":1,"9":2.50,"note":"<b>&","z":null}`)},
		ExpiresAt: "2030-01-01T00:00:00.000Z",
		Now:       fixedClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
		Rand:      bytes.NewReader(bytes.Repeat([]byte{1}, 32)),
	}, issuer)
	if err != nil {
		t.Fatal(err)
	}
	const wantCanonical = `{"beneficiary":{"id":"bob","publicKey":"7422b9887598068e32c4448a949adb290d0f4e35b9e01b0ee5f1a1e600fe2674","role":"beneficiary"},"chain":{"depth":1,"parentId":"abababababababababababababababababababababababababababababababab","relation":"restricts"},"constraints":"permit read on '/data/**'\ndeny read on '/data/secret'","createdAt":"2025-01-01T00:00:00.000Z","expiresAt":"2030-01-01T00:00:00.000Z","issuer":{"id":"alice","name":"Alice","publicKey":"4cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29","role":"issuer"},"metadata":{"custom":{"9":2.5,"10":1,"note":"<b>&","z":null},"name":"demo","tags":["x"]},"nonce":"0101010101010101010101010101010101010101010101010101010101010101","version":"1.0"}`
	if got := string(d.CanonicalForm()); got != wantCanonical {
		t.Errorf("canonical form:\n got %s\nwant %s", got, wantCanonical)
	}
	if d.ID() != "6f6e7759393c2a21ff3d8c67e03f123e7eb75d57f59225cd7b910664173ba042" {
		t.Errorf("id %s", d.ID())
	}
	if d.Signature() != "62cce894f64da501f1a9743bd461a854e39c8d9191da94a455c252d4a011e7754c619cf09f613f09b5478ad505dad3d34363ff20a96f324472c3e005a4c09102" {
		t.Errorf("signature %s", d.Signature())
	}
	r := mustVerifier(t, WithClock(fixedClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))).Verify(d)
	if !r.Valid {
		t.Errorf("example does not verify: %v", r.Failed())
	}
}

// TestVectorCopiesMatchShared keeps the module's own copy of the vectors in
// step with ../shared when both exist.
func TestVectorCopiesMatchShared(t *testing.T) {
	dir := vectors.Dir(t)
	local := filepath.Join(vectors.ModuleRoot(t), "testdata", "vectors")
	if dir == local {
		t.Skip("../shared/vectors absent: the tests already run on the copy")
	}
	files, err := filepath.Glob(filepath.Join(dir, "reference-corpus", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	tampered, _ := filepath.Glob(filepath.Join(dir, "reference-corpus", "tampered", "*.json"))
	files = append(files, tampered...)
	files = append(files, filepath.Join(dir, "reference-corpus", "GENERATED_AT"), filepath.Join(dir, "canonical-vectors.json"))
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		a, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(local, rel))
		if err != nil {
			t.Errorf("copy of %s: %v", rel, err)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("testdata/vectors/%s differs from ../shared/vectors/%s", rel, rel)
		}
	}
}
