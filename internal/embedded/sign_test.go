package embedded_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/embedded"
	"github.com/stele-go/stele/internal/keyring"
)

// TestSignRoundTrip signs covenants through the all-in-one's in-process
// signer with ?wait, fetches them back and verifies them; a key the instance
// does not hold fails its item with unknown_key.
func TestSignRoundTrip(t *testing.T) {
	issuer, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyring.NewKey("issuer-1", issuer, false)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.New(k)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := embedded.Start(ctx, embedded.Config{
		DataDir: t.TempDir(),
		Addr:    "127.0.0.1:0",
		Keys:    ring,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { in.Shutdown(context.Background()) })
	base := "http://" + in.Addr()

	bob, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	item := `{"ref":"%s","keyId":"%s","issuer":{"id":"alice"},"beneficiary":{"id":"bob","publicKey":"` + bob.PublicHex() +
		`"},"constraints":"permit read on '/data/**'","metadata":{"tags":["demo"]}}`
	body := `{"items":[` + strings.Join([]string{
		fmt.Sprintf(item, "one", "issuer-1"),
		fmt.Sprintf(item, "two", "issuer-1"),
		fmt.Sprintf(item, "ghost", "nobody"),
	}, ",") + `]}`
	a := post(t, base+"/v1/sign?wait=30s", []byte(body))
	if a.Kind != "sign" || a.Status != "completed" || a.Total != 3 || a.Valid != 2 || a.Failed != 1 || len(a.Items) != 3 {
		t.Fatalf("answer %+v", a)
	}
	if a.Items[2].Ref != "ghost" || !strings.HasPrefix(a.Items[2].Error, "unknown_key: ") {
		t.Errorf("unknown key: %+v", a.Items[2])
	}
	v, err := covenant.NewVerifier()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range a.Items[:2] {
		if !r.Valid || r.DocumentID == "" || ids[r.DocumentID] {
			t.Fatalf("result %+v", r)
		}
		ids[r.DocumentID] = true
		var raw json.RawMessage
		if status := get(t, base+"/v1/covenants/"+r.DocumentID, &raw); status != http.StatusOK {
			t.Fatalf("GET covenant %s: %d", r.DocumentID, status)
		}
		doc, err := covenant.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if res := v.Verify(doc); !res.Valid {
			t.Errorf("signed covenant does not verify: %v", res.Failed())
		}
		if doc.Issuer().PublicKey != issuer.PublicHex() || doc.Issuer().ID != "alice" || doc.Beneficiary().PublicKey != bob.PublicHex() {
			t.Errorf("parties %+v %+v", doc.Issuer(), doc.Beneficiary())
		}
	}
	// The example the all-in-one prints signs too.
	path, err := embedded.WriteSignExample(t.TempDir(), "issuer-1")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if a := post(t, base+"/v1/sign?wait=30s", example); a.Valid != 1 || a.Total != 1 {
		t.Errorf("example sign request: %+v", a)
	}

	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if status := get(t, base+"/v1/covenants?tag=demo", &list); status != http.StatusOK || len(list.Items) != 2 {
		t.Errorf("listing by tag: %d %+v", status, list)
	}
	shutdown(t, in)
}
