package covenant

import (
	"testing"

	"github.com/stele-go/stele/internal/core/canon"
)

// TestValidityAgreesWithChecks: Expiry and Activation decide exactly as the
// not_expired and active checks do, for every kind of value the reference's
// new Date(…) accepts (PROTOCOL.md §3.6: expired unless now < Date(expiresAt),
// active when now >= Date(activatesAt), a falsy member sets no bound, an
// invalid date fails), including the boundary instant equal to now.
func TestValidityAgreesWithChecks(t *testing.T) {
	opts, key := basicOptions(t)
	base := mustBuild(t, opts, key)
	nowMs := testNow.UnixMilli()
	values := []struct {
		name string
		v    any
		// expired and pending at testNow, per the reference's checks.
		expired, pending bool
	}{
		{"now as string", "2026-03-01T12:00:00.000Z", true, false},
		{"1 ms later", "2026-03-01T12:00:00.001Z", false, true},
		{"1 ms earlier", "2026-03-01T11:59:59.999Z", true, false},
		{"now as number", float64(nowMs), true, false},
		{"number later", float64(nowMs + 1), false, true},
		{"number earlier", float64(nowMs - 1), true, false},
		{"true is 1 ms", true, true, false},
		{"array through String", []any{"2099-01-01"}, false, true},
		{"object is invalid", canon.NewObject(0), true, true},
		{"garbage", "soon", true, true},
		{"null sets no bound", nil, false, false},
		{"zero sets no bound", 0.0, false, false},
		{"empty sets no bound", "", false, false},
		{"false sets no bound", false, false, false},
	}
	v := mustVerifier(t, WithClock(fixedClock(testNow)))
	for _, c := range values {
		d := mutate(t, base, func(o *canon.Object) {
			o.Set("expiresAt", c.v)
			o.Set("activatesAt", c.v)
		})
		if got := d.Expiry().ExpiredAt(nowMs); got != c.expired {
			t.Errorf("%s: Expiry().ExpiredAt = %v, want %v", c.name, got, c.expired)
		}
		if got := d.Activation().PendingAt(nowMs); got != c.pending {
			t.Errorf("%s: Activation().PendingAt = %v, want %v", c.name, got, c.pending)
		}
		r := v.Verify(d)
		ne, _ := r.Check(CheckNotExpired)
		ac, _ := r.Check(CheckActive)
		if ne.Passed == c.expired || ac.Passed == c.pending {
			t.Errorf("%s: checks %+v %+v disagree with expired=%v pending=%v", c.name, ne, ac, c.expired, c.pending)
		}
	}
	if got := mutate(t, base, func(o *canon.Object) { o.Set("expiresAt", 86400000.0) }).Expiry().Raw(); got != "86400000" {
		t.Errorf("Raw of a numeric bound = %q, want the check message's 86400000", got)
	}
	if got := base.Expiry(); got.Set || got.Raw() != "" || got.ExpiredAt(nowMs) {
		t.Errorf("absent expiresAt: %+v", got)
	}
}
