package covenant

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/core/keys"
)

// randomBuildOptions returns options that use every optional member at
// random, with strings that need escaping, Extra objects (small, and large
// enough for objWriter's linear path, some replacing typed fields) and
// caller objects holding "__proto__" members.
func randomBuildOptions(t testing.TB, r *rand.Rand, issuer, beneficiary *keys.PrivateKey) BuildOptions {
	t.Helper()
	strs := []string{"", "plain", `quo"te`, `back\slash`, "line\nbreak", "tab\t", "\u2028sep", "é—😀",
		"lone\xed\xa0\x80surrogate", "ctl\x01", "</script>"}
	str := func() string { return strs[r.IntN(len(strs))] }
	nonEmpty := func() string {
		if s := str(); s != "" {
			return s
		}
		return "x"
	}
	obj := func() *canon.Object {
		switch r.IntN(5) {
		case 0:
			return nil
		case 1:
			return mustObject(t, `{}`)
		case 2:
			return mustObject(t, `{"b":1,"a":[true,null,0.1,-0,1e21],"10":"x","2":{"z":"\u2028","__proto__":"p"}}`)
		case 3:
			return mustObject(t, `{"__proto__":{"a":1},"k":"v"}`)
		}
		o := canon.NewObject(0)
		o.Set("n", r.Float64())
		o.Set(str(), str())
		return o
	}
	// extra never holds the checked members; it may replace the others.
	extra := func(keys ...string) *canon.Object {
		switch r.IntN(4) {
		case 0, 1:
			return nil
		case 2:
			o := canon.NewObject(2)
			o.Set("x-extra", str())
			if len(keys) > 0 {
				o.Set(keys[r.IntN(len(keys))], str())
			}
			return o
		}
		o := canon.NewObject(40)
		for i := range 40 {
			o.Set(fmt.Sprintf("k%02d", 39-i), float64(i))
		}
		return o
	}
	opts := BuildOptions{
		Issuer: Party{ID: nonEmpty(), PublicKey: issuer.PublicHex(), Role: RoleIssuer, Name: str(),
			Metadata: obj(), Extra: extra("name", "metadata")},
		Beneficiary: Party{ID: nonEmpty(), PublicKey: beneficiary.PublicHex(), Role: RoleBeneficiary, Name: str(),
			Metadata: obj(), Extra: extra("name")},
		Constraints: "permit read on '" + strings.ReplaceAll(str(), "'", "") + "'\nlimit x 5 per 1 hours",
		ExpiresAt:   str(),
		ActivatesAt: str(),
		Now:         fixedClock(time.UnixMilli(r.Int64N(300_000_000_000_000) - 62_000_000_000_000)),
		Rand:        bytes.NewReader(bytes.Repeat([]byte{byte(r.IntN(256))}, 32)),
	}
	for range r.IntN(7) {
		opts.Obligations = append(opts.Obligations, Obligation{ID: str(), Description: str(), Action: str(),
			Deadline: str(), Extra: extra("deadline", "description")})
	}
	if r.IntN(2) == 0 {
		depths := []float64{1, 2, 1.5, 16, 3.0000001}
		opts.Chain = &ChainRef{ParentID: nonEmpty(), Relation: []string{"delegates", "restricts", "x"}[r.IntN(3)],
			Depth: depths[r.IntN(len(depths))], Extra: extra("x")}
	}
	if r.IntN(2) == 0 {
		opts.Enforcement = &Enforcement{Type: "monitor", Config: obj(), Description: str(), Extra: extra("config")}
	}
	if r.IntN(2) == 0 {
		opts.Proof = &Proof{Type: "zkp", Config: obj(), Description: str(), Extra: extra("description")}
	}
	if r.IntN(2) == 0 {
		opts.Revocation = &Revocation{Method: str(), Endpoint: str(), Config: obj(), Extra: extra("endpoint", "method")}
	}
	if r.IntN(2) == 0 {
		m := &Metadata{Name: str(), Description: str(), Version: str(), Custom: obj(), Extra: extra("tags", "custom")}
		if r.IntN(2) == 0 {
			m.Tags = []string{}
			for range r.IntN(3) {
				m.Tags = append(m.Tags, str())
			}
		}
		opts.Metadata = m
	}
	return opts
}

