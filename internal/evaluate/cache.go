package evaluate

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/registry"
	"github.com/stele-go/stele/internal/store"
)

// policy is what a Service keeps per covenant: the monitor over the chain's
// effective constraints and the covenant's validity period.
type policy struct {
	mon         *audit.Monitor
	expiresAt   instant
	activatesAt instant
	// issuerKeys are the issuer public keys of the covenant and its
	// ancestors, nearest first, checked against the revocation list.
	issuerKeys []string
	// countersigners are the covenant's countersigner keys, also checked
	// against the revocation list (revoked.go).
	countersigners atomic.Pointer[countersigners]
	// invalid is why the chain permits nothing (see invalidChain), "" when
	// it is evaluated; mon is nil then.
	invalid string
	// eff is the chain's effective policy (the monitor's), and ancestors
	// are the covenant's ancestors, nearest first, each of which must allow
	// an action eff permits (see chainRefusal).
	eff       *ccl.Document
	ancestors []ancestor
}

// ancestor is what evaluation keeps of one ancestor of a covenant: its own
// constraints and validity period.
type ancestor struct {
	id          string
	policy      *ccl.Document
	expiresAt   instant
	activatesAt instant
}

// chainRefusal returns why an ancestor of the covenant refuses action on
// resource at now although the effective constraints permit it, or "" when
// they deny it (the monitor records that denial as the reference does) or
// every ancestor allows it. A delegated covenant can only narrow its chain,
// yet the reference's merge is a union and ccl.ValidateNarrowing compares
// patterns only: a child that drops the condition of its parent's permit,
// or whose permit slips past a parent's deny through staggered wildcards,
// narrows by that test and its effective constraints permit what the parent
// does not. So each ancestor is also evaluated alone (ccl.Evaluate with the
// same context, counting no rate limit) and refuses when:
//   - it has expired or is not active yet (authority delegated from a
//     lapsed covenant lapses with it);
//   - a deny of its own applies;
//   - it has permits and none of them applies (its default deny). An
//     ancestor without permits restricts only through its denies, as
//     ValidateNarrowing lets a child of such a parent permit.
func (p *policy) chainRefusal(now time.Time, action, resource string, c *canon.Object) string {
	if len(p.ancestors) == 0 || !ccl.Evaluate(p.eff, action, resource, c).Permitted {
		return ""
	}
	ms := now.UnixMilli()
	for _, a := range p.ancestors {
		if a.expiresAt.ExpiredAt(ms) {
			return "Covenant chain has lapsed: ancestor " + a.id + " expired at " + a.expiresAt.raw
		}
		if a.activatesAt.PendingAt(ms) {
			return "Covenant chain is not active: ancestor " + a.id + " is not active until " + a.activatesAt.raw
		}
		r := ccl.Evaluate(a.policy, action, resource, c)
		if !r.Permitted && (r.MatchedRule != nil || len(a.policy.Permits) > 0) {
			return "Covenant chain does not permit this: ancestor " + a.id + " refuses it (" + r.Reason + ")"
		}
	}
	return ""
}

// instant is an optional expiresAt or activatesAt member, read as
// verification reads it (covenant.Validity): a numeric or otherwise
// non-string bound counts as well.
type instant struct {
	covenant.Validity
	raw string // as the denial reason writes it; "" when absent
}

func instantOf(v covenant.Validity) instant {
	return instant{Validity: v, raw: v.Raw()}
}

// outside returns the reason a covenant permits nothing at now, or "".
func (p *policy) outside(now time.Time) string {
	ms := now.UnixMilli()
	if e := p.expiresAt; e.ExpiredAt(ms) {
		return "Covenant expired at " + e.raw
	}
	if a := p.activatesAt; a.PendingAt(ms) {
		return "Covenant is not active until " + a.raw
	}
	return ""
}

