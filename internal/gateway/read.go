package gateway

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jobID reads and checks the {id} of a job path.
func jobID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !jobs.ValidJobID(id) {
		return "", fieldError(ErrInvalidParameter, "id", "not a job ID")
	}
	return id, nil
}

// notFound turns the store's ErrNotFound into the API's, naming the field.
func notFound(err error, field, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fieldError(ErrNotFound, field, "no such %s", what)
	}
	return err
}

// handleJob is GET /v1/jobs/{id}.
func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	id, err := jobID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	job, err := s.getJob(r.Context(), id)
	if err != nil {
		s.fail(w, r, notFound(err, "id", "job"))
		return
	}
	writeJSON(w, http.StatusOK, viewJob(job))
}

// resultView is a result as the API shows it: every member of
// {"index","ref","documentId","valid","checks","error"} present, "ref",
// "documentId" and "error" null when the result has none and "checks" an
// array (empty for an item that was not verified or was signed).
type resultView struct {
	Index      int           `json:"index"`
	Ref        *string       `json:"ref"`
	DocumentID *string       `json:"documentId"`
	Valid      bool          `json:"valid"`
	Checks     []store.Check `json:"checks"`
	Error      *string       `json:"error"`
}

func viewResult(r *store.Result) resultView {
	v := resultView{Index: r.Index, Valid: r.Valid, Checks: r.Checks}
	if r.Ref != "" {
		v.Ref = &r.Ref
	}
	if r.DocumentID != "" {
		v.DocumentID = &r.DocumentID
	}
	if r.Error != "" {
		v.Error = &r.Error
	}
	if v.Checks == nil {
		v.Checks = []store.Check{}
	}
	return v
}

// viewResults views every result of rs (never nil).
func viewResults(rs []store.Result) []resultView {
	out := make([]resultView, len(rs))
	for i := range rs {
		out[i] = viewResult(&rs[i])
	}
	return out
}

// resultsPage is the JSON answer of GET /v1/jobs/{id}/results.
type resultsPage struct {
	Items []resultView `json:"items"`
	// Next is the offset of the next page, null after the last one.
	Next *int `json:"next"`
}

// handleResults is GET /v1/jobs/{id}/results: a page (?offset=&limit=), or
// with Accept: application/x-ndjson every recorded result from offset on (of
// the indices below offset+limit when ?limit= is given), one per line.
func (s *Server) handleResults(w http.ResponseWriter, r *http.Request) {
	id, err := jobID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := queryParams(r, "offset", "limit")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	offset, err := intParam(q.Get("offset"), "offset", 0, 0, int(^uint(0)>>1))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if acceptsNDJSON(r.Header.Get("Accept")) {
		// The stream has no page size: ?limit=, when given, bounds it as
		// it bounds a page (indices offset to offset+limit-1), instead of
		// being ignored.
		limit, err := intParam(q.Get("limit"), "limit", math.MaxInt, 1, math.MaxInt)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.streamResults(w, r, id, offset, limit)
		return
	}
	limit, err := intParam(q.Get("limit"), "limit", min(defaultPageSize, s.lim.MaxPageSize), 1, s.lim.MaxPageSize)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	items, next, err := s.store.Results(ctx, id, offset, limit)
	if err != nil {
		s.fail(w, r, notFound(fmt.Errorf("results of job %s: %w", id, err), "id", "job"))
		return
	}
	page := resultsPage{Items: viewResults(items)}
	if next >= 0 {
		page.Next = &next
	}
	writeJSON(w, http.StatusOK, page)
}

