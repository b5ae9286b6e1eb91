package keys

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/hdevalence/ed25519consensus"
)

type nobleCase struct {
	Kind  string `json:"kind"`
	Pub   string `json:"pub"`
	Msg   string `json:"msg"`
	Sig   string `json:"sig"`
	Valid bool   `json:"valid"`
}

func loadNobleCases(t *testing.T) []nobleCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/noble-verify-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []nobleCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 500 {
		t.Fatalf("only %d recorded cases", len(file.Cases))
	}
	return file.Cases
}

// TestReferenceLibraryVerdicts replays signatures crafted around every edge
// of ZIP-215 (small-order and mixed-order keys, torsion in R, non-canonical
// and identity encodings of A and R, S ≥ L, off-curve points, wrong
// lengths) whose verdicts were recorded from @noble/ed25519 2.3.0, the
// library and version the reference locks. Verify, VerifyHex and the batch
// verifier must all agree with it.
func TestReferenceLibraryVerdicts(t *testing.T) {
	cases := loadNobleCases(t)
	b := NewBatchVerifier(len(cases))
	var accepted, differFromConsensus int
	for _, c := range cases {
		pub, err1 := DecodeHex(c.Pub)
		msg, err2 := DecodeHex(c.Msg)
		sig, err3 := DecodeHex(c.Sig)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("bad case %+v", c)
		}
		if got := Verify(pub, msg, sig); got != c.Valid {
			t.Errorf("%s: Verify(%s, %s, %s) = %v, reference library says %v", c.Kind, c.Pub, c.Msg, c.Sig, got, c.Valid)
		}
		if got := VerifyHex(c.Pub, msg, c.Sig); got != c.Valid {
			t.Errorf("%s: VerifyHex = %v, reference library says %v", c.Kind, got, c.Valid)
		}
		b.Add(pub, msg, sig)
		if c.Valid {
			accepted++
		}
		if ed25519consensus.Verify(pub, msg, sig) != c.Valid {
			differFromConsensus++
		}
	}
	res := b.Verify()
	for i, c := range cases {
		if res[i] != c.Valid {
			t.Errorf("%s: batch says %v, reference library says %v (%s %s)", c.Kind, res[i], c.Valid, c.Pub, c.Sig)
		}
	}
	// The corpus must exercise both verdicts and the cases on which plain
	// ZIP-215 differs from the reference.
	if accepted < 100 || accepted > len(cases)-100 || differFromConsensus == 0 {
		t.Fatalf("corpus too one-sided: %d of %d accepted, %d differ from ed25519consensus",
			accepted, len(cases), differFromConsensus)
	}
	t.Logf("%d cases, %d accepted, %d on which ed25519consensus alone would differ", len(cases), accepted, differFromConsensus)
}
