package identity

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/core/keys"
)

// CreateOptions are the inputs of Create.
type CreateOptions struct {
	// Operator signs the identity and its first lineage entry; its public
	// key becomes OperatorPublicKey. Required.
	Operator *keys.PrivateKey
	// OperatorIdentifier is optional (nil = absent).
	OperatorIdentifier *string
	// Model must have Provider and ModelID.
	Model Model
	// Capabilities are stored sorted (UTF-16 order). May be empty.
	Capabilities []string
	// Deployment must have Runtime.
	Deployment Deployment
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Create builds and signs a new identity with version 1 and a single
// "created" lineage entry (createIdentity, §5.3).
func Create(opts CreateOptions) (*Identity, error) {
	if opts.Operator == nil {
		return nil, fmt.Errorf("create identity: operator key is required: %w", ErrInvalid)
	}
	if err := validateModel(&opts.Model); err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	if err := validateDeployment(&opts.Deployment); err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	now := jstime.Format(clock(opts.Now)())
	caps := SortCapabilities(opts.Capabilities)
	id := &Identity{
		OperatorPublicKey:      opts.Operator.PublicHex(),
		Model:                  opts.Model.clone(),
		Capabilities:           caps,
		CapabilityManifestHash: CapabilityManifestHash(caps),
		Deployment:             opts.Deployment.clone(),
		Version:                1,
		CreatedAt:              now,
		UpdatedAt:              now,
	}
	if opts.OperatorIdentifier != nil {
		s := *opts.OperatorIdentifier
		id.OperatorIdentifier = &s
	}
	entry := LineageEntry{
		IdentityHash:           id.hashWithLineage(nil),
		ChangeType:             Created,
		Description:            "Identity created",
		Timestamp:              now,
		ParentHash:             nil,
		ReputationCarryForward: 1,
	}
	entry.Signature = keys.EncodeHex(opts.Operator.Sign(entry.signingPayload()))
	id.Lineage = []LineageEntry{entry}
	id.ID = id.ComputeHash()
	id.Signature = keys.EncodeHex(opts.Operator.Sign(id.SigningPayload()))
	return id, nil
}

// Updates are the changes Evolve applies. A nil or empty field keeps the
// current value, except OperatorPublicKey (see below).
type Updates struct {
	// Model replaces the model when non-nil.
	Model *Model
	// Capabilities replaces the capabilities (sorted) when non-nil; an empty
	// non-nil slice removes every capability.
	Capabilities []string
	// Deployment replaces the deployment when non-nil.
	Deployment *Deployment
	// OperatorPublicKey, when non-empty, is stored as the new operator key.
	// When empty the new key is the signing operator's, not the current one:
	// the reference quirk of §5.4, kept for parity.
	OperatorPublicKey string
	// OperatorIdentifier replaces the identifier when non-nil.
	OperatorIdentifier *string
}

// EvolveOptions are the inputs of Evolve.
type EvolveOptions struct {
	// Operator signs the new lineage entry and the identity. Required.
	Operator *keys.PrivateKey
	// ChangeType must be non-empty; see the constants.
	ChangeType  ChangeType
	Description string
	Updates     Updates
	// ReputationCarryForward overrides the computed rate when non-nil; it
	// must be finite.
	ReputationCarryForward *float64
	// Policy supplies the carry-forward rates; nil means DefaultPolicy().
	Policy *EvolutionPolicy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Evolve returns a new identity derived from current by applying the updates
// and appending a signed lineage entry (evolveIdentity, §5.4). current is not
// modified.
//
// As in the reference, the new entry's parentHash is the identityHash of the
// last existing entry (a preliminary hash, not the previous id), the version
// is current.Version+1, createdAt is kept and updatedAt is now. Evolve does
// not verify current.
func Evolve(current *Identity, opts EvolveOptions) (*Identity, error) {
	if current == nil {
		return nil, fmt.Errorf("evolve identity: current identity is nil: %w", ErrInvalid)
	}
	if opts.Operator == nil {
		return nil, fmt.Errorf("evolve identity %s: operator key is required: %w", current.ID, ErrInvalid)
	}
	if opts.ChangeType == "" {
		return nil, fmt.Errorf("evolve identity %s: change type is required: %w", current.ID, ErrInvalid)
	}
	u := opts.Updates
	if u.Model != nil {
		if err := validateModel(u.Model); err != nil {
			return nil, fmt.Errorf("evolve identity %s: %w", current.ID, err)
		}
	}
	if u.Deployment != nil {
		if err := validateDeployment(u.Deployment); err != nil {
			return nil, fmt.Errorf("evolve identity %s: %w", current.ID, err)
		}
	}
	if current.Version >= maxSafeInteger {
		return nil, fmt.Errorf("evolve identity %s: version %d cannot be incremented: %w", current.ID, current.Version, ErrInvalid)
	}
	policy := DefaultPolicy()
	if opts.Policy != nil {
		policy = *opts.Policy
	}
	rate := ComputeCarryForward(opts.ChangeType, current, u, policy)
	if opts.ReputationCarryForward != nil {
		rate = *opts.ReputationCarryForward
	}
	if math.IsNaN(rate) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("evolve identity %s: reputation carry-forward %v is not finite: %w", current.ID, rate, ErrInvalid)
	}

	now := jstime.Format(clock(opts.Now)())
	next := current.Clone()
	next.ID, next.Signature = "", ""
	// The reference assembles the evolved identity from its known members
	// only: unknown top-level members of current are not carried over
	// (those inside model, deployment and lineage entries are, since those
	// objects are reused whole).
	next.Extra = nil
	if u.Model != nil {
		next.Model = u.Model.clone()
	}
	if u.Capabilities != nil {
		next.Capabilities = SortCapabilities(u.Capabilities)
	}
	next.CapabilityManifestHash = CapabilityManifestHash(next.Capabilities)
	if u.Deployment != nil {
		next.Deployment = u.Deployment.clone()
	}
	next.OperatorPublicKey = opts.Operator.PublicHex()
	if u.OperatorPublicKey != "" {
		next.OperatorPublicKey = u.OperatorPublicKey
	}
	if u.OperatorIdentifier != nil {
		s := *u.OperatorIdentifier
		next.OperatorIdentifier = &s
	}
	next.Version = current.Version + 1
	next.UpdatedAt = now

	entry := LineageEntry{
		IdentityHash:           next.hashWithLineage(next.Lineage),
		ChangeType:             opts.ChangeType,
		Description:            opts.Description,
		Timestamp:              now,
		ReputationCarryForward: rate,
	}
	if n := len(current.Lineage); n > 0 {
		p := current.Lineage[n-1].IdentityHash
		entry.ParentHash = &p
	}
	entry.Signature = keys.EncodeHex(opts.Operator.Sign(entry.signingPayload()))
	next.Lineage = append(slices.Clip(next.Lineage), entry)
	next.ID = next.ComputeHash()
	next.Signature = keys.EncodeHex(opts.Operator.Sign(next.SigningPayload()))
	return next, nil
}

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER: versions beyond it
// would not survive a trip through a JavaScript number.
const maxSafeInteger = 1<<53 - 1

func clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

func validateModel(m *Model) error {
	if m.Provider == "" || m.ModelID == "" {
		return fmt.Errorf("model needs a provider and a modelId: %w", ErrInvalid)
	}
	return nil
}

func validateDeployment(d *Deployment) error {
	if d.Runtime == "" {
		return fmt.Errorf("deployment needs a runtime: %w", ErrInvalid)
	}
	return nil
}
