package identity

import (
	"crypto/subtle"
	"slices"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/keys"
)

// ChangeType names the kind of change a lineage entry records.
type ChangeType string

// The change types the reference defines. Evolve accepts any non-empty change
// type; unknown ones carry forward no reputation (§5.5).
const (
	Created          ChangeType = "created"
	ModelUpdate      ChangeType = "model_update"
	CapabilityChange ChangeType = "capability_change"
	OperatorTransfer ChangeType = "operator_transfer"
	Fork             ChangeType = "fork"
	Merge            ChangeType = "merge"
)

// Model is the model attestation of an identity. An empty string field is
// absent from the document.
//
// Extra holds members the struct does not model, and any member of a known
// name whose value a string field cannot represent exactly (an empty string
// or a non-string value read from a document). Extra members are hashed and
// serialised verbatim; a non-empty typed field takes precedence over an Extra
// member of the same name.
type Model struct {
	Provider        string // "provider"
	ModelID         string // "modelId"
	ModelVersion    string // "modelVersion", optional
	AttestationHash string // "attestationHash", optional
	// AttestationType is "provider_signed", "weight_hash" or "self_reported"
	// in reference documents; it is not validated.
	AttestationType string // "attestationType", optional
	Extra           *canon.Object
}

// Deployment is the deployment context of an identity. Empty string fields
// are absent; Extra works as for Model.
type Deployment struct {
	// Runtime is one of wasm, container, tee, firecracker, process, browser
	// in reference documents; it is not validated.
	Runtime        string // "runtime"
	TEEAttestation string // "teeAttestation", optional
	Region         string // "region", optional
	Provider       string // "provider", optional
	Extra          *canon.Object
}

// LineageEntry records one change of an identity, signed by the operator that
// made it.
type LineageEntry struct {
	// IdentityHash is the identity hash computed before this entry was added
	// (the "preliminary" hash over the previous lineage).
	IdentityHash string
	ChangeType   ChangeType
	Description  string
	// Timestamp is the ISO-8601 instant of the change, as written by the
	// reference's timestamp().
	Timestamp string
	// ParentHash is the IdentityHash of the previous entry; nil (JSON null)
	// for the first entry.
	ParentHash *string
	// Signature is the hex Ed25519 signature over the entry's signing payload.
	Signature string
	// ReputationCarryForward is the fraction of reputation kept (§5.5).
	ReputationCarryForward float64
	// Extra holds members the struct does not model; they enter the identity
	// hash (which covers whole entries) but not the entry signature.
	Extra *canon.Object
}

// Identity is an AgentIdentity document.
type Identity struct {
	ID                string
	OperatorPublicKey string
	// OperatorIdentifier is optional; nil means absent. It is signed but not
	// part of the id.
	OperatorIdentifier     *string
	Model                  Model
	Capabilities           []string
	CapabilityManifestHash string
	Deployment             Deployment
	Lineage                []LineageEntry
	Version                int
	CreatedAt              string
	UpdatedAt              string
	Signature              string
	// Extra holds top-level members the struct does not model. They are
	// serialised but, as in the reference, neither hashed nor signed.
	Extra *canon.Object
}

// Member names of the identity document.
const (
	fID                     = "id"
	fOperatorPublicKey      = "operatorPublicKey"
	fOperatorIdentifier     = "operatorIdentifier"
	fModel                  = "model"
	fCapabilities           = "capabilities"
	fCapabilityManifestHash = "capabilityManifestHash"
	fDeployment             = "deployment"
	fLineage                = "lineage"
	fVersion                = "version"
	fCreatedAt              = "createdAt"
	fUpdatedAt              = "updatedAt"
	fSignature              = "signature"

	fIdentityHash           = "identityHash"
	fChangeType             = "changeType"
	fDescription            = "description"
	fTimestamp              = "timestamp"
	fParentHash             = "parentHash"
	fReputationCarryForward = "reputationCarryForward"
)

// object returns the canonical-model form of m.
func (m *Model) object() *canon.Object {
	o := extraBase(m.Extra, 5)
	setNonEmpty(o, "provider", m.Provider)
	setNonEmpty(o, "modelId", m.ModelID)
	setNonEmpty(o, "modelVersion", m.ModelVersion)
	setNonEmpty(o, "attestationHash", m.AttestationHash)
	setNonEmpty(o, "attestationType", m.AttestationType)
	return o
}

// object returns the canonical-model form of d.
func (d *Deployment) object() *canon.Object {
	o := extraBase(d.Extra, 4)
	setNonEmpty(o, "runtime", d.Runtime)
	setNonEmpty(o, "teeAttestation", d.TEEAttestation)
	setNonEmpty(o, "region", d.Region)
	setNonEmpty(o, "provider", d.Provider)
	return o
}

// signingObject returns the members of e that its signature covers.
func (e *LineageEntry) signingObject() *canon.Object {
	o := canon.NewObject(6)
	o.Set(fIdentityHash, e.IdentityHash)
	o.Set(fChangeType, string(e.ChangeType))
	o.Set(fDescription, e.Description)
	o.Set(fTimestamp, e.Timestamp)
	if e.ParentHash == nil {
		o.Set(fParentHash, nil)
	} else {
		o.Set(fParentHash, *e.ParentHash)
	}
	o.Set(fReputationCarryForward, e.ReputationCarryForward)
	return o
}