// load builds the policy of covenant id: the document, its ancestors, the
// effective constraints and a monitor writing to the store.
func (s *Service) load(ctx context.Context, id string) (*policy, error) {
	// The size of the revocation list before the document is read: a
	// countersignature added after the read comes with a change of the
	// list before its key can matter.
	revs := s.revs.size()
	data, err := s.docs.GetDocument(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Err: ErrNotFound, Field: "covenantId", Message: "no such covenant"}
	}
	if err != nil {
		return nil, fmt.Errorf("load covenant %s: %w", id, err)
	}
	doc, err := covenant.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load covenant %s: stored document: %w", id, err)
	}
	ancestors, err := covenant.ResolveChain(ctx, doc, s.res, MaxChainDepth)
	if err != nil {
		return nil, fmt.Errorf("load covenant %s: %w", id, err)
	}
	if parent := unresolvedParent(doc, ancestors); parent != "" {
		if len(ancestors) >= MaxChainDepth {
			// Evaluating a cut chain would drop the restrictions of the
			// ancestors beyond the limit.
			return nil, &Error{Err: ErrInvalid, Field: "covenantId",
				Message: fmt.Sprintf("the covenant's chain is longer than %d ancestors; it cannot be evaluated", MaxChainDepth)}
		}
		// Evaluating without an ancestor would drop its restrictions.
		return nil, &Error{Err: ErrNotFound, Field: "covenantId",
			Message: fmt.Sprintf("ancestor %s of the covenant is not stored; its chain cannot be evaluated", parent)}
	}
	p := &policy{expiresAt: instantOf(doc.Expiry()), activatesAt: instantOf(doc.Activation()),
		issuerKeys: issuerKeys(doc, ancestors)}
	p.countersigners.Store(&countersigners{keys: countersignerKeys(doc), revs: revs})
	// A chain that cannot be evaluated as delegated permits nothing; it
	// needs no monitor (see invalidChain).
	if p.invalid = invalidChain(doc, ancestors); p.invalid != "" {
		return p, nil
	}
	eff, err := covenant.EffectiveConstraints(doc, ancestors)
	if err != nil {
		return nil, fmt.Errorf("load covenant %s: %w", id, err)
	}
	p.eff = eff
	for _, a := range ancestors {
		pol, err := a.Policy() // parses: invalidChain checked it
		if err != nil {
			return nil, fmt.Errorf("load covenant %s: %w", id, err)
		}
		p.ancestors = append(p.ancestors, ancestor{id: a.ID(), policy: pol,
			expiresAt: instantOf(a.Expiry()), activatesAt: instantOf(a.Activation())})
	}
	p.mon, err = audit.NewMonitorFromDocument(id, eff,
		audit.WithMode(audit.Enforce),
		audit.WithLog(s.log),
		audit.WithRateLimiter(s.limiter),
		audit.WithClock(s.now),
		audit.WithLogger(s.logger),
		audit.WithMaxContextBytes(MaxRequestBytes),
	)
	if err != nil {
		return nil, fmt.Errorf("load covenant %s: %w", id, err)
	}
	return p, nil
}

// issuerKeys are the issuer public keys of doc and its ancestors, nearest
// first. The revocation list holds lower-case keys; signatures verify with
// hex of either case, so they are compared in lower case.
func issuerKeys(doc *covenant.Document, ancestors []*covenant.Document) []string {
	keys := []string{strings.ToLower(doc.Issuer().PublicKey)}
	for _, a := range ancestors {
		keys = append(keys, strings.ToLower(a.Issuer().PublicKey))
	}
	return keys
}

