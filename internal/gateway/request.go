package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/jsonscan"
	"github.com/stele-go/stele/internal/store"
)

// verifyItem is one validated item of a verify request: exactly one of
// Document (raw JSON object text, as received) and DocumentID is set.
type verifyItem struct {
	Ref        string
	Document   json.RawMessage
	DocumentID string
}

// verifyRequest is a validated JSON verify request.
type verifyRequest struct {
	Items []verifyItem
	At    string // normalised RFC 3339 (UTC, milliseconds) or ""
	// Chain asks the verifier to resolve each document's ancestors from the
	// store and fail a child that broadens its parent.
	Chain bool
}

// maxParamDepth bounds the nesting of request members other than documents
// (they are all scalars; anything nested is rejected after this check).
const maxParamDepth = 32

// parseVerifyJSON reads and validates a JSON verify request completely; it
// returns an *Error naming the offending field for any problem, so that
// nothing is queued for a request that is rejected. Documents are checked
// for JSON syntax, size and depth, and kept as the bytes received.
func parseVerifyJSON(r io.Reader, lim Limits) (*verifyRequest, error) {
	body, err := readBody(r)
	if err != nil {
		var maxErr *http.MaxBytesError
		var apiErr *Error
		switch {
		case errors.As(err, &maxErr):
			return nil, fieldError(ErrBodyTooLarge, "body", "request body exceeds %d bytes; send large batches as application/x-ndjson", maxErr.Limit)
		case errors.As(err, &apiErr):
			return nil, err
		}
		return nil, fieldError(ErrInvalidJSON, "body", "reading the request body failed: %s", bodyReadFailure(err))
	}
	p := &requestParser{b: body, lim: lim}
	return p.parse()
}

// readBody reads r to the end. The buffer grows with the bytes that
// arrive, never from the length a request claims: sized up front from the
// Content-Length, connections that sent nothing but headers held a buffer
// each. r must bound what it returns (http.MaxBytesReader). A body beyond
// what is left of Limits.MaxBodyMemory (limitBodyMemory) is an *Error: 503,
// field body.
func readBody(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(r)
	if errors.Is(err, errBodyMemory) {
		return nil, &Error{Err: ErrUnavailable, Field: "body",
			Message: "the gateway holds as many request bodies as it may; retry later, or send large batches as application/x-ndjson"}
	}
	return body, err
}

// bodyReadFailure says why reading a request body failed, for the client.
// The text of a network error is left out: it names the gateway's own
// address and the client's ("read tcp 10.0.0.5:8080->…: i/o timeout").
func bodyReadFailure(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "the body stopped arriving (timed out)"
	case errors.As(err, &ne):
		return "the connection failed"
	}
	return err.Error()
}

// requestParser walks a request body held in memory.
type requestParser struct {
	b   []byte
	lim Limits
}

// syntax turns a scan error into an API error naming field.
func (p *requestParser) syntax(field string, err *jsonscan.Error) error {
	if err.TooDeep {
		return fieldError(ErrTooDeep, field, "document nests deeper than %d levels", p.lim.MaxDepth)
	}
	return fieldError(ErrInvalidJSON, field, "malformed JSON at byte %d: %s", err.Off, err.Msg)
}

// expect checks that b[i] (after whitespace) is c and returns the offset
// after it.
func (p *requestParser) expect(i int, c byte, field, what string) (int, error) {
	i = jsonscan.SkipWS(p.b, i)
	if i >= len(p.b) || p.b[i] != c {
		return i, p.syntax(field, jsonscan.SyntaxError(p.b, i, what))
	}
	return i + 1, nil
}

// member reads an object member's key at i (after whitespace), returning
// the key and the offset of its value; done reports the closing brace
// instead. first says whether this is the object's first member.
func (p *requestParser) member(i int, first bool, field string) (key string, next int, done bool, err error) {
	i = jsonscan.SkipWS(p.b, i)
	if i < len(p.b) && p.b[i] == '}' {
		return "", i + 1, true, nil
	}
	if !first {
		if i >= len(p.b) || p.b[i] != ',' {
			return "", i, false, p.syntax(field, jsonscan.SyntaxError(p.b, i, "',' or '}'"))
		}
		i = jsonscan.SkipWS(p.b, i+1)
	}
	start := i
	if i >= len(p.b) || p.b[i] != '"' {
		return "", i, false, p.syntax(field, jsonscan.SyntaxError(p.b, i, "a string key"))
	}
	end, serr := jsonscan.SkipString(p.b, i)
	if serr != nil {
		return "", end, false, p.syntax(field, serr)
	}
	key, err = decodeString(p.b[start:end], field)
	if err != nil {
		return "", end, false, err
	}
	next, err = p.expect(end, ':', field, "':'")
	if err != nil {
		return "", next, false, err
	}
	return key, jsonscan.SkipWS(p.b, next), false, nil
}