// object returns the whole entry as it appears in a document.
func (e *LineageEntry) object() *canon.Object {
	o := extraBase(e.Extra, 7)
	for _, m := range e.signingObject().Members() {
		o.Set(m.Key, m.Value)
	}
	o.Set(fSignature, e.Signature)
	return o
}

// signingPayload is the canonical JSON that the entry signature covers.
func (e *LineageEntry) signingPayload() []byte {
	return canon.Canonical(e.signingObject())
}

func lineageArray(l []LineageEntry) []any {
	a := make([]any, len(l))
	for i := range l {
		a[i] = l[i].object()
	}
	return a
}

func stringArray(s []string) []any {
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return a
}

// extraBase returns a copy of extra to which typed members are then added.
func extraBase(extra *canon.Object, n int) *canon.Object {
	if extra.Len() == 0 {
		return canon.NewObject(n)
	}
	return canon.CloneObject(extra)
}

func setNonEmpty(o *canon.Object, key, v string) {
	if v != "" {
		o.Set(key, v)
	}
}

// SortCapabilities returns a sorted copy of caps, ordered as JavaScript's
// default sort orders strings (UTF-16 code units).
func SortCapabilities(caps []string) []string {
	s := slices.Clone(caps)
	if s == nil {
		s = []string{}
	}
	slices.SortStableFunc(s, canon.CompareKeys)
	return s
}

// CapabilityManifestHash returns the SHA-256 hex of the canonical JSON of the
// sorted capabilities (computeCapabilityManifestHash).
func CapabilityManifestHash(caps []string) string {
	return keys.SHA256Hex(canon.Canonical(stringArray(SortCapabilities(caps))))
}

// hashObject returns the members the identity hash covers, with lineage l.
func (id *Identity) hashObject(l []LineageEntry) *canon.Object {
	o := canon.NewObject(5)
	o.Set(fOperatorPublicKey, id.OperatorPublicKey)
	o.Set(fModel, id.Model.object())
	o.Set(fCapabilityManifestHash, id.CapabilityManifestHash)
	o.Set(fDeployment, id.Deployment.object())
	o.Set(fLineage, lineageArray(l))
	return o
}

// ComputeHash returns the composite identity hash of id over its current
// lineage (computeIdentityHash). It ignores ID and Signature.
func (id *Identity) ComputeHash() string {
	return id.hashWithLineage(id.Lineage)
}

func (id *Identity) hashWithLineage(l []LineageEntry) string {
	return keys.SHA256Hex(canon.Canonical(id.hashObject(l)))
}

// unsignedObject returns every signed member: all known members but signature.
func (id *Identity) unsignedObject() *canon.Object {
	o := canon.NewObject(11)
	o.Set(fID, id.ID)
	o.Set(fOperatorPublicKey, id.OperatorPublicKey)
	if id.OperatorIdentifier != nil {
		o.Set(fOperatorIdentifier, *id.OperatorIdentifier)
	}
	o.Set(fModel, id.Model.object())
	o.Set(fCapabilities, stringArray(id.Capabilities))
	o.Set(fCapabilityManifestHash, id.CapabilityManifestHash)
	o.Set(fDeployment, id.Deployment.object())
	o.Set(fLineage, lineageArray(id.Lineage))
	o.Set(fVersion, float64(id.Version))
	o.Set(fCreatedAt, id.CreatedAt)
	o.Set(fUpdatedAt, id.UpdatedAt)
	return o
}

// SigningPayload returns the canonical JSON bytes the operator signature
// covers: every known member except signature, including id.
func (id *Identity) SigningPayload() []byte {
	return canon.Canonical(id.unsignedObject())
}

// Object returns the identity as a JSON object in the canon value model,
// including Extra members.
func (id *Identity) Object() *canon.Object {
	o := extraBase(id.Extra, 12)
	for _, m := range id.unsignedObject().Members() {
		o.Set(m.Key, m.Value)
	}
	o.Set(fSignature, id.Signature)
	return o
}

// Clone returns a deep copy of id.
func (id *Identity) Clone() *Identity {
	if id == nil {
		return nil
	}
	c := *id
	if id.OperatorIdentifier != nil {
		s := *id.OperatorIdentifier
		c.OperatorIdentifier = &s
	}
	c.Model = id.Model.clone()
	c.Deployment = id.Deployment.clone()
	c.Capabilities = slices.Clone(id.Capabilities)
	c.Lineage = make([]LineageEntry, len(id.Lineage))
	for i := range id.Lineage {
		c.Lineage[i] = id.Lineage[i].clone()
	}
	c.Extra = cloneExtra(id.Extra)
	return &c
}

func (m Model) clone() Model {
	m.Extra = cloneExtra(m.Extra)
	return m
}

func (d Deployment) clone() Deployment {
	d.Extra = cloneExtra(d.Extra)
	return d
}

func (e LineageEntry) clone() LineageEntry {
	if e.ParentHash != nil {
		s := *e.ParentHash
		e.ParentHash = &s
	}
	e.Extra = cloneExtra(e.Extra)
	return e
}

func cloneExtra(o *canon.Object) *canon.Object {
	if o == nil {
		return nil
	}
	return canon.CloneObject(o)
}

// equalHash compares two hash or id strings in constant time.
func equalHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