// invalidChain returns why the chain of doc permits nothing, or "". The
// covenant is stored because it is authentic, yet verification's
// ccl_parses or chain_narrowing may fail it:
//   - a constraint text of the chain does not parse: there is no policy to
//     evaluate;
//   - a child broadens its parent (registry.BroadeningLink, the first such
//     link from the covenant up): the effective constraints are the union
//     of the chain's permits (the reference's merge), so the child's permit
//     beyond its parent's would otherwise be granted though no ancestor
//     delegated it.
func invalidChain(doc *covenant.Document, ancestors []*covenant.Document) string {
	for _, d := range append([]*covenant.Document{doc}, ancestors...) {
		if _, err := d.Policy(); err != nil {
			return "Covenant chain is invalid: the constraints of " + d.ID() + " do not parse: " + err.Error()
		}
	}
	if link := registry.BroadeningLink(doc, ancestors); link != "" {
		return "Covenant chain is invalid: " + link
	}
	return ""
}

// unresolvedParent returns the parent ID at which ResolveChain stopped
// short of the chain's end: because the store does not have it, or because
// of the depth limit. It returns "" when the chain is complete (it ends at a
// root or at a cycle).
func unresolvedParent(doc *covenant.Document, ancestors []*covenant.Document) string {
	seen := map[string]bool{doc.ID(): true}
	last := doc
	for _, a := range ancestors {
		seen[a.ID()] = true
		last = a
	}
	c, ok := last.Chain()
	if !ok || c.ParentID == "" || seen[c.ParentID] {
		return ""
	}
	return c.ParentID
}

// loadTimeout bounds a shared covenant load: it runs on its own context, so
// that one waiting caller giving up does not fail the others.
const loadTimeout = 30 * time.Second

// monitorCache is a bounded LRU of policies by covenant ID. Concurrent
// misses of one ID share one load.
type monitorCache struct {
	mu       sync.Mutex
	max      int
	ll       *list.List // of *cacheItem, most recent first
	items    map[string]*list.Element
	inflight map[string]*loadCall
	load     func(context.Context, string) (*policy, error)
}

type cacheItem struct {
	id string
	p  *policy
}

type loadCall struct {
	done chan struct{}
	p    *policy
	err  error
}

func newMonitorCache(max int, load func(context.Context, string) (*policy, error)) *monitorCache {
	return &monitorCache{
		max:      max,
		ll:       list.New(),
		items:    make(map[string]*list.Element),
		inflight: make(map[string]*loadCall),
		load:     load,
	}
}

// get returns the policy of id, loading it on a miss. Failures are not
// cached.
func (c *monitorCache) get(ctx context.Context, id string) (*policy, error) {
	c.mu.Lock()
	if el, ok := c.items[id]; ok {
		c.ll.MoveToFront(el)
		p := el.Value.(*cacheItem).p
		c.mu.Unlock()
		return p, nil
	}
	call, ok := c.inflight[id]
	if !ok {
		call = &loadCall{done: make(chan struct{})}
		c.inflight[id] = call
		// The load is shared by every caller waiting for id: it must not
		// end with this caller's context (a client that disconnects), only
		// with its own deadline; this caller still stops waiting when ctx
		// ends.
		go c.run(context.WithoutCancel(ctx), id, call)
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.p, call.err
	case <-ctx.Done():
		return nil, fmt.Errorf("load covenant %s: %w", id, ctx.Err())
	}
}

// run loads id for call and publishes the outcome; a panicking load fails
// the call instead of leaving it in flight forever.
func (c *monitorCache) run(ctx context.Context, id string, call *loadCall) {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			call.p, call.err = nil, fmt.Errorf("load covenant %s: panic: %v", id, p)
		}
		c.mu.Lock()
		delete(c.inflight, id)
		if call.err == nil {
			c.items[id] = c.ll.PushFront(&cacheItem{id: id, p: call.p})
			for c.ll.Len() > c.max {
				old := c.ll.Back()
				c.ll.Remove(old)
				delete(c.items, old.Value.(*cacheItem).id)
			}
		}
		c.mu.Unlock()
		close(call.done)
	}()
	call.p, call.err = c.load(ctx, id)
}

// len returns the number of cached policies.
func (c *monitorCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
