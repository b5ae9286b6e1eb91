package evaluate

import (
	"context"
	"fmt"
	"time"

	"github.com/stele-go/stele/internal/snapshot"
	"github.com/stele-go/stele/internal/store"
)

// DefaultRevocationRefresh is how long a Service trusts its copy of the
// revocation list when Config.RevocationRefresh is 0.
const DefaultRevocationRefresh = 5 * time.Second

// revocations is a Service's copy of the shared revocation list, re-read
// when older than its refresh period. The list is short (one record per
// revoked key), so a copy costs one store read per period and process, and
// keeps the store off the evaluation's hot path. When the store cannot be
// read, the old copy keeps serving rather than failing every evaluation.
type revocations struct {
	c *snapshot.Cache[map[string]store.Revocation]
}

func newRevocations(src store.Revocations, refresh time.Duration, now func() time.Time) *revocations {
	return &revocations{c: snapshot.New("revocation list", refresh, now, func(ctx context.Context) (map[string]store.Revocation, error) {
		list, err := src.ListRevocations(ctx)
		if err != nil {
			return nil, err
		}
		m := make(map[string]store.Revocation, len(list))
		for _, rv := range list {
			m[rv.PublicKey] = rv
		}
		return m, nil
	})}
}

// revokedReason returns the denial reason when one of keys (the issuer keys
// of a covenant and its ancestors, nearest first) is revoked, else "".
func (r *revocations) revokedReason(ctx context.Context, keys []string) (string, error) {
	if r == nil || len(keys) == 0 {
		return "", nil
	}
	byKey, err := r.c.GetOrStale(ctx)
	if err != nil {
		return "", err
	}
	for i, k := range keys {
		rv, ok := byKey[k]
		if !ok {
			continue
		}
		whose := "The covenant's issuer key"
		if i > 0 {
			whose = "The issuer key of an ancestor covenant"
		}
		return fmt.Sprintf("%s %.16s… was revoked at %s: %s", whose, k, rv.RevokedAt.UTC().Format(time.RFC3339), rv.Reason), nil
	}
	return "", nil
}
