package covenant

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/testutil/benchcpu"
)

// benchOptions returns build options for a realistic document of about
// 1.5 KB: named parties, five statements, obligations, chain, enforcement,
// proof, revocation and metadata with custom members.
func benchOptions(b testing.TB, issuer, beneficiary *keys.PrivateKey, n int) BuildOptions {
	b.Helper()
	return BuildOptions{
		Issuer: Party{ID: fmt.Sprintf("did:stele:issuer-%d", n), PublicKey: issuer.PublicHex(), Role: RoleIssuer,
			Name: "Acme Data Platform — production"},
		Beneficiary: Party{ID: "agent-7f3a", PublicKey: beneficiary.PublicHex(), Role: RoleBeneficiary,
			Metadata: mustObject(b, `{"model":"gpt-x","tier":3,"region":"eu-west-1"}`)},
		Constraints: "permit file.read on '/data/reports/**'\n" +
			"permit file.write on '/data/reports/drafts/**' when user.role = 'editor'\n" +
			"deny file.read on '/data/reports/hr/**' severity critical\n" +
			"require audit.log on '/data/**'\n" +
			"limit api.call 1000 per 1 hours",
		Obligations: []Obligation{
			{ID: "obl-1", Description: "Log every access to the audit trail", Action: "audit.log", Deadline: "2027-01-01T00:00:00.000Z"},
			{ID: "obl-2", Description: "Notify the data owner of exports", Action: "notify.owner"},
		},
		Chain:       &ChainRef{ParentID: "a4e893d1fc352bb091eecc4af74b93f0b6aab1e52b733356c611c4bb79987986", Relation: "restricts", Depth: 1},
		Enforcement: &Enforcement{Type: "monitor", Config: mustObject(b, `{"threshold":0.95,"mode":"strict","alerts":["ops@example.com"]}`)},
		Proof:       &Proof{Type: "audit_log", Config: mustObject(b, `{"endpoint":"https://audit.example.com/v1/logs","retentionDays":365}`)},
		Revocation:  &Revocation{Method: "status_endpoint", Endpoint: "https://revoke.example.com/v1/status"},
		Metadata: &Metadata{Name: "Quarterly reporting delegation", Description: "Read access to reports, drafts for editors",
			Tags: []string{"reports", "finance", "q3"}, Version: "1.4.0",
			Custom: mustObject(b, `{"costCenter":"FIN-042","reviewedBy":"compliance","ticket":12873,"ratio":0.25}`)},
		ExpiresAt: "2099-12-31T23:59:59.000Z",
		Now:       fixedClock(testNow),
	}
}

func benchKeys(b testing.TB, n int) []*keys.PrivateKey {
	b.Helper()
	out := make([]*keys.PrivateKey, n)
	for i := range out {
		seed := make([]byte, 32)
		seed[0], seed[1], seed[31] = byte(i), byte(i>>8), 0x5a
		k, err := keys.NewPrivateKey(seed)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = k
	}
	return out
}

func benchDoc(b testing.TB) *Document {
	b.Helper()
	k := benchKeys(b, 2)
	return mustBuild(b, benchOptions(b, k[0], k[1], 0), k[0])
}

func TestBenchDocumentIsRealistic(t *testing.T) {
	d := benchDoc(t)
	if n := d.Size(); n < 1000 || n > 2500 {
		t.Errorf("benchmark document is %d bytes, want 1–2 KB", n)
	}
	if r := Verify(d); !r.Valid {
		t.Errorf("benchmark document invalid: %v", r.Failed())
	}
}

func BenchmarkBuild(b *testing.B) {
	k := benchKeys(b, 2)
	opts := benchOptions(b, k[0], k[1], 0)
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "op", 1)
	for b.Loop() {
		if _, err := Build(opts, k[0]); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

func BenchmarkVerify(b *testing.B) {
	d := benchDoc(b)
	v := mustVerifier(b, WithClock(fixedClock(testNow)))
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "op", 1)
	for b.Loop() {
		if !v.Verify(d).Valid {
			b.Fatal("invalid")
		}
	}
	done()
}

