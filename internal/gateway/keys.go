package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/snapshot"
	"github.com/stele-go/stele/internal/store"
)

// The gateway never holds private keys: it learns which key IDs exist from
// the key directory that signer processes advertise in the store, and which
// keys are revoked from the store's revocation list.

// Key directory cache timing: the directory is re-read when older than
// keyDirTTL, and, for a key ID it does not know (a signer that just started),
// at most once per keyDirMissRefresh.
const (
	keyDirTTL         = 5 * time.Second
	keyDirMissRefresh = time.Second
)

// keyDirectory caches store.KeyDirectory.SigningKeys.
type keyDirectory struct {
	c *snapshot.Cache[map[string]store.SigningKey]
}

func newKeyDirectory(src store.KeyDirectory) *keyDirectory {
	return &keyDirectory{c: snapshot.New("key directory", keyDirTTL, nil, func(ctx context.Context) (map[string]store.SigningKey, error) {
		keys, err := src.SigningKeys(ctx)
		if keys == nil && err == nil {
			keys = map[string]store.SigningKey{}
		}
		return keys, err
	})}
}

// lookup returns the advertised keys among ids (absent ones are unknown). A
// copy younger than keyDirTTL is used, unless it lacks one of ids and is
// older than keyDirMissRefresh (a signer that just started).
func (d *keyDirectory) lookup(ctx context.Context, ids []string) (map[string]store.SigningKey, error) {
	keys, fetched, ok := d.c.Peek()
	age := d.c.Age(fetched)
	stale := !ok || age >= keyDirTTL
	if !stale && age >= keyDirMissRefresh {
		for _, id := range ids {
			if _, ok := keys[id]; !ok {
				stale = true
				break
			}
		}
	}
	if stale {
		var err error
		if keys, err = d.c.Refresh(ctx, fetched); err != nil {
			return nil, err
		}
	}
	out := make(map[string]store.SigningKey, len(ids))
	for _, id := range ids {
		if k, ok := keys[id]; ok {
			out[id] = k
		}
	}
	return out, nil
}

// keyVerdict is what the gateway knows of a key a request names.
type keyVerdict struct {
	Key store.SigningKey
	// Error is "" for a usable key, else the item error: "unknown_key: …",
	// "retired_key: …" or "revoked_key: …".
	Error string
}

// checkKeys looks up the key IDs in the directory and the revocation list
// (one store round trip for the revocations, and one for the directory when
// the cache is stale) and returns a verdict per ID.
func (s *Server) checkKeys(ctx context.Context, ids []string) (map[string]keyVerdict, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	uniq := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	known, err := s.keyDir.lookup(ctx, uniq)
	if err != nil {
		return nil, err
	}
	out := make(map[string]keyVerdict, len(uniq))
	var pubs []string
	for _, id := range uniq {
		k, ok := known[id]
		switch {
		case !ok:
			out[id] = keyVerdict{Error: fmt.Sprintf("%s: no signer advertises key %q", jobs.SignErrUnknownKey, id)}
		case k.Retired:
			out[id] = keyVerdict{Key: k, Error: fmt.Sprintf("%s: key %q was rotated out and signs nothing new", jobs.SignErrRetiredKey, id)}
		default:
			out[id] = keyVerdict{Key: k}
			pubs = append(pubs, k.PublicKey)
		}
	}
	if len(pubs) == 0 {
		return out, nil
	}
	revoked, err := s.store.RevokedKeys(ctx, pubs)
	if err != nil {
		return nil, fmt.Errorf("read revocations: %w", err)
	}
	for id, v := range out {
		if v.Error != "" {
			continue
		}
		if rev, ok := revoked[v.Key.PublicKey]; ok {
			v.Error = fmt.Sprintf("%s: key %q was revoked at %s: %s", jobs.SignErrRevokedKey, id,
				rev.RevokedAt.UTC().Format(time.RFC3339), rev.Reason)
			out[id] = v
		}
	}
	return out, nil
}

// keyInfo is one key of GET /v1/keys.
type keyInfo struct {
	KeyID     string    `json:"keyId"`
	PublicKey string    `json:"publicKey"`
	Retired   bool      `json:"retired"`
	Revoked   bool      `json:"revoked"`
	SeenAt    time.Time `json:"seenAt"`
}

// handleKeys is GET /v1/keys: the signing keys the signers advertise, by key
// ID, with their public keys and whether they are retired or revoked. It
// reads the store, not the cache, so a signer that just started shows up.
func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	keys, err := s.store.SigningKeys(ctx)
	if err != nil {
		s.fail(w, r, fmt.Errorf("read key directory: %w", err))
		return
	}
	pubs := make([]string, 0, len(keys))
	for _, k := range keys {
		pubs = append(pubs, k.PublicKey)
	}
	revoked, err := s.store.RevokedKeys(ctx, pubs)
	if err != nil {
		s.fail(w, r, fmt.Errorf("read revocations: %w", err))
		return
	}
	out := make([]keyInfo, 0, len(keys))
	for _, k := range keys {
		_, rev := revoked[k.PublicKey]
		out = append(out, keyInfo{KeyID: k.KeyID, PublicKey: k.PublicKey, Retired: k.Retired, Revoked: rev, SeenAt: k.SeenAt})
	}
	slices.SortFunc(out, func(a, b keyInfo) int { return strings.Compare(a.KeyID, b.KeyID) })
	writeJSON(w, http.StatusOK, struct {
		Keys []keyInfo `json:"keys"`
	}{out})
}
