package evaluate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/stele-go/stele/internal/store"
)

// The NATS service.
const (
	// MicroName is the micro service's name (for $SRV.PING.stele, …).
	MicroName = "stele"
	// MicroVersion is the version the service announces.
	MicroVersion = "1.0.0"
	// SubjectEvaluate is the request subject of evaluations.
	SubjectEvaluate = "stele.evaluate"
	// MicroQueueGroup is the queue group every gateway's endpoint joins, so
	// that each request is answered by one of them.
	MicroQueueGroup = "stele"
	// MicroConcurrency bounds the requests one process evaluates at once;
	// further requests wait in the subscription's pending queue.
	MicroConcurrency = 256
	// microTimeout bounds one evaluation.
	microTimeout = 10 * time.Second
)

// ErrorBody is the JSON body of an error reply, the same as the HTTP API's:
// {"error":{"code","message","field"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// ErrorCode returns the micro status code ("400", "404", "413", "500",
// "503") and the error code of the body (as the HTTP API's:
// "invalid_field", "missing_field", "unknown_field", "invalid_json",
// "body_too_large", "not_found", "internal", "unavailable") for an error of
// the Service. "503" ("unavailable") is a store that timed out, could not
// be reached or cannot serve for now (store.ErrUnavailable): a retry may
// succeed.
func ErrorCode(err error) (status, code string) {
	var e *Error
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrUnavailable) || errors.As(err, &ne):
		return "503", "unavailable"
	case errors.As(err, &e) && errors.Is(err, ErrNotFound):
		return "404", "not_found"
	case errors.As(err, &e) && errors.Is(err, ErrTooLarge):
		return "413", "body_too_large"
	case errors.As(err, &e) && errors.Is(err, ErrMalformed):
		return "400", "invalid_json"
	case errors.As(err, &e) && errors.Is(err, ErrMissing):
		return "400", "missing_field"
	case errors.As(err, &e) && errors.Is(err, ErrUnknown):
		return "400", "unknown_field"
	case errors.As(err, &e) && errors.Is(err, ErrInvalid):
		return "400", "invalid_field"
	}
	return "500", "internal"
}

// MicroService is the running stele.evaluate service. Stop unsubscribes and
// waits for the evaluations in progress to be answered.
//
// Requests are answered outside the micro package's handler (see
// RegisterMicro), so its own statistics count each request but none of the
// answers: the endpoint's error count and processing time are those of
// handing the request over. The evaluations' own figures are in the
// endpoint's stats data, a MicroStats.
type MicroService struct {
	micro.Service
	gate   *gate
	stats  *microStats
	cancel context.CancelFunc
	once   sync.Once
	err    error
}

// MicroStats is the data of the evaluate endpoint's statistics
// ($SRV.STATS.stele): what the evaluations answered since the service
// started.
type MicroStats struct {
	// Answered counts the requests answered, decisions and errors alike.
	Answered int64 `json:"answered"`
	// Errors counts the error replies; ServerErrors those of them with
	// status "500" or "503" (the rest are the caller's: bad requests,
	// unknown covenants).
	Errors       int64 `json:"errors"`
	ServerErrors int64 `json:"server_errors"`
	// LastError is the message of the last error reply ("" when none).
	LastError string `json:"last_error,omitempty"`
	// ProcessingTime is the time spent evaluating and answering, in
	// nanoseconds, over every answered request.
	ProcessingTime time.Duration `json:"processing_time"`
}

// microStats accumulates MicroStats across the evaluating goroutines.
type microStats struct {
	mu sync.Mutex
	s  MicroStats
}

func (m *microStats) add(elapsed time.Duration, status, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.Answered++
	m.s.ProcessingTime += elapsed
	if status != "" {
		m.s.Errors++
		if status == "500" || status == "503" {
			m.s.ServerErrors++
		}
		m.s.LastError = msg
	}
}

func (m *microStats) get() MicroStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s
}

// EvaluateStats returns the figures of the evaluations answered so far (the
// data of the endpoint's statistics).
func (m *MicroService) EvaluateStats() MicroStats { return m.stats.get() }

// gate counts the evaluations in progress and refuses new ones once closed.
type gate struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// Stop stops the service: no new request is taken, the ones in progress are
// answered, then Stop returns. Requests the draining subscription still
// delivers afterwards are answered with a "503" error, so that the caller
// retries (another process of the queue group answers). Calling Stop again
// is harmless.
func (m *MicroService) Stop() error {
	m.once.Do(func() {
		m.err = m.Service.Stop()
		m.gate.close()
		m.cancel()
	})
	return m.err
}