func BenchmarkVerifyCached(b *testing.B) {
	d := benchDoc(b)
	v := mustVerifier(b, WithClock(fixedClock(testNow)), WithSignatureCache(NewMemorySignatureCache(16)))
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "op", 1)
	for b.Loop() {
		if !v.Verify(d).Valid {
			b.Fatal("invalid")
		}
	}
	done()
}

func batchDocs(b testing.TB, n int) []*Document {
	k := benchKeys(b, n+1)
	docs := make([]*Document, n)
	for i := range docs {
		docs[i] = mustBuild(b, benchOptions(b, k[i], k[n], i), k[i])
	}
	return docs
}

func BenchmarkVerifyBatch256(b *testing.B) {
	docs := batchDocs(b, 256)
	v := mustVerifier(b, WithClock(fixedClock(testNow)))
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "doc", len(docs))
	for b.Loop() {
		for _, r := range v.VerifyBatch(docs) {
			if !r.Valid {
				b.Fatal("invalid")
			}
		}
	}
	done()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(docs)), "ns/doc")
}

// BenchmarkVerifyBatch256Cached: every signature outcome comes from the
// cache, so this is the cost of everything but Ed25519.
func BenchmarkVerifyBatch256Cached(b *testing.B) {
	docs := batchDocs(b, 256)
	v := mustVerifier(b, WithClock(fixedClock(testNow)), WithSignatureCache(NewMemorySignatureCache(1024)))
	v.VerifyBatch(docs) // fill the cache
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "doc", len(docs))
	for b.Loop() {
		for _, r := range v.VerifyBatch(docs) {
			if !r.Valid {
				b.Fatal("invalid")
			}
		}
	}
	done()
}

func BenchmarkCountersign(b *testing.B) {
	d := benchDoc(b)
	k := seedKey(b, 3)
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "op", 1)
	for b.Loop() {
		if _, err := Countersign(d, k, RoleAuditor); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

func BenchmarkCanonicalForm(b *testing.B) {
	d := benchDoc(b)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "op", 1)
	b.SetBytes(int64(len(d.CanonicalForm())))
	for b.Loop() {
		buf = d.AppendCanonicalForm(buf[:0])
	}
	done()
}

// The raw Ed25519 baselines, for reading the ratios off one run.

func BenchmarkRawVerify(b *testing.B) {
	d := benchDoc(b)
	msg := d.CanonicalForm()
	pub, _ := keys.DecodeHex(d.Issuer().PublicKey)
	sig, _ := keys.DecodeHex(d.Signature())
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "op", 1)
	for b.Loop() {
		if !keys.Verify(pub, msg, sig) {
			b.Fatal("invalid")
		}
	}
	done()
}

func BenchmarkRawSign(b *testing.B) {
	k := seedKey(b, 1)
	msg := bytes.Repeat([]byte("m"), 100)
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "op", 1)
	for b.Loop() {
		k.Sign(msg)
	}
	done()
}

func BenchmarkRawBatchVerify256(b *testing.B) {
	docs := batchDocs(b, 256)
	type entry struct{ pub, msg, sig []byte }
	entries := make([]entry, len(docs))
	for i, d := range docs {
		pub, _ := keys.DecodeHex(d.Issuer().PublicKey)
		sig, _ := keys.DecodeHex(d.Signature())
		entries[i] = entry{pub, d.CanonicalForm(), sig}
	}
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "sig", len(entries))
	for b.Loop() {
		bv := keys.NewBatchVerifier(len(entries))
		for _, e := range entries {
			bv.Add(e.pub, e.msg, e.sig)
		}
		for _, ok := range bv.Verify() {
			if !ok {
				b.Fatal("invalid")
			}
		}
	}
	done()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(entries)), "ns/sig")
}
