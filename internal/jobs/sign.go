package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/keyring"
	"github.com/stele-go/stele/internal/store"
)

// KeySource is what the sign handler needs of a keyring
// (*keyring.Keyring satisfies it).
type KeySource interface {
	Get(id string) (*keyring.Key, bool)
}

var _ KeySource = (*keyring.Keyring)(nil)

// Defaults of SignConfig.
const (
	DefaultMaxUnknownKeyDeliveries    = 5
	DefaultMaxAdvertisedKeyDeliveries = 30
	DefaultUnknownKeyRetryDelay       = 200 * time.Millisecond
	// DefaultKeyStaleAfter: an advertisement older than this does not
	// count (the signer that made it is presumed gone).
	DefaultKeyStaleAfter = 10 * time.Minute
)

// Limits on a sign request (Item.Sign).
const (
	maxSignRequestBytes = 2 * covenant.MaxDocumentSize
	// MaxSignRequestDepth bounds the nesting of a sign request, the request
	// object included: its metadata and obligations may nest one level
	// less. A deeper request fails its item with invalid_request.
	MaxSignRequestDepth = 64
)

// SignConfig configures a SignHandler.
type SignConfig struct {
	// Keys holds the issuer keys of this signer (required).
	Keys KeySource
	// Documents provides parents and covenants to countersign, and receives
	// the signed covenants (required). Under a Runner whose job store is
	// this same store, the covenants are committed with the results.
	Documents store.Documents
	// Revocations, when set, is consulted once per chunk for the keys the
	// chunk uses; a revoked key signs nothing.
	Revocations store.Revocations
	// Jobs, when set, lets a redelivered chunk (or one whose createdAt is
	// taken from the message) skip the items whose results are already
	// recorded, instead of signing them again: one Results read per such
	// chunk. Without it, signing is still idempotent when every item
	// carries its nonce and createdAt (the gateway's items do).
	Jobs store.Jobs
	// Directory, when set, tells which key IDs some signer advertises
	// (read once per chunk that names a key this signer lacks).
	Directory store.KeyDirectory
	// An item naming a key this signer lacks is handed back for another
	// signer (ErrRetryChunk) until the message has been delivered
	// MaxAdvertisedKeyDeliveries times when Directory shows a signer
	// advertising the key (default DefaultMaxAdvertisedKeyDeliveries), else
	// MaxUnknownKeyDeliveries times (default DefaultMaxUnknownKeyDeliveries);
	// then it fails with unknown_key. Redelivery goes to whichever signer
	// pulls next, so a key held by one signer of n needs about n deliveries
	// on average. The consumer's MaxDeliver must exceed both.
	MaxUnknownKeyDeliveries    int
	MaxAdvertisedKeyDeliveries int
	// KeyStaleAfter: advertisements older than this are ignored (default
	// DefaultKeyStaleAfter).
	KeyStaleAfter time.Duration
	// UnknownKeyRetryDelay is the redelivery delay of such a chunk, with
	// ±50 % jitter so that chunks handed back together do not return to
	// the same signers in lock step (default DefaultUnknownKeyRetryDelay).
	UnknownKeyRetryDelay time.Duration
	// Concurrency bounds the items of one chunk signed at once (default
	// GOMAXPROCS).
	Concurrency int
	// Now stands in for the message timestamp when the handler runs
	// without message information (default time.Now).
	Now func() time.Time
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// SignHandler is the Handler of sign jobs (kind "sign"). Each item is a
// SignRequest: a covenant to build and sign with a keyring key, or a stored
// covenant to countersign.
//
// Signing is deterministic: the nonce and createdAt come from the request or,
// when absent, from the job ID and item index (nonce: SHA-256 over a domain
// string, the job ID and the index) and the message's stream timestamp
// (createdAt), neither of which a redelivery changes. A redelivered item
// therefore rebuilds the same covenant, byte for byte, and the store keeps
// exactly one. A key retired or revoked between two deliveries signs nothing
// new, but the redelivered item still names the covenant an earlier
// delivery stored with it.
//
// Results are valid with DocumentID set to the covenant's ID, or failed with
// Error "code: message", the code one of the SignErr constants. Failures that
// concern the store (it cannot be reached) fail the whole chunk transiently.
type SignHandler struct {
	keys         KeySource
	docs         store.Documents
	revs         store.Revocations
	jobs         store.Jobs
	dir          store.KeyDirectory
	maxUnknown   uint64
	maxAdvert    uint64
	staleAfter   time.Duration
	retryDelay   time.Duration
	concurrency  int
	now          func() time.Time
	log          *slog.Logger
	parallelFrom int // chunks with at least this many builds are built in parallel
}

var _ Handler = (*SignHandler)(nil)

// NewSignHandler returns the sign Handler.
func NewSignHandler(cfg SignConfig) (*SignHandler, error) {
	if cfg.Keys == nil || cfg.Documents == nil {
		return nil, fmt.Errorf("%w: sign handler needs keys and a document store", ErrInvalidOption)
	}
	h := &SignHandler{
		keys: cfg.Keys, docs: cfg.Documents, revs: cfg.Revocations, jobs: cfg.Jobs, dir: cfg.Directory,
		staleAfter: cfg.KeyStaleAfter,
		retryDelay: cfg.UnknownKeyRetryDelay, concurrency: cfg.Concurrency, now: cfg.Now, log: cfg.Logger,
		parallelFrom: 4,
	}
	for _, o := range []struct {
		name string
		n    int
		def  uint64
		dst  *uint64
	}{
		{"max unknown-key deliveries", cfg.MaxUnknownKeyDeliveries, DefaultMaxUnknownKeyDeliveries, &h.maxUnknown},
		{"max advertised-key deliveries", cfg.MaxAdvertisedKeyDeliveries, DefaultMaxAdvertisedKeyDeliveries, &h.maxAdvert},
	} {
		switch {
		case o.n == 0:
			*o.dst = o.def
		case o.n < 1:
			return nil, fmt.Errorf("%w: %s %d", ErrInvalidOption, o.name, o.n)
		default:
			*o.dst = uint64(o.n)
		}
	}
	if h.staleAfter == 0 {
		h.staleAfter = DefaultKeyStaleAfter
	}
	if h.staleAfter < 0 {
		return nil, fmt.Errorf("%w: negative key staleness", ErrInvalidOption)
	}
	if h.retryDelay == 0 {
		h.retryDelay = DefaultUnknownKeyRetryDelay
	}
	if h.retryDelay < 0 {
		return nil, fmt.Errorf("%w: negative unknown-key retry delay", ErrInvalidOption)
	}
	if h.concurrency == 0 {
		h.concurrency = runtime.GOMAXPROCS(0)
	}
	if h.concurrency < 1 {
		return nil, fmt.Errorf("%w: sign concurrency %d", ErrInvalidOption, h.concurrency)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// itemState is where an item of a chunk stands.
type itemState uint8

const (
	statePending  itemState = iota // to sign
	stateSettled                   // result final (failed, or signed)
	stateRecorded                  // result already in the store
	stateUnknown                   // key not held by this signer
)

// signWork is one item of a chunk being handled.
type signWork struct {
	state itemState
	req   signRequest
	key   *keyring.Key
	doc   *covenant.Document // the signed covenant to store, when any
	// refused, on a redelivery, is why the key may sign nothing now
	// (retired or revoked since an earlier delivery): the item is signed
	// only to learn its covenant's ID, and is valid only when an earlier
	// delivery stored that covenant (keepEarlier).
	refused error
}

// HandleChunk signs the items of a sign chunk. It fails with ErrBadMessage
// for a chunk of another kind, with ErrRetryChunk (and the results of the
// other items) when items name a key this signer lacks and the delivery
// limit is not reached, and transiently when the store cannot be reached.
func (h *SignHandler) HandleChunk(ctx context.Context, c *Chunk) ([]store.Result, error) {
	if c.Kind != store.KindSign {
		return nil, fmt.Errorf("sign chunk %s.%d: kind %q: %w", c.JobID, c.Chunk, c.Kind, ErrBadMessage)
	}
	delivered, msgTime := uint64(1), time.Time{}
	if info, ok := MessageInfo(ctx); ok {
		delivered, msgTime = info.NumDelivered, info.Timestamp
	}
	if msgTime.IsZero() {
		msgTime = h.now()
	}
	msgTime = msgTime.UTC().Truncate(time.Millisecond)

	n := len(c.Items)
	results := make([]store.Result, n)
	work := make([]signWork, n)
	derivedTime := false
	for i := range c.Items {
		it := &c.Items[i]
		w := &work[i]
		results[i] = store.Result{Index: it.Index, Ref: it.Ref}
		var err error
		switch {
		case it.Error != "":
			err = errors.New(it.Error)
		case it.Sign == nil:
			err = signErr(SignErrInvalidRequest, "item has no sign request")
		default:
			w.req, err = parseSignRequest(it.Sign)
		}
		if err != nil {
			h.settle(&results[i], w, err)
			continue
		}
		w.req.fill(c.JobID, it.Index, msgTime)
		derivedTime = derivedTime || (w.req.countersign == "" && w.req.derivedCreatedAt)
	}

	if h.jobs != nil && (delivered > 1 || derivedTime) {
		if err := h.skipRecorded(ctx, c, results, work); err != nil {
			return nil, err
		}
	}

	// Keys: this signer's, not retired, not revoked.
	var pubs []string
	unknown := 0
	for i := range work {
		w := &work[i]
		if w.state != statePending {
			continue
		}
		k, ok := h.keys.Get(w.req.keyID)
		if !ok {
			w.state = stateUnknown
			unknown++
			continue
		}
		w.key = k
		pubs = append(pubs, k.Public)
		if k.Retired {
			w.refused = signErr(SignErrRetiredKey, fmt.Sprintf("key %q was rotated out and signs nothing new", k.ID))
		}
	}
	if len(pubs) > 0 && h.revs != nil {
		slices.Sort(pubs)
		revoked, err := h.revs.RevokedKeys(ctx, slices.Compact(pubs))
		if err != nil {
			return nil, fmt.Errorf("sign chunk %s.%d: read revocations: %w", c.JobID, c.Chunk, err)
		}
		for i := range work {
			w := &work[i]
			if w.state != statePending {
				continue
			}
			if r, ok := revoked[w.key.Public]; ok && w.refused == nil {
				w.refused = signErr(SignErrRevokedKey, revokedMessage(w.key.ID, r))
			}
		}
	}
	// A first delivery settles the refused items at once; a redelivery
	// first looks for what an earlier delivery signed with the key.
	for i := range work {
		if w := &work[i]; w.state == statePending && w.refused != nil && delivered <= 1 {
			h.settle(&results[i], w, w.refused)
		}
	}

	stored, raw, err := h.readDocuments(ctx, c, work)
	if err != nil {
		return nil, err
	}
	h.keepCountersigned(results, work, stored)
	if err := h.sign(ctx, c, results, work, stored); err != nil {
		return nil, err
	}
	if err := h.keepEarlier(ctx, c, results, work); err != nil {
		return nil, err
	}
	if err := h.storeCountersigned(ctx, c, results, work, raw); err != nil {
		return nil, err
	}
	if err := h.storeSigned(ctx, c, work); err != nil {
		return nil, err
	}

	if unknown > 0 {
		return h.unknownKeys(ctx, c, delivered, results, work, unknown)
	}
	return results, nil
}

// unknownKeys settles the items naming keys this signer lacks: it hands the
// chunk back (the other items' results with ErrRetryChunk) while another
// signer may hold them, else fails them with unknown_key.
func (h *SignHandler) unknownKeys(ctx context.Context, c *Chunk, delivered uint64, results []store.Result, work []signWork, unknown int) ([]store.Result, error) {
	limit := h.maxUnknown
	if h.dir != nil {
		adv, err := h.dir.SigningKeys(ctx)
		if err != nil {
			// Without the directory, whether another signer advertises the
			// key is unknown: allow the longer wait, so that the items still
			// settle (unknown_key) after bounded retries.
			h.log.Warn("jobs: reading the key directory failed; assuming the keys may be advertised", "job", c.JobID, "chunk", c.Chunk, "err", err)
			limit = max(limit, h.maxAdvert)
		}
		now := h.now()
		for i := range work {
			if w := &work[i]; w.state == stateUnknown {
				if k, ok := adv[w.req.keyID]; ok && now.Sub(k.SeenAt) < h.staleAfter {
					limit = max(limit, h.maxAdvert)
				}
			}
		}
	}
	ids := unknownIDs(work)
	if delivered < limit {
		partial := make([]store.Result, 0, len(work)-unknown)
		for i := range work {
			if work[i].state != stateUnknown {
				partial = append(partial, results[i])
			}
		}
		delay := h.retryDelay/2 + rand.N(h.retryDelay+1)
		return partial, fmt.Errorf("sign chunk %s.%d: %w", c.JobID, c.Chunk,
			RetryChunk(delay, fmt.Sprintf("%d items name keys this signer lacks: %s", unknown, ids)))
	}
	for i := range work {
		if w := &work[i]; w.state == stateUnknown {
			h.settle(&results[i], w, signErr(SignErrUnknownKey, fmt.Sprintf("no signer holds key %q", w.req.keyID)))
		}
	}
	h.log.Warn("jobs: sign items failed: no signer holds their keys", "job", c.JobID, "chunk", c.Chunk,
		"items", unknown, "keys", ids, "deliveries", delivered)
	return results, nil
}

// settle records a failure of item w.
func (h *SignHandler) settle(res *store.Result, w *signWork, err error) {
	res.Error, res.Valid, res.DocumentID = err.Error(), false, ""
	w.state = stateSettled
}

// keepCountersigned settles the redelivered countersignature items whose
// key is refused now: valid when the stored covenant already carries the
// key's countersignature (an earlier delivery added it), else failed with
// the refusal.
func (h *SignHandler) keepCountersigned(results []store.Result, work []signWork, stored map[string]*covenant.Document) {
	for i := range work {
		w := &work[i]
		if w.state != statePending || w.refused == nil || w.req.countersign == "" {
			continue
		}
		if doc := stored[w.req.countersign]; doc != nil && countersignedBy(doc, w.key.Public) {
			w.state = stateSettled
			results[i].DocumentID, results[i].Valid = doc.ID(), true
			continue
		}
		h.settle(&results[i], w, w.refused)
	}
}

// keepEarlier settles the redelivered build items whose key is refused now,
// which sign has built like any other (a build is deterministic, so it gives
// the covenant an earlier delivery would have stored): valid, naming that
// covenant, when the store holds it (the key signed it while it could, and
// the acknowledgement was lost), else failed with the refusal. Nothing is
// stored for them.
func (h *SignHandler) keepEarlier(ctx context.Context, c *Chunk, results []store.Result, work []signWork) error {
	var ids []string
	var pos []int
	for i := range work {
		if w := &work[i]; w.refused != nil && w.doc != nil && w.req.countersign == "" {
			ids = append(ids, w.doc.ID())
			pos = append(pos, i)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	has, err := h.docs.HasDocuments(ctx, ids)
	if err != nil {
		return fmt.Errorf("sign chunk %s.%d: look for covenants signed before the key was refused: %w", c.JobID, c.Chunk, err)
	}
	for n, i := range pos {
		w := &work[i]
		w.doc = nil
		if !has[n] {
			h.settle(&results[i], w, w.refused)
		}
	}
	return nil
}

// skipRecorded marks the items whose results the job already records: their
// recorded result is returned again and nothing is signed for them. A job
// with no record yet (a producer that talks only to NATS) has none.
func (h *SignHandler) skipRecorded(ctx context.Context, c *Chunk, results []store.Result, work []signWork) error {
	pos := make(map[int]int, len(c.Items))
	indices := make([]int, 0, len(c.Items))
	for i := range c.Items {
		if work[i].state != statePending {
			continue
		}
		idx := c.Items[i].Index
		if _, dup := pos[idx]; !dup {
			indices = append(indices, idx)
		}
		pos[idx] = i
	}
	slices.Sort(indices)
	err := recordedResults(ctx, h.jobs, c.JobID, indices, func(r store.Result) {
		if i, ok := pos[r.Index]; ok && work[i].state == statePending {
			r.Ref = results[i].Ref
			results[i] = r
			work[i].state = stateRecorded
		}
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		// No record yet, or indices outside the job (recording them will
		// fail the chunk for good): nothing to skip.
		return nil
	}
	if err != nil {
		return fmt.Errorf("sign chunk %s.%d: read recorded results: %w", c.JobID, c.Chunk, err)
	}
	return nil
}

// readDocuments reads, in one call, the parents of the items to build and
// the covenants to countersign, and parses each once. Absent and unparsable
// documents map to nil. It also returns the bytes read, by ID, which a
// countersignature's compare-and-swap write is conditioned on.
func (h *SignHandler) readDocuments(ctx context.Context, c *Chunk, work []signWork) (map[string]*covenant.Document, map[string][]byte, error) {
	var ids []string
	for i := range work {
		w := &work[i]
		if w.state != statePending {
			continue
		}
		if id := w.req.storedID(); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	raw, err := h.docs.GetDocuments(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("sign chunk %s.%d: read %d documents: %w", c.JobID, c.Chunk, len(ids), err)
	}
	if len(raw) != len(ids) {
		return nil, nil, fmt.Errorf("sign chunk %s.%d: store returned %d documents for %d ids", c.JobID, c.Chunk, len(raw), len(ids))
	}
	docs := make(map[string]*covenant.Document, len(ids))
	bytesByID := make(map[string][]byte, len(ids))
	for j, id := range ids {
		if raw[j] == nil {
			docs[id] = nil
			continue
		}
		bytesByID[id] = raw[j]
		d, err := covenant.Parse(raw[j])
		if err != nil {
			h.log.Error("jobs: stored covenant does not parse", "id", id, "err", err)
			d = nil
		}
		docs[id] = d
	}
	return docs, bytesByID, nil
}

// sign builds the pending items (in parallel when there are several) and
// applies the countersignatures, those of one covenant in item order.
func (h *SignHandler) sign(ctx context.Context, c *Chunk, results []store.Result, work []signWork, stored map[string]*covenant.Document) error {
	var builds []int
	var csIDs []string
	csItems := make(map[string][]int)
	for i := range work {
		w := &work[i]
		if w.state != statePending {
			continue
		}
		if id := w.req.countersign; id != "" {
			if _, ok := csItems[id]; !ok {
				csIDs = append(csIDs, id)
			}
			csItems[id] = append(csItems[id], i)
		} else {
			builds = append(builds, i)
		}
	}
	tasks := len(builds) + len(csIDs)
	run := func(t int) {
		if t < len(builds) {
			i := builds[t]
			h.build(&results[i], &work[i], stored)
			return
		}
		id := csIDs[t-len(builds)]
		h.countersign(id, stored[id], csItems[id], results, work)
	}
	if tasks < h.parallelFrom || h.concurrency == 1 {
		for t := range tasks {
			run(t)
		}
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(h.concurrency)
	for t := range tasks {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			run(t)
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sign chunk %s.%d: %w", c.JobID, c.Chunk, err)
	}
	return nil
}

// build builds and signs one covenant.
func (h *SignHandler) build(res *store.Result, w *signWork, stored map[string]*covenant.Document) {
	r := &w.req
	if r.issuerKey != "" && r.issuerKey != w.key.Public {
		h.settle(res, w, signErr(SignErrInvalidRequest, fmt.Sprintf(
			"issuer.publicKey: %s is not the public key of key %q (leave it out: the signer fills it in)", truncate(r.issuerKey, 64), w.key.ID)))
		return
	}
	opts := covenant.BuildOptions{
		Issuer: covenant.Party{ID: r.issuerID, PublicKey: w.key.Public, Role: covenant.RoleIssuer, Name: r.issuerName},
		Beneficiary: covenant.Party{ID: r.beneficiaryID, PublicKey: r.beneficiaryKey, Role: covenant.RoleBeneficiary,
			Name: r.beneficiaryName},
		Constraints: r.constraints,
		Obligations: r.obligations,
		ExpiresAt:   r.expiresAt,
		ActivatesAt: r.activatesAt,
		Now:         func() time.Time { return r.createdAt },
		Rand:        bytes.NewReader(r.nonce[:]),
	}
	if r.issuerID == "" {
		opts.Issuer.ID = w.key.ID
	}
	if r.metadata != nil {
		opts.Metadata = &covenant.Metadata{Extra: r.metadata}
	}
	var parent *covenant.Document
	if r.parentID != "" {
		parent = stored[r.parentID]
		if parent == nil {
			h.settle(res, w, signErr(SignErrParentNotFound, fmt.Sprintf("parent covenant %q is not in the store", r.parentID)))
			return
		}
		depth := 1.0
		if pc, ok := parent.Chain(); ok {
			depth = pc.Depth + 1
		}
		opts.Chain = &covenant.ChainRef{ParentID: parent.ID(), Relation: r.relation, Depth: depth}
	}
	doc, err := covenant.Build(opts, w.key.PrivateKey())
	if err != nil {
		h.settle(res, w, buildFailure(err))
		return
	}
	if parent != nil {
		nr, err := covenant.ValidateChainNarrowing(doc, parent)
		if err != nil {
			h.settle(res, w, signErr(SignErrInvalidRequest, fmt.Sprintf("parent %q: %v", r.parentID, err)))
			return
		}
		if !nr.Valid {
			h.settle(res, w, signErr(SignErrBroadensParent, violationsMessage(nr.Violations)))
			return
		}
	}
	w.doc = doc
	w.state = stateSettled
	res.DocumentID = doc.ID()
	res.Valid = true
}

// countersign applies the countersignature items idx to the stored covenant
// doc (nil when absent), in order. A key that already countersigned the
// covenant does not sign again (redelivery); the item is still valid. The
// final document is left on the last item that changed it.
func (h *SignHandler) countersign(id string, doc *covenant.Document, idx []int, results []store.Result, work []signWork) {
	var last *signWork
	for _, i := range idx {
		w := &work[i]
		res := &results[i]
		if doc == nil {
			h.settle(res, w, signErr(SignErrDocumentMissing, fmt.Sprintf("covenant %q is not in the store", id)))
			continue
		}
		w.state = stateSettled
		res.DocumentID = doc.ID()
		res.Valid = true
		if countersignedBy(doc, w.key.Public) {
			continue
		}
		next, err := covenant.CountersignAt(doc, w.key.PrivateKey(), w.req.role, w.req.createdAt)
		if err != nil {
			h.settle(res, w, signErr(SignErrInvalidRequest, fmt.Sprintf("countersign %q: %v", id, err)))
			continue
		}
		doc = next
		if last != nil {
			last.doc = nil
		}
		w.doc, last = doc, w
	}
}

// countersignedBy reports whether doc carries a countersignature by pub.
func countersignedBy(doc *covenant.Document, pub string) bool {
	for _, cs := range doc.Countersignatures() {
		if strings.EqualFold(cs.SignerPublicKey, pub) {
			return true
		}
	}
	return false
}

// maxSwapAttempts bounds the compare-and-swap rounds of one countersigned
// covenant; past it the chunk fails and is retried later.
const maxSwapAttempts = 32

// storeCountersigned writes the covenants this chunk countersigned with a
// compare-and-swap over the bytes it read, so that countersignatures added
// meanwhile by other signers (or a PUT) are never lost: on a conflict it
// reads the covenant again, re-applies this chunk's countersignatures that
// it does not carry yet, and swaps again.
func (h *SignHandler) storeCountersigned(ctx context.Context, c *Chunk, results []store.Result, work []signWork, raw map[string][]byte) error {
	items := make(map[string][]int) // positions in work and results, per covenant
	var ids []string
	final := make(map[string]*covenant.Document)
	for i := range work {
		w := &work[i]
		id := w.req.countersign
		if id == "" || w.state != stateSettled || results[i].Error != "" || raw[id] == nil {
			continue
		}
		if _, ok := items[id]; !ok {
			ids = append(ids, id)
		}
		items[id] = append(items[id], i)
		if w.doc != nil {
			final[id] = w.doc
		}
	}
	for _, id := range ids {
		doc, prev := final[id], raw[id]
		for attempt := 1; doc != nil; attempt++ {
			err := h.docs.SwapDocument(ctx, id, prev, doc.AppendJSON(nil))
			if err == nil {
				break
			}
			if !errors.Is(err, store.ErrConflict) || attempt >= maxSwapAttempts {
				return fmt.Errorf("sign chunk %s.%d: countersign %s: %w", c.JobID, c.Chunk, id, err)
			}
			if prev, err = h.docs.GetDocument(ctx, id); err != nil {
				return fmt.Errorf("sign chunk %s.%d: countersign %s: re-read: %w", c.JobID, c.Chunk, id, err)
			}
			cur, err := covenant.Parse(prev)
			if err != nil {
				// Replaced meanwhile by something that is no covenant: no
				// retry can countersign it.
				failItems(results, items[id], signErr(SignErrInvalidRequest, fmt.Sprintf("countersign %q: the stored document changed and no longer parses: %v", id, err)))
				break
			}
			doc = nil
			for _, i := range items[id] {
				w := &work[i]
				base := cur
				if doc != nil {
					base = doc
				}
				if countersignedBy(base, w.key.Public) {
					continue
				}
				next, err := covenant.CountersignAt(base, w.key.PrivateKey(), w.req.role, w.req.createdAt)
				if err != nil {
					failItems(results, items[id], signErr(SignErrInvalidRequest, fmt.Sprintf("countersign %q: %v", id, err)))
					doc = nil
					break
				}
				doc = next
			}
		}
	}
	return nil
}

// failItems fails the results at positions idx with err.
func failItems(results []store.Result, idx []int, err error) {
	for _, i := range idx {
		results[i].Error, results[i].Valid, results[i].DocumentID = err.Error(), false, ""
	}
}

// storeSigned stores the signed covenants: through the runner's commit when
// it writes to the same store, else directly.
func (h *SignHandler) storeSigned(ctx context.Context, c *Chunk, work []signWork) error {
	var docs []store.Document
	seen := make(map[string]bool)
	for i := range work {
		d := work[i].doc
		if d == nil || seen[d.ID()] || work[i].req.countersign != "" {
			continue // countersigned covenants are swapped in by storeCountersigned
		}
		seen[d.ID()] = true
		docs = append(docs, storeDocument(d))
	}
	if len(docs) == 0 {
		return nil
	}
	if pw := pendingFor(ctx, h.docs); pw != nil {
		pw.addDocuments(docs)
		return nil
	}
	if err := h.docs.PutDocuments(ctx, docs); err != nil {
		return fmt.Errorf("sign chunk %s.%d: store %d covenants: %w", c.JobID, c.Chunk, len(docs), err)
	}
	return nil
}

func unknownIDs(work []signWork) string {
	var ids []string
	for i := range work {
		if work[i].state == stateUnknown {
			ids = append(ids, work[i].req.keyID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > 5 {
		ids = append(ids[:5], "…")
	}
	return strings.Join(ids, ", ")
}

// signErr is a failure with a code ("code: message").
func signErr(code, msg string) error { return errors.New(code + ": " + msg) }

func revokedMessage(id string, r store.Revocation) string {
	msg := fmt.Sprintf("key %q is revoked", id)
	if !r.RevokedAt.IsZero() {
		msg += " since " + r.RevokedAt.UTC().Format(time.RFC3339)
	}
	if r.Reason != "" {
		msg += ": " + r.Reason
	}
	return msg
}

// buildFailure maps a covenant.Build error to a coded failure: CCL errors
// are invalid_ccl with their line and column, the rest invalid_request
// naming the field.
func buildFailure(err error) error {
	var se *ccl.SyntaxError
	if errors.As(err, &se) {
		return signErr(SignErrInvalidCCL, fmt.Sprintf("line %d, column %d: %s", se.Line, se.Column, se.Detail))
	}
	var be *covenant.BuildError
	if errors.As(err, &be) {
		if be.Field == "constraints" && strings.HasPrefix(be.Message, "Constraints exceed") {
			return signErr(SignErrInvalidCCL, be.Message)
		}
		return signErr(SignErrInvalidRequest, be.Field+": "+be.Message)
	}
	return signErr(SignErrInvalidRequest, err.Error())
}

func violationsMessage(vs []ccl.Violation) string {
	var b strings.Builder
	b.WriteString("the constraints broaden the parent's: ")
	for i, v := range vs {
		if i == 8 {
			fmt.Fprintf(&b, "; and %d more", len(vs)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Reason)
	}
	return b.String()
}

// signNonceDomain separates derived nonces from every other SHA-256 use.
const signNonceDomain = "stele/sign-nonce/v1"

// derivedNonce is the nonce of item index of job jobID when the request has
// none: SHA-256(domain, 0, jobID, 0, decimal index).
func derivedNonce(jobID string, index int) [32]byte {
	b := make([]byte, 0, len(signNonceDomain)+len(jobID)+24)
	b = append(b, signNonceDomain...)
	b = append(b, 0)
	b = append(b, jobID...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(index), 10)
	return sha256.Sum256(b)
}
