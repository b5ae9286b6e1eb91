package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/store"
)

// DefaultMaxDepth is the number of ancestors Chain and CheckChains follow
// when given a maxDepth <= 0: the largest chain.depth a document may declare.
const DefaultMaxDepth = covenant.MaxChainDepth

// maxViolationsShown bounds the violations one check message lists.
const maxViolationsShown = 10

// ChainInfo describes a covenant's delegation chain, as served by
// GET /v1/covenants/{id}/chain.
type ChainInfo struct {
	// ID is the covenant's ID.
	ID string `json:"id"`
	// Depth is the number of ancestors: 0 for a root.
	Depth int `json:"depth"`
	// Document is the covenant itself.
	Document *covenant.Document `json:"-"`
	// Ancestors are the parent first, the root last.
	Ancestors []Ancestor `json:"ancestors"`
	// Effective is the effective policy (the root's constraints merged down
	// to the covenant's, covenant.EffectiveConstraints); nil when a
	// constraint text of the chain does not parse.
	Effective *ccl.Document `json:"-"`
	// EffectiveConstraints is Effective serialized (ccl.Serialize), "" when
	// Effective is nil.
	EffectiveConstraints string `json:"effectiveConstraints"`
	// Narrowing holds one verdict per link, the covenant's own link first.
	Narrowing []Link `json:"narrowing"`
	// Valid is true when every link narrows its parent and every constraint
	// text parses.
	Valid bool `json:"valid"`
}

// Ancestor is one ancestor of a chain.
type Ancestor struct {
	ID     string   `json:"id"`
	Issuer PartyRef `json:"issuer"`
	// Constraints is the ancestor's CCL text, verbatim.
	Constraints string `json:"constraints"`
	// Depth is the distance from the covenant: 1 for its parent.
	Depth    int                `json:"depth"`
	Document *covenant.Document `json:"-"`
}

// PartyRef names a party by ID and public key.
type PartyRef struct {
	ID        string `json:"id"`
	PublicKey string `json:"publicKey"`
}

// Link is the narrowing verdict of one child → parent link
// (ccl.ValidateNarrowing). Violations are the reasons, as text; a
// constraint text that does not parse is a violation too.
type Link struct {
	Child      string   `json:"child"`
	Parent     string   `json:"parent"`
	Valid      bool     `json:"valid"`
	Violations []string `json:"violations"`
}

// Chain resolves the covenant id and its ancestors through r, following at
// most maxDepth links (DefaultMaxDepth when maxDepth <= 0), and reports the
// effective constraints and the narrowing verdict of every link.
//
// Errors: an unknown id is a *NotFoundError (store.ErrNotFound); a missing
// ancestor is ErrChainBroken wrapping a *NotFoundError naming the missing
// ID (so it matches store.ErrNotFound too: test ErrChainBroken first); a
// cycle or a chain longer than maxDepth is ErrChainBroken; resolver failures
// and ctx's error are returned wrapped. A narrowing failure is not an error:
// it is reported in the result (Valid false).
func Chain(ctx context.Context, r covenant.Resolver, id string, maxDepth int) (ChainInfo, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	doc, err := resolve(ctx, r, id)
	if err != nil {
		return ChainInfo{}, fmt.Errorf("chain of %s: %w", id, err)
	}
	info := ChainInfo{ID: id, Document: doc, Ancestors: []Ancestor{}, Narrowing: []Link{}, Valid: true}
	visited := map[string]bool{id: true}
	var ancestors []*covenant.Document
	current := doc
	for {
		ref, ok := current.Chain()
		if !ok || ref.ParentID == "" {
			break
		}
		pid := ref.ParentID
		if visited[pid] {
			return ChainInfo{}, fmt.Errorf("chain of %s: %w: %s is its own ancestor", id, ErrChainBroken, pid)
		}
		if len(ancestors) == maxDepth {
			return ChainInfo{}, fmt.Errorf("chain of %s: %w: more than %d ancestors", id, ErrChainBroken, maxDepth)
		}
		parent, err := resolve(ctx, r, pid)
		if errors.Is(err, covenant.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
			return ChainInfo{}, fmt.Errorf("chain of %s: %w: ancestor %s (parent of %s): %w", id, ErrChainBroken, pid, current.ID(), &NotFoundError{ID: pid})
		}
		if err != nil {
			return ChainInfo{}, fmt.Errorf("chain of %s: %w", id, err)
		}
		visited[pid] = true
		ancestors = append(ancestors, parent)
		iss := parent.Issuer()
		info.Ancestors = append(info.Ancestors, Ancestor{
			ID:          pid,
			Issuer:      PartyRef{ID: iss.ID, PublicKey: iss.PublicKey},
			Constraints: parent.Constraints(),
			Depth:       len(ancestors),
			Document:    parent,
		})
		link := checkLink(current, parent)
		info.Valid = info.Valid && link.Valid
		info.Narrowing = append(info.Narrowing, link)
		current = parent
	}
	info.Depth = len(ancestors)
	eff, err := covenant.EffectiveConstraints(doc, ancestors)
	if err != nil {
		// A constraint text does not parse; checkLink reported it for
		// ancestors, so only the covenant's own text is left to report.
		info.Valid = false
		if _, perr := doc.Policy(); perr != nil && len(info.Narrowing) == 0 {
			info.Narrowing = append(info.Narrowing, Link{Child: id, Valid: false, Violations: []string{perr.Error()}})
		}
		return info, nil
	}
	info.Effective = eff
	info.EffectiveConstraints = ccl.Serialize(eff)
	return info, nil
}

