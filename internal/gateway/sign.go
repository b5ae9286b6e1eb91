package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/jsonscan"
	"github.com/stele-go/stele/internal/store"
)

// Sign and countersign requests become sign jobs (kind "sign" on
// stele.jobs.sign) that signer processes carry out with the keys they hold;
// the gateway holds no private key. Each item carries a jobs.SignRequest in
// jobs.Item.Sign, completed by the gateway with a random nonce and the
// creation time, so that a redelivered item builds the very same covenant.
//
// A request is rejected as a whole (4xx naming the field) when its shape is
// wrong. Problems that concern one item's content rather than its shape
// (a key no signer advertises, a retired or revoked key, constraints that do
// not parse) do not reject the request: the item carries the error
// (jobs.Item.Error, "code: message") and its result records it as failed.

// Bounds of sign request members.
const (
	maxKeyIDBytes     = 64
	maxPartyIDBytes   = store.MaxIDLen
	maxNameBytes      = 1024
	maxRelationBytes  = 64
	maxRoleBytes      = 64
	maxReasonBytes    = 1024
	maxSmallBodyBytes = 64 << 10
	// chunkEnvelopeSlack is kept free in a chunk for its envelope and the
	// item's other members (index, JSON escaping of the ref).
	chunkEnvelopeSlack = 16 << 10
)

// signItem is one validated item of a sign request.
type signItem struct {
	ref string
	req jobs.SignRequest
	// err is the item's error found by the gateway ("code: message"), "" if
	// none.
	err string
}

// handleSign is POST /v1/sign.
func (s *Server) handleSign(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r, "wait")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wait, err := parseWait(q, s.lim.MaxWait)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := requireJSON(r); err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := readJSONBody(w, r, s.lim.MaxBodyBytes, s.lim.MaxDepth+3)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, err := s.parseSignRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.prepareSign(r.Context(), items, s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.queueSign(w, r, items, wait)
}

// handleCountersign is POST /v1/countersign: {"documentId","keyId","role"?}
// becomes a one-item sign job.
func (s *Server) handleCountersign(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r, "wait")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wait, err := parseWait(q, s.lim.MaxWait)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := requireJSON(r); err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := readJSONBody(w, r, maxSmallBodyBytes, maxParamDepth)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var it signItem
	err = walkObject(body, "body", "an object", func(key, field string, val json.RawMessage) error {
		var err error
		switch key {
		case "documentId":
			it.req.Countersign, err = parseDocumentID(field, val)
		case "keyId":
			it.req.KeyID, err = parseKeyID(field, val)
		case "role":
			it.req.Role, err = boundedString(field, val, maxRoleBytes)
		case "ref":
			it.ref, err = parseRef(field, val, s.lim)
		default:
			err = unknownField(field, "documentId, keyId, role, ref")
		}
		return err
	})
	switch {
	case err != nil:
	case it.req.Countersign == "":
		err = fieldError(ErrMissingField, "documentId", "required: the ID of a stored covenant")
	case it.req.KeyID == "":
		err = fieldError(ErrMissingField, "keyId", "required: the ID of a signer's key")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	if _, err := s.store.GetDocument(ctx, it.req.Countersign); err != nil {
		s.fail(w, r, notFound(fmt.Errorf("get covenant %s: %w", it.req.Countersign, err), "documentId", "covenant"))
		return
	}
	items := []signItem{it}
	if err := s.prepareSign(r.Context(), items, s.now()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.queueSign(w, r, items, wait)
}

// requireJSON rejects a request whose Content-Type is set and not JSON.
func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return fieldError(ErrUnsupportedMedia, "Content-Type", "unsupported %q: send application/json", ct)
	}
	return nil
}

// queueSign publishes items as a sign job and answers like verification.
func (s *Server) queueSign(w http.ResponseWriter, r *http.Request, items []signItem, wait time.Duration) {
	// Encode everything before the job exists: nothing is half-queued. A
	// sign item travels inline (only documents are staged), so it must fit
	// in one chunk.
	maxItem := s.pub.ChunkBytes() - chunkEnvelopeSlack
	encoded := make([]jobs.Item, len(items))
	for i := range items {
		it := jobs.Item{Ref: items[i].ref, Error: items[i].err}
		if it.Error == "" {
			b, err := json.Marshal(&items[i].req)
			if err != nil {
				s.fail(w, r, fmt.Errorf("encode sign item %d: %w: %v", i, ErrInternal, err))
				return
			}
			it.Sign = b
		}
		if n := len(it.Sign) + len(it.Ref) + len(it.Error); n > maxItem {
			s.fail(w, r, fieldError(ErrDocumentTooLarge, fmt.Sprintf("items[%d]", i), "the sign request encodes to %d bytes; one item may take at most %d", n, maxItem))
			return
		}
		encoded[i] = it
	}
	feed := func(ctx context.Context, cw *jobs.ChunkWriter) error {
		for _, it := range encoded {
			if err := cw.AddValidated(ctx, it); err != nil {
				return err
			}
		}
		return nil
	}
	s.queueAndAnswer(w, r, jobs.Job{Kind: store.KindSign}, len(encoded), wait, feed)
}

