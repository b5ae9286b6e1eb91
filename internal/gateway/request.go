package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
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
}

// parseVerifyJSON reads and validates a JSON verify request completely; it
// returns an *Error naming the offending field for any problem, so that
// nothing is queued for a request that is rejected.
func parseVerifyJSON(r io.Reader, lim Limits) (*verifyRequest, error) {
	p := &requestParser{dec: json.NewDecoder(r), lim: lim}
	req, err := p.parse()
	if err != nil {
		return nil, p.wrap(err)
	}
	return req, nil
}

type requestParser struct {
	dec  *json.Decoder
	lim  Limits
	path string // the field being read, for errors from the decoder
}

// wrap turns decoder and reader errors into API errors naming the field that
// was being read.
func (p *requestParser) wrap(err error) error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return err
	}
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return fieldError(ErrBodyTooLarge, "", "request body exceeds %d bytes; send large batches as application/x-ndjson", maxErr.Limit)
	}
	var synErr *json.SyntaxError
	if errors.As(err, &synErr) {
		return fieldError(ErrInvalidJSON, p.path, "malformed JSON at byte %d: %s", synErr.Offset, strings.TrimPrefix(synErr.Error(), "json: "))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fieldError(ErrInvalidJSON, p.path, "malformed JSON: unexpected end of input")
	}
	return fmt.Errorf("read request: %w", err)
}

func (p *requestParser) parse() (*verifyRequest, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fieldError(ErrInvalidField, "", "request body must be a JSON object")
	}
	req := &verifyRequest{}
	seen := map[string]bool{}
	for p.dec.More() {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, fieldError(ErrInvalidField, key, "duplicate field")
		}
		seen[key] = true
		p.path = key
		switch key {
		case "items":
			if req.Items, err = p.items(); err != nil {
				return nil, err
			}
		case "at":
			raw, err := p.value()
			if err != nil {
				return nil, err
			}
			if isNull(raw) {
				continue
			}
			if req.At, err = parseAt("at", raw); err != nil {
				return nil, err
			}
		default:
			return nil, fieldError(ErrUnknownField, key, "unknown field (expected items, at)")
		}
	}
	p.path = ""
	if _, err := p.dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, fieldError(ErrInvalidJSON, "", "malformed JSON: data after the request object")
	}
	if !seen["items"] || req.Items == nil {
		return nil, fieldError(ErrMissingField, "items", "required: an array of {ref, document} or {ref, documentId}")
	}
	if len(req.Items) == 0 {
		return nil, fieldError(ErrInvalidField, "items", "must contain at least one item")
	}
	return req, nil
}

// key reads an object key.
func (p *requestParser) key() (string, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return "", err
	}
	k, ok := tok.(string)
	if !ok {
		return "", fieldError(ErrInvalidJSON, p.path, "malformed JSON: expected an object key")
	}
	return k, nil
}

// value reads one complete JSON value as raw text.
func (p *requestParser) value() (json.RawMessage, error) {
	var raw json.RawMessage
	if err := p.dec.Decode(&raw); err != nil {
		return nil, err
	}
	return raw, nil
}

func (p *requestParser) items() ([]verifyItem, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fieldError(ErrInvalidField, "items", "must be an array")
	}
	items := []verifyItem{}
	for i := 0; p.dec.More(); i++ {
		if i >= p.lim.MaxItems {
			return nil, fieldError(ErrTooManyItems, "items", "at most %d items per JSON request; send larger batches as application/x-ndjson", p.lim.MaxItems)
		}
		item, err := p.item(i)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	if _, err := p.dec.Token(); err != nil { // the closing bracket
		return nil, err
	}
	return items, nil
}

func (p *requestParser) item(i int) (verifyItem, error) {
	var item verifyItem
	base := fmt.Sprintf("items[%d]", i)
	p.path = base
	tok, err := p.dec.Token()
	if err != nil {
		return item, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return item, fieldError(ErrInvalidField, base, "must be an object {ref, document} or {ref, documentId}")
	}
	seen := map[string]bool{}
	for p.dec.More() {
		key, err := p.key()
		if err != nil {
			return item, err
		}
		field := base + "." + key
		if seen[key] {
			return item, fieldError(ErrInvalidField, field, "duplicate field")
		}
		seen[key] = true
		p.path = field
		switch key {
		case "ref", "document", "documentId":
		default:
			return item, fieldError(ErrUnknownField, field, "unknown field (expected ref, document, documentId)")
		}
		raw, err := p.value()
		if err != nil {
			return item, err
		}
		if isNull(raw) {
			continue
		}
		switch key {
		case "ref":
			if item.Ref, err = parseRef(field, raw, p.lim); err != nil {
				return item, err
			}
		case "document":
			if err := checkDocument(field, raw, p.lim); err != nil {
				return item, err
			}
			item.Document = raw
		case "documentId":
			if item.DocumentID, err = parseDocumentID(field, raw); err != nil {
				return item, err
			}
		}
	}
	p.path = base
	if _, err := p.dec.Token(); err != nil { // the closing brace
		return item, err
	}
	switch {
	case item.Document == nil && item.DocumentID == "":
		return item, fieldError(ErrMissingField, base, "needs one of document or documentId")
	case item.Document != nil && item.DocumentID != "":
		return item, fieldError(ErrInvalidField, base, "has both document and documentId; give exactly one")
	}
	return item, nil
}

func isNull(raw []byte) bool { return bytes.Equal(raw, []byte("null")) }

// parseString decodes a raw JSON value that must be a string.
func parseString(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fieldError(ErrInvalidField, field, "must be a string, got %s", jsonKind(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fieldError(ErrInvalidJSON, field, "malformed string: %v", err)
	}
	return s, nil
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
	id, ok := normaliseID(s)
	if !ok {
		return "", fieldError(ErrInvalidField, field, "must be a covenant ID: 64 hex characters")
	}
	return id, nil
}

// normaliseID lower-cases a 64-hex-character ID, reporting whether s is one.
func normaliseID(s string) (string, bool) {
	if len(s) != 64 {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", false
		}
	}
	return string(b), true
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
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", fieldError(ErrInvalidField, field, "must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z")
	}
	return t.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00"), nil
}

// checkDocument applies the gateway's limits to one inline document before
// anything parses it: it must be a JSON object, at most MaxDocumentBytes long
// and at most MaxDepth deep.
func checkDocument(field string, raw []byte, lim Limits) error {
	if len(raw) > lim.MaxDocumentBytes {
		return fieldError(ErrDocumentTooLarge, field, "document is %d bytes; the limit is %d", len(raw), lim.MaxDocumentBytes)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return fieldError(ErrInvalidField, field, "must be a JSON object, got %s", jsonKind(raw))
	}
	if depthExceeds(raw, lim.MaxDepth) {
		return fieldError(ErrTooDeep, field, "document nests deeper than %d levels", lim.MaxDepth)
	}
	return nil
}

// depthExceeds reports whether the JSON text nests arrays and objects deeper
// than max. It only tracks brackets outside strings, so it is meant for text
// that is otherwise known (or about to be checked) to be valid JSON.
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

// jsonKind names the JSON type of a raw value for error messages.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