// TestBuildCanonicalForm holds Build's direct writing of the canonical form
// (built.appendCanonical) to canon's: the ID Build computed and signed must
// be that of the canonical form canon writes for the document.
func TestBuildCanonicalForm(t *testing.T) {
	issuer, beneficiary := seedKey(t, 1), seedKey(t, 2)
	issuerPub := issuer.Public()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		opts := randomBuildOptions(t, r, issuer, beneficiary)
		d, err := Build(opts, issuer)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		canonical := d.CanonicalForm() // written by canon
		if d.ID() != d.ComputeID() {
			t.Fatalf("case %d: ID %s is not the hash of the canonical form\n%s", i, d.ID(), canonical)
		}
		sig, err := keys.DecodeHex(d.Signature())
		if err != nil || !keys.Verify(issuerPub[:], canonical, sig) {
			t.Fatalf("case %d: signature does not verify over the canonical form", i)
		}
		if d.Nonce() != strings.Repeat(d.Nonce()[:2], 32) {
			t.Fatalf("case %d: nonce %s", i, d.Nonce())
		}
	}
}

// TestBuildSizeLimit builds documents of exactly MaxDocumentSize bytes and
// one byte more, also with "__proto__" members (which the canonical form
// leaves out, so that Build's size cannot be derived from it alone).
func TestBuildSizeLimit(t *testing.T) {
	// The last object is too large for appendCanonicalValue: canon writes it.
	large := `{"__proto__":"` + strings.Repeat("p", 3000) + `"`
	for i := range leanMaxMembers {
		large += fmt.Sprintf(`,"k%d":%d`, i, i)
	}
	large += `}`
	for _, custom := range []string{``, `{"__proto__":"` + strings.Repeat("p", 5000) + `"}`, `{"a":[{"__proto__":null}]}`, large} {
		opts, key := basicOptions(t)
		meta := &Metadata{Description: "x"}
		if custom != "" {
			meta.Custom = mustObject(t, custom)
		}
		opts.Metadata = meta
		base := mustBuild(t, opts, key).Size()
		for _, over := range []int{0, 1} {
			opts, key := basicOptions(t)
			m := *meta
			m.Description = strings.Repeat("x", 1+MaxDocumentSize-base+over)
			opts.Metadata = &m
			d, err := Build(opts, key)
			switch {
			case over == 0 && err != nil:
				t.Errorf("custom %.30s: document of exactly %d bytes refused: %v", custom, MaxDocumentSize, err)
			case over == 0 && d.Size() != MaxDocumentSize:
				t.Errorf("custom %.30s: size %d, want %d", custom, d.Size(), MaxDocumentSize)
			case over == 1 && err == nil:
				t.Errorf("custom %.30s: document of %d bytes accepted", custom, d.Size())
			}
		}
	}
}

