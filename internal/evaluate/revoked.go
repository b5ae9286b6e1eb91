package evaluate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/stele-go/stele/internal/store"
)

// DefaultRevocationRefresh is how long a Service trusts its copy of the
// revocation list when Config.RevocationRefresh is 0.
const DefaultRevocationRefresh = 5 * time.Second

// revocations is a Service's copy of the shared revocation list, re-read
// when older than refresh. The list is short (one record per revoked key), so
// a copy costs one store read per refresh period and process, and keeps the
// store off the evaluation's hot path.
type revocations struct {
	src     store.Revocations
	refresh time.Duration
	now     func() time.Time

	lock    chan struct{} // held while reading the store: one read at a time
	mu      sync.Mutex
	byKey   map[string]store.Revocation
	fetched time.Time
}

func newRevocations(src store.Revocations, refresh time.Duration, now func() time.Time) *revocations {
	return &revocations{src: src, refresh: refresh, now: now, lock: make(chan struct{}, 1)}
}

func (r *revocations) snapshot() (map[string]store.Revocation, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byKey, r.fetched
}

// current returns the list, reading the store when the copy is stale. When
// the read fails and a copy exists it keeps serving the copy for another
// period rather than failing every evaluation; with no copy at all it
// returns the error.
func (r *revocations) current(ctx context.Context) (map[string]store.Revocation, error) {
	byKey, fetched := r.snapshot()
	if byKey != nil && r.now().Sub(fetched) < r.refresh {
		return byKey, nil
	}
	select {
	case r.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("read revocation list: %w", ctx.Err())
	}
	defer func() { <-r.lock }()
	if byKey, f := r.snapshot(); f.After(fetched) {
		return byKey, nil // another caller refreshed it meanwhile
	}
	list, err := r.src.ListRevocations(ctx)
	if err != nil {
		if byKey != nil {
			r.mu.Lock()
			r.fetched = r.now()
			r.mu.Unlock()
			return byKey, nil
		}
		return nil, fmt.Errorf("read revocation list: %w", err)
	}
	m := make(map[string]store.Revocation, len(list))
	for _, rv := range list {
		m[rv.PublicKey] = rv
	}
	r.mu.Lock()
	r.byKey, r.fetched = m, r.now()
	r.mu.Unlock()
	return m, nil
}

// revokedReason returns the denial reason when one of keys (the issuer keys
// of a covenant and its ancestors, nearest first) is revoked, else "".
func (r *revocations) revokedReason(ctx context.Context, keys []string) (string, error) {
	if r == nil || len(keys) == 0 {
		return "", nil
	}
	byKey, err := r.current(ctx)
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
