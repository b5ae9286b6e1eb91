// Package registry is the covenant registry's logic above the store: a
// cached covenant.Resolver over store.Documents, delegation chains with
// their effective constraints and narrowing verdicts, and the revocation
// checks that verification adds.
//
// The store holds only authentic documents (their ID is the hash of their
// content and every signature verifies; see jobs.VerifyHandler and the
// signer), so documents read from it are not verified again here.
package registry

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/store"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrChainBroken marks a chain that cannot be walked to its root: an
	// ancestor is missing (the error then also matches store.ErrNotFound
	// and covenant.ErrNotFound), the chain loops, or it is deeper than
	// the limit.
	ErrChainBroken = errors.New("registry: broken chain")
	// ErrCorrupt marks a stored document that does not parse or whose id
	// member is not the ID it is stored under.
	ErrCorrupt = errors.New("registry: corrupt stored document")
)

// NotFoundError reports a covenant ID the store does not hold. It matches
// both store.ErrNotFound and covenant.ErrNotFound, so a Resolver satisfies
// the covenant.Resolver contract.
type NotFoundError struct {
	ID string
}

func (e *NotFoundError) Error() string { return "covenant " + e.ID + " not found" }

// Is reports whether target is store.ErrNotFound or covenant.ErrNotFound.
func (e *NotFoundError) Is(target error) bool {
	return target == store.ErrNotFound || target == covenant.ErrNotFound
}

// Default bounds of a Resolver's cache: at most DefaultCacheSize parsed
// documents whose stored JSON totals at most DefaultCacheBytes.
const (
	DefaultCacheSize  = 4096
	DefaultCacheBytes = 64 << 20
)

// Option configures NewResolver.
type Option func(*Resolver)

// WithCacheSize bounds the cache of parsed documents to n entries; n <= 0
// turns caching off.
func WithCacheSize(n int) Option {
	return func(r *Resolver) { r.max = max(n, 0) }
}

// WithCacheBytes bounds the total stored-JSON size of the cached documents
// to n bytes; n <= 0 turns caching off.
func WithCacheBytes(n int) Option {
	return func(r *Resolver) { r.maxBytes = max(n, 0) }
}

// Resolver is a covenant.Resolver reading from a store.Documents, with an
// LRU cache of parsed documents by ID, bounded in entries and bytes. Documents are content
// addressed: only their countersignatures can change after they are
// stored, and chains ignore countersignatures, so a cached entry is never
// stale for chain purposes (callers that need the current countersignatures
// read the store). It is safe for concurrent use.
type Resolver struct {
	docs     store.Documents
	max      int
	maxBytes int

	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, most recent first
	byID  map[string]*list.Element
	bytes int // total size of the cached entries
}

type cacheEntry struct {
	id   string
	doc  *covenant.Document
	size int
}

var _ covenant.Resolver = (*Resolver)(nil)

// NewResolver returns a Resolver over docs (which must not be nil).
func NewResolver(docs store.Documents, opts ...Option) *Resolver {
	r := &Resolver{docs: docs, max: DefaultCacheSize, maxBytes: DefaultCacheBytes, lru: list.New(), byID: make(map[string]*list.Element)}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Resolve returns the document stored under id. An unknown ID is a
// *NotFoundError (matching store.ErrNotFound and covenant.ErrNotFound); a
// stored document that does not parse or carries another id is ErrCorrupt.
func (r *Resolver) Resolve(ctx context.Context, id string) (*covenant.Document, error) {
	if d := r.cached(id); d != nil {
		return d, nil
	}
	raw, err := r.docs.GetDocument(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("resolve: %w", &NotFoundError{ID: id})
	}
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", id, err)
	}
	d, err := parseStored(id, raw)
	if err != nil {
		return nil, err
	}
	r.add(id, d, len(raw))
	return d, nil
}

// ResolveMany returns one entry per id, nil where the store holds no such
// document, reading the IDs not in the cache with one GetDocuments call.
// A corrupt stored document fails the call with ErrCorrupt naming it.
func (r *Resolver) ResolveMany(ctx context.Context, ids []string) ([]*covenant.Document, error) {
	out, bad, err := r.resolveMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if e := bad[id]; e != nil {
			return nil, e
		}
	}
	return out, nil
}

// resolveMany is ResolveMany reporting corrupt documents separately, by ID
// (their entries are nil), instead of failing.
func (r *Resolver) resolveMany(ctx context.Context, ids []string) (out []*covenant.Document, bad map[string]error, err error) {
	out = make([]*covenant.Document, len(ids))
	var missIDs []string
	var missAt []int
	for i, id := range ids {
		if d := r.cached(id); d != nil {
			out[i] = d
			continue
		}
		missIDs = append(missIDs, id)
		missAt = append(missAt, i)
	}
	if len(missIDs) == 0 {
		return out, nil, nil
	}
	raws, err := r.docs.GetDocuments(ctx, missIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve %d documents: %w", len(missIDs), err)
	}
	if len(raws) != len(missIDs) {
		return nil, nil, fmt.Errorf("resolve %d documents: store returned %d", len(missIDs), len(raws))
	}
	for j, raw := range raws {
		if raw == nil {
			continue
		}
		id := missIDs[j]
		d, err := parseStored(id, raw)
		if err != nil {
			if bad == nil {
				bad = make(map[string]error)
			}
			bad[id] = err
			continue
		}
		r.add(id, d, len(raw))
		out[missAt[j]] = d
	}
	return out, bad, nil
}

func parseStored(id string, raw []byte) (*covenant.Document, error) {
	d, err := covenant.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("stored document %s: %w: %w", id, ErrCorrupt, err)
	}
	if d.ID() != id {
		return nil, fmt.Errorf("stored document %s: %w: its id member is %q", id, ErrCorrupt, d.ID())
	}
	return d, nil
}

func (r *Resolver) cached(id string) *covenant.Document {
	if r.max == 0 || r.maxBytes == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[id]
	if !ok {
		return nil
	}
	r.lru.MoveToFront(e)
	return e.Value.(*cacheEntry).doc
}

func (r *Resolver) add(id string, d *covenant.Document, size int) {
	if r.max == 0 || size > r.maxBytes {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byID[id]; ok {
		r.lru.MoveToFront(e)
		return
	}
	r.byID[id] = r.lru.PushFront(&cacheEntry{id: id, doc: d, size: size})
	r.bytes += size
	for r.lru.Len() > r.max || r.bytes > r.maxBytes {
		last := r.lru.Back()
		e := last.Value.(*cacheEntry)
		r.lru.Remove(last)
		delete(r.byID, e.id)
		r.bytes -= e.size
	}
}