// resolve asks r for id, turning (nil, nil) into a *NotFoundError.
func resolve(ctx context.Context, r covenant.Resolver, id string) (*covenant.Document, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := r.Resolve(ctx, id)
	if err != nil {
		if errors.Is(err, covenant.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
			return nil, &NotFoundError{ID: id}
		}
		return nil, err
	}
	if d == nil {
		return nil, &NotFoundError{ID: id}
	}
	return d, nil
}

// checkLink is the narrowing verdict of child → parent.
func checkLink(child, parent *covenant.Document) Link {
	l := Link{Child: child.ID(), Parent: parent.ID(), Violations: []string{}}
	res, err := covenant.ValidateChainNarrowing(child, parent)
	if err != nil {
		l.Violations = append(l.Violations, err.Error())
		return l
	}
	for _, v := range res.Violations {
		l.Violations = append(l.Violations, v.Reason)
	}
	l.Valid = len(l.Violations) == 0
	return l
}

// Names of the checks CheckChains adds.
const (
	CheckChainResolved  = "chain_resolved"
	CheckChainNarrowing = "chain_narrowing"
)

// CheckChains validates the delegation chains of docs for verification:
// for each non-nil document with a chain.parentId it walks the ancestors,
// looking each up first in local (documents of the same batch, which the
// caller has authenticated) and then in the store, and checks that every
// link narrows its parent. The store is read level by level: one
// GetDocuments call per chain level for the whole batch (none for IDs that
// are local or cached).
//
// It returns, per document, nil when the chain is sound, else the failing
// checks: CheckChainResolved when an ancestor is missing or corrupt, the
// chain loops or is longer than maxDepth (DefaultMaxDepth when <= 0);
// CheckChainNarrowing listing the links that broaden their parent. Only
// store failures and ctx's error are errors.
func (r *Resolver) CheckChains(ctx context.Context, docs, local []*covenant.Document, maxDepth int) ([][]store.Check, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	out := make([][]store.Check, len(docs))
	known := make(map[string]*covenant.Document, len(local))
	corrupt := make(map[string]error)
	for _, d := range local {
		if d != nil {
			known[d.ID()] = d
		}
	}

	type walk struct {
		doc      *covenant.Document
		current  *covenant.Document
		visited  map[string]bool
		depth    int
		broken   []string // narrowing messages
		resolved string   // chain_resolved failure message
	}
	var active []*walk
	var walks []*walk
	for _, d := range docs {
		if d == nil || parentID(d) == "" {
			walks = append(walks, nil)
			continue
		}
		w := &walk{doc: d, current: d, visited: map[string]bool{d.ID(): true}}
		walks = append(walks, w)
		active = append(active, w)
	}

	for len(active) > 0 {
		// Fetch the parents of this level that are neither local nor
		// already fetched, in one call.
		var need []string
		asked := make(map[string]bool)
		for _, w := range active {
			pid := parentID(w.current)
			if _, ok := known[pid]; ok || corrupt[pid] != nil || asked[pid] {
				continue
			}
			asked[pid] = true
			need = append(need, pid)
		}
		if len(need) > 0 {
			got, bad, err := r.resolveMany(ctx, need)
			if err != nil {
				return nil, fmt.Errorf("check chains: %w", err)
			}
			for j, pid := range need {
				known[pid] = got[j] // nil when absent
			}
			for pid, e := range bad {
				corrupt[pid] = e
			}
		}
		next := active[:0]
		for _, w := range active {
			pid := parentID(w.current)
			switch {
			case w.visited[pid]:
				w.resolved = "chain loops: " + pid + " is its own ancestor"
				continue
			case w.depth == maxDepth:
				w.resolved = fmt.Sprintf("chain has more than %d ancestors", maxDepth)
				continue
			case corrupt[pid] != nil:
				w.resolved = "ancestor " + pid + " is corrupt in the store"
				continue
			case known[pid] == nil:
				if w.current == w.doc {
					w.resolved = "parent " + pid + " not found"
				} else {
					w.resolved = "ancestor " + pid + " (parent of " + w.current.ID() + ") not found"
				}
				continue
			}
			parent := known[pid]
			w.visited[pid] = true
			w.depth++
			if l := checkLink(w.current, parent); !l.Valid {
				w.broken = append(w.broken, linkMessage(l))
			}
			w.current = parent
			if parentID(parent) != "" {
				next = append(next, w)
			}
		}
		active = next
	}

	for i, w := range walks {
		if w == nil {
			continue
		}
		if len(w.broken) > 0 {
			out[i] = append(out[i], store.Check{Name: CheckChainNarrowing, Passed: false, Message: strings.Join(w.broken, "; ")})
		}
		if w.resolved != "" {
			out[i] = append(out[i], store.Check{Name: CheckChainResolved, Passed: false, Message: w.resolved})
		}
	}
	return out, nil
}

