package gateway

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync/atomic"
	"time"
)

// statusRecorder remembers the status and size of a response. Unwrap lets
// http.ResponseController reach the underlying writer (Flush for streams).
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// noSniff marks every response X-Content-Type-Options: nosniff, so that a
// browser takes it for the type it declares: a stored covenant, whose
// content its submitter chose, is served as JSON and never read as a page
// or a script.
func noSniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// logRequests logs one line per request: server errors at Error (a request
// turned away under load at Warn, see serverErrorLevel), client errors at
// Info, successes at Debug (a busy gateway answers thousands of requests a
// second).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		level := slog.LevelDebug
		switch {
		case rec.status >= 500:
			level = serverErrorLevel(rec.Header())
		case rec.status >= 400:
			level = slog.LevelInfo
		}
		if !s.log.Enabled(r.Context(), level) {
			return
		}
		s.log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

// bodyIdleTimeout cuts off a request whose body stops arriving: each read
// of the body may wait at most d for the client (the connection's read
// deadline is moved on before every read, and cleared once the body has
// been read, so that a long ?wait afterwards is not cut short). A body
// that keeps arriving, but slower on average than minRate bytes per second
// once d has passed, is cut off too: otherwise a byte every d/2 would hold
// a connection, and an upload's spool and its place among the uploads, for
// as long as the client likes.
func bodyIdleTimeout(d time.Duration, minRate int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: d, minRate: minRate, start: time.Now()}
		r.Body = body
		next.ServeHTTP(w, r)
		if !body.done {
			// The handler left the body unread (an early error): the
			// server reads what is left before reusing the connection,
			// and that read must not wait for a stalled client either.
			_ = body.rc.SetReadDeadline(time.Now().Add(d))
		}
	})
}

// idleBody is a request body whose reads each get a fresh deadline, and
// which fails once it arrives too slowly on average.
type idleBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	d       time.Duration
	minRate int64 // bytes per second, counted from start+d
	start   time.Time
	n       int64 // bytes read so far
	done    bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if !b.done {
		if late := time.Since(b.start) - b.d; late > 0 && b.n < int64(late.Seconds()*float64(b.minRate)) {
			return 0, fmt.Errorf("the body arrives too slowly: %d bytes in %s, below the minimum of %d bytes/s",
				b.n, time.Since(b.start).Round(time.Millisecond), b.minRate)
		}
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d)) // unsupported writer: no deadline
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// writeIdleTimeout cuts off a response the client stops taking: each write
// and flush of the response may wait at most d for the client (the
// connection's write deadline is moved on before each). Without it a
// client that keeps its connection open but reads nothing holds a result
// stream or an audit export, its goroutine and its buffers, for good.
func writeIdleTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// A deadline left by an earlier request on this connection must
		// not cut this one short: until the handler writes (a ?wait may
		// take a minute) the server's own writes ("100 Continue") have none.
		_ = rc.SetWriteDeadline(time.Time{}) // unsupported writer: no deadline
		next.ServeHTTP(&idleWriter{ResponseWriter: w, rc: rc, d: d}, r)
		// What the server flushes after the handler returned is bounded too.
		_ = rc.SetWriteDeadline(time.Now().Add(d))
	})
}

// idleWriter is a response writer whose writes and flushes each get a fresh
// deadline. Unwrap lets http.ResponseController reach the writer beneath
// for everything else.
type idleWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *idleWriter) Write(b []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(b)
}

// FlushError is what http.ResponseController.Flush calls.
func (w *idleWriter) FlushError() error {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.rc.Flush()
}

func (w *idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bodyMemory counts the bytes of request bodies held in memory by the
// whole gateway (Limits.MaxBodyMemory).
type bodyMemory struct {
	max  int64
	used atomic.Int64
}

// take counts n more bytes, unless that would exceed the maximum.
func (m *bodyMemory) take(n int64) bool {
	if m.used.Add(n) > m.max {
		m.used.Add(-n)
		return false
	}
	return true
}

func (m *bodyMemory) release(n int64) { m.used.Add(-n) }

// errBodyMemory fails the read of a body that does not fit in what is left
// of Limits.MaxBodyMemory; readBody answers it 503.
var errBodyMemory = errors.New("the gateway holds as many request bodies in memory as it may")

// limitBodyMemory counts every byte read of a request body against
// Limits.MaxBodyMemory from when it is read until the request's handler
// returns (handlers read bodies whole into memory and keep them until
// then). A read that would exceed it fails with errBodyMemory and sets
// Retry-After on the response. NDJSON uploads, which are spooled to disk,
// are not counted.
func (s *Server) limitBodyMemory(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || isUpload(r) {
			next.ServeHTTP(w, r)
			return
		}
		body := &countedBody{ReadCloser: r.Body, mem: s.bodyMem, h: w.Header()}
		r.Body = body
		defer func() { s.bodyMem.release(body.n) }()
		next.ServeHTTP(w, r)
	})
}

// isUpload reports whether r is an NDJSON upload (POST /v1/verify with an
// NDJSON media type), which is spooled to disk rather than held in memory.
func isUpload(r *http.Request) bool {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/verify" {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && isNDJSON(mt)
}

// countedBody is a request body whose bytes count against a bodyMemory.
type countedBody struct {
	io.ReadCloser
	mem    *bodyMemory
	h      http.Header // the response's, for Retry-After
	n      int64       // bytes counted
	failed bool
}

func (b *countedBody) Read(p []byte) (int, error) {
	if b.failed {
		return 0, errBodyMemory
	}
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		if !b.mem.take(int64(n)) {
			b.failed = true
			b.h.Set("Retry-After", "1")
			return 0, errBodyMemory
		}
		b.n += int64(n)
	}
	return n, err
}