// streamResults writes every recorded result of the indices offset to
// offset+limit-1 as NDJSON, page by page, so memory stays bounded by one
// page. The stream as a whole has no time budget, but each page read has a
// request's (ctxTimeout): a store that stops answering gets a 503 before the
// first page, and breaks the stream off after it, instead of holding the
// request for as long as the store's client keeps retrying.
func (s *Server) streamResults(w http.ResponseWriter, r *http.Request, id string, offset, limit int) {
	ctx := r.Context()
	end := math.MaxInt // the first index not streamed
	if limit < math.MaxInt-offset {
		end = offset + limit
	}
	page := func(from int) ([]store.Result, int, error) {
		pctx, cancel := withTimeout(ctx)
		defer cancel()
		items, next, err := s.store.Results(pctx, id, from, max(min(s.lim.MaxPageSize, end-from), 1))
		if next >= end {
			next = -1
		}
		return items, next, err
	}
	// The first page is read before the status is written, so that an
	// unknown job still gets a 404.
	items, next, err := page(offset)
	if err != nil {
		s.fail(w, r, notFound(fmt.Errorf("results of job %s: %w", id, err), "id", "job"))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	rc := http.NewResponseController(w)
	for {
		for i := range items {
			v := viewResult(&items[i])
			if err := enc.Encode(&v); err != nil {
				return // the client went away
			}
		}
		if next < 0 {
			break
		}
		if err := bw.Flush(); err != nil {
			return
		}
		_ = rc.Flush()
		if items, next, err = page(next); err != nil {
			// The status is sent: break the response off (no final chunk),
			// so that the client sees an error rather than a stream that
			// looks complete. A client that went away is no failure.
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "streaming results failed", "job", id, "err", err)
			}
			panic(http.ErrAbortHandler)
		}
	}
	_ = bw.Flush()
}

// acceptsNDJSON reports whether an Accept header asks for NDJSON rather
// than the JSON page: it names NDJSON (application/x-ndjson or
// application/jsonl) with a quality above 0 (";q=0" means "not this one")
// and at least the quality it gives JSON (application/json, application/*
// or */*). A tie goes to NDJSON: a client that names it wants it.
func acceptsNDJSON(accept string) bool {
	var ndjsonQ, jsonQ float64
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || !(v > 0) {
				continue
			}
			q = min(v, 1)
		}
		switch mt {
		case "application/x-ndjson", "application/jsonl":
			ndjsonQ = max(ndjsonQ, q)
		case "application/json", "application/*", "*/*":
			jsonQ = max(jsonQ, q)
		}
	}
	return ndjsonQ > 0 && ndjsonQ >= jsonQ
}

// queryParams parses r's query string strictly: a pair that does not decode
// (a bad %-escape, a ';' separator), a parameter other than allowed or one
// given twice is an *Error naming it. (url.URL.Query drops what does not
// decode, so ?at=2020-01-01T00:00:00%2 verified as of now.)
func queryParams(r *http.Request, allowed ...string) (url.Values, error) {
	q := make(url.Values)
	for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, kerr := url.QueryUnescape(rawKey)
		if kerr != nil {
			key = rawKey
		}
		key = truncateString(key, 64)
		val, verr := url.QueryUnescape(rawVal)
		switch {
		case key == "":
			// A field of "" would leave the error naming nothing.
			return nil, fieldError(ErrInvalidParameter, "query", "malformed query string: %q names no parameter", truncateString(pair, 128))
		case kerr != nil || verr != nil:
			return nil, fieldError(ErrInvalidParameter, key, "malformed query string: %q does not decode", truncateString(pair, 128))
		case strings.Contains(pair, ";"):
			return nil, fieldError(ErrInvalidParameter, key, "malformed query string: separate parameters with '&', not ';'")
		case !slices.Contains(allowed, key):
			expected := "none"
			if len(allowed) > 0 {
				expected = strings.Join(allowed, ", ")
			}
			return nil, fieldError(ErrInvalidParameter, key, "unknown parameter (expected %s)", expected)
		case q.Has(key):
			return nil, fieldError(ErrInvalidParameter, key, "given more than once")
		}
		q.Set(key, val)
	}
	return q, nil
}

// truncateString cuts s to at most n bytes, marking the cut.
func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// intParam parses an integer query parameter within [lo, hi], def when absent.
func intParam(v, name string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fieldError(ErrInvalidParameter, name, "must be an integer from %d to %d", lo, hi)
	}
	return n, nil
}

// handleCovenant is GET /v1/covenants/{id}: the stored document as stored.
func (s *Server) handleCovenant(w http.ResponseWriter, r *http.Request) {
	id, ok := store.NormalHexID(r.PathValue("id"))
	if !ok {
		s.fail(w, r, fieldError(ErrInvalidParameter, "id", "must be a covenant ID: 64 hex characters"))
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	doc, err := s.store.GetDocument(ctx, id)
	if err != nil {
		s.fail(w, r, notFound(fmt.Errorf("get covenant %s: %w", id, err), "id", "covenant"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}