// value returns the raw JSON value at i and the offset after it.
func (p *requestParser) value(i, maxDepth int, field string) (json.RawMessage, int, error) {
	i = jsonscan.SkipWS(p.b, i)
	end, serr := jsonscan.SkipValue(p.b, i, maxDepth)
	if serr != nil {
		return nil, end, p.syntax(field, serr)
	}
	return p.b[i:end], end, nil
}

func (p *requestParser) parse() (*verifyRequest, error) {
	i := jsonscan.SkipWS(p.b, 0)
	if i >= len(p.b) {
		return nil, fieldError(ErrInvalidJSON, "body", "empty request body: send {\"items\":[…]}")
	}
	if p.b[i] != '{' {
		if _, _, err := p.value(i, maxParamDepth, "body"); err != nil {
			return nil, err
		}
		return nil, fieldError(ErrInvalidField, "body", "request body must be a JSON object")
	}
	req := &verifyRequest{}
	var seenItems, seenAt, seenChain bool
	i++
	for first := true; ; first = false {
		key, next, done, err := p.member(i, first, "body")
		if err != nil {
			return nil, err
		}
		if done {
			i = next
			break
		}
		switch key {
		case "items":
			if seenItems {
				return nil, fieldError(ErrInvalidField, key, "duplicate field")
			}
			seenItems = true
			if req.Items, i, err = p.items(next); err != nil {
				return nil, err
			}
		case "at":
			if seenAt {
				return nil, fieldError(ErrInvalidField, key, "duplicate field")
			}
			seenAt = true
			var raw json.RawMessage
			if raw, i, err = p.value(next, maxParamDepth, key); err != nil {
				return nil, err
			}
			if !isNull(raw) {
				if req.At, err = parseAt(key, raw); err != nil {
					return nil, err
				}
			}
		case "chain":
			if seenChain {
				return nil, fieldError(ErrInvalidField, key, "duplicate field")
			}
			seenChain = true
			var raw json.RawMessage
			if raw, i, err = p.value(next, maxParamDepth, key); err != nil {
				return nil, err
			}
			if req.Chain, err = parseBool(key, raw); err != nil {
				return nil, err
			}
		default:
			if _, _, err := p.value(next, maxParamDepth, key); err != nil {
				return nil, err
			}
			return nil, fieldError(ErrUnknownField, key, "unknown field (expected items, at, chain)")
		}
	}
	if i = jsonscan.SkipWS(p.b, i); i != len(p.b) {
		return nil, fieldError(ErrInvalidJSON, "body", "malformed JSON at byte %d: data after the request object", i)
	}
	if req.Items == nil {
		return nil, fieldError(ErrMissingField, "items", "required: an array of {ref, document} or {ref, documentId}")
	}
	if len(req.Items) == 0 {
		return nil, fieldError(ErrInvalidField, "items", "must contain at least one item")
	}
	return req, nil
}

// items reads the items array at i (null gives nil items).
func (p *requestParser) items(i int) ([]verifyItem, int, error) {
	if bytes.HasPrefix(p.b[i:], []byte("null")) {
		return nil, i + 4, nil
	}
	if i >= len(p.b) || p.b[i] != '[' {
		if _, _, err := p.value(i, maxParamDepth, "items"); err != nil {
			return nil, i, err
		}
		return nil, i, fieldError(ErrInvalidField, "items", "must be an array")
	}
	items := []verifyItem{}
	i++
	for n := 0; ; n++ {
		i = jsonscan.SkipWS(p.b, i)
		if i < len(p.b) && p.b[i] == ']' {
			return items, i + 1, nil
		}
		if n > 0 {
			if i >= len(p.b) || p.b[i] != ',' {
				return nil, i, p.syntax("items", jsonscan.SyntaxError(p.b, i, "',' or ']'"))
			}
			i = jsonscan.SkipWS(p.b, i+1)
		}
		if n >= p.lim.MaxItems {
			return nil, i, fieldError(ErrTooManyItems, "items", "at most %d items per JSON request; send larger batches as application/x-ndjson", p.lim.MaxItems)
		}
		item, next, err := p.item(i, n)
		if err != nil {
			return nil, next, err
		}
		items = append(items, item)
		i = next
	}
}

