package covenant_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
)

// key returns the test key whose 32-byte seed is 00…0n.
func key(n byte) *keys.PrivateKey {
	seed := make([]byte, 32)
	seed[31] = n
	k, err := keys.NewPrivateKey(seed)
	if err != nil {
		panic(err)
	}
	return k
}

// fixedNonce is the nonce of the reference's build-basic vector.
const fixedNonce = "0501fd2a8c224e1a6b8126aa5a81438062bf0367c1bf9640e6a3de74f1131f6d"

// buildBasic reproduces the reference's build-basic vector: a fixed nonce and
// clock make Build deterministic.
func buildBasic() *covenant.Document {
	issuer, beneficiary := key(1), key(2)
	nonce, _ := keys.DecodeHex(fixedNonce)
	doc, err := covenant.Build(covenant.BuildOptions{
		Issuer:      covenant.Party{ID: "test-issuer", PublicKey: issuer.PublicHex(), Role: covenant.RoleIssuer},
		Beneficiary: covenant.Party{ID: "test-beneficiary", PublicKey: beneficiary.PublicHex(), Role: covenant.RoleBeneficiary},
		Constraints: "permit read on '/data/**'\ndeny delete on '/system/**'",
		Now:         func() time.Time { return time.Date(2026, 2, 19, 1, 38, 56, 342e6, time.UTC) },
		Rand:        bytes.NewReader(nonce),
	}, issuer)
	if err != nil {
		panic(err)
	}
	return doc
}

func ExampleBuild() {
	doc := buildBasic()
	fmt.Println(doc.ID())
	fmt.Println(doc.CreatedAt())

	r := covenant.Verify(doc)
	fmt.Println("valid:", r.Valid)
	// Output:
	// 4e411fb59934e07f228384aac386ce2885c482a1212a2024781bca53d7a2da93
	// 2026-02-19T01:38:56.342Z
	// valid: true
}

func ExampleVerifier_Verify() {
	doc := buildBasic()
	// Alter the signed constraints after signing, keeping id and signature.
	js, _ := doc.MarshalJSON()
	forged, err := covenant.Parse(bytes.Replace(js, []byte("permit read"), []byte("permit write"), 1))
	if err != nil {
		panic(err)
	}
	v, err := covenant.NewVerifier()
	if err != nil {
		panic(err)
	}
	r := v.Verify(forged)
	fmt.Println("valid:", r.Valid)
	for _, c := range r.Checks {
		if !c.Passed {
			fmt.Printf("%s: %.40s…\n", c.Name, c.Message)
		}
	}
	// Output:
	// valid: false
	// id_match: ID mismatch: expected 03fb3ecba6f43e4ac9…
	// signature_valid: Issuer signature verification failed…
}

func ExampleParse() {
	_, err := covenant.Parse([]byte(`{"id":"x","version":"2.0"}`))
	fmt.Println(err)
	// Output:
	// covenant: Missing or invalid required field: constraints
}

func ExampleCountersign() {
	doc := buildBasic()
	audited, err := covenant.Countersign(doc, key(3), covenant.RoleAuditor)
	if err != nil {
		panic(err)
	}
	cs := audited.Countersignatures()[0]
	fmt.Println(cs.SignerRole, cs.Signature[:16])
	fmt.Println("same id:", audited.ID() == doc.ID())
	r := covenant.Verify(audited)
	c, _ := r.Check(covenant.CheckCountersignatures)
	fmt.Println(c.Message)
	// Output:
	// auditor ea3ec29123c4c34a
	// same id: true
	// All 1 countersignature(s) are valid
}

func ExampleVerifier_VerifyBatch() {
	doc := buildBasic()
	audited, _ := covenant.Countersign(doc, key(3), covenant.RoleAuditor)
	v, _ := covenant.NewVerifier(covenant.WithSignatureCache(covenant.NewMemorySignatureCache(1024)))
	for i, r := range v.VerifyBatch([]*covenant.Document{doc, audited, nil}) {
		fmt.Println(i, r.Valid, len(r.Checks))
	}
	// Output:
	// 0 true 11
	// 1 true 11
	// 2 false 0
}

func ExampleResolveChain() {
	root := buildBasic()
	childKey := key(2)
	child, err := covenant.Build(covenant.BuildOptions{
		Issuer:      covenant.Party{ID: "test-beneficiary", PublicKey: childKey.PublicHex(), Role: covenant.RoleIssuer},
		Beneficiary: covenant.Party{ID: "agent", PublicKey: key(4).PublicHex(), Role: covenant.RoleBeneficiary},
		Constraints: "permit read on '/data/public/**'",
		Chain:       &covenant.ChainRef{ParentID: root.ID(), Relation: "delegates", Depth: 1},
	}, childKey)
	if err != nil {
		panic(err)
	}
	ancestors, err := covenant.ResolveChain(context.Background(), child, covenant.NewMemoryResolver(root), covenant.MaxChainDepth)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(ancestors), strings.HasPrefix(ancestors[0].ID(), "4e411fb5"))
	narrowing, _ := covenant.ValidateChainNarrowing(child, ancestors[0])
	fmt.Println("narrows:", narrowing.Valid)
	// Output:
	// 1 true
	// narrows: true
}