// RegisterMicro starts the NATS request-reply service "stele" with the
// endpoint "evaluate" on SubjectEvaluate in queue group MicroQueueGroup, so
// that any number of processes can serve it. A request is the JSON of a
// Request (as POST /v1/evaluate takes it); the reply is the Decision JSON,
// or for a failure a micro error (headers Nats-Service-Error-Code "400",
// "404", "413", "500" or "503", and Nats-Service-Error, the message prefixed
// with the field it names) with an ErrorBody as payload.
// Requests are evaluated concurrently, at most MicroConcurrency at once.
func RegisterMicro(nc *nats.Conn, svc *Service) (*MicroService, error) {
	if nc == nil || svc == nil {
		return nil, fmt.Errorf("%w: RegisterMicro needs a connection and a service", ErrInvalidConfig)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := new(gate)
	stats := new(microStats)
	sem := make(chan struct{}, MicroConcurrency)
	handler := micro.HandlerFunc(func(req micro.Request) {
		if !g.enter() {
			body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: "unavailable", Message: "the service is stopping"}})
			_ = req.Error("503", "the service is stopping", body)
			stats.add(0, "503", "the service is stopping")
			return
		}
		sem <- struct{}{}
		// The subscription delivers messages one at a time: answering in
		// a goroutine lets one process evaluate many requests at once.
		// The goroutine answers on the connection, not through req, which
		// the micro package reads (for its statistics) once this handler
		// returns.
		data, reply := req.Data(), req.Reply()
		go func() {
			defer func() { <-sem; g.wg.Done() }()
			start := time.Now()
			msg, status, text := svc.answerMicro(ctx, data)
			stats.add(time.Since(start), status, text)
			msg.Subject = reply
			if err := nc.PublishMsg(msg); err != nil {
				svc.logger.Warn("stele.evaluate: reply failed", slog.Any("err", err))
			}
		}()
	})
	ms, err := micro.AddService(nc, micro.Config{
		Name:        MicroName,
		Version:     MicroVersion,
		Description: "Stele action evaluation against stored covenants, with an audit trail",
		QueueGroup:  MicroQueueGroup,
		StatsHandler: func(*micro.Endpoint) any {
			return stats.get()
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("evaluate: add micro service: %w", err)
	}
	if err := ms.AddEndpoint("evaluate", handler,
		micro.WithEndpointSubject(SubjectEvaluate),
		micro.WithEndpointQueueGroup(MicroQueueGroup),
		micro.WithEndpointMetadata(map[string]string{"format": "application/json"}),
	); err != nil {
		_ = ms.Stop()
		cancel()
		return nil, fmt.Errorf("evaluate: add micro endpoint: %w", err)
	}
	return &MicroService{Service: ms, gate: g, stats: stats, cancel: cancel}, nil
}

// answerMicro evaluates one stele.evaluate request, data, and returns the
// reply as micro.Request's Respond and Error would make it, with the error
// reply's status and message ("" for a decision).
func (s *Service) answerMicro(ctx context.Context, data []byte) (reply *nats.Msg, status, message string) {
	ctx, cancel := context.WithTimeout(ctx, microTimeout)
	defer cancel()
	r, err := ParseRequest(data)
	var d Decision
	if err == nil {
		d, err = s.Evaluate(ctx, r)
	}
	var body []byte
	if err == nil {
		if body, err = json.Marshal(d); err == nil {
			return &nats.Msg{Data: body}, "", ""
		}
	}
	status, code := ErrorCode(err)
	detail := ErrorDetail{Code: code, Message: "internal error"}
	var e *Error
	if status == "503" {
		// As the HTTP API answers: the error's text names internals.
		detail.Message = "a dependency is unavailable; retry later"
		s.logger.Warn("stele.evaluate: the store is unavailable", slog.Any("err", err))
	} else if status != "500" && errors.As(err, &e) {
		detail.Message, detail.Field = e.Message, e.Field
		if detail.Field == "" && code != "not_found" {
			// As the HTTP API names it: the body as a whole is at fault.
			detail.Field = "body"
		}
	} else {
		s.logger.Error("stele.evaluate failed", slog.Any("err", err))
	}
	body, _ = json.Marshal(ErrorBody{Error: detail})
	// The header is all a generic micro client shows ("is required" alone
	// says nothing): it names the field the body names.
	text := detail.Message
	if detail.Field != "" && detail.Field != "body" {
		text = detail.Field + ": " + text
	}
	return &nats.Msg{Data: body, Header: nats.Header{
		micro.ErrorHeader: []string{text}, micro.ErrorCodeHeader: []string{status}}}, status, text
}