func (p *requestParser) item(i, n int) (verifyItem, int, error) {
	var item verifyItem
	base := fmt.Sprintf("items[%d]", n)
	if i >= len(p.b) || p.b[i] != '{' {
		if _, _, err := p.value(i, maxParamDepth, base); err != nil {
			return item, i, err
		}
		return item, i, fieldError(ErrInvalidField, base, "must be an object {ref, document} or {ref, documentId}")
	}
	var seen [3]bool // ref, document, documentId
	i++
	for first := true; ; first = false {
		key, next, done, err := p.member(i, first, base)
		if err != nil {
			return item, next, err
		}
		if done {
			i = next
			break
		}
		field := base + "." + key
		var k int
		switch key {
		case "ref":
			k = 0
		case "document":
			k = 1
		case "documentId":
			k = 2
		default:
			if _, _, err := p.value(next, maxParamDepth, field); err != nil {
				return item, next, err
			}
			return item, next, fieldError(ErrUnknownField, field, "unknown field (expected ref, document, documentId)")
		}
		if seen[k] {
			return item, next, fieldError(ErrInvalidField, field, "duplicate field")
		}
		seen[k] = true
		depth := maxParamDepth
		if k == 1 {
			depth = p.lim.MaxDepth
		}
		raw, end, err := p.value(next, depth, field)
		if err != nil {
			return item, end, err
		}
		i = end
		if isNull(raw) {
			continue
		}
		switch k {
		case 0:
			if item.Ref, err = parseRef(field, raw, p.lim); err != nil {
				return item, i, err
			}
		case 1:
			if err := checkDocument(field, raw, p.lim); err != nil {
				return item, i, err
			}
			item.Document = raw
		case 2:
			if item.DocumentID, err = parseDocumentID(field, raw); err != nil {
				return item, i, err
			}
		}
	}
	switch {
	case item.Document == nil && item.DocumentID == "":
		return item, i, fieldError(ErrMissingField, base, "needs one of document or documentId")
	case item.Document != nil && item.DocumentID != "":
		return item, i, fieldError(ErrInvalidField, base, "has both document and documentId; give exactly one")
	}
	return item, i, nil
}

func isNull(raw []byte) bool { return bytes.Equal(raw, []byte("null")) }

// parseBool decodes a raw JSON value that must be a boolean (null is false).
func parseBool(field string, raw json.RawMessage) (bool, error) {
	switch string(raw) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, fieldError(ErrInvalidField, field, "must be a boolean, got %s", jsonscan.Kind(raw))
}

// decodeString decodes a raw JSON string (already checked by jsonscan.SkipString).
func decodeString(raw []byte, field string) (string, error) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fieldError(ErrInvalidJSON, field, "malformed string: %v", err)
	}
	return s, nil
}

// parseString decodes a raw JSON value that must be a string.
func parseString(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fieldError(ErrInvalidField, field, "must be a string, got %s", jsonscan.Kind(raw))
	}
	return decodeString(raw, field)
}

func parseRef(field string, raw json.RawMessage, lim Limits) (string, error) {
	s, err := parseString(field, raw)
	if err != nil {
		return "", err
	}
	if len(s) > lim.MaxRefBytes {
		return "", fieldError(ErrInvalidField, field, "longer than %d bytes", lim.MaxRefBytes)
	}
	return s, nil
}

// parseDocumentID checks a covenant ID: 64 hex characters, returned in lower
// case (IDs are lower-case SHA-256 hex).
func parseDocumentID(field string, raw json.RawMessage) (string, error) {
	s, err := parseString(field, raw)
	if err != nil {
		return "", err
	}
	id, ok := store.NormalHexID(s)
	if !ok {
		return "", fieldError(ErrInvalidField, field, "must be a covenant ID: 64 hex characters")
	}
	return id, nil
}

// parseAt validates the "verify as of" instant and returns it normalised to
// UTC with millisecond precision (covenant timestamps are JavaScript dates).
func parseAt(field string, raw json.RawMessage) (string, error) {
	s, err := parseString(field, raw)
	if err != nil {
		return "", err
	}
	return parseAtString(field, s)
}

func parseAtString(field, s string) (string, error) {
	t, err := jobs.ParseAt(s)
	if err != nil {
		return "", fieldError(ErrInvalidField, field, "must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z")
	}
	// The instant travels in UTC, which RFC 3339 writes only for the years
	// 0000 to 9999: an offset can move an instant at either end outside.
	t = t.UTC().Truncate(time.Millisecond)
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fieldError(ErrInvalidField, field, "must lie within the years 0000 to 9999 in UTC")
	}
	return t.Format("2006-01-02T15:04:05.000Z07:00"), nil
}

// checkDocument applies the gateway's limits to one inline document that
// jsonscan.SkipValue has already checked for syntax and depth: it must be a JSON
// object of at most MaxDocumentBytes.
func checkDocument(field string, raw []byte, lim Limits) error {
	if len(raw) > lim.MaxDocumentBytes {
		return fieldError(ErrDocumentTooLarge, field, "document is %d bytes; the limit is %d", len(raw), lim.MaxDocumentBytes)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return fieldError(ErrInvalidField, field, "must be a JSON object, got %s", jsonscan.Kind(raw))
	}
	return nil
}

// depthExceeds reports whether the JSON text nests arrays and objects deeper
// than max. It only tracks brackets outside strings, so it is meant for text
// that is otherwise known to be valid JSON.
func depthExceeds(data []byte, max int) bool {
	depth := 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}
