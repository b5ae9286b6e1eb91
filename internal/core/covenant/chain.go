package covenant

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stele-go/stele/internal/core/ccl"
)

// Resolver finds covenant documents by ID, for walking delegation chains.
// An unknown ID is reported as an error matching ErrNotFound; ResolveChain
// also accepts (nil, nil) as "not found". Any other error is a failure.
type Resolver interface {
	Resolve(ctx context.Context, id string) (*Document, error)
}

// MemoryResolver is a Resolver over an in-memory map from ID to document. It
// is safe for concurrent use.
type MemoryResolver struct {
	mu   sync.RWMutex
	docs map[string]*Document
}

var _ Resolver = (*MemoryResolver)(nil)

// NewMemoryResolver returns a resolver holding docs.
func NewMemoryResolver(docs ...*Document) *MemoryResolver {
	r := &MemoryResolver{docs: make(map[string]*Document, len(docs))}
	for _, d := range docs {
		r.Add(d)
	}
	return r
}

// Add stores doc under its id member (as stored, not recomputed). A nil doc
// is ignored.
func (r *MemoryResolver) Add(doc *Document) {
	if doc == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.docs == nil {
		r.docs = make(map[string]*Document)
	}
	r.docs[doc.ID()] = doc
}

// Resolve returns the document stored under id, or ErrNotFound.
func (r *MemoryResolver) Resolve(_ context.Context, id string) (*Document, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if d, ok := r.docs[id]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("resolve %s: %w", id, ErrNotFound)
}

// ResolveChain walks up from doc through chain.parentId, asking r for each
// parent, and returns the ancestors found, parent first (§3.8). It follows at
// most maxDepth links and stops early at a document without a parent, at a
// parent ID already visited (doc's own ID counts: this breaks cycles) or at a
// parent r does not know. Like the reference it neither verifies the
// ancestors nor compares their id with the requested ID: callers that rely on
// a chain must verify every returned document and check the links (see
// ValidateChainNarrowing).
//
// A nil doc or r, or a negative maxDepth, is an error matching
// ErrInvalidInput; a resolver failure other than ErrNotFound is returned,
// wrapped, as is ctx's error once ctx is done.
func ResolveChain(ctx context.Context, doc *Document, r Resolver, maxDepth int) ([]*Document, error) {
	if doc == nil || doc.empty() {
		return nil, fmt.Errorf("resolve chain: doc must not be nil: %w", ErrInvalidInput)
	}
	if r == nil {
		return nil, fmt.Errorf("resolve chain: resolver must not be nil: %w", ErrInvalidInput)
	}
	if maxDepth < 0 {
		return nil, fmt.Errorf("resolve chain: maxDepth must be a non-negative number, got %d: %w", maxDepth, ErrInvalidInput)
	}
	visited := map[string]bool{doc.ID(): true}
	var ancestors []*Document
	current := doc
	for i := 0; i < maxDepth; i++ {
		parentID := parentOf(current)
		if parentID == "" || visited[parentID] {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("resolve chain of %s: %w", doc.ID(), err)
		}
		parent, err := r.Resolve(ctx, parentID)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("resolve chain of %s: parent %s: %w", doc.ID(), parentID, err)
		}
		if parent == nil || parent.empty() {
			break
		}
		visited[parent.ID()] = true
		ancestors = append(ancestors, parent)
		current = parent
	}
	return ancestors, nil
}

// parentOf returns chain.parentId when chain is an object and parentId a
// non-empty string (the reference tests its truthiness).
func parentOf(d *Document) string {
	c, ok := d.object().Object("chain")
	if !ok {
		return ""
	}
	p, _ := c.String("parentId")
	return p
}

// EffectiveConstraints folds the constraints of a chain into one policy: the
// root-most ancestor's constraints merged (ccl.Merge) with each descendant's
// in turn, down to doc. ancestors is parent first, as ResolveChain returns
// it. A constraint text that does not parse is an error naming its document.
func EffectiveConstraints(doc *Document, ancestors []*Document) (*ccl.Document, error) {
	if doc == nil {
		return nil, fmt.Errorf("effective constraints: doc must not be nil: %w", ErrInvalidInput)
	}
	all := make([]*Document, 0, len(ancestors)+1)
	for i := len(ancestors) - 1; i >= 0; i-- {
		if ancestors[i] == nil {
			return nil, fmt.Errorf("effective constraints: ancestor %d is nil: %w", i, ErrInvalidInput)
		}
		all = append(all, ancestors[i])
	}
	all = append(all, doc)
	effective, err := all[0].Policy()
	if err != nil {
		return nil, fmt.Errorf("effective constraints: %w", err)
	}
	for _, d := range all[1:] {
		p, err := d.Policy()
		if err != nil {
			return nil, fmt.Errorf("effective constraints: %w", err)
		}
		effective = ccl.Merge(effective, p)
	}
	return effective, nil
}

// ValidateChainNarrowing checks that child only narrows parent: it is
// ccl.ValidateNarrowing of the two parsed constraint texts (§4.10). A text
// that does not parse is an error.
func ValidateChainNarrowing(child, parent *Document) (ccl.NarrowingResult, error) {
	if child == nil || parent == nil {
		return ccl.NarrowingResult{}, fmt.Errorf("validate chain narrowing: nil document: %w", ErrInvalidInput)
	}
	pp, err := parent.Policy()
	if err != nil {
		return ccl.NarrowingResult{}, fmt.Errorf("validate chain narrowing: parent: %w", err)
	}
	cp, err := child.Policy()
	if err != nil {
		return ccl.NarrowingResult{}, fmt.Errorf("validate chain narrowing: child: %w", err)
	}
	return ccl.ValidateNarrowing(pp, cp), nil
}