// MissingAncestor reports whether ch is a failing CheckChainResolved
// check of CheckChains saying that an ancestor was not found (rather than
// corrupt, looping or too deep).
func MissingAncestor(ch store.Check) bool {
	return ch.Name == CheckChainResolved && !ch.Passed && strings.HasSuffix(ch.Message, " not found")
}

// BroadeningLink returns, for doc and its ancestors (parent first, as
// covenant.ResolveChain gives them), the first link from doc up whose child
// broadens its parent, worded as CheckChains words it, or "" when every
// link narrows its parent.
func BroadeningLink(doc *covenant.Document, ancestors []*covenant.Document) string {
	child := doc
	for _, parent := range ancestors {
		if l := checkLink(child, parent); !l.Valid {
			return linkMessage(l)
		}
		child = parent
	}
	return ""
}

// linkMessage is a failing link as text, listing at most
// maxViolationsShown violations.
func linkMessage(l Link) string {
	var b strings.Builder
	b.WriteString(l.Child)
	b.WriteString(" broadens its parent ")
	b.WriteString(l.Parent)
	b.WriteString(": ")
	for i, v := range l.Violations {
		if i == maxViolationsShown {
			fmt.Fprintf(&b, " (and %d more)", len(l.Violations)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v)
	}
	return b.String()
}

// parentID is chain.parentId, "" when absent.
func parentID(d *covenant.Document) string {
	ref, ok := d.Chain()
	if !ok {
		return ""
	}
	return ref.ParentID
}
