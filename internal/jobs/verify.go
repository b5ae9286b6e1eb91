package jobs

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/registry"
	"github.com/stele-go/stele/internal/store"
)

// legacyBlobPrefix names the documents under which versions before
// store.Blobs staged documents.
const legacyBlobPrefix = "blob:"

// Error messages of failed verify items.
const (
	errMsgNoDocument     = "item has no document"
	errMsgNotFound       = "document not found"
	errMsgStagedNotFound = "staged document not found"
	errMsgStagedCorrupt  = "staged document does not match its hash"
	errMsgAmbiguous      = "item has more than one of document, documentId and blob; give exactly one"
	errMsgBadDocumentID  = "documentId is not a covenant ID (64 hex digits)"
	errMsgBadBlob        = "blob is not a SHA-256 (64 hex digits)"
)

// ambiguous reports whether it names its document more than one way, which
// the schema (Item) forbids: which one was meant is unknown.
func ambiguous(it *Item) bool {
	n := 0
	if it.Document != nil {
		n++
	}
	if it.DocumentID != "" {
		n++
	}
	if it.Blob != "" {
		n++
	}
	return n > 1
}

// VerifyConfig configures a VerifyHandler.
type VerifyConfig struct {
	// Documents resolves items sent by reference and keeps the authentic
	// documents verified inline (required).
	Documents store.Documents
	// Blobs holds the documents the publisher staged (Item.Blob); default
	// Documents, when it is also a store.Blobs. Without either, a staged
	// item fails.
	Blobs store.Blobs
	// SigCache, when set, remembers Ed25519 outcomes so that a repeated
	// document costs no signature verification; every other check is still
	// computed against the clock.
	SigCache store.SigCache
	// Now is the clock for chunks without "at" (default time.Now).
	Now func() time.Time
	// DiscardDocuments turns off storing the authentic documents received
	// inline (see VerifyHandler).
	DiscardDocuments bool
	// Revocations, when set, is the revocation list: a document whose
	// issuer or countersigner key is revoked is invalid, with a failing
	// key_not_revoked check (registry.Revoked), and is not stored. It costs
	// one store round trip per chunk.
	Revocations store.Revocations
	// Logger receives cache failures (default slog.Default()).
	Logger *slog.Logger
	// ChainDeliveries: under a Runner, a chunk of a "chain": true job
	// whose items name an ancestor that neither the chunk nor the store
	// holds is handed back (ErrRetryChunk, after storing its authentic
	// documents) until it has been delivered this many times, since the
	// ancestor may travel in another chunk of the same job that is not
	// stored yet; then those items fail chain_resolved. Default
	// DefaultChainDeliveries; 1 turns the wait off. It must be below the
	// consumer's MaxDeliver.
	ChainDeliveries int
	// ChainRetryDelay is the delay before such a redelivery (default: the
	// Runner's NakDelay).
	ChainRetryDelay time.Duration
}

// DefaultChainDeliveries is the default VerifyConfig.ChainDeliveries.
const DefaultChainDeliveries = 4

// VerifyHandler is the Handler of verify jobs. Each chunk is verified as one
// batch (covenant.Verifier.VerifyBatch: the issuer signatures and
// countersignatures of the chunk that the signature cache does not answer go
// into one Ed25519 batch verification), as of the chunk's "at" instant when
// it has one, else as of now.
//
// Items fail (store.Result.Error) when they are malformed (the reference's
// deserializeCovenant message, e.g. "malformed document: Missing or invalid
// required field: nonce"), when a referenced document is not in the store,
// or when the producer marked them failed; the others are valid or invalid
// with the eleven checks.
//
// Documents received inline (or staged) are stored under their ID so that
// they can be served later, but only when they are authentic: the checks
// id_match, signature_valid and countersignatures pass, meaning the ID is the
// hash of the content and every signature on it verifies. Time-dependent and
// structural checks do not matter for that (an expired covenant is still the
// covenant its issuer signed). Storing unauthenticated documents would let
// anyone replace a stored covenant, or attach it bogus countersignatures,
// under an ID they do not own. A document signed by a revoked key (see
// VerifyConfig.Revocations) is not stored either.
//
// Chunks with "chain": true also check delegation chains: every item that
// verified and names a chain.parentId has its ancestors resolved (from the
// authentic documents of the same chunk, then from the store, one read per
// chain level for the whole chunk) and each link checked for narrowing
// (registry.CheckChains). A broadening link adds a failing chain_narrowing
// check, an ancestor that cannot be resolved a failing chain_resolved check,
// and the item is invalid; under a Runner, an item whose ancestor is missing
// first waits for a few redeliveries of its chunk, in case the ancestor
// travels in another chunk of the job (VerifyConfig.ChainDeliveries). Chain
// verdicts do not affect storing: the
// document is still the one its issuer signed.
type VerifyHandler struct {
	docs     store.Documents
	blobs    store.Blobs
	cached   bool // a signature cache is configured
	revs     store.Revocations
	resolver *registry.Resolver
	verifier *covenant.Verifier
	now      func() time.Time
	keep     bool
	log      *slog.Logger

	chainDeliveries uint64
	chainDelay      time.Duration
}