// prepareSign completes the items that have no error yet: a fresh nonce and
// the creation time (countersignatures: the timestamp), then the key checks.
func (s *Server) prepareSign(ctx context.Context, items []signItem, now time.Time) error {
	at := jstime.Format(now)
	var ids []string
	for i := range items {
		it := &items[i]
		if it.err != "" {
			continue
		}
		if it.req.Countersign != "" {
			it.req.Timestamp = at
		} else {
			it.req.Nonce = newNonce()
			it.req.CreatedAt = at
		}
		ids = append(ids, it.req.KeyID)
	}
	if len(ids) == 0 {
		return nil
	}
	verdicts, err := s.checkKeys(ctx, ids)
	if err != nil {
		s.log.ErrorContext(ctx, "key check failed", "err", err)
		return &Error{Err: ErrUnavailable, Message: "the key directory could not be read; retry later"}
	}
	for i := range items {
		it := &items[i]
		if it.err == "" {
			it.err = verdicts[it.req.KeyID].Error
		}
	}
	return nil
}

// newNonce returns 32 random bytes in hex, a covenant nonce.
func newNonce() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// parseSignRequest validates {"items":[…]} completely.
func (s *Server) parseSignRequest(body []byte) ([]signItem, error) {
	var items []signItem
	seenItems := false
	err := walkObject(body, "body", "an object", func(key, field string, val json.RawMessage) error {
		if key != "items" {
			return unknownField(field, "items")
		}
		seenItems = true
		tooMany := func() error {
			return fieldError(ErrTooManyItems, "items", "at most %d items per request", s.lim.MaxItems)
		}
		items = []signItem{}
		return walkArray(val, "items", s.lim.MaxItems, tooMany, func(n int, field string, val json.RawMessage) error {
			it, err := s.parseSignItem(field, val)
			if err != nil {
				return err
			}
			items = append(items, it)
			return nil
		})
	})
	switch {
	case err != nil:
		return nil, err
	case !seenItems:
		return nil, fieldError(ErrMissingField, "items", "required: an array of covenants to sign")
	case len(items) == 0:
		return nil, fieldError(ErrInvalidField, "items", "must contain at least one item")
	}
	return items, nil
}

const signItemFields = "ref, keyId, issuer, beneficiary, constraints, expiresAt, activatesAt, metadata, obligations, parentId, relation"

// parseSignItem validates one item of a sign request.
func (s *Server) parseSignItem(base string, raw json.RawMessage) (signItem, error) {
	var it signItem
	if len(raw) > s.lim.MaxDocumentBytes {
		return it, fieldError(ErrDocumentTooLarge, base, "item is %d bytes; the limit is %d", len(raw), s.lim.MaxDocumentBytes)
	}
	req := &it.req
	var constraints *string
	err := walkObject(raw, base, "an object {keyId, beneficiary, constraints, …}", func(key, field string, val json.RawMessage) error {
		if isNull(val) && strings.Contains(", "+signItemFields+", ", ", "+key+", ") {
			return nil // null is absent, as in a verify item; a required member is then missing
		}
		var err error
		switch key {
		case "ref":
			it.ref, err = parseRef(field, val, s.lim)
		case "keyId":
			req.KeyID, err = parseKeyID(field, val)
		case "issuer":
			req.Issuer, err = parseParty(field, val, false)
		case "beneficiary":
			req.Beneficiary, err = parseParty(field, val, true)
		case "constraints":
			var c string
			if c, err = parseString(field, val); err == nil {
				constraints = &c
			}
		case "expiresAt":
			req.ExpiresAt, err = parseDate(field, val)
		case "activatesAt":
			req.ActivatesAt, err = parseDate(field, val)
		case "metadata":
			if len(val) == 0 || val[0] != '{' {
				err = fieldError(ErrInvalidField, field, "must be an object, got %s", jsonscan.Kind(val))
			} else {
				err = checkMemberDepth(field, val)
			}
			req.Metadata = val
		case "obligations":
			err = walkArray(val, field, 1<<20, nil, func(_ int, field string, o json.RawMessage) error {
				if len(o) == 0 || o[0] != '{' {
					return fieldError(ErrInvalidField, field, "must be an object {id, description, action}, got %s", jsonscan.Kind(o))
				}
				return nil
			})
			if err == nil {
				err = checkMemberDepth(field, val)
			}
			req.Obligations = val
		case "parentId":
			req.ParentID, err = parseDocumentID(field, val)
		case "relation":
			req.Relation, err = boundedString(field, val, maxRelationBytes)
		default:
			err = unknownField(field, signItemFields)
		}
		return err
	})
	if err != nil {
		return it, err
	}
	switch {
	case req.KeyID == "":
		return it, fieldError(ErrMissingField, base+".keyId", "required: the ID of the signer's key")
	case req.Beneficiary == nil:
		return it, fieldError(ErrMissingField, base+".beneficiary", "required: {id, publicKey}")
	case constraints == nil:
		return it, fieldError(ErrMissingField, base+".constraints", "required: CCL text")
	case req.ParentID != "" && req.Relation == "":
		return it, fieldError(ErrMissingField, base+".relation", "required with parentId (delegates, restricts or extends)")
	case req.ParentID == "" && req.Relation != "":
		return it, fieldError(ErrInvalidField, base+".relation", "given without parentId")
	}
	req.Constraints = *constraints
	if _, err := ccl.Check(req.Constraints); err != nil {
		it.err = cclError(err)
	}
	return it, nil
}

