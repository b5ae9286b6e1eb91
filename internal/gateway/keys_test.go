package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/store"
)

// TestKeysListsTheDirectory: GET /v1/keys lists the advertised keys in key
// ID order with their state, and sees a key advertised a moment ago.
func TestKeysListsTheDirectory(t *testing.T) {
	e := newEnv(t, gateway.Limits{})
	type answer struct {
		Keys []struct {
			KeyID     string    `json:"keyId"`
			PublicKey string    `json:"publicKey"`
			Retired   bool      `json:"retired"`
			Revoked   bool      `json:"revoked"`
			SeenAt    time.Time `json:"seenAt"`
		} `json:"keys"`
	}
	status, _, body := do(t, "GET", e.url+"/v1/keys", "", nil)
	if got := decode[answer](t, body); status != 200 || len(got.Keys) != 0 {
		t.Fatalf("empty directory: %d %s", status, body)
	}
	a, b, c := strings.Repeat("0a", 32), strings.Repeat("0b", 32), strings.Repeat("0c", 32)
	e.advertise(t, store.SigningKey{KeyID: "zeta", PublicKey: a}, store.SigningKey{KeyID: "alpha", PublicKey: b, Retired: true},
		store.SigningKey{KeyID: "mid", PublicKey: c})
	if err := e.st.RevokeKey(testContext(t), store.Revocation{PublicKey: c, KeyID: "mid", Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	status, _, body = do(t, "GET", e.url+"/v1/keys", "", nil)
	got := decode[answer](t, body)
	if status != 200 || len(got.Keys) != 3 {
		t.Fatalf("GET /v1/keys: %d %s", status, body)
	}
	want := []struct {
		id, pub          string
		retired, revoked bool
	}{{"alpha", b, true, false}, {"mid", c, false, true}, {"zeta", a, false, false}}
	for i, w := range want {
		k := got.Keys[i]
		if k.KeyID != w.id || k.PublicKey != w.pub || k.Retired != w.retired || k.Revoked != w.revoked || k.SeenAt.IsZero() {
			t.Errorf("key %d = %+v, want %+v", i, k, w)
		}
	}
	if strings.Contains(string(body), "seed") || strings.Contains(string(body), "private") {
		t.Errorf("key listing mentions private material: %s", body)
	}
	status, _, _ = do(t, "POST", e.url+"/v1/keys", ctJSON, []byte(`{}`))
	if status != 405 {
		t.Errorf("POST /v1/keys: status %d, want 405", status)
	}
}