var _ Handler = (*VerifyHandler)(nil)

// NewVerifyHandler returns the verify Handler.
func NewVerifyHandler(cfg VerifyConfig) (*VerifyHandler, error) {
	if cfg.Documents == nil {
		return nil, fmt.Errorf("%w: verify handler needs a document store", ErrInvalidOption)
	}
	if cfg.ChainDeliveries < 0 || cfg.ChainRetryDelay < 0 {
		return nil, fmt.Errorf("%w: chain deliveries %d, chain retry delay %v", ErrInvalidOption, cfg.ChainDeliveries, cfg.ChainRetryDelay)
	}
	if cfg.ChainDeliveries == 0 {
		cfg.ChainDeliveries = DefaultChainDeliveries
	}
	h := &VerifyHandler{docs: cfg.Documents, blobs: cfg.Blobs, cached: cfg.SigCache != nil, revs: cfg.Revocations, now: cfg.Now, keep: !cfg.DiscardDocuments, log: cfg.Logger}
	if h.blobs == nil {
		h.blobs, _ = cfg.Documents.(store.Blobs)
	}
	h.chainDeliveries, h.chainDelay = uint64(cfg.ChainDeliveries), cfg.ChainRetryDelay
	h.resolver = registry.NewResolver(cfg.Documents)
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	opts := []covenant.VerifierOption{covenant.WithLogger(h.log)}
	if cfg.SigCache != nil {
		opts = append(opts, covenant.WithSignatureCache(deferringCache{cfg.SigCache}))
	}
	v, err := covenant.NewVerifier(opts...)
	if err != nil {
		return nil, fmt.Errorf("jobs: verifier: %w", err)
	}
	h.verifier = v
	return h, nil
}

