package covenant

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/core/canon"
)

func TestCountersign(t *testing.T) {
	v := mustVerifier(t, WithClock(fixedClock(testNow)))
	opts, key := basicOptions(t)
	d := mustBuild(t, opts, key)
	before := mustJSON(t, d)
	auditor, operator := seedKey(t, 3), seedKey(t, 4)

	one, err := CountersignAt(d, auditor, RoleAuditor, testNow)
	if err != nil {
		t.Fatal(err)
	}
	two, err := CountersignAt(one, operator, "anything goes", testNow.Add(1500))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustJSON(t, d), before) {
		t.Error("Countersign modified its input")
	}
	if len(one.Countersignatures()) != 1 {
		t.Error("first copy changed by the second countersignature")
	}
	cs := two.Countersignatures()
	if len(cs) != 2 || cs[0].SignerPublicKey != auditor.PublicHex() || cs[1].SignerRole != "anything goes" ||
		cs[0].Timestamp != "2026-03-01T12:00:00.000Z" || cs[1].Timestamp != "2026-03-01T12:00:00.000Z" {
		t.Errorf("countersignatures %+v", cs)
	}
	if two.ID() != d.ID() || two.Signature() != d.Signature() || !bytes.Equal(two.CanonicalForm(), d.CanonicalForm()) {
		t.Error("countersigning changed the signed content")
	}
	if r := v.Verify(two); !r.Valid {
		t.Errorf("invalid: %v", r.Checks)
	}
	// countersignatures is the last member and is written in the reference's order.
	js := string(mustJSON(t, two))
	if !strings.HasSuffix(js, `"timestamp":"2026-03-01T12:00:00.000Z"}]}`) ||
		!strings.Contains(js, `"countersignatures":[{"signerPublicKey":"`+auditor.PublicHex()+`","signerRole":"auditor","signature":"`) {
		t.Errorf("serialisation %s", js)
	}

	// A null countersignatures member is replaced in place.
	withNull := mutate(t, d, func(o *canon.Object) { o.Set("countersignatures", nil) })
	if c, err := Countersign(withNull, auditor, RoleAuditor); err != nil || len(c.Countersignatures()) != 1 {
		t.Errorf("null countersignatures: %v", err)
	}
	notArray := mutate(t, d, func(o *canon.Object) { o.Set("countersignatures", "x") })
	if _, err := Countersign(notArray, auditor, RoleAuditor); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("non-array countersignatures: %v", err)
	}
	if _, err := Countersign(nil, auditor, RoleAuditor); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("nil document: %v", err)
	}
	if _, err := Countersign(&Document{}, auditor, RoleAuditor); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("zero document: %v", err)
	}
	if _, err := Rotate(&Document{}, auditor); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("zero document: %v", err)
	}
	if _, err := Countersign(d, nil, RoleAuditor); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("nil key: %v", err)
	}
}

func TestResign(t *testing.T) {
	v := mustVerifier(t, WithClock(fixedClock(testNow)))
	d := fullDocument(t) // has a countersignature
	_, key := basicOptions(t)
	r, err := ResignWithRand(d, key, bytes.NewReader(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Nonce() != strings.Repeat("09", 32) || r.CreatedAt() != d.CreatedAt() || r.ID() == d.ID() {
		t.Errorf("nonce %s createdAt %s id %s", r.Nonce(), r.CreatedAt(), r.ID())
	}
	if _, ok := r.Get("countersignatures"); ok {
		t.Error("countersignatures kept")
	}
	if res := v.Verify(r); !res.Valid {
		t.Errorf("re-signed document invalid: %v", res.Failed())
	}
	// Members keep their places.
	var a, b []string
	for _, m := range d.Object().Members() {
		if m.Key != "countersignatures" {
			a = append(a, m.Key)
		}
	}
	for _, m := range r.Object().Members() {
		b = append(b, m.Key)
	}
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("member order %v, want %v", b, a)
	}
	if len(d.Countersignatures()) != 1 {
		t.Error("Resign modified its input")
	}
	// Default randomness.
	r1, _ := Resign(d, key)
	r2, _ := Resign(d, key)
	if r1.Nonce() == r2.Nonce() {
		t.Error("Resign reused a nonce")
	}
	// A foreign key is refused.
	if _, err := Resign(d, seedKey(t, 5)); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("foreign key: %v", err)
	}
	if _, err := Resign(nil, key); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("nil: %v", err)
	}
}

func TestRotate(t *testing.T) {
	v := mustVerifier(t, WithClock(fixedClock(testNow)))
	d := fullDocument(t)
	newKey := seedKey(t, 6)
	r, err := Rotate(d, newKey)
	if err != nil {
		t.Fatal(err)
	}
	if r.Issuer().PublicKey != newKey.PublicHex() || d.Issuer().PublicKey == newKey.PublicHex() {
		t.Error("issuer key not rotated, or input modified")
	}
	if res := v.Verify(r); !res.Valid {
		t.Errorf("rotated document invalid: %v", res.Failed())
	}
	if _, err := Rotate(d, nil); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("nil key: %v", err)
	}
}
