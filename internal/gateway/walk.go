package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/stele-go/stele/internal/jsonscan"
)

// Helpers for requests whose members are decoded one by one (sign,
// countersign, revocations): the body is checked once for syntax and depth,
// then walked member by member so that every error names its field
// ("items[3].beneficiary.publicKey").

// readJSONBody reads a JSON request body of at most limit bytes and checks it
// is one JSON object nesting at most depth levels.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64, depth int) ([]byte, error) {
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
	i := jsonscan.SkipWS(body, 0)
	if i >= len(body) {
		return nil, fieldError(ErrInvalidJSON, "body", "empty request body: send a JSON object")
	}
	end, serr := jsonscan.SkipValue(body, i, depth)
	if serr != nil {
		if serr.TooDeep {
			return nil, fieldError(ErrTooDeep, "body", "request nests deeper than %d levels", depth)
		}
		return nil, fieldError(ErrInvalidJSON, "body", "malformed JSON at byte %d: %s", serr.Off, serr.Msg)
	}
	if j := jsonscan.SkipWS(body, end); j != len(body) {
		return nil, fieldError(ErrInvalidJSON, "body", "malformed JSON at byte %d: data after the request object", j)
	}
	if body[i] != '{' {
		return nil, fieldError(ErrInvalidField, "body", "request body must be a JSON object")
	}
	return body[i:end], nil
}

// walkObject calls f with every member of the object raw (syntax already
// checked), in order; field names raw in errors, and f receives
// field + "." + key. A duplicate key is an error. raw that is not an object
// is ErrInvalidField with want describing what was expected.
func walkObject(raw json.RawMessage, field, want string, f func(key, field string, val json.RawMessage) error) error {
	if len(raw) == 0 || raw[0] != '{' {
		return fieldError(ErrInvalidField, field, "must be %s, got %s", want, jsonscan.Kind(raw))
	}
	p := &requestParser{b: raw}
	seen := make(map[string]bool)
	i := 1
	for first := true; ; first = false {
		key, next, done, err := p.member(i, first, field)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		sub := key
		if field != "" && field != "body" {
			sub = field + "." + key
		}
		if seen[key] {
			return fieldError(ErrInvalidField, sub, "duplicate field")
		}
		seen[key] = true
		val, end, err := p.value(next, maxWalkDepth, sub)
		if err != nil {
			return err
		}
		if err := f(key, sub, val); err != nil {
			return err
		}
		i = end
	}
}

// walkArray calls f with every element of the array raw (syntax already
// checked) and its field name, field + "[n]". max bounds the elements
// (tooMany, when not nil, makes the error for one more); raw that is not an array is
// ErrInvalidField.
func walkArray(raw json.RawMessage, field string, max int, tooMany func() error, f func(n int, field string, val json.RawMessage) error) error {
	if len(raw) == 0 || raw[0] != '[' {
		return fieldError(ErrInvalidField, field, "must be an array, got %s", jsonscan.Kind(raw))
	}
	p := &requestParser{b: raw}
	i := 1
	for n := 0; ; n++ {
		i = jsonscan.SkipWS(raw, i)
		if i < len(raw) && raw[i] == ']' {
			return nil
		}
		if n > 0 {
			if i >= len(raw) || raw[i] != ',' {
				return p.syntax(field, jsonscan.SyntaxError(raw, i, "',' or ']'"))
			}
			i++
		}
		if n >= max {
			if tooMany == nil {
				return fieldError(ErrInvalidField, field, "more than %d elements", max)
			}
			return tooMany()
		}
		sub := fmt.Sprintf("%s[%d]", field, n)
		val, end, err := p.value(i, maxWalkDepth, sub)
		if err != nil {
			return err
		}
		if err := f(n, sub, val); err != nil {
			return err
		}
		i = end
	}
}

// maxWalkDepth is the depth bound of the walkers' re-scan of values whose
// depth readJSONBody has already bounded.
const maxWalkDepth = 1 << 20

// unknownField is the error for an unexpected member.
func unknownField(field, expected string) error {
	return fieldError(ErrUnknownField, field, "unknown field (expected %s)", expected)
}

// boundedString decodes a string member of 1 to max bytes.
func boundedString(field string, raw json.RawMessage, max int) (string, error) {
	s, err := parseString(field, raw)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fieldError(ErrInvalidField, field, "must not be empty")
	}
	if len(s) > max {
		return "", fieldError(ErrInvalidField, field, "longer than %d bytes", max)
	}
	return s, nil
}
