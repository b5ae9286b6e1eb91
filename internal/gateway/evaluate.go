package gateway

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/jsonscan"
)

// evaluateRoutes registers action evaluation and the audit trail's routes.
func (s *Server) evaluateRoutes(rt *router) {
	rt.handle("POST /v1/evaluate", s.noParams(s.handleEvaluate))
	rt.handle("GET /v1/covenants/{id}/audit", s.handleAudit)
	rt.handle("GET /v1/covenants/{id}/audit/proof/{index}", s.noParams(s.handleAuditProof))
	rt.handle("GET /v1/covenants/{id}/audit/verify", s.handleAuditVerify)
	rt.handle("POST /v1/covenants/{id}/audit/trim", s.operator(s.noParams(s.handleAuditTrim)))
}

// Evaluator returns the evaluation service behind POST /v1/evaluate (for
// evaluate.RegisterMicro).
func (s *Server) Evaluator() *evaluate.Service { return s.eval }

// evalError turns an error of the evaluation service into the API's.
func evalError(err error) error {
	var e *evaluate.Error
	if !errors.As(err, &e) {
		return err
	}
	sentinel := ErrInvalidField
	switch {
	case errors.Is(err, evaluate.ErrNotFound):
		sentinel = ErrNotFound
	case errors.Is(err, evaluate.ErrTooLarge):
		sentinel = ErrBodyTooLarge
	case errors.Is(err, evaluate.ErrMalformed):
		sentinel = ErrInvalidJSON
	case errors.Is(err, evaluate.ErrMissing):
		sentinel = ErrMissingField
	case errors.Is(err, evaluate.ErrUnknown):
		sentinel = ErrUnknownField
	case errors.Is(err, evaluate.ErrInvalid) && (e.Field == "from" || e.Field == "limit" || e.Field == "id"):
		sentinel = ErrInvalidParameter
	}
	field := e.Field
	if field == "" && sentinel != ErrNotFound {
		field = "body"
	}
	return &Error{Err: sentinel, Field: field, Message: e.Message}
}

// checkJSONType rejects a Content-Type other than JSON (an absent one is
// taken as JSON).
func checkJSONType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, _ := strings.Cut(ct, ";")
	if strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return nil
	}
	return fieldError(ErrUnsupportedMedia, "Content-Type", "unsupported %q: send application/json", ct)
}

// readSmallBody reads a JSON body of at most limit bytes.
func readSmallBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if err := checkJSONType(r); err != nil {
		return nil, err
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var maxErr *http.MaxBytesError
		var apiErr *Error
		switch {
		case errors.As(err, &maxErr):
			return nil, fieldError(ErrBodyTooLarge, "body", "request body exceeds %d bytes", maxErr.Limit)
		case errors.As(err, &apiErr):
			return nil, err
		}
		return nil, fieldError(ErrInvalidJSON, "body", "reading the request body failed: %s", bodyReadFailure(err))
	}
	return body, nil
}

