package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/registry"
	"github.com/stele-go/stele/internal/store"
)

// The registry's covenant routes: storing a covenant signed elsewhere,
// listing stored covenants, and a covenant's delegation chain.

// onlyNotYetActive reports whether the one failing check is `active`: the
// covenant verifies but takes effect later.
func onlyNotYetActive(checks []covenant.Check) bool {
	failed := 0
	for _, c := range checks {
		if !c.Passed {
			if c.Name != covenant.CheckActive {
				return false
			}
			failed++
		}
	}
	return failed == 1
}

// putAnswer is the answer of PUT /v1/covenants that stored (or already
// held) the covenant.
type putAnswer struct {
	ID     string `json:"id"`
	Stored bool   `json:"stored"`
}

// invalidCovenant is the 422 answer of PUT /v1/covenants: the error and
// every check, passed or not.
type invalidCovenant struct {
	Error  errorDetail   `json:"error"`
	Checks []store.Check `json:"checks"`
}

// handlePutCovenant is PUT /v1/covenants: the body is one covenant. It is
// verified as of now (the eleven checks with the shared signature cache,
// the revocation list, and with ?chain=true the narrowing against its stored
// ancestors), then stored: 201 when new, 200 when the store already held it.
// A failing check is 422 with every check, except `active` alone: a
// covenant issued to take effect later is stored, as a signer stores the
// ones it issues (evaluation denies it until then).
//
// Storing an ID the store already holds keeps the stored bytes unless the
// new copy carries every countersignature of the stored one and more: a
// covenant can gain countersignatures through PUT but never lose them. A
// copy that adds countersignatures but lacks some of the stored ones is 409.
func (s *Server) handlePutCovenant(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r, "chain")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	chain, err := boolParam(q, "chain")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := requireJSON(r); err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := readJSONBody(w, r, int64(s.lim.MaxDocumentBytes), s.lim.MaxDepth)
	if err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			err = fieldError(ErrDocumentTooLarge, "body", "a covenant may be at most %d bytes", s.lim.MaxDocumentBytes)
		}
		s.fail(w, r, err)
		return
	}
	doc, err := covenant.Parse(body)
	if err != nil {
		var pe *covenant.ParseError
		msg := err.Error()
		if errors.As(err, &pe) {
			msg = pe.Message
		}
		s.fail(w, r, fieldError(ErrInvalidField, "body", "not a covenant: %s", msg))
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()

	res := s.verifier.VerifyContext(ctx, doc)
	checks := make([]store.Check, len(res.Checks), len(res.Checks)+2)
	for i, c := range res.Checks {
		checks[i] = store.Check{Name: c.Name, Passed: c.Passed, Message: c.Message}
	}
	valid := res.Valid || onlyNotYetActive(res.Checks)
	revoked, err := registry.Revoked(ctx, s.store, []*covenant.Document{doc})
	if err != nil {
		s.fail(w, r, fmt.Errorf("put covenant %s: revocations: %w", doc.ID(), err))
		return
	}
	if revoked[0] != nil {
		checks = append(checks, *revoked[0])
		valid = false
	}
	if chain {
		if _, ok := doc.Chain(); ok {
			extra, err := s.resolver.CheckChains(ctx, []*covenant.Document{doc}, nil, 0)
			if err != nil {
				s.fail(w, r, fmt.Errorf("put covenant %s: chain: %w", doc.ID(), err))
				return
			}
			if len(extra[0]) > 0 {
				checks = append(checks, extra[0]...)
				valid = false
			}
		}
	}
	if !valid {
		var failed []string
		for _, c := range checks {
			if !c.Passed {
				failed = append(failed, c.Name)
			}
		}
		status, code := statusAndCode(ErrInvalidCovenant)
		writeJSON(w, status, invalidCovenant{
			Error: errorDetail{
				Code:    code,
				Message: "the covenant failed verification: " + strings.Join(failed, ", "),
				Field:   "body",
			},
			Checks: checks,
		})
		return
	}

	sd := jobs.StoredDocument(doc)
	existing, err := s.store.GetDocument(ctx, sd.ID)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.store.PutDocuments(ctx, []store.Document{sd}); err != nil {
			s.fail(w, r, fmt.Errorf("put covenant %s: %w", sd.ID, err))
			return
		}
		// The put is create-only: another writer (a verify worker, a
		// signer, another PUT) may have stored its copy in between, and
		// then this copy was not written. Only ours is answered 201; theirs
		// goes through the countersignature comparison below.
		existing, err = s.store.GetDocument(ctx, sd.ID)
		if err == nil && bytes.Equal(existing, sd.JSON) {
			w.Header().Set("Location", "/v1/covenants/"+sd.ID)
			writeJSON(w, http.StatusCreated, putAnswer{ID: sd.ID, Stored: true})
			return
		}
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("put covenant %s: read stored copy: %w", sd.ID, err))
		return
	}
	// A copy with countersignatures the stored one lacks replaces it with a
	// compare and swap, so a countersignature added meanwhile by a signer or
	// another PUT is never lost; a copy that would drop one is refused.
	for attempt := 1; ; attempt++ {
		keeps, adds := compareCountersignatures(existing, doc)
		if !adds {
			break
		}
		if !keeps {
			s.fail(w, r, fieldError(ErrConflict, "body",
				"the stored covenant %s carries countersignatures this copy lacks: GET it, add yours and PUT it again", sd.ID))
			return
		}
		err := s.store.SwapDocument(ctx, sd.ID, existing, sd.JSON)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= maxSwapAttempts {
			s.fail(w, r, fmt.Errorf("put covenant %s: %w", sd.ID, err))
			return
		}
		if existing, err = s.store.GetDocument(ctx, sd.ID); err != nil {
			s.fail(w, r, fmt.Errorf("put covenant %s: read stored copy: %w", sd.ID, err))
			return
		}
	}
	writeJSON(w, http.StatusOK, putAnswer{ID: sd.ID, Stored: true})
}