func TestFormatTimestamp(t *testing.T) {
	times := []time.Time{
		time.Unix(0, 0), time.UnixMilli(-1), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 999_999_999, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 15, 10, 30, 0, 123_456_789, time.FixedZone("X", 7200)),
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		times = append(times, time.Unix(r.Int64N(400_000_000_000)-70_000_000_000, r.Int64N(1e9)))
	}
	for _, tm := range times {
		if got, want := formatTimestamp(tm), jstime.Format(tm); got != want {
			t.Errorf("formatTimestamp(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestInternedValues(t *testing.T) {
	for _, s := range []string{"issuer", "beneficiary", "auditor", "operator", "regulator", "delegates", "restricts",
		"extends", "capability", "monitor", "audit", "bond", "composite", "tee", "capability_manifest", "audit_log",
		"bond_reference", "zkp", "", "other", "Issuer"} {
		if v, ok := vocabulary(s).(string); !ok || v != s {
			t.Errorf("vocabulary(%q) = %v", s, vocabulary(s))
		}
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, 16, 17, 1.5, -1, math.Inf(1), math.NaN(), 1e300} {
		v, ok := number(f).(float64)
		if !ok || math.Float64bits(v) != math.Float64bits(f) && !(math.IsNaN(v) && math.IsNaN(f)) {
			t.Errorf("number(%v) = %v", f, number(f))
		}
	}
	if allocs := testing.AllocsPerRun(10, func() { _ = vocabulary(strings.Clone("restricts")); _ = number(3) }); allocs > 1 {
		t.Errorf("vocabulary and number allocate %.0f times, want 1 (the clone)", allocs)
	}
}

// canonicalValueSeeds are JSON values for the member order rules (array
// indices, UTF-16 order, prefixes), "__proto__" at every level, escapes,
// numbers and the size and depth limits of appendCanonicalValue.
var canonicalValueSeeds = []string{
	`null`, `true`, `[false,0,-0,1e21,1e-7,0.1,"x"]`, `{}`, `[]`, `"\u2028\ud800"`,
	`{"b":1,"a":2,"10":3,"9":4,"01":5,"4294967294":6,"4294967295":7,"":8,"-1":9,"1.5":10}`,
	`{"\ud83d\ude00":1,"\uffff":2,"é":3,"e":4,"E":5,"ab":6,"a":7,"abc":8}`,
	`{"__proto__":1,"a":{"__proto__":{"x":1},"b":[{"__proto__":null}]}}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17}`,
	strings.Repeat(`[`, leanMaxDepth) + `1` + strings.Repeat(`]`, leanMaxDepth),
	strings.Repeat(`[`, leanMaxDepth+1) + `1` + strings.Repeat(`]`, leanMaxDepth+1),
	strings.Repeat(`{"a":`, leanMaxDepth+1) + `{}` + strings.Repeat(`}`, leanMaxDepth+1),
}

// checkCanonicalValue fails t unless appendCanonicalValue writes v as canon
// does (or declines it), and reports "__proto__" exactly when v holds one.
func checkCanonicalValue(t *testing.T, v any) {
	t.Helper()
	want := canon.AppendCanonical(nil, v)
	var proto bool
	got, ok := appendCanonicalValue([]byte("prefix"), v, 0, &proto)
	if !ok {
		return
	}
	if !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("appendCanonicalValue(%s):\n got %s\nwant %s", canon.AppendJSON(nil, v), got[len("prefix"):], want)
	}
	if proto != hasProtoMember(v) {
		t.Fatalf("appendCanonicalValue(%s) reports __proto__ %v", canon.AppendJSON(nil, v), proto)
	}
}

func TestCanonicalValue(t *testing.T) {
	declined := 0
	for _, js := range canonicalValueSeeds {
		v, err := canon.Parse([]byte(js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		checkCanonicalValue(t, v)
		var proto bool
		if _, ok := appendCanonicalValue(nil, v, 0, &proto); !ok {
			declined++
		}
	}
	if declined != 3 { // the object of 17 members and the two values nested too deeply
		t.Errorf("%d seeds declined, want 3", declined)
	}
	// Go values outside the value model are left to canon.
	for _, v := range []any{3, []string{"a"}, float32(1), canon.NewObject(0)} {
		var proto bool
		_, ok := appendCanonicalValue(nil, v, 0, &proto)
		if _, isObj := v.(*canon.Object); ok != isObj {
			t.Errorf("appendCanonicalValue(%T) ok = %v", v, ok)
		}
	}
}

// FuzzCanonicalValue holds appendCanonicalValue to canon.AppendCanonical on
// any JSON value.
func FuzzCanonicalValue(f *testing.F) {
	for _, js := range canonicalValueSeeds {
		f.Add([]byte(js))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := canon.Parse(data)
		if err != nil {
			return
		}
		checkCanonicalValue(t, v)
	})
}