// checkMemberDepth refuses a member of a sign request (metadata,
// obligations) that nests deeper than the signer takes: the request object
// holds it, so it may nest jobs.MaxSignRequestDepth-1 levels. Queued, it
// would fail its item as "not valid JSON".
func checkMemberDepth(field string, val json.RawMessage) error {
	if max := jobs.MaxSignRequestDepth - 1; depthExceeds(val, max) {
		return fieldError(ErrTooDeep, field, "nests deeper than %d levels", max)
	}
	return nil
}

// cclError is the item error for constraints that do not parse:
// "invalid_ccl: line L, column C: detail".
func cclError(err error) string {
	var se *ccl.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: line %d, column %d: %s", jobs.SignErrInvalidCCL, se.Line, se.Column, se.Detail)
	}
	return jobs.SignErrInvalidCCL + ": " + err.Error()
}

// parseParty validates a party: {"id", "name"?} and, for the beneficiary,
// "publicKey" (64 hex digits). The issuer's public key is never taken from a
// request: it is the signer's key.
func parseParty(field string, raw json.RawMessage, beneficiary bool) (*jobs.SignParty, error) {
	p := &jobs.SignParty{}
	expected := "id, name"
	if beneficiary {
		expected = "id, publicKey, name"
	}
	err := walkObject(raw, field, "an object {"+expected+"}", func(key, sub string, val json.RawMessage) error {
		var err error
		switch key {
		case "id":
			p.ID, err = boundedString(sub, val, maxPartyIDBytes)
		case "name":
			p.Name, err = boundedString(sub, val, maxNameBytes)
		case "publicKey":
			if !beneficiary {
				return fieldError(ErrInvalidField, sub, "the issuer's public key comes from the signer's key (keyId); leave it out")
			}
			p.PublicKey, err = parsePublicKey(sub, val)
		default:
			err = unknownField(sub, expected)
		}
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case p.ID == "":
		return nil, fieldError(ErrMissingField, field+".id", "required")
	case beneficiary && p.PublicKey == "":
		return nil, fieldError(ErrMissingField, field+".publicKey", "required: the Ed25519 public key, 64 hex digits")
	}
	return p, nil
}

// parsePublicKey checks an Ed25519 public key: 64 hex digits, returned in
// lower case.
func parsePublicKey(field string, raw json.RawMessage) (string, error) {
	s, err := parseString(field, raw)
	if err != nil {
		return "", err
	}
	k, ok := store.NormalHexID(s)
	if !ok {
		return "", fieldError(ErrInvalidField, field, "must be an Ed25519 public key: 64 hex digits")
	}
	return k, nil
}

// parseKeyID checks a keyring key ID: 1 to 64 characters of [A-Za-z0-9._-].
func parseKeyID(field string, raw json.RawMessage) (string, error) {
	s, err := parseString(field, raw)
	if err != nil {
		return "", err
	}
	if !validKeyID(s) {
		return "", fieldError(ErrInvalidField, field, "must be a key ID: 1 to %d characters of A-Z, a-z, 0-9, '.', '_' and '-'", maxKeyIDBytes)
	}
	return s, nil
}

func validKeyID(s string) bool {
	if s == "" || len(s) > maxKeyIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// parseDate checks a covenant timestamp (what JavaScript's Date parses, as
// verification reads it) and returns it as given.
func parseDate(field string, raw json.RawMessage) (string, error) {
	s, err := boundedString(field, raw, 64)
	if err != nil {
		return "", err
	}
	if _, ok := jstime.Parse(s); !ok {
		return "", fieldError(ErrInvalidField, field, "must be a date-time such as 2026-01-02T15:04:05.000Z")
	}
	return s, nil
}