// HandleChunk verifies the items of a verify chunk. It fails with
// ErrBadMessage for a chunk that is not a verify chunk or has an unreadable
// "at", and with a transient error when the store cannot be reached.
func (h *VerifyHandler) HandleChunk(ctx context.Context, c *Chunk) ([]store.Result, error) {
	if c.Kind != store.KindVerify {
		return nil, fmt.Errorf("verify chunk %s.%d: kind %q: %w", c.JobID, c.Chunk, c.Kind, ErrBadMessage)
	}
	at := h.now()
	if c.At != "" {
		t, err := ParseAt(c.At)
		if err != nil {
			return nil, fmt.Errorf("verify chunk %s.%d: at %q: %w", c.JobID, c.Chunk, c.At, ErrBadMessage)
		}
		at = t
	}

	results := make([]store.Result, len(c.Items))
	docs := make([]*covenant.Document, len(c.Items))
	keep := make([]bool, len(c.Items)) // candidates for storing

	// Fetch everything sent by reference: stored documents in one call,
	// staged blobs in another.
	// References are looked up only when they are well-formed IDs, in
	// lower case as stored (a producer on NATS may send either case, as
	// the gateway accepts); a malformed one fails its item, and cannot
	// name another kind of stored value.
	var refIDs, blobIDs []string
	var refItems, blobItems []int
	idOf := make([]string, len(c.Items)) // normalised DocumentID or Blob
	for i := range c.Items {
		it := &c.Items[i]
		results[i] = store.Result{Index: it.Index, Ref: it.Ref}
		switch {
		case it.Error != "", ambiguous(it):
		case it.Document != nil:
		case it.Blob != "":
			idOf[i], _ = store.NormalHexID(it.Blob)
			if h.blobs != nil && idOf[i] != "" {
				blobIDs = append(blobIDs, idOf[i])
				blobItems = append(blobItems, i)
			}
		case it.DocumentID != "":
			idOf[i], _ = store.NormalHexID(it.DocumentID)
			if idOf[i] != "" {
				refIDs = append(refIDs, idOf[i])
				refItems = append(refItems, i)
			}
		}
	}
	fetched := make([][]byte, len(c.Items))
	fetch := func(what string, ids []string, items []int, get func(context.Context, []string) ([][]byte, error)) error {
		if len(ids) == 0 {
			return nil
		}
		got, err := get(ctx, ids)
		if err != nil {
			return fmt.Errorf("verify chunk %s.%d: fetch %d %s: %w", c.JobID, c.Chunk, len(ids), what, err)
		}
		if len(got) != len(ids) {
			return fmt.Errorf("verify chunk %s.%d: store returned %d %s for %d ids", c.JobID, c.Chunk, len(got), what, len(ids))
		}
		for j, i := range items {
			fetched[i] = got[j]
		}
		return nil
	}
	if err := fetch("documents", refIDs, refItems, h.docs.GetDocuments); err != nil {
		return nil, err
	}
	if h.blobs != nil {
		if err := fetch("staged documents", blobIDs, blobItems, h.blobs.GetBlobs); err != nil {
			return nil, err
		}
		// A chunk staged by an earlier version, which kept staged bytes
		// as documents named "blob:<sha256>" (during a rolling upgrade).
		var legacyIDs []string
		var legacyItems []int
		for _, i := range blobItems {
			if fetched[i] == nil {
				legacyIDs = append(legacyIDs, legacyBlobPrefix+idOf[i])
				legacyItems = append(legacyItems, i)
			}
		}
		if err := fetch("staged documents", legacyIDs, legacyItems, h.docs.GetDocuments); err != nil {
			return nil, err
		}
	}

	rawLen := make([]int, len(c.Items)) // of the documents that may be stored
	for i := range c.Items {
		it := &c.Items[i]
		res := &results[i]
		var raw []byte
		switch {
		case it.Error != "":
			res.Error = it.Error
			continue
		case ambiguous(it):
			res.Error = errMsgAmbiguous
			continue
		case it.Document != nil:
			raw, keep[i] = it.Document, true
		case it.Blob != "":
			raw, keep[i] = fetched[i], true
			if idOf[i] == "" {
				res.Error = errMsgBadBlob
				continue
			}
			if raw == nil {
				res.Error = errMsgStagedNotFound
				continue
			}
			if !blobMatches(raw, idOf[i]) {
				res.Error = errMsgStagedCorrupt
				continue
			}
		case it.DocumentID != "":
			raw = fetched[i]
			res.DocumentID = it.DocumentID
			if idOf[i] == "" {
				res.Error = errMsgBadDocumentID
				continue
			}
			res.DocumentID = idOf[i]
			if raw == nil {
				res.Error = errMsgNotFound
				continue
			}
		default:
			res.Error = errMsgNoDocument
			continue
		}
		doc, err := covenant.Parse(raw)
		if err != nil {
			res.Error = "malformed document: " + parseMessage(err)
			keep[i] = false
			continue
		}
		docs[i] = doc
		res.DocumentID = doc.ID()
		if keep[i] {
			rawLen[i] = len(raw)
		}
	}

	verdicts := h.verifier.At(at).VerifyBatchContext(ctx, docs)
	extra, err := h.extraChecks(ctx, c, docs, verdicts)
	if err != nil {
		return nil, fmt.Errorf("verify chunk %s.%d: %w", c.JobID, c.Chunk, err)
	}

	// Items whose ancestor may yet arrive in another chunk of the job wait
	// for a later delivery (see VerifyConfig.ChainDeliveries).
	var waiting []bool
	if info, ok := MessageInfo(ctx); ok && c.Chain && info.NumDelivered < h.chainDeliveries {
		for i := range extra {
			for _, ch := range extra[i] {
				if registry.MissingAncestor(ch) {
					if waiting == nil {
						waiting = make([]bool, len(docs))
					}
					waiting[i] = true
				}
			}
		}
	}

	var toStore []int // items whose documents are stored
	seen := make(map[string]bool)
	for i, doc := range docs {
		if doc == nil {
			continue
		}
		v := verdicts[i]
		res := &results[i]
		res.Valid = v.Valid
		var more []store.Check
		if extra != nil {
			more = extra[i]
		}
		res.Checks = make([]store.Check, len(v.Checks), len(v.Checks)+len(more))
		for j, ch := range v.Checks {
			res.Checks[j] = store.Check{Name: ch.Name, Passed: ch.Passed, Message: ch.Message}
		}
		revoked := false
		for _, ch := range more {
			res.Checks = append(res.Checks, ch)
			res.Valid = res.Valid && ch.Passed
			revoked = revoked || ch.Name == registry.CheckKeyNotRevoked
		}
		if h.keep && keep[i] && !revoked && authentic(v) && !seen[doc.ID()] {
			seen[doc.ID()] = true
			toStore = append(toStore, i)
		}
	}
	if waiting != nil {
		// The documents are written now rather than with the results: a
		// waiting item may be the ancestor another chunk waits for, and
		// a chunk handed back with no result commits nothing.
		if err := h.putDocuments(ctx, docs, rawLen, toStore); err != nil {
			return nil, fmt.Errorf("verify chunk %s.%d: %w", c.JobID, c.Chunk, err)
		}
		partial := results[:0:0]
		n := 0
		for i := range results {
			if waiting[i] {
				n++
			} else {
				partial = append(partial, results[i])
			}
		}
		return partial, fmt.Errorf("verify chunk %s.%d: %w", c.JobID, c.Chunk,
			RetryChunk(h.chainDelay, fmt.Sprintf("%d items name ancestors not stored yet", n)))
	}
	if err := h.storeDocuments(ctx, docs, rawLen, toStore); err != nil {
		return nil, fmt.Errorf("verify chunk %s.%d: %w", c.JobID, c.Chunk, err)
	}
	return results, nil
}