// maxSwapAttempts bounds the compare-and-swap rounds of one PUT.
const maxSwapAttempts = 16

// compareCountersignatures reports whether doc keeps every countersignature
// of the stored copy and whether it adds any. A stored copy that does not
// parse is replaced.
func compareCountersignatures(stored []byte, doc *covenant.Document) (keeps, adds bool) {
	old, err := covenant.Parse(stored)
	if err != nil {
		return true, true
	}
	key := func(c covenant.Countersignature) string { return c.SignerPublicKey + "/" + c.Signature }
	have := make(map[string]bool)
	for _, c := range old.Countersignatures() {
		have[key(c)] = true
	}
	kept := make(map[string]bool)
	for _, c := range doc.Countersignatures() {
		if have[key(c)] {
			kept[key(c)] = true
		} else {
			adds = true
		}
	}
	return len(kept) == len(have), adds
}

// covenantSummary is one item of GET /v1/covenants: the indexed fields and
// the document.
type covenantSummary struct {
	ID            string          `json:"id"`
	IssuerID      string          `json:"issuerId"`
	BeneficiaryID string          `json:"beneficiaryId"`
	CreatedAt     string          `json:"createdAt"`
	HasChain      bool            `json:"hasChain"`
	Tags          []string        `json:"tags"`
	Document      json.RawMessage `json:"document"`
}

// covenantPage is the answer of GET /v1/covenants.
type covenantPage struct {
	Items []covenantSummary `json:"items"`
	// Next is the cursor of the following page, null after the last one.
	Next *string `json:"next"`
}

// listParams are the query parameters of GET /v1/covenants.
var listParams = []string{"issuer", "beneficiary", "createdAfter", "createdBefore", "hasChain", "tag", "limit", "cursor"}

