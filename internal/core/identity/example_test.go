package identity_test

import (
	"fmt"
	"time"

	"github.com/stele-go/stele/internal/core/identity"
	"github.com/stele-go/stele/internal/core/keys"
)

func Example() {
	seed := make([]byte, 32)
	seed[31] = 1
	operator, err := keys.NewPrivateKey(seed)
	if err != nil {
		panic(err)
	}
	// A fixed clock makes the identity reproducible; this instant and key give
	// the reference's create-basic vector.
	at := time.Date(2026, 2, 19, 1, 38, 56, 360e6, time.UTC)
	name := "test-operator"
	id, err := identity.Create(identity.CreateOptions{
		Operator:           operator,
		OperatorIdentifier: &name,
		Model:              identity.Model{Provider: "anthropic", ModelID: "claude-3"},
		Capabilities:       []string{"read", "write", "api.call"},
		Deployment:         identity.Deployment{Runtime: "container"},
		Now:                func() time.Time { return at },
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(id.ID)
	fmt.Println(id.Capabilities, identity.Verify(id))

	next, err := identity.Evolve(id, identity.EvolveOptions{
		Operator:    operator,
		ChangeType:  identity.ModelUpdate,
		Description: "Upgraded to claude-4",
		Updates:     identity.Updates{Model: &identity.Model{Provider: "anthropic", ModelID: "claude-4"}},
		Now:         func() time.Time { return at.Add(2 * time.Millisecond) },
	})
	if err != nil {
		panic(err)
	}
	last := next.Lineage[len(next.Lineage)-1]
	fmt.Println(next.ID)
	fmt.Println(next.Version, last.ChangeType, last.ReputationCarryForward, identity.Verify(next))
	// Output:
	// 82cf5c4980995a6b1db58e79dc8c35905db130c008e8dd008ba9a3afff83886a
	// [api.call read write] valid
	// 8150a2e915a61343ce116dd83cc72a6b793475398a3659ea0bef74e0e738ac3c
	// 2 model_update 0.2 valid
}

func ExampleDeserialize() {
	doc := []byte(`{"id":"x","operatorPublicKey":"00","model":{"provider":"p","modelId":"m"},
		"capabilities":["read"],"capabilityManifestHash":"","deployment":{"runtime":"wasm"},
		"lineage":[],"version":0,"createdAt":"","updatedAt":"","signature":""}`)
	id, err := identity.Deserialize(doc)
	if err != nil {
		panic(err)
	}
	r := identity.Verify(id)
	fmt.Println(r.Valid)
	for _, c := range r.Checks {
		fmt.Println(c.Name, c.Passed)
	}
	// Output:
	// false
	// capability_manifest_hash false
	// composite_identity_hash false
	// operator_signature false
	// lineage_chain true
	// lineage_signatures true
	// version_lineage_match true
}