// putDocuments writes the documents of items idx that the store does not
// hold yet, at once (not through a Runner's commit).
func (h *VerifyHandler) putDocuments(ctx context.Context, docs []*covenant.Document, rawLen []int, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	idx, err := h.unstored(ctx, docs, append([]int(nil), idx...))
	if err != nil || len(idx) == 0 {
		return err
	}
	out := make([]store.Document, len(idx))
	for j, i := range idx {
		out[j] = storeDocument(docs[i])
	}
	if err := h.docs.PutDocuments(ctx, out); err != nil {
		return fmt.Errorf("store %d documents: %w", len(out), err)
	}
	return nil
}

// extraChecks returns the checks added to the eleven of the verifier, per
// document: key_not_revoked when revocations are configured, the chain
// checks when the chunk asks for them. It is nil (and costs nothing) when
// neither applies.
func (h *VerifyHandler) extraChecks(ctx context.Context, c *Chunk, docs []*covenant.Document, verdicts []covenant.Result) ([][]store.Check, error) {
	if h.revs == nil && !c.Chain {
		return nil, nil
	}
	extra := make([][]store.Check, len(docs))
	var revoked []*store.Check
	if h.revs != nil {
		var err error
		revoked, err = registry.Revoked(ctx, h.revs, docs)
		if err != nil {
			return nil, err
		}
		for i, ch := range revoked {
			if ch != nil {
				extra[i] = append(extra[i], *ch)
			}
		}
	}
	if !c.Chain {
		return extra, nil
	}
	// Chains of the documents that verified, through the authentic,
	// unrevoked documents of the chunk and the store.
	candidates := make([]*covenant.Document, len(docs))
	local := make([]*covenant.Document, 0, len(docs))
	for i, d := range docs {
		if d == nil || (revoked != nil && revoked[i] != nil) {
			continue
		}
		if verdicts[i].Valid {
			candidates[i] = d
		}
		if authentic(verdicts[i]) {
			local = append(local, d)
		}
	}
	chains, err := h.resolver.CheckChains(ctx, candidates, local, 0)
	if err != nil {
		return nil, err
	}
	for i, checks := range chains {
		extra[i] = append(extra[i], checks...)
	}
	return extra, nil
}

