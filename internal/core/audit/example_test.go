package audit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
)

func ExampleMonitor() {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := audit.NewMonitor("covenant-1",
		"permit api.call on '**'\nlimit api.call 2 per 1 minutes",
		audit.WithClock(func() time.Time { return now }))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		e, err := m.Evaluate(ctx, "api.call", "/orders", nil)
		if errors.Is(err, audit.ErrDenied) {
			fmt.Printf("call %d: %s (%s)\n", i, e.Outcome, e.Result.Reason)
			continue
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("call %d: %s\n", i, e.Outcome)
	}
	fmt.Println("intact:", m.VerifyIntegrity(ctx) == nil)

	p, err := m.MerkleProof(ctx, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println("proof of entry 1:", len(p.Siblings), "siblings, valid:", audit.VerifyProof(p))
	// Output:
	// call 1: EXECUTED
	// call 2: EXECUTED
	// call 3: DENIED (Rate limit exceeded for action 'api.call')
	// intact: true
	// proof of entry 1: 2 siblings, valid: true
}

// The two entries of PROTOCOL.md §6.2 and their Merkle root.
func ExampleMerkleRoot() {
	leaves := []string{
		"a9e1a37d8b7a9bfffd65d75496d302937d9f8b266844db96f579d8219dbd2ddb",
		"f6230f3ac41ab2eb0263667883fcabc82a7c33227def05d825d466bbd12e9cf1",
	}
	fmt.Println(audit.MerkleRoot(leaves))
	p, _ := audit.NewProof(leaves, 0)
	fmt.Println(p.Siblings[0] == leaves[1], audit.VerifyProof(p))
	// Output:
	// f2c6bbbc343596e3500bbec24b9994d006aae43f37a7363fe46e64b6706d8f85
	// true true
}

func ExampleChain() {
	c := audit.NewChain()
	for _, r := range []audit.ChainResult{audit.ChainPermitted, audit.ChainDenied} {
		if _, err := c.Append(audit.ChainRecord{
			Timestamp: "2025-01-01T00:00:00.000Z", Action: "read", Resource: "/data",
			CovenantID: "covenant-1", Result: r,
		}); err != nil {
			panic(err)
		}
	}
	back, err := audit.ImportChain(c.Export())
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", back.Stats())
	// Output:
	// {Total:2 Permitted:1 Denied:1 Errors:0}
}

// A Merkle root and an inclusion proof computed from leaves that arrive one
// at a time (pages of a long trail, say), in constant memory: the same as
// MerkleRoot and NewProof over the whole slice.
func ExampleMerkleStream() {
	leaves := []string{
		"a9e1a37d8b7a9bfffd65d75496d302937d9f8b266844db96f579d8219dbd2ddb",
		"f6230f3ac41ab2eb0263667883fcabc82a7c33227def05d825d466bbd12e9cf1",
	}
	var root audit.MerkleStream
	proof := audit.NewProofStream(1)
	for _, l := range leaves {
		if err := root.Add(l); err != nil {
			panic(err)
		}
		if err := proof.Add(l); err != nil {
			panic(err)
		}
	}
	fmt.Println(root.Root())
	p, err := proof.Proof()
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Root == audit.MerkleRoot(leaves), p.Siblings[0] == leaves[0], audit.VerifyProof(p))
	fmt.Println(root.Add("not a hash") != nil)
	// Output:
	// f2c6bbbc343596e3500bbec24b9994d006aae43f37a7363fe46e64b6706d8f85
	// true true true
	// true
}
