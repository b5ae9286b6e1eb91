package covenant

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/keys"
)

// TestVerifyBatchCorrupted compares batch and single verification on built
// documents with randomly corrupted signatures, keys and countersignatures:
// flipped bits, a scalar S ≥ L, a key of another party, upper-case hex, a
// truncated hex string.
func TestVerifyBatchCorrupted(t *testing.T) {
	v := mustVerifier(t, WithClock(fixedClock(testNow)))
	rng := rand.New(rand.NewPCG(3, 4))
	ks := make([]*keys.PrivateKey, 8)
	for i := range ks {
		ks[i] = seedKey(t, byte(10+i))
	}
	corrupt := []func(o *canon.Object){
		func(o *canon.Object) {}, // untouched
		func(o *canon.Object) { o.Set("signature", flipHex(rng, o)) },
		func(o *canon.Object) { // S = L + small: not canonical
			sig, _ := o.String("signature")
			o.Set("signature", sig[:64]+"edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
		},
		func(o *canon.Object) {
			iss, _ := o.Object("issuer")
			iss.Set("publicKey", ks[rng.IntN(len(ks))].PublicHex())
		},
		func(o *canon.Object) {
			sig, _ := o.String("signature")
			o.Set("signature", strings.ToUpper(sig))
		},
		func(o *canon.Object) {
			sig, _ := o.String("signature")
			o.Set("signature", sig[:len(sig)-2])
		},
		func(o *canon.Object) { // corrupt one countersignature
			cs, _ := o.Get("countersignatures")
			list := cs.([]any)
			c := canon.CloneObject(list[0].(*canon.Object))
			sig, _ := c.String("signature")
			c.Set("signature", sig[:10]+"0"+sig[11:])
			o.Set("countersignatures", []any{c, list[1]})
		},
	}
	var docs []*Document
	for i := 0; i < 60; i++ {
		k := ks[i%len(ks)]
		d := mustBuild(t, BuildOptions{
			Issuer:      Party{ID: fmt.Sprint("i", i), PublicKey: k.PublicHex(), Role: RoleIssuer},
			Beneficiary: Party{ID: "b", PublicKey: ks[0].PublicHex(), Role: RoleBeneficiary},
			Constraints: fmt.Sprintf("permit read on '/d/%d/**'", i),
		}, k)
		for j := 0; j < 2; j++ {
			var err error
			if d, err = CountersignAt(d, ks[(i+j+1)%len(ks)], RoleAuditor, testNow); err != nil {
				t.Fatal(err)
			}
		}
		f := corrupt[rng.IntN(len(corrupt))]
		docs = append(docs, mutate(t, d, f))
	}
	batch := v.VerifyBatch(docs)
	valid := 0
	for i, d := range docs {
		if diff := cmp.Diff(v.Verify(d), batch[i], ignoreDocument); diff != "" {
			t.Errorf("document %d (-single +batch):\n%s", i, diff)
		}
		if batch[i].Valid {
			valid++
		}
	}
	if valid == 0 || valid == len(docs) {
		t.Errorf("%d of %d valid: the corruption mix is degenerate", valid, len(docs))
	}
}

func flipHex(rng *rand.Rand, o *canon.Object) string {
	sig, _ := o.String("signature")
	b := []byte(sig)
	i := rng.IntN(len(b))
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}