// storeDocuments stores the documents of items idx (docs[i], received as
// rawLen[i] bytes) that the store does not hold yet. Writes are create-only
// (see appendStoredDocument), so a stored copy is never replaced and a
// document the store already holds needs no write at all. Under a runner
// that commits chunks (see commit.go) the documents are left to the
// runner's commit, which writes them with the results in one round trip.
//
// Asking the store which documents it holds costs a round trip but no
// document reads; it saves encoding and sending the stored form of each
// document and its index entries. Under a runner it is done only when
// every signature of the chunk was a signature-cache hit (no outcome was
// deferred to the commit): the documents were then most likely stored by
// the commit that filled the cache, while a chunk of new documents skips
// the question. Index entries need no check: stores write them before the
// document (see store.Documents), so a stored document has them.
func (h *VerifyHandler) storeDocuments(ctx context.Context, docs []*covenant.Document, rawLen []int, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	pw := pendingFor(ctx, h.docs)
	if pw == nil || (h.cached && !pw.hasSigs()) {
		var err error
		if idx, err = h.unstored(ctx, docs, idx); err != nil {
			return err
		}
		if len(idx) == 0 {
			return nil
		}
	}
	// The stored JSON of the documents, one after the other in one buffer
	// (a document's JSON is about as long as what was received).
	size := 0
	for _, i := range idx {
		size += rawLen[i]
	}
	buf := make([]byte, 0, size+size/8)
	out := make([]store.Document, len(idx))
	for j, i := range idx {
		out[j], buf = appendStoredDocument(buf, docs[i])
	}
	if pw != nil {
		pw.addDocuments(out)
		return nil
	}
	if err := h.docs.PutDocuments(ctx, out); err != nil {
		return fmt.Errorf("store %d documents: %w", len(out), err)
	}
	return nil
}

// unstored returns the items of idx (reusing its array) whose documents the
// store does not hold.
func (h *VerifyHandler) unstored(ctx context.Context, docs []*covenant.Document, idx []int) ([]int, error) {
	ids := make([]string, len(idx))
	for j, i := range idx {
		ids[j] = docs[i].ID()
	}
	has, err := h.docs.HasDocuments(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("check %d documents: %w", len(ids), err)
	}
	if len(has) != len(ids) {
		return nil, fmt.Errorf("check %d documents: store answered %d", len(ids), len(has))
	}
	missing := idx[:0]
	for j, i := range idx {
		if !has[j] {
			missing = append(missing, i)
		}
	}
	return missing, nil
}

// authentic reports whether the document's content matches its ID and all
// its signatures verify.
func authentic(r covenant.Result) bool {
	n := 0
	for _, ch := range r.Checks {
		switch ch.Name {
		case covenant.CheckIDMatch, covenant.CheckSignatureValid, covenant.CheckCountersignatures:
			if !ch.Passed {
				return false
			}
			n++
		}
	}
	return n == 3
}

// storeDocument is the stored form of a verified document: its plain JSON
// (JSON.stringify form) and the fields the listing indexes use.
func storeDocument(doc *covenant.Document) store.Document {
	sd, _ := appendStoredDocument(nil, doc)
	return sd
}

// appendStoredDocument is storeDocument with the JSON appended to buf, which
// it returns extended; the document's JSON is capped at its length, so later
// appends to buf never change it.
func appendStoredDocument(buf []byte, doc *covenant.Document) (store.Document, []byte) {
	start := len(buf)
	buf = doc.AppendJSON(buf)
	sd := store.Document{
		ID:            doc.ID(),
		JSON:          buf[start:len(buf):len(buf)],
		IssuerID:      doc.Issuer().ID,
		BeneficiaryID: doc.Beneficiary().ID,
		CreatedAt:     doc.CreatedAt(),
		// The stored copy of this ID may carry countersignatures added
		// since: never replace it.
		CreateOnly: true,
	}
	_, sd.HasChain = doc.Chain()
	if md, ok := doc.Metadata(); ok {
		sd.Tags = md.Tags
	}
	return sd, buf
}

// blobMatches reports, in constant time, whether raw hashes to hexSum.
func blobMatches(raw []byte, hexSum string) bool {
	want, err := hex.DecodeString(hexSum)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256(raw)
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

// parseMessage is the reference's message for a Parse failure.
func parseMessage(err error) string {
	var pe *covenant.ParseError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}