// handleEvaluate is POST /v1/evaluate: {"covenantId","action","resource",
// "context"} → the Decision, with the audit entry that records it.
func (s *Server) handleEvaluate(w http.ResponseWriter, r *http.Request) {
	body, err := readSmallBody(w, r, evaluate.MaxRequestBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := evaluate.ParseRequest(body)
	if err != nil {
		s.fail(w, r, evalError(err))
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	d, err := s.eval.Evaluate(ctx, req)
	if err != nil {
		s.fail(w, r, evalError(err))
		return
	}
	out, err := json.Marshal(d)
	if err != nil {
		s.fail(w, r, fmt.Errorf("encode decision: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(out, '\n'))
}

// handleAudit is GET /v1/covenants/{id}/audit?from=&limit=: a page of the
// trail, {"entries":[…],"next":N|null,"trimmed":N}; with Accept:
// application/x-ndjson every entry from `from` on, one per line (the
// export), or the first `limit` of them when limit is given.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q, err := queryParams(r, "from", "limit")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from, err := intParam(q.Get("from"), "from", 0, 0, int(^uint(0)>>1))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if acceptsNDJSON(r.Header.Get("Accept")) {
		limit := 0 // the whole trail from `from`
		if q.Has("limit") {
			if limit, err = intParam(q.Get("limit"), "limit", 0, 1, int(^uint(0)>>1)); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		s.exportAudit(w, r, id, from, limit)
		return
	}
	limit, err := intParam(q.Get("limit"), "limit", evaluate.DefaultPageSize, 1, evaluate.MaxPageSize)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	page, err := s.eval.Entries(ctx, id, from, limit)
	if err != nil {
		s.fail(w, r, evalError(err))
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// errExportLimit ends an export that has written its limit of entries.
var errExportLimit = errors.New("export limit reached")

// exportAudit streams the trail from `from` as NDJSON, at most limit entries
// when limit > 0. The status is sent with the first entry, so an unknown
// covenant still gets a 404.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request, id string, from, limit int) {
	var bw *bufio.Writer
	rc := http.NewResponseController(w)
	n := 0
	start := func() {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		bw = bufio.NewWriterSize(w, 64<<10)
	}
	buf := make([]byte, 0, 1024)
	err := s.eval.Export(r.Context(), id, from, func(e *audit.Entry) error {
		if bw == nil {
			start()
		}
		buf = append(e.AppendJSON(buf[:0]), '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
		if n++; n == limit {
			return errExportLimit
		}
		if n%evaluate.MaxPageSize == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
			_ = rc.Flush()
		}
		return nil
	})
	if errors.Is(err, errExportLimit) {
		err = nil
	}
	if err != nil && bw == nil {
		s.fail(w, r, evalError(err))
		return
	}
	if err != nil {
		// The status is sent: break the response off (no final chunk), so
		// that the client sees an error rather than an export that looks
		// complete (and trims what it never received).
		if !errors.Is(err, io.ErrClosedPipe) && r.Context().Err() == nil {
			s.log.ErrorContext(r.Context(), "exporting the audit trail failed", "covenant", id, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	if bw == nil {
		start()
	}
	_ = bw.Flush()
}

// handleAuditProof is GET /v1/covenants/{id}/audit/proof/{index}: the Merkle
// inclusion proof of one entry, {"entryHash","proof":[…],"index","merkleRoot"}.
func (s *Server) handleAuditProof(w http.ResponseWriter, r *http.Request) {
	index, err := intParam(r.PathValue("index"), "index", 0, 0, int(^uint(0)>>1))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := withBudget(r.Context(), auditTimeout)
	defer cancel()
	p, err := s.eval.Proof(ctx, r.PathValue("id"), index)
	if err != nil {
		s.fail(w, r, evalError(err))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// handleAuditVerify is GET /v1/covenants/{id}/audit/verify[?index=&hash=]:
// the whole trail checked, {"valid","entries","brokenAt","merkleRoot",…};
// with index and hash (an evaluation's auditEntry), also that the trail
// still holds that entry (see evaluate.Service.VerifyTrail).
func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r, "index", "hash")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var held []evaluate.EntryRef
	switch {
	case q.Has("index") && !q.Has("hash"):
		s.fail(w, r, fieldError(ErrInvalidParameter, "hash", "required with index: the hash of the entry the caller holds"))
		return
	case q.Has("hash") && !q.Has("index"):
		s.fail(w, r, fieldError(ErrInvalidParameter, "index", "required with hash: the index of the entry the caller holds"))
		return
	case q.Has("index"):
		i, err := intParam(q.Get("index"), "index", 0, 0, math.MaxInt32)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		held = append(held, evaluate.EntryRef{Index: i, Hash: q.Get("hash")})
	}
	ctx, cancel := withBudget(r.Context(), auditTimeout)
	defer cancel()
	rep, err := s.eval.VerifyTrail(ctx, r.PathValue("id"), held...)
	if err != nil {
		s.fail(w, r, evalError(err))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// trimRequest is the body of POST /v1/covenants/{id}/audit/trim.
type trimRequest struct {
	UpTo *int `json:"upTo"`
}

// trimAnswer is its answer: the new checkpoint.
type trimAnswer struct {
	// Trimmed is the number of entries whose bodies are gone.
	Trimmed int `json:"trimmed"`
	// CheckpointHash is the hash of the last trimmed entry (the genesis
	// hash when nothing is trimmed).
	CheckpointHash string `json:"checkpointHash"`
}

// parseTrim decodes {"upTo":N}: one JSON object with that member only
// (spelled exactly so, once), N an integer.
func parseTrim(body []byte) (trimRequest, error) {
	var req trimRequest
	i := jsonscan.SkipWS(body, 0)
	end, serr := jsonscan.SkipValue(body, i, 4)
	if i >= len(body) || serr != nil || jsonscan.SkipWS(body, end) != len(body) {
		return req, fieldError(ErrInvalidJSON, "body", `must be one JSON object {"upTo":N}`)
	}
	err := walkObject(body[i:end], "body", `an object {"upTo":N}`, func(key, _ string, val json.RawMessage) error {
		if key != "upTo" {
			return fieldError(ErrUnknownField, key, `unknown member: the body is {"upTo":N}`)
		}
		// A number with an integral value, written as JSON allows (4, 4.0,
		// 4e0), as JavaScript clients send it.
		var f float64
		if err := json.Unmarshal(val, &f); err != nil || string(val) == "null" || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return fieldError(ErrInvalidField, "upTo", "must be a non-negative integer")
		}
		n := int(f)
		req.UpTo = &n
		return nil
	})
	return req, err
}

// handleAuditTrim is POST /v1/covenants/{id}/audit/trim {"upTo":N}: deletes
// the bodies of the entries before N, keeping the checkpoint hash so that
// the rest still verifies.
func (s *Server) handleAuditTrim(w http.ResponseWriter, r *http.Request) {
	body, err := readSmallBody(w, r, 1<<10)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := parseTrim(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.UpTo == nil {
		s.fail(w, r, fieldError(ErrMissingField, "upTo", "is required"))
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	h, err := s.eval.Trim(ctx, r.PathValue("id"), *req.UpTo)
	if err != nil {
		s.fail(w, r, evalError(err))
		return
	}
	writeJSON(w, http.StatusOK, trimAnswer{Trimmed: h.Len, CheckpointHash: h.Hash})
}
