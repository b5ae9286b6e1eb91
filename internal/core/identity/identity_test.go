package identity

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/core/canon"
)

var t0 = time.Date(2025, 6, 15, 8, 30, 0, 123e6, time.UTC)

func newTestIdentity(t *testing.T) *Identity {
	t.Helper()
	opID := "ops@example"
	id, err := Create(CreateOptions{
		Operator:           seedKey(t, 1),
		OperatorIdentifier: &opID,
		Model:              Model{Provider: "anthropic", ModelID: "claude-3", ModelVersion: "2024-01"},
		Capabilities:       []string{"write", "read", "api.call"},
		Deployment:         Deployment{Runtime: "container", Region: "eu-west-1"},
		Now:                fixedClock(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func evolve(t *testing.T, cur *Identity, ct ChangeType, u Updates, at time.Time) *Identity {
	t.Helper()
	id, err := Evolve(cur, EvolveOptions{
		Operator:    seedKey(t, 1),
		ChangeType:  ct,
		Description: "change " + string(ct),
		Updates:     u,
		Now:         fixedClock(at),
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCreateShape(t *testing.T) {
	id := newTestIdentity(t)
	want := "2025-06-15T08:30:00.123Z"
	if id.CreatedAt != want || id.UpdatedAt != want || id.Lineage[0].Timestamp != want {
		t.Errorf("timestamps %s %s %s, want %s", id.CreatedAt, id.UpdatedAt, id.Lineage[0].Timestamp, want)
	}
	if !cmp.Equal(id.Capabilities, []string{"api.call", "read", "write"}) {
		t.Errorf("capabilities not sorted: %v", id.Capabilities)
	}
	if id.Version != 1 || len(id.Lineage) != 1 || id.Lineage[0].ParentHash != nil ||
		id.Lineage[0].ChangeType != Created || id.Lineage[0].ReputationCarryForward != 1 {
		t.Errorf("unexpected first lineage entry %+v (version %d)", id.Lineage[0], id.Version)
	}
	if id.OperatorPublicKey != seedKey(t, 1).PublicHex() {
		t.Errorf("operatorPublicKey %s", id.OperatorPublicKey)
	}
	// The first entry's identityHash is the hash over an empty lineage.
	if got := id.hashWithLineage(nil); got != id.Lineage[0].IdentityHash {
		t.Errorf("preliminary hash %s, entry has %s", got, id.Lineage[0].IdentityHash)
	}
	if r := Verify(id); !r.Valid || len(r.Checks) != 6 {
		t.Fatalf("fresh identity: %v %v", r, r.Checks)
	}
	names := []string{}
	for _, c := range Verify(id).Checks {
		names = append(names, c.Name)
	}
	wantNames := []string{CheckCapabilityManifestHash, CheckCompositeIdentityHash, CheckOperatorSignature,
		CheckLineageChain, CheckLineageSignatures, CheckVersionLineageMatch}
	if !cmp.Equal(names, wantNames) {
		t.Errorf("check order %v, want %v", names, wantNames)
	}
}

func TestSigningPayloadMembers(t *testing.T) {
	id := newTestIdentity(t)
	got := string(id.SigningPayload())
	for _, m := range []string{`"id":`, `"operatorIdentifier":"ops@example"`, `"version":1`, `"createdAt":`, `"capabilities":["api.call","read","write"]`, `"parentHash":null`} {
		if !strings.Contains(got, m) {
			t.Errorf("signing payload lacks %s: %s", m, got)
		}
	}
	if strings.Contains(got, `"signature":"`+id.Signature) {
		t.Errorf("signing payload contains the identity signature")
	}
	noIdent := id.Clone()
	noIdent.OperatorIdentifier = nil
	if strings.Contains(string(noIdent.SigningPayload()), "operatorIdentifier") {
		t.Errorf("absent operatorIdentifier is serialised")
	}
	entry := string(id.Lineage[0].signingPayload())
	want := `{"changeType":"created","description":"Identity created","identityHash":"` + id.Lineage[0].IdentityHash +
		`","parentHash":null,"reputationCarryForward":1,"timestamp":"2025-06-15T08:30:00.123Z"}`
	if entry != want {
		t.Errorf("entry payload\n got %s\nwant %s", entry, want)
	}
}

func TestEvolveRoundTrips(t *testing.T) {
	id := newTestIdentity(t)
	steps := []struct {
		ct   ChangeType
		u    Updates
		rate float64
	}{
		{ModelUpdate, Updates{Model: &Model{Provider: "anthropic", ModelID: "claude-3", ModelVersion: "2024-06"}}, 0.8},
		{CapabilityChange, Updates{Capabilities: []string{"read", "write", "api.call", "admin"}}, 0.9},
		{CapabilityChange, Updates{Capabilities: []string{"read"}}, 1},
		{ModelUpdate, Updates{Model: &Model{Provider: "anthropic", ModelID: "claude-4"}}, 0.2},
		{Merge, Updates{Deployment: &Deployment{Runtime: "tee", TEEAttestation: "quote"}}, 0.8},
		{Fork, Updates{}, 0.5},
		{"rebuild", Updates{}, 0},
	}
	cur := id
	for i, s := range steps {
		at := t0.Add(time.Duration(i+1) * time.Second)
		next := evolve(t, cur, s.ct, s.u, at)
		if r := Verify(next); !r.Valid {
			t.Fatalf("step %d (%s): %v", i, s.ct, r.Checks)
		}
		if next.Version != cur.Version+1 || len(next.Lineage) != len(cur.Lineage)+1 {
			t.Errorf("step %d: version %d lineage %d", i, next.Version, len(next.Lineage))
		}
		last := next.Lineage[len(next.Lineage)-1]
		if last.ReputationCarryForward != s.rate {
			t.Errorf("step %d (%s): carry-forward %v, want %v", i, s.ct, last.ReputationCarryForward, s.rate)
		}
		if last.ParentHash == nil || *last.ParentHash != cur.Lineage[len(cur.Lineage)-1].IdentityHash {
			t.Errorf("step %d: parentHash does not link to the previous entry", i)
		}
		if next.CreatedAt != id.CreatedAt || next.UpdatedAt == cur.UpdatedAt {
			t.Errorf("step %d: createdAt %s updatedAt %s", i, next.CreatedAt, next.UpdatedAt)
		}
		if len(cur.Lineage) != i+1 {
			t.Fatalf("Evolve modified its input: lineage %d", len(cur.Lineage))
		}
		if !ShareAncestor(id, next) || !ShareAncestor(next, cur) {
			t.Errorf("step %d: evolved identity shares no ancestor with its origin", i)
		}

		data := Serialize(next)
		back, err := Deserialize(data)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if r := Verify(back); !r.Valid {
			t.Errorf("step %d: deserialised copy fails %v", i, r.Failed())
		}
		if again := Serialize(back); !bytes.Equal(again, data) {
			t.Errorf("step %d: serialisation not stable\n%s\n%s", i, data, again)
		}
		cur = next
	}
	if !cmp.Equal(cur.Capabilities, []string{"read"}) || cur.Model.ModelID != "claude-4" || cur.Deployment.Runtime != "tee" {
		t.Errorf("updates not applied: %+v", cur)
	}
	if cur.OperatorIdentifier == nil || *cur.OperatorIdentifier != "ops@example" {
		t.Errorf("operatorIdentifier not carried over")
	}
}

func TestShareAncestor(t *testing.T) {
	a := newTestIdentity(t)
	b1 := evolve(t, a, ModelUpdate, Updates{}, t0.Add(time.Second))
	b2 := evolve(t, a, CapabilityChange, Updates{Capabilities: []string{"x"}}, t0.Add(2*time.Second))
	if !ShareAncestor(b1, b2) {
		t.Error("siblings evolved from one identity share no ancestor")
	}
	other, err := Create(CreateOptions{
		Operator:     seedKey(t, 2),
		Model:        Model{Provider: "p", ModelID: "m"},
		Capabilities: []string{"read"},
		Deployment:   Deployment{Runtime: "process"},
		Now:          fixedClock(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ShareAncestor(a, other) || ShareAncestor(other, b2) {
		t.Error("unrelated identities share an ancestor")
	}
	if ShareAncestor(nil, a) {
		t.Error("nil shares an ancestor")
	}
	l := GetLineage(b1)
	l[0].Description = "changed"
	*l[1].ParentHash = "changed"
	if b1.Lineage[0].Description == "changed" || *b1.Lineage[1].ParentHash == "changed" {
		t.Error("GetLineage returned shared storage")
	}
}

// TestOperatorTransferQuirk: Evolve switches operatorPublicKey to the signer,
// and a transferred identity no longer verifies (§5.4, §5.6).
func TestOperatorTransferQuirk(t *testing.T) {
	id := newTestIdentity(t)
	k2 := seedKey(t, 2)
	moved, err := Evolve(id, EvolveOptions{Operator: k2, ChangeType: OperatorTransfer, Description: "sold", Now: fixedClock(t0.Add(time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	if moved.OperatorPublicKey != k2.PublicHex() {
		t.Errorf("operatorPublicKey %s, want the signer's %s", moved.OperatorPublicKey, k2.PublicHex())
	}
	r := Verify(moved)
	if diff := cmp.Diff([]string{CheckLineageSignatures}, r.Failed()); diff != "" {
		t.Errorf("failed checks (-want +got):\n%s", diff)
	}
	if moved.Lineage[1].ReputationCarryForward != 0.5 {
		t.Errorf("operator transfer carry-forward %v", moved.Lineage[1].ReputationCarryForward)
	}
	// Keeping the old key in the document breaks the new signatures instead.
	kept, err := Evolve(id, EvolveOptions{Operator: k2, ChangeType: OperatorTransfer, Updates: Updates{OperatorPublicKey: id.OperatorPublicKey}, Now: fixedClock(t0.Add(time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{CheckOperatorSignature, CheckLineageSignatures}, Verify(kept).Failed()); diff != "" {
		t.Errorf("failed checks (-want +got):\n%s", diff)
	}
}

func TestTamperDetection(t *testing.T) {
	base := evolve(t, newTestIdentity(t), CapabilityChange, Updates{Capabilities: []string{"read", "admin"}}, t0.Add(time.Second))
	other := seedKey(t, 3).PublicHex()
	s := func(v string) *string { return &v }
	all := []string{CheckCompositeIdentityHash, CheckOperatorSignature, CheckLineageChain, CheckLineageSignatures}
	cases := []struct {
		name   string
		tamper func(*Identity)
		failed []string
	}{
		{"untouched", func(*Identity) {}, nil},
		{"top-level extra member", func(id *Identity) {
			id.Extra = canon.NewObject(1)
			id.Extra.Set("note", "not signed")
		}, nil},
		{"capability added", func(id *Identity) { id.Capabilities = append(id.Capabilities, "root") },
			[]string{CheckCapabilityManifestHash, CheckOperatorSignature}},
		{"capabilities reordered", func(id *Identity) { id.Capabilities[0], id.Capabilities[1] = id.Capabilities[1], id.Capabilities[0] },
			[]string{CheckOperatorSignature}},
		{"manifest hash", func(id *Identity) { id.CapabilityManifestHash = strings.Repeat("a", 64) },
			[]string{CheckCapabilityManifestHash, CheckCompositeIdentityHash, CheckOperatorSignature}},
		{"id", func(id *Identity) { id.ID = strings.Repeat("b", 64) },
			[]string{CheckCompositeIdentityHash, CheckOperatorSignature}},
		{"model id", func(id *Identity) { id.Model.ModelID = "claude-9" },
			[]string{CheckCompositeIdentityHash, CheckOperatorSignature}},
		{"model extra", func(id *Identity) {
			id.Model.Extra = canon.NewObject(1)
			id.Model.Extra.Set("weights", 1.5)
		}, []string{CheckCompositeIdentityHash, CheckOperatorSignature}},
		{"deployment region", func(id *Identity) { id.Deployment.Region = "us" },
			[]string{CheckCompositeIdentityHash, CheckOperatorSignature}},
		{"operator identifier", func(id *Identity) { id.OperatorIdentifier = s("mallory") },
			[]string{CheckOperatorSignature}},
		{"operator identifier removed", func(id *Identity) { id.OperatorIdentifier = nil },
			[]string{CheckOperatorSignature}},
		{"version", func(id *Identity) { id.Version = 7 },
			[]string{CheckOperatorSignature, CheckVersionLineageMatch}},
		{"createdAt", func(id *Identity) { id.CreatedAt = "2020-01-01T00:00:00.000Z" },
			[]string{CheckOperatorSignature}},
		{"updatedAt", func(id *Identity) { id.UpdatedAt = "2030-01-01T00:00:00.000Z" },
			[]string{CheckOperatorSignature}},
		{"signature flipped", func(id *Identity) { id.Signature = flipHex(id.Signature) },
			[]string{CheckOperatorSignature}},
		{"signature not hex", func(id *Identity) { id.Signature = "zz" + id.Signature[2:] },
			[]string{CheckOperatorSignature}},
		{"operator key replaced", func(id *Identity) { id.OperatorPublicKey = other },
			[]string{CheckCompositeIdentityHash, CheckOperatorSignature, CheckLineageSignatures}},
		{"operator key not hex", func(id *Identity) { id.OperatorPublicKey = "xyz" },
			[]string{CheckCompositeIdentityHash, CheckOperatorSignature, CheckLineageSignatures}},
		{"entry 0 parentHash set", func(id *Identity) { id.Lineage[0].ParentHash = s(strings.Repeat("c", 64)) }, all},
		{"entry 1 parentHash null", func(id *Identity) { id.Lineage[1].ParentHash = nil }, all},
		{"entry 1 parentHash changed", func(id *Identity) { id.Lineage[1].ParentHash = s(strings.Repeat("d", 64)) }, all},
		{"entry 1 before entry 0", func(id *Identity) { id.Lineage[1].Timestamp = "2025-06-15T08:29:59.999Z" }, all},
		{"entry 0 description", func(id *Identity) { id.Lineage[0].Description = "forged" },
			[]string{CheckCompositeIdentityHash, CheckOperatorSignature, CheckLineageSignatures}},
		{"entry 1 carry-forward", func(id *Identity) { id.Lineage[1].ReputationCarryForward = 1 },
			[]string{CheckCompositeIdentityHash, CheckOperatorSignature, CheckLineageSignatures}},
		{"entry 1 signature not hex", func(id *Identity) { id.Lineage[1].Signature = "q" },
			[]string{CheckCompositeIdentityHash, CheckOperatorSignature, CheckLineageSignatures}},
		{"entry 1 extra member", func(id *Identity) {
			id.Lineage[1].Extra = canon.NewObject(1)
			id.Lineage[1].Extra.Set("x", true)
		}, []string{CheckCompositeIdentityHash, CheckOperatorSignature}},
		{"entry removed", func(id *Identity) { id.Lineage = id.Lineage[:1] },
			[]string{CheckCompositeIdentityHash, CheckOperatorSignature, CheckVersionLineageMatch}},
		{"entries swapped", func(id *Identity) { id.Lineage[0], id.Lineage[1] = id.Lineage[1], id.Lineage[0] },
			[]string{CheckCompositeIdentityHash, CheckOperatorSignature, CheckLineageChain}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := base.Clone()
			tc.tamper(id)
			r := Verify(id)
			if diff := cmp.Diff(tc.failed, r.Failed()); diff != "" {
				t.Errorf("failed checks (-want +got):\n%s", diff)
			}
			if r.Valid != (len(tc.failed) == 0) {
				t.Errorf("Valid = %v with failures %v", r.Valid, r.Failed())
			}
			for _, c := range r.Checks {
				if c.Message == "" {
					t.Errorf("check %s has no message", c.Name)
				}
			}
			// Tampering a clone must not affect the original.
			if !Verify(base).Valid {
				t.Fatal("tampering leaked into the original identity")
			}
		})
	}
	id := base.Clone()
	id.Signature = "not hex"
	for _, c := range Verify(id).Checks {
		if c.Name == CheckOperatorSignature && !strings.Contains(c.Message, "hex") {
			t.Errorf("malformed signature message %q does not say why", c.Message)
		}
	}
	if r := Verify(nil); r.Valid {
		t.Error("nil identity is valid")
	}
}

func flipHex(s string) string {
	b := []byte(s)
	if b[0] == '0' {
		b[0] = '1'
	} else {
		b[0] = '0'
	}
	return string(b)
}

func TestCarryForwardTable(t *testing.T) {
	cur := &Identity{Model: Model{Provider: "anthropic", ModelID: "claude-3"}, Capabilities: []string{"a", "b"}}
	p := DefaultPolicy()
	cases := []struct {
		ct   ChangeType
		u    Updates
		want float64
	}{
		{Created, Updates{}, 1},
		{ModelUpdate, Updates{}, 0.95},
		{ModelUpdate, Updates{Model: &Model{Provider: "anthropic", ModelID: "claude-3", ModelVersion: "2"}}, 0.8},
		{ModelUpdate, Updates{Model: &Model{Provider: "anthropic", ModelID: "claude-4"}}, 0.2},
		{ModelUpdate, Updates{Model: &Model{Provider: "other", ModelID: "claude-3"}}, 0.2},
		{CapabilityChange, Updates{}, 0.95},
		{CapabilityChange, Updates{Capabilities: []string{"a", "b", "c"}}, 0.9},
		{CapabilityChange, Updates{Capabilities: []string{"a"}}, 1},
		{CapabilityChange, Updates{Capabilities: []string{}}, 1},
		{CapabilityChange, Updates{Capabilities: []string{"a", "c"}}, 0.9},
		{CapabilityChange, Updates{Capabilities: []string{"b", "a"}}, 0.9},
		{OperatorTransfer, Updates{}, 0.5},
		{Fork, Updates{}, 0.5},
		{Merge, Updates{}, 0.8},
		{"something_else", Updates{}, 0},
	}
	for _, tc := range cases {
		if got := ComputeCarryForward(tc.ct, cur, tc.u, p); got != tc.want {
			t.Errorf("%s %+v: %v, want %v", tc.ct, tc.u, got, tc.want)
		}
	}
	custom := p
	custom.OperatorTransfer = 0.3
	if got := ComputeCarryForward(Fork, cur, Updates{}, custom); got != 0.3 {
		t.Errorf("custom policy ignored: %v", got)
	}
	// An explicit rate overrides, and is written with JS number formatting.
	rate := 0.125
	ev, err := Evolve(newTestIdentity(t), EvolveOptions{Operator: seedKey(t, 1), ChangeType: Fork, ReputationCarryForward: &rate, Now: fixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Lineage[1].ReputationCarryForward != 0.125 || !strings.Contains(string(ev.Lineage[1].signingPayload()), `"reputationCarryForward":0.125`) {
		t.Errorf("explicit carry-forward not used: %s", ev.Lineage[1].signingPayload())
	}
}

func TestCreateEvolveErrors(t *testing.T) {
	k := seedKey(t, 1)
	good := CreateOptions{Operator: k, Model: Model{Provider: "p", ModelID: "m"}, Deployment: Deployment{Runtime: "wasm"}}
	bad := []CreateOptions{
		{Model: good.Model, Deployment: good.Deployment},
		{Operator: k, Model: Model{Provider: "p"}, Deployment: good.Deployment},
		{Operator: k, Model: good.Model},
	}
	for i, o := range bad {
		if _, err := Create(o); !errors.Is(err, ErrInvalid) {
			t.Errorf("create %d: err %v, want ErrInvalid", i, err)
		}
	}
	id, err := Create(good)
	if err != nil {
		t.Fatal(err)
	}
	if id.Capabilities == nil || !strings.Contains(string(Serialize(id)), `"capabilities":[]`) {
		t.Errorf("nil capabilities not serialised as []: %s", Serialize(id))
	}
	nan := 0.0
	nan /= nan
	badEvolve := []EvolveOptions{
		{ChangeType: Fork},
		{Operator: k},
		{Operator: k, ChangeType: Fork, ReputationCarryForward: &nan},
		{Operator: k, ChangeType: ModelUpdate, Updates: Updates{Model: &Model{ModelID: "m"}}},
		{Operator: k, ChangeType: Merge, Updates: Updates{Deployment: &Deployment{}}},
	}
	for i, o := range badEvolve {
		if _, err := Evolve(id, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("evolve %d: err %v, want ErrInvalid", i, err)
		}
	}
	if _, err := Evolve(nil, EvolveOptions{Operator: k, ChangeType: Fork}); !errors.Is(err, ErrInvalid) {
		t.Errorf("evolve nil: %v", err)
	}
}

func TestDeserializeErrors(t *testing.T) {
	valid := string(Serialize(evolve(t, newTestIdentity(t), Fork, Updates{}, t0)))
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("fixture lacks %s", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	cases := map[string]string{
		"empty":                 "",
		"blank":                 " \n\t",
		"not json":              "{",
		"array":                 "[]",
		"null":                  "null",
		"string":                `"id"`,
		"missing id":            replace(`"id":`, `"xid":`),
		"missing signature":     strings.Replace(valid, `"signature":`, `"xsignature":`, strings.Count(valid, `"signature":`)),
		"version string":        replace(`"version":2`, `"version":"2"`),
		"version fraction":      replace(`"version":2`, `"version":2.5`),
		"version huge":          replace(`"version":2`, `"version":1e300`),
		"capabilities object":   replace(`"capabilities":[`, `"capabilities":{"a":[`) + "}",
		"capability number":     replace(`"capabilities":["api.call"`, `"capabilities":[1`),
		"lineage object":        replace(`"lineage":[`, `"lineage":{"a":[`) + "}",
		"lineage entry string":  replace(`"lineage":[`, `"lineage":["x",`),
		"model string":          replace(`"model":{`, `"model":"m","x":{`),
		"operatorIdentifier 1":  replace(`"operatorIdentifier":"ops@example"`, `"operatorIdentifier":1`),
		"parentHash number":     replace(`"parentHash":null`, `"parentHash":5`),
		"carry-forward string":  replace(`"reputationCarryForward":1`, `"reputationCarryForward":"1"`),
		"entry missing parent":  replace(`"parentHash":null,`, ``),
		"entry missing changeT": replace(`"changeType":"created"`, `"changeTypo":"created"`),
	}
	for name, in := range cases {
		id, err := Deserialize([]byte(in))
		if !errors.Is(err, ErrInvalid) || id != nil {
			t.Errorf("%s: got %v, %v; want ErrInvalid", name, id, err)
		}
	}
	big := []byte(`{"pad":"` + strings.Repeat("x", DefaultMaxBytes) + `"}`)
	if _, err := Deserialize(big); !errors.Is(err, canon.ErrTooLarge) || !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized input: %v", err)
	}
	deep := []byte(replace(`"model":{`, `"model":{"deep":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`,`))
	if _, err := Deserialize(deep); !errors.Is(err, canon.ErrTooDeep) {
		t.Errorf("deep input: %v", err)
	}
	if _, err := DeserializeLimits(deep, canon.Limits{MaxDepth: 200}); err != nil {
		t.Errorf("deep input with a raised limit: %v", err)
	}
}

// TestForeignMembersRoundTrip: members the structs do not model, and known
// members whose values they cannot hold, survive and are hashed verbatim.
func TestForeignMembersRoundTrip(t *testing.T) {
	id := newTestIdentity(t)
	o := id.Object()
	m, _ := o.Object("model")
	m.Set("attestationType", "")      // known name, empty value
	m.Set("modelVersion", 3.0)        // known name, not a string
	m.Set("weights", []any{1.5, "x"}) // unknown
	d, _ := o.Object("deployment")
	d.Set("10", "numeric key")
	o.Set("custom", true) // top level: serialised, not hashed
	doc := canon.Canonical(o)

	back, err := Deserialize(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := Serialize(back); !bytes.Equal(got, doc) {
		t.Errorf("round trip changed the document\n got %s\nwant %s", got, doc)
	}
	if back.Model.ModelVersion != "" || back.Model.Extra.Len() != 3 {
		t.Errorf("model extras %v", back.Model.Extra.Members())
	}
	// The id over the foreign members differs from the original id, so the
	// recomputed hash must reflect them.
	if back.ComputeHash() == id.ID {
		t.Error("foreign model members are not hashed")
	}
	r := Verify(back)
	if diff := cmp.Diff([]string{CheckCompositeIdentityHash, CheckOperatorSignature}, r.Failed()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestJSONMarshalers(t *testing.T) {
	id := newTestIdentity(t)
	data, err := id.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Identity
	if err := back.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(id, &back); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := back.UnmarshalJSON([]byte("{}")); !errors.Is(err, ErrInvalid) {
		t.Errorf("UnmarshalJSON of {}: %v", err)
	}
}

// FuzzDeserialize: whatever Deserialize accepts, Serialize writes back as the
// canonical form of the input, and that form deserialises to the same bytes.
func FuzzDeserialize(f *testing.F) {
	seeds := 0
	k := seedKey(f, 1)
	id, err := Create(CreateOptions{Operator: k, Model: Model{Provider: "p", ModelID: "m"}, Capabilities: []string{"b", "a"}, Deployment: Deployment{Runtime: "wasm"}, Now: fixedClock(t0)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(Serialize(id))
	seeds++
	ev, err := Evolve(id, EvolveOptions{Operator: k, ChangeType: ModelUpdate, Updates: Updates{Model: &Model{Provider: "p", ModelID: "n"}}, Now: fixedClock(t0)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(Serialize(ev))
	seeds++
	f.Add([]byte(`{"id":"","operatorPublicKey":"","model":{"provider":"","x":[1]},"capabilities":[],"capabilityManifestHash":"","deployment":{},"lineage":[],"version":0,"createdAt":"","updatedAt":"","signature":"","\u2028":"\ud800"}`))
	seeds++
	if seeds == 0 {
		f.Fatal("no seeds")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := Deserialize(data)
		if err != nil {
			return
		}
		parsed, err := canon.Parse(data)
		if err != nil {
			t.Fatalf("Deserialize accepted what canon.Parse rejects: %v", err)
		}
		out := Serialize(id)
		if want := canon.Canonical(parsed); !bytes.Equal(out, want) {
			t.Fatalf("Serialize differs from the canonical input\n got %s\nwant %s", out, want)
		}
		again, err := Deserialize(out)
		if err != nil {
			t.Fatalf("canonical output does not deserialise: %v", err)
		}
		if !bytes.Equal(Serialize(again), out) {
			t.Fatal("serialisation is not a fixed point")
		}
		_ = Verify(id) // must not panic
	})
}

// TestEvolveDropsUnknownTopLevelMembers: evolveIdentity builds the new
// identity from its known members (partialForLineage in the reference), so
// an unknown top-level member of the current identity is not in the evolved
// one's serialization, while unknown members inside model and lineage
// entries, whose objects are reused whole, are.
func TestEvolveDropsUnknownTopLevelMembers(t *testing.T) {
	cur := newTestIdentity(t)
	cur.Extra = canon.NewObject(1)
	cur.Extra.Set("note", "not signed")
	cur.Model.Extra = canon.NewObject(1)
	cur.Model.Extra.Set("weights", 1.5)
	next := evolve(t, cur, Fork, Updates{}, t0.Add(time.Second))
	out := string(Serialize(next))
	if strings.Contains(out, `"note"`) {
		t.Errorf("unknown top-level member carried over: %s", out)
	}
	if !strings.Contains(out, `"weights":1.5`) {
		t.Errorf("model's unknown member dropped: %s", out)
	}
	if r := Verify(next); !r.Valid {
		t.Errorf("evolved identity does not verify: %v", r.Checks)
	}
	if cur.Extra == nil || !cur.Extra.Has("note") {
		t.Error("Evolve modified the current identity")
	}
}