// handleListCovenants is GET /v1/covenants: the stored covenants matching
// the filters, in (createdAt, id) order, a page at a time.
func (s *Server) handleListCovenants(w http.ResponseWriter, r *http.Request) {
	v, err := queryParams(r, listParams...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := parseListQuery(v, s.lim.MaxDocumentBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	page, err := s.store.ListDocuments(ctx, q)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) && q.Cursor != "" {
			err = fieldError(ErrInvalidParameter, "cursor", "not a cursor of this listing; pass the next value of the previous page")
		}
		s.fail(w, r, fmt.Errorf("list covenants: %w", err))
		return
	}
	ans := covenantPage{Items: make([]covenantSummary, len(page.Documents))}
	for i, d := range page.Documents {
		tags := d.Tags
		if tags == nil {
			tags = []string{}
		}
		ans.Items[i] = covenantSummary{
			ID:            d.ID,
			IssuerID:      d.IssuerID,
			BeneficiaryID: d.BeneficiaryID,
			CreatedAt:     d.CreatedAt,
			HasChain:      d.HasChain,
			Tags:          tags,
			Document:      d.JSON,
		}
	}
	if page.Next != "" {
		ans.Next = &page.Next
	}
	writeJSON(w, http.StatusOK, ans)
}

// parseListQuery checks the values of the listing's query parameters (see
// queryParams for their names). The issuer, beneficiary and tag filters are
// bounded by maxDocBytes, the size of the largest covenant the gateway
// stores, not by what a signing request may set: PUT /v1/covenants and
// verification store covenants signed elsewhere, whose members only their
// size bounds, and each must be found by its own values.
func parseListQuery(v url.Values, maxDocBytes int) (store.DocumentQuery, error) {
	var q store.DocumentQuery
	str := func(name string, max int) (string, error) {
		s := v.Get(name)
		if len(s) > max {
			return "", fieldError(ErrInvalidParameter, name, "longer than %d bytes", max)
		}
		return s, nil
	}
	var err error
	if q.Issuer, err = str("issuer", maxDocBytes); err != nil {
		return q, err
	}
	if q.Beneficiary, err = str("beneficiary", maxDocBytes); err != nil {
		return q, err
	}
	if q.Tag, err = str("tag", maxDocBytes); err != nil {
		return q, err
	}
	if q.Cursor, err = str("cursor", 1024); err != nil {
		return q, err
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"createdAfter", &q.CreatedAfter}, {"createdBefore", &q.CreatedBefore}} {
		if s := v.Get(p.name); s != "" {
			t, err := jobs.ParseAt(s)
			if err != nil {
				return q, fieldError(ErrInvalidParameter, p.name, "must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z%s", plusHint(s))
			}
			if t.IsZero() {
				// The query takes the zero time for "no bound"; the
				// instant a nanosecond later lies in the same millisecond,
				// which is all the stores compare.
				t = t.Add(time.Nanosecond)
			}
			*p.dst = t
		}
	}
	if v.Get("hasChain") != "" { // empty, like the other filters: no filter
		b, err := boolParam(v, "hasChain")
		if err != nil {
			return q, err
		}
		q.HasChain = &b
	}
	if q.Limit, err = intParam(v.Get("limit"), "limit", store.DefaultListLimit, 1, store.MaxListLimit); err != nil {
		return q, err
	}
	return q, nil
}

// handleChain is GET /v1/covenants/{id}/chain: the covenant's ancestors, its
// effective constraints and the narrowing verdict of every link.
func (s *Server) handleChain(w http.ResponseWriter, r *http.Request) {
	id, ok := store.NormalHexID(r.PathValue("id"))
	if !ok {
		s.fail(w, r, fieldError(ErrInvalidParameter, "id", "must be a covenant ID: 64 hex characters"))
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	info, err := registry.Chain(ctx, s.resolver, id, 0)
	if err != nil {
		var nf *registry.NotFoundError
		switch {
		case errors.Is(err, registry.ErrChainBroken) && errors.As(err, &nf):
			err = fieldError(ErrNotFound, "id", "ancestor %s of covenant %s is not stored", nf.ID, id)
		case errors.Is(err, registry.ErrChainBroken):
			err = fieldError(ErrBrokenChain, "id", "%v", err)
		case errors.Is(err, store.ErrNotFound):
			err = fieldError(ErrNotFound, "id", "no such covenant")
		default:
			err = fmt.Errorf("chain of %s: %w", id, err)
		}
		s.fail(w, r, err)
		return
	}
	if info.Ancestors == nil {
		info.Ancestors = []registry.Ancestor{}
	}
	if info.Narrowing == nil {
		info.Narrowing = []registry.Link{}
	}
	writeJSON(w, http.StatusOK, info)
}
