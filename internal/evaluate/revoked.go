package evaluate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/registry"
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

// RevocationsChanged re-reads the shared revocation list now, for a caller
// that has just revoked a key: from the Service's next evaluation on, the
// key's covenants permit nothing, rather than after up to
// Config.RevocationRefresh (other processes still take up to that long). It
// does nothing without Config.Revocations; on error the old copy stays.
func (s *Service) RevocationsChanged(ctx context.Context) error {
	if s.revs == nil {
		return nil
	}
	if _, err := s.revs.c.Reload(ctx); err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	return nil
}

// size returns the number of revoked keys in the current copy, -1 when
// there is none yet (it never reads the store).
func (r *revocations) size() int {
	if r == nil {
		return -1
	}
	m, _, ok := r.c.Peek()
	if !ok {
		return -1
	}
	return len(m)
}

// countersigners are a covenant's countersigner public keys (lower case),
// read when the revocation list held revs keys (-1: unknown). A
// countersignature can be added to a stored covenant after its policy was
// cached, and its key matters only once revoked, so the keys are read again
// whenever the list has changed since.
type countersigners struct {
	keys []string
	revs int
}

// countersignerKeys returns the lower-case countersigner keys of doc.
func countersignerKeys(doc *covenant.Document) []string {
	var keys []string
	for _, cs := range doc.Countersignatures() {
		keys = append(keys, strings.ToLower(cs.SignerPublicKey))
	}
	return keys
}

// revokedReason returns the denial reason when the issuer key of covenant
// id or of an ancestor (p.issuerKeys, nearest first), or a countersigner key
// of the covenant, is revoked, else "".
func (s *Service) revokedReason(ctx context.Context, id string, p *policy) (string, error) {
	if s.revs == nil {
		return "", nil
	}
	byKey, err := s.revs.c.GetOrStale(ctx)
	if err != nil {
		return "", err
	}
	if len(byKey) == 0 {
		return "", nil
	}
	for i, k := range p.issuerKeys {
		rv, ok := byKey[k]
		if !ok {
			continue
		}
		whose := "The covenant's issuer"
		if i > 0 {
			whose = "An ancestor covenant's issuer"
		}
		return registry.RevokedMessage(whose, rv), nil
	}
	cs := p.countersigners.Load()
	if cs == nil || cs.revs != len(byKey) {
		data, err := s.docs.GetDocument(ctx, id)
		if err != nil {
			return "", fmt.Errorf("countersignatures of covenant %s: %w", id, err)
		}
		doc, err := covenant.Parse(data)
		if err != nil {
			return "", fmt.Errorf("countersignatures of covenant %s: stored document: %w", id, err)
		}
		cs = &countersigners{keys: countersignerKeys(doc), revs: len(byKey)}
		p.countersigners.Store(cs)
	}
	for _, k := range cs.keys {
		if rv, ok := byKey[k]; ok {
			return registry.RevokedMessage("A countersigner", rv), nil
		}
	}
	return "", nil
}
