package identity

import (
	"bytes"
	"fmt"
	"math"

	"github.com/stele-go/stele/internal/core/canon"
)

// Limits applied by Deserialize. An identity is a few kilobytes; a megabyte
// holds thousands of lineage entries.
const (
	DefaultMaxBytes = 1 << 20
	DefaultMaxDepth = 64
)

// Serialize returns the canonical JSON of id, Extra members included
// (serializeIdentity).
func Serialize(id *Identity) []byte {
	return canon.Canonical(id.Object())
}

// MarshalJSON implements json.Marshaler with Serialize.
func (id *Identity) MarshalJSON() ([]byte, error) { return Serialize(id), nil }

// UnmarshalJSON implements json.Unmarshaler with Deserialize.
func (id *Identity) UnmarshalJSON(data []byte) error {
	d, err := Deserialize(data)
	if err != nil {
		return err
	}
	*id = *d
	return nil
}

// Deserialize parses an identity document with the default limits.
func Deserialize(data []byte) (*Identity, error) {
	return DeserializeLimits(data, canon.Limits{MaxBytes: DefaultMaxBytes, MaxDepth: DefaultMaxDepth})
}

// DeserializeLimits parses an identity document (deserializeIdentity). The
// input must be a JSON object with the eleven required members (all but
// operatorIdentifier), each of the expected type: strings for the hashes,
// keys, signature and timestamps; objects for model and deployment; an array
// of strings for capabilities; an array of lineage entries, each with all
// seven members (parentHash a string or null, reputationCarryForward a
// number); an integral version. Unknown members are kept in the Extra fields.
// Every error wraps ErrInvalid; parse errors also wrap the canon sentinel.
//
// Deserialize does not verify the identity; call Verify.
func DeserializeLimits(data []byte, l canon.Limits) (*Identity, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("deserialize identity: empty input: %w", ErrInvalid)
	}
	v, err := canon.ParseLimits(data, l)
	if err != nil {
		return nil, fmt.Errorf("deserialize identity: %w: %w", ErrInvalid, err)
	}
	o, ok := v.(*canon.Object)
	if !ok || o == nil {
		return nil, fmt.Errorf("deserialize identity: expected a JSON object: %w", ErrInvalid)
	}
	return fromObject(o)
}

var requiredMembers = [...]string{
	fID, fOperatorPublicKey, fModel, fCapabilities, fCapabilityManifestHash,
	fDeployment, fLineage, fVersion, fCreatedAt, fUpdatedAt, fSignature,
}

func fromObject(o *canon.Object) (*Identity, error) {
	for _, f := range requiredMembers {
		if !o.Has(f) {
			return nil, fieldErr(f, "missing required member")
		}
	}
	id := &Identity{}
	strs := []struct {
		name string
		dst  *string
	}{
		{fID, &id.ID},
		{fOperatorPublicKey, &id.OperatorPublicKey},
		{fCapabilityManifestHash, &id.CapabilityManifestHash},
		{fCreatedAt, &id.CreatedAt},
		{fUpdatedAt, &id.UpdatedAt},
		{fSignature, &id.Signature},
	}
	for _, s := range strs {
		v, ok := o.String(s.name)
		if !ok {
			return nil, fieldErr(s.name, "must be a string")
		}
		*s.dst = v
	}
	if v, present := o.Get(fOperatorIdentifier); present {
		s, ok := v.(string)
		if !ok {
			return nil, fieldErr(fOperatorIdentifier, "must be a string when present")
		}
		id.OperatorIdentifier = &s
	}

	model, ok := o.Object(fModel)
	if !ok {
		return nil, fieldErr(fModel, "must be an object")
	}
	id.Model = modelFrom(model)
	dep, ok := o.Object(fDeployment)
	if !ok {
		return nil, fieldErr(fDeployment, "must be an object")
	}
	id.Deployment = deploymentFrom(dep)

	caps, _ := o.Get(fCapabilities)
	capArr, ok := caps.([]any)
	if !ok {
		return nil, fieldErr(fCapabilities, "must be an array")
	}
	id.Capabilities = make([]string, len(capArr))
	for i, c := range capArr {
		s, ok := c.(string)
		if !ok {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", fCapabilities, i), "must be a string")
		}
		id.Capabilities[i] = s
	}

	lin, _ := o.Get(fLineage)
	linArr, ok := lin.([]any)
	if !ok {
		return nil, fieldErr(fLineage, "must be an array")
	}
	id.Lineage = make([]LineageEntry, len(linArr))
	for i, e := range linArr {
		eo, ok := e.(*canon.Object)
		if !ok || eo == nil {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", fLineage, i), "must be an object")
		}
		entry, err := lineageFrom(eo, fmt.Sprintf("%s[%d].", fLineage, i))
		if err != nil {
			return nil, err
		}
		id.Lineage[i] = entry
	}

	ver, _ := o.Get(fVersion)
	f, ok := ver.(float64)
	if !ok {
		return nil, fieldErr(fVersion, "must be a number")
	}
	if f != math.Trunc(f) || math.Abs(f) > maxSafeInteger {
		return nil, fieldErr(fVersion, "must be an integer")
	}
	id.Version = int(f)

	id.Extra = rest(o, fID, fOperatorPublicKey, fOperatorIdentifier, fModel, fCapabilities,
		fCapabilityManifestHash, fDeployment, fLineage, fVersion, fCreatedAt, fUpdatedAt, fSignature)
	return id, nil
}

