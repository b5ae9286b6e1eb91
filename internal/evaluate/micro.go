package evaluate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
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

// ErrorCode returns the micro status code ("400", "404", "413", "500") and
// the error code of the body (as the HTTP API's: "invalid_field",
// "missing_field", "unknown_field", "invalid_json", "body_too_large",
// "not_found", "internal") for an error of the Service.
func ErrorCode(err error) (status, code string) {
	var e *Error
	switch {
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
type MicroService struct {
	micro.Service
	gate   *gate
	cancel context.CancelFunc
	once   sync.Once
	err    error
}

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
// "404" or "500" and Nats-Service-Error) with an ErrorBody as payload.
// Requests are evaluated concurrently, at most MicroConcurrency at once.
func RegisterMicro(nc *nats.Conn, svc *Service) (*MicroService, error) {
	if nc == nil || svc == nil {
		return nil, fmt.Errorf("%w: RegisterMicro needs a connection and a service", ErrInvalidConfig)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := new(gate)
	sem := make(chan struct{}, MicroConcurrency)
	handler := micro.HandlerFunc(func(req micro.Request) {
		if !g.enter() {
			body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: "unavailable", Message: "the service is stopping"}})
			_ = req.Error("503", "the service is stopping", body)
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
			svc.serveMicro(ctx, nc, data, reply)
		}()
	})
	ms, err := micro.AddService(nc, micro.Config{
		Name:        MicroName,
		Version:     MicroVersion,
		Description: "Stele action evaluation against stored covenants, with an audit trail",
		QueueGroup:  MicroQueueGroup,
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
	return &MicroService{Service: ms, gate: g, cancel: cancel}, nil
}

// serveMicro answers one stele.evaluate request, data, on nc to reply, as
// micro.Request's Respond and Error would.
func (s *Service) serveMicro(ctx context.Context, nc *nats.Conn, data []byte, reply string) {
	ctx, cancel := context.WithTimeout(ctx, microTimeout)
	defer cancel()
	var (
		d   Decision
		err error
	)
	r, err := ParseRequest(data)
	if err == nil {
		d, err = s.Evaluate(ctx, r)
	}
	if err != nil {
		status, code := ErrorCode(err)
		detail := ErrorDetail{Code: code, Message: "internal error"}
		var e *Error
		if status != "500" && errors.As(err, &e) {
			detail.Message, detail.Field = e.Message, e.Field
		} else {
			s.logger.Error("stele.evaluate failed", slog.Any("err", err))
		}
		body, _ := json.Marshal(ErrorBody{Error: detail})
		msg := &nats.Msg{Subject: reply, Data: body, Header: nats.Header{
			micro.ErrorHeader: []string{detail.Message}, micro.ErrorCodeHeader: []string{status}}}
		if rerr := nc.PublishMsg(msg); rerr != nil {
			s.logger.Warn("stele.evaluate: reply failed", slog.Any("err", rerr))
		}
		return
	}
	body, err := json.Marshal(d)
	if err == nil {
		err = nc.Publish(reply, body)
	}
	if err != nil {
		s.logger.Warn("stele.evaluate: reply failed", slog.Any("err", err))
	}
}
