package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/nats-io/nats.go"

	"github.com/stele-go/stele/internal/store"
)

// Sentinel errors of the HTTP API, matched with errors.Is. Each maps to one
// HTTP status and one stable error code (see errorTable); clients should key
// on the code, never on the message.
var (
	ErrInvalidJSON      = errors.New("malformed JSON")
	ErrInvalidField     = errors.New("invalid field")
	ErrMissingField     = errors.New("missing field")
	ErrUnknownField     = errors.New("unknown field")
	ErrTooDeep          = errors.New("nesting too deep")
	ErrDocumentTooLarge = errors.New("document too large")
	ErrBodyTooLarge     = errors.New("request body too large")
	ErrTooManyItems     = errors.New("too many items")
	ErrInvalidParameter = errors.New("invalid query parameter")
	ErrUnsupportedMedia = errors.New("unsupported media type")
	ErrNotAcceptable    = errors.New("not acceptable")
	ErrUnauthorized     = errors.New("unauthorized")
	ErrNotFound         = errors.New("not found")
	ErrConflict         = errors.New("conflict")
	ErrInvalidCovenant  = errors.New("invalid covenant")
	ErrBrokenChain      = errors.New("broken chain")
	ErrMethodNotAllowed = errors.New("method not allowed")
	ErrUnavailable      = errors.New("service unavailable")
	ErrInternal         = errors.New("internal error")
)

// errorTable maps every sentinel to its HTTP status and stable code.
var errorTable = []struct {
	err    error
	status int
	code   string
}{
	{ErrInvalidJSON, http.StatusBadRequest, "invalid_json"},
	{ErrInvalidField, http.StatusBadRequest, "invalid_field"},
	{ErrMissingField, http.StatusBadRequest, "missing_field"},
	{ErrUnknownField, http.StatusBadRequest, "unknown_field"},
	{ErrTooDeep, http.StatusBadRequest, "too_deep"},
	{ErrDocumentTooLarge, http.StatusRequestEntityTooLarge, "document_too_large"},
	{ErrBodyTooLarge, http.StatusRequestEntityTooLarge, "body_too_large"},
	{ErrTooManyItems, http.StatusRequestEntityTooLarge, "too_many_items"},
	{ErrInvalidParameter, http.StatusBadRequest, "invalid_parameter"},
	{ErrUnsupportedMedia, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	{ErrNotAcceptable, http.StatusNotAcceptable, "not_acceptable"},
	{ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{ErrNotFound, http.StatusNotFound, "not_found"},
	{ErrConflict, http.StatusConflict, "conflict"},
	{ErrInvalidCovenant, http.StatusUnprocessableEntity, "invalid_covenant"},
	{ErrBrokenChain, http.StatusUnprocessableEntity, "broken_chain"},
	{store.ErrNotFound, http.StatusNotFound, "not_found"},
	{ErrMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed"},
	{ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{ErrInternal, http.StatusInternalServerError, "internal"},
}

// Error is an API error: the sentinel it wraps decides the HTTP status and
// code; Field names the offending part of the request ("items[3].document",
// "at", "limit"), empty when the request as a whole is at fault.
type Error struct {
	Err     error
	Field   string
	Message string
	// JobID names the job an error concerns when one was created (a job
	// only partly queued).
	JobID string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// fieldError builds an *Error for a field.
func fieldError(sentinel error, field, format string, args ...any) *Error {
	return &Error{Err: sentinel, Field: field, Message: fmt.Sprintf(format, args...)}
}

// statusAndCode returns the HTTP status and code for err: the table's for
// the API's sentinels; 409 for a store conflict that outlasted its retries;
// 503 when a dependency timed out or could not be reached (a retry may
// succeed); else an internal error.
func statusAndCode(err error) (int, string) {
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.status, row.code
		}
	}
	if errors.Is(err, store.ErrConflict) {
		return http.StatusConflict, "conflict"
	}
	if dependencyDown(err) {
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

// dependencyDown reports whether err says the store or NATS timed out,
// could not be reached or cannot serve for now (a store loading its data
// after a restart), rather than that something is wrong with the request
// or the server.
func dependencyDown(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || errors.Is(err, store.ErrUnavailable) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrConnectionClosed)
}

// Messages of the errors that are not an *Error: their text names internals.
const (
	msgInternal    = "internal error"
	msgConflict    = "the resource changed concurrently; retry"
	msgUnavailable = "a dependency is unavailable; retry later"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	JobID   string `json:"jobId,omitempty"`
}

// writeError writes err as a JSON error response. Internal errors are not
// described to the client (the log has the details).
func writeError(w http.ResponseWriter, err error) {
	status, code := statusAndCode(err)
	detail := errorDetail{Code: code}
	var apiErr *Error
	switch {
	case status == http.StatusInternalServerError:
		detail.Message = msgInternal
	case errors.As(err, &apiErr):
		detail.Message = apiErr.Message
		detail.Field = apiErr.Field
		detail.JobID = apiErr.JobID
		if apiErr.JobID != "" {
			w.Header().Set("Location", "/v1/jobs/"+apiErr.JobID)
		}
	case status == http.StatusConflict:
		detail.Message = msgConflict
	case status == http.StatusServiceUnavailable:
		detail.Message = msgUnavailable
	default:
		detail.Message = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: detail})
}
