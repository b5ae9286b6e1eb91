package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stele-go/stele/internal/jobs"
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
				return fmt.Errorf("not connected (%s)", s.nc.Status())
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
				if errors.Is(err, nats.ErrConnectionClosed) {
					err = errors.New("connection closed")
				}
				out[i].Status = "unhealthy"
				out[i].Message = err.Error()
			}
		})
	}
	wg.Wait()
	return out
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
