package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// healthTimeout bounds each dependency check.
const healthTimeout = 2 * time.Second

// component is one dependency's health.
type component struct {
	Name      string  `json:"name"`
	Status    string  `json:"status"` // "healthy" | "unhealthy"
	LatencyMs float64 `json:"latencyMs"`
	Message   string  `json:"message,omitempty"`
}

// checkDependencies checks NATS, JetStream (the work stream exists) and the
// store concurrently, in that order in the answer.
func (s *Server) checkDependencies(ctx context.Context) []component {
	checks := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"nats", func(ctx context.Context) error {
			if !s.nc.IsConnected() {
				return fmt.Errorf("%w (%s)", errNATSDisconnected, s.nc.Status())
			}
			return s.nc.FlushWithContext(ctx)
		}},
		{"jetstream", func(ctx context.Context) error {
			_, err := s.js.Stream(ctx, jobs.StreamJobs)
			return err
		}},
		{"store", func(ctx context.Context) error { return s.store.Ping(ctx) }},
	}
	out := make([]component, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, healthTimeout)
			defer cancel()
			start := time.Now()
			err := c.fn(ctx)
			lat := time.Since(start)
			out[i] = component{Name: c.name, Status: "healthy", LatencyMs: math.Round(float64(lat.Microseconds())) / 1000}
			if err != nil {
				// The routes are open to every client: the answer says what
				// kind of failure it is, the log says where and why.
				out[i].Status = "unhealthy"
				out[i].Message = healthMessage(ctx, err)
				s.log.WarnContext(ctx, "dependency unhealthy", "dependency", c.name, "err", err)
			}
		})
	}
	wg.Wait()
	return out
}

// healthMessage describes a failed dependency check without its
// addresses or the errors of the libraries below (which the log has): ctx
// is the check's own.
func healthMessage(ctx context.Context, err error) string {
	var nerr net.Error
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %v", healthTimeout)
	case errors.Is(err, nats.ErrConnectionClosed):
		return "connection closed"
	case errors.Is(err, errNATSDisconnected):
		return "not connected; reconnecting"
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return "the work queue stream " + jobs.StreamJobs + " does not exist"
	case errors.Is(err, store.ErrUnavailable):
		return "answers, but cannot serve for now (loading its data, or no primary)"
	case errors.As(err, &nerr), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNREFUSED):
		return "unreachable"
	default:
		return "failing (the gateway's log says why)"
	}
}

// errNATSDisconnected is the check's error while the NATS connection is
// down and reconnecting.
var errNATSDisconnected = errors.New("nats: not connected")

// Starting returns the handler a gateway process serves on its address
// while it is still connecting to its dependencies, before New: GET
// /healthz answers 200 (the process is alive), /readyz 503 "not ready"
// naming what it waits for, and every other request 503 with code
// "unavailable" and Retry-After, so that a client or an orchestrator sees a
// gateway starting rather than a refused connection.
func Starting(waitingFor string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failing": map[string]string{"startup": "waiting for " + waitingFor}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		writeError(w, &Error{Err: ErrUnavailable, Message: "the gateway is starting: waiting for " + waitingFor})
	})
	return noSniff(mux)
}

// handleHealthz is GET /healthz: the process is alive.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz is GET /readyz: 200 when every dependency answers, else 503.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	comps := s.checkDependencies(r.Context())
	status, code := "ready", http.StatusOK
	failing := map[string]string{}
	for _, c := range comps {
		if c.Status != "healthy" {
			status, code = "not ready", http.StatusServiceUnavailable
			failing[c.Name] = c.Message
		}
	}
	body := map[string]any{"status": status}
	if len(failing) > 0 {
		body["failing"] = failing
	}
	writeJSON(w, code, body)
}

// healthReport is the answer of GET /health.
type healthReport struct {
	Status        string      `json:"status"` // "healthy" | "unhealthy"
	UptimeSeconds int64       `json:"uptimeSeconds"`
	Components    []component `json:"components"`
}

// handleHealth is GET /health: each dependency with its latency; 503 when
// one is unhealthy.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	rep := healthReport{
		Status:        "healthy",
		UptimeSeconds: int64(time.Since(s.started).Seconds()),
		Components:    s.checkDependencies(r.Context()),
	}
	code := http.StatusOK
	for _, c := range rep.Components {
		if c.Status != "healthy" {
			rep.Status, code = "unhealthy", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, rep)
}
