package embedded

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/keys"
)

// WriteExample writes DIR/example-request.json: a ready-to-send verify
// request holding one freshly built and signed covenant (with a throw-away
// key), so that a first request needs no tooling. It returns the file's path.
func WriteExample(dir string) (string, error) {
	issuer, err := keys.Generate()
	if err != nil {
		return "", fmt.Errorf("example: %w", err)
	}
	beneficiary, err := keys.Generate()
	if err != nil {
		return "", fmt.Errorf("example: %w", err)
	}
	doc, err := covenant.Build(covenant.BuildOptions{
		Issuer:      covenant.Party{ID: "did:example:alice", PublicKey: issuer.PublicHex(), Role: covenant.RoleIssuer, Name: "Alice"},
		Beneficiary: covenant.Party{ID: "agent:example-bot", PublicKey: beneficiary.PublicHex(), Role: covenant.RoleBeneficiary},
		Constraints: "permit read on '/data/**'\ndeny delete on '/system/**'",
		Metadata:    &covenant.Metadata{Name: "example covenant", Tags: []string{"example"}},
	}, issuer)
	if err != nil {
		return "", fmt.Errorf("example: build: %w", err)
	}
	req := map[string]any{"items": []map[string]any{{"ref": "example", "document": json.RawMessage(doc.AppendJSON(nil))}}}
	data, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		return "", fmt.Errorf("example: %w", err)
	}
	path := filepath.Join(dir, "example-request.json")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("example: %w", err)
	}
	return path, nil
}

// WriteSignExample writes DIR/example-sign.json: a ready-to-send sign
// request for keyID, with a freshly generated beneficiary key. It returns the
// file's path.
func WriteSignExample(dir, keyID string) (string, error) {
	beneficiary, err := keys.Generate()
	if err != nil {
		return "", fmt.Errorf("sign example: %w", err)
	}
	req := map[string]any{"items": []map[string]any{{
		"ref":         "example",
		"keyId":       keyID,
		"issuer":      map[string]string{"id": "did:example:alice", "name": "Alice"},
		"beneficiary": map[string]string{"id": "agent:example-bot", "publicKey": beneficiary.PublicHex()},
		"constraints": "permit read on '/data/**'\ndeny delete on '/system/**'",
		"metadata":    map[string]any{"name": "example covenant", "tags": []string{"example"}},
	}}}
	data, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		return "", fmt.Errorf("sign example: %w", err)
	}
	path := filepath.Join(dir, "example-sign.json")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("sign example: %w", err)
	}
	return path, nil
}
