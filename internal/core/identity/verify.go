package identity

import (
	"fmt"
	"strings"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/keys"
)

// Names of the verification checks, in the order Verify runs them.
const (
	CheckCapabilityManifestHash = "capability_manifest_hash"
	CheckCompositeIdentityHash  = "composite_identity_hash"
	CheckOperatorSignature      = "operator_signature"
	CheckLineageChain           = "lineage_chain"
	CheckLineageSignatures      = "lineage_signatures"
	CheckVersionLineageMatch    = "version_lineage_match"
)

// Check is the outcome of one verification check.
type Check struct {
	Name    string
	Passed  bool
	Message string
}

// Result is the outcome of Verify: Valid is true when every check passed.
type Result struct {
	Valid  bool
	Checks []Check
}

// Failed returns the names of the checks that did not pass, in order.
func (r Result) Failed() []string {
	var names []string
	for _, c := range r.Checks {
		if !c.Passed {
			names = append(names, c.Name)
		}
	}
	return names
}

// Verify runs the six checks of verifyIdentity (§5.6) in order and reports
// each:
//
//  1. capability_manifest_hash: recomputed from the sorted capabilities;
//  2. composite_identity_hash: the id recomputed;
//  3. operator_signature: the signature over every known member but
//     signature, with operatorPublicKey;
//  4. lineage_chain: entry 0 has a null parentHash, entry i's parentHash is
//     entry i-1's identityHash, timestamps never decrease (string order, as
//     JavaScript compares strings); stops at the first error;
//  5. lineage_signatures: every entry verifies with the current
//     operatorPublicKey; stops at the first failure;
//  6. version_lineage_match: version equals the lineage length.
//
// Malformed hex in a key or signature fails the affected check rather than
// aborting verification (the reference throws for the operator signature).
// As in the reference, an identity whose operator was transferred with
// Evolve cannot verify, because check 5 uses the current key for every entry.
// A nil identity yields an invalid result with no checks.
func Verify(id *Identity) Result {
	if id == nil {
		return Result{}
	}
	checks := make([]Check, 0, 6)

	wantCap := CapabilityManifestHash(id.Capabilities)
	if equalHash(wantCap, id.CapabilityManifestHash) {
		checks = append(checks, Check{CheckCapabilityManifestHash, true, "Capability manifest hash is valid"})
	} else {
		checks = append(checks, Check{CheckCapabilityManifestHash, false,
			fmt.Sprintf("Capability manifest hash mismatch: expected %s, got %s", wantCap, id.CapabilityManifestHash)})
	}

	wantID := id.ComputeHash()
	if equalHash(wantID, id.ID) {
		checks = append(checks, Check{CheckCompositeIdentityHash, true, "Composite identity hash is valid"})
	} else {
		checks = append(checks, Check{CheckCompositeIdentityHash, false,
			fmt.Sprintf("Composite identity hash mismatch: expected %s, got %s", wantID, id.ID)})
	}

	checks = append(checks, verifyOperatorSignature(id))
	checks = append(checks, verifyLineageChain(id.Lineage))
	checks = append(checks, verifyLineageSignatures(id))

	if id.Version == len(id.Lineage) {
		checks = append(checks, Check{CheckVersionLineageMatch, true, "Version matches lineage length"})
	} else {
		checks = append(checks, Check{CheckVersionLineageMatch, false,
			fmt.Sprintf("Version %d does not match lineage length %d", id.Version, len(id.Lineage))})
	}

	valid := true
	for _, c := range checks {
		valid = valid && c.Passed
	}
	return Result{Valid: valid, Checks: checks}
}

func verifyOperatorSignature(id *Identity) Check {
	const fail = "Operator signature verification failed"
	sig, sigErr := keys.DecodeHex(id.Signature)
	pub, pubErr := keys.DecodeHex(id.OperatorPublicKey)
	switch {
	case sigErr != nil:
		return Check{CheckOperatorSignature, false, fail + ": signature is not valid hex"}
	case pubErr != nil:
		return Check{CheckOperatorSignature, false, fail + ": operatorPublicKey is not valid hex"}
	case !keys.Verify(pub, id.SigningPayload(), sig):
		return Check{CheckOperatorSignature, false, fail}
	}
	return Check{CheckOperatorSignature, true, "Operator signature is valid"}
}

func verifyLineageChain(l []LineageEntry) Check {
	for i := range l {
		e := &l[i]
		if i == 0 {
			if e.ParentHash != nil {
				return Check{CheckLineageChain, false,
					fmt.Sprintf("Lineage entry 0: expected null parentHash, got %s", *e.ParentHash)}
			}
			continue
		}
		prev := &l[i-1]
		if e.ParentHash == nil || !equalHash(*e.ParentHash, prev.IdentityHash) {
			return Check{CheckLineageChain, false,
				fmt.Sprintf("Lineage entry %d: parentHash %s does not match previous identityHash %s",
					i, describeParent(e.ParentHash), prev.IdentityHash)}
		}
		if canon.CompareKeys(e.Timestamp, prev.Timestamp) < 0 {
			return Check{CheckLineageChain, false,
				fmt.Sprintf("Lineage entry %d: timestamp %s is before previous %s", i, e.Timestamp, prev.Timestamp)}
		}
	}
	return Check{CheckLineageChain, true, "Lineage chain is consistent"}
}

func describeParent(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

func verifyLineageSignatures(id *Identity) Check {
	pub, pubErr := keys.DecodeHex(id.OperatorPublicKey)
	for i := range id.Lineage {
		e := &id.Lineage[i]
		sig, sigErr := keys.DecodeHex(e.Signature)
		if pubErr != nil || sigErr != nil {
			return Check{CheckLineageSignatures, false,
				fmt.Sprintf("Lineage entry %d: signature verification error", i)}
		}
		if !keys.Verify(pub, e.signingPayload(), sig) {
			return Check{CheckLineageSignatures, false,
				fmt.Sprintf("Lineage entry %d: signature verification failed", i)}
		}
	}
	return Check{CheckLineageSignatures, true, "All lineage entry signatures are valid"}
}

// String summarises r: "valid" or "invalid: check1, check2".
func (r Result) String() string {
	if r.Valid {
		return "valid"
	}
	return "invalid: " + strings.Join(r.Failed(), ", ")
}