func fieldErr(name, msg string) error {
	return fmt.Errorf("deserialize identity: %q %s: %w", name, msg, ErrInvalid)
}

func modelFrom(o *canon.Object) Model {
	var m Model
	m.Extra = typedStrings(o, map[string]*string{
		"provider":        &m.Provider,
		"modelId":         &m.ModelID,
		"modelVersion":    &m.ModelVersion,
		"attestationHash": &m.AttestationHash,
		"attestationType": &m.AttestationType,
	})
	return m
}

func deploymentFrom(o *canon.Object) Deployment {
	var d Deployment
	d.Extra = typedStrings(o, map[string]*string{
		"runtime":        &d.Runtime,
		"teeAttestation": &d.TEEAttestation,
		"region":         &d.Region,
		"provider":       &d.Provider,
	})
	return d
}

// typedStrings stores each member of o named in fields whose value is a
// non-empty string in its field, and returns every other member (cloned), or
// nil when there are none.
func typedStrings(o *canon.Object, fields map[string]*string) *canon.Object {
	var extra *canon.Object
	for _, m := range o.Members() {
		if dst, known := fields[m.Key]; known {
			if s, ok := m.Value.(string); ok && s != "" {
				*dst = s
				continue
			}
		}
		if extra == nil {
			extra = canon.NewObject(1)
		}
		extra.Set(m.Key, canon.Clone(m.Value))
	}
	return extra
}

// lineageFrom reads one lineage entry; path prefixes member names in errors.
func lineageFrom(o *canon.Object, path string) (LineageEntry, error) {
	var e LineageEntry
	var ct string
	strs := []struct {
		name string
		dst  *string
	}{
		{fIdentityHash, &e.IdentityHash},
		{fChangeType, &ct},
		{fDescription, &e.Description},
		{fTimestamp, &e.Timestamp},
		{fSignature, &e.Signature},
	}
	for _, s := range strs {
		v, ok := o.String(s.name)
		if !ok {
			return e, fieldErr(path+s.name, "must be a string")
		}
		*s.dst = v
	}
	e.ChangeType = ChangeType(ct)
	p, present := o.Get(fParentHash)
	switch p := p.(type) {
	case nil:
		if !present {
			return e, fieldErr(path+fParentHash, "missing required member")
		}
	case string:
		e.ParentHash = &p
	default:
		return e, fieldErr(path+fParentHash, "must be a string or null")
	}
	r, _ := o.Get(fReputationCarryForward)
	f, ok := r.(float64)
	if !ok {
		return e, fieldErr(path+fReputationCarryForward, "must be a number")
	}
	e.ReputationCarryForward = f
	e.Extra = rest(o, fIdentityHash, fChangeType, fDescription, fTimestamp, fParentHash,
		fSignature, fReputationCarryForward)
	return e, nil
}

// rest returns a copy of the members of o not named in known, or nil.
func rest(o *canon.Object, known ...string) *canon.Object {
	var extra *canon.Object
outer:
	for _, m := range o.Members() {
		for _, k := range known {
			if m.Key == k {
				continue outer
			}
		}
		if extra == nil {
			extra = canon.NewObject(1)
		}
		extra.Set(m.Key, canon.Clone(m.Value))
	}
	return extra
}
