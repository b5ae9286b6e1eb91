package identity

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/core/keys"

	"github.com/stele-go/stele/internal/testutil/vectors"
)

type vectorFile struct {
	Vectors map[string][]struct {
		Name     string         `json:"name"`
		Input    map[string]any `json:"input"`
		Expected map[string]any `json:"expected"`
	} `json:"vectors"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectors.Dir(t), "canonical-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		t.Fatal(err)
	}
	return vf
}

func seedKey(t testing.TB, last byte) *keys.PrivateKey {
	t.Helper()
	seed := make([]byte, 32)
	seed[31] = last
	k, err := keys.NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func strs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, len(a))
	for i, e := range a {
		out[i], _ = e.(string)
	}
	return out
}

// The reference's identity vectors do not record the instants at which they
// were made, and ids and signatures depend on them. The generator created
// them right after the covenant vectors, whose createdAt is recorded, so the
// instants are recovered by trying every millisecond of the following two
// seconds: finding one that reproduces the recorded id reproduces the
// reference's algorithm end to end, and the signatures are then checked too.
const searchWindow = 2000 // milliseconds

func covenantCreatedAt(t *testing.T, vf vectorFile) time.Time {
	t.Helper()
	for _, v := range vf.Vectors["covenant"] {
		if s, ok := v.Expected["createdAt"].(string); ok {
			at, ok := jstime.Parse(s)
			if !ok {
				t.Fatalf("covenant vector %s: createdAt %q does not parse", v.Name, s)
			}
			return at
		}
	}
	t.Fatal("no covenant vector records createdAt")
	return time.Time{}
}

// search returns the first instant in [from, from+searchWindow) at which
// make produces an identity with id want.
func search(t *testing.T, from time.Time, want string, make func(now time.Time) *Identity) (time.Time, *Identity) {
	t.Helper()
	for ms := range searchWindow {
		at := from.Add(time.Duration(ms) * time.Millisecond)
		if id := make(at); id.ID == want {
			return at, id
		}
	}
	t.Fatalf("no instant in [%s, +%dms) reproduces id %s", jstime.Format(from), searchWindow, want)
	return time.Time{}, nil
}

func TestReferenceVectors(t *testing.T) {
	vf := loadVectors(t)
	vs := vf.Vectors["identity"]
	if len(vs) != 3 {
		t.Fatalf("got %d identity vectors, want 3", len(vs))
	}
	byName := map[string]map[string]any{}
	inputs := map[string]map[string]any{}
	for _, v := range vs {
		byName[v.Name] = v.Expected
		inputs[v.Name] = v.Input
	}
	create, model, capc := byName["create-basic"], byName["evolve-model-update"], byName["evolve-capability-change"]
	if create == nil || model == nil || capc == nil {
		t.Fatalf("missing identity vectors: have %v", cmp.Diff(nil, byName))
	}

	in := inputs["create-basic"]
	op := seedKey(t, 1)
	if op.PublicHex() != in["operatorPublicKey"] {
		t.Fatalf("seed 1 public key %s, vector %v", op.PublicHex(), in["operatorPublicKey"])
	}
	opID := in["operatorIdentifier"].(string)
	inModel := in["model"].(map[string]any)
	createAt := func(now time.Time) *Identity {
		id, err := Create(CreateOptions{
			Operator:           op,
			OperatorIdentifier: &opID,
			Model:              Model{Provider: inModel["provider"].(string), ModelID: inModel["modelId"].(string)},
			Capabilities:       strs(in["capabilities"]),
			Deployment:         Deployment{Runtime: in["deployment"].(map[string]any)["runtime"].(string)},
			Now:                fixedClock(now),
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	// Time-independent fields first.
	any0 := createAt(time.Unix(0, 0))
	if got, want := any0.CapabilityManifestHash, create["capabilityManifestHash"]; got != want {
		t.Errorf("capabilityManifestHash = %s, want %v", got, want)
	}
	if got, want := any0.Capabilities, strs(create["capabilities_sorted"]); !cmp.Equal(got, want) {
		t.Errorf("capabilities = %v, want %v", got, want)
	}
	if got, want := any0.Lineage[0].IdentityHash, model["latest_parentHash"]; got != want {
		t.Errorf("preliminary hash = %s, want the evolved parentHash %v", got, want)
	}
	if got, want := CapabilityManifestHash(strs(inputs["evolve-capability-change"]["updates"].(map[string]any)["capabilities"])), capc["capabilityManifestHash"]; got != want {
		t.Errorf("expanded capabilityManifestHash = %s, want %v", got, want)
	}

	// The whole document, at the recovered instant.
	t1, created := search(t, covenantCreatedAt(t, vf), create["id"].(string), createAt)
	t.Logf("create-basic made at %s", jstime.Format(t1))
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"signature", created.Signature, create["signature"]},
		{"version", float64(created.Version), create["version"]},
		{"lineage_length", float64(len(created.Lineage)), create["lineage_length"]},
		{"lineage_first_changeType", string(created.Lineage[0].ChangeType), create["lineage_first_changeType"]},
		{"lineage_first_reputationCarryForward", created.Lineage[0].ReputationCarryForward, create["lineage_first_reputationCarryForward"]},
		{"model_provider", created.Model.Provider, create["model_provider"]},
		{"model_modelId", created.Model.ModelID, create["model_modelId"]},
		{"capabilities_count", float64(len(created.Capabilities)), create["capabilities_count"]},
	}
	for _, c := range checks {
		if !cmp.Equal(c.got, c.want) {
			t.Errorf("create-basic %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if r := Verify(created); !r.Valid {
		t.Errorf("create-basic does not verify: %v", r.Checks)
	}

	min := inputs["evolve-model-update"]
	upd := min["updates"].(map[string]any)["model"].(map[string]any)
	evolveModelAt := func(now time.Time) *Identity {
		id, err := Evolve(created, EvolveOptions{
			Operator:    op,
			ChangeType:  ChangeType(min["changeType"].(string)),
			Description: min["description"].(string),
			Updates:     Updates{Model: &Model{Provider: upd["provider"].(string), ModelID: upd["modelId"].(string)}},
			Now:         fixedClock(now),
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	t2, evolved := search(t, t1, model["new_id"].(string), evolveModelAt)
	t.Logf("evolve-model-update made at %s", jstime.Format(t2))
	last := evolved.Lineage[len(evolved.Lineage)-1]
	checks = []struct {
		name string
		got  any
		want any
	}{
		{"signature", evolved.Signature, model["signature"]},
		{"version", float64(evolved.Version), model["version"]},
		{"lineage_length", float64(len(evolved.Lineage)), model["lineage_length"]},
		{"latest_changeType", string(last.ChangeType), model["latest_changeType"]},
		{"latest_parentHash", *last.ParentHash, model["latest_parentHash"]},
		{"model_provider", evolved.Model.Provider, model["model_provider"]},
		{"new_id_differs", evolved.ID != created.ID, model["new_id_differs"]},
	}
	for _, c := range checks {
		if !cmp.Equal(c.got, c.want) {
			t.Errorf("evolve-model-update %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if r := Verify(evolved); !r.Valid {
		t.Errorf("evolve-model-update does not verify: %v", r.Checks)
	}

	cin := inputs["evolve-capability-change"]
	evolveCapAt := func(now time.Time) *Identity {
		id, err := Evolve(created, EvolveOptions{
			Operator:   op,
			ChangeType: ChangeType(cin["changeType"].(string)),
			// The vector does not record the description; this is the
			// generator's (test-vectors/generate-vectors.test.ts).
			Description: "Added admin capability",
			Updates:     Updates{Capabilities: strs(cin["updates"].(map[string]any)["capabilities"])},
			Now:         fixedClock(now),
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	t3, capEvolved := search(t, t1, capc["new_id"].(string), evolveCapAt)
	t.Logf("evolve-capability-change made at %s", jstime.Format(t3))
	checks = []struct {
		name string
		got  any
		want any
	}{
		{"capabilities_sorted", capEvolved.Capabilities, strs(capc["capabilities_sorted"])},
		{"capabilities_count", float64(len(capEvolved.Capabilities)), capc["capabilities_count"]},
		{"capabilityManifestHash", capEvolved.CapabilityManifestHash, capc["capabilityManifestHash"]},
		{"lineage_length", float64(len(capEvolved.Lineage)), capc["lineage_length"]},
		{"latest_reputationCarryForward", capEvolved.Lineage[1].ReputationCarryForward, capc["latest_reputationCarryForward"]},
	}
	for _, c := range checks {
		if !cmp.Equal(c.got, c.want) {
			t.Errorf("evolve-capability-change %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if r := Verify(capEvolved); !r.Valid {
		t.Errorf("evolve-capability-change does not verify: %v", r.Checks)
	}
}

// TestManifestHashes checks the two capability manifest hashes of §5.2, which
// are also the vectors' capabilityManifestHash values.
func TestManifestHashes(t *testing.T) {
	for _, tc := range []struct {
		caps []string
		want string
	}{
		{[]string{"read", "write", "api.call"}, "6f2b84d3b305a1a1a9c05809ebc94f13d4221029353edcff808072f176dece25"},
		{[]string{"write", "api.call", "read", "admin"}, "f5d317d3294f8564f4834d8dd9afc26b17e1d2d9e1eb468a7f7a0840bafb2580"},
	} {
		if got := CapabilityManifestHash(tc.caps); got != tc.want {
			t.Errorf("CapabilityManifestHash(%q) = %s, want %s", tc.caps, got, tc.want)
		}
	}
	// JavaScript sorts by UTF-16 code units: a supplementary character
	// (surrogates D800-DBFF) sorts before U+FFFF, unlike Go's byte order.
	caps := []string{"\uffff", "\U00010000", "B", "a"}
	want := []string{"B", "a", "\U00010000", "\uffff"}
	if got := SortCapabilities(caps); !cmp.Equal(got, want) {
		t.Errorf("SortCapabilities(%q) = %q, want %q", caps, got, want)
	}
	if caps[0] != "\uffff" {
		t.Error("SortCapabilities sorted its argument in place")
	}
}
