package evaluate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/natstest"
)

// TestMicro runs stele.evaluate in two processes' worth of services (two
// connections, two stores on one Redis) and checks replies, error codes and
// the queue group.
func TestMicro(t *testing.T) {
	env := newRedisEnv(t)
	ctx := testContext(t)
	doc := newIssuer(t).build(t, "permit read on '/data/**'\nlimit read 30 per 1 minutes", nil)
	put(t, env.a, doc)
	url := natstest.StartServer(t, natstest.Options{}).ClientURL()
	connect := func() *nats.Conn {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	var services []*evaluate.MicroService
	for _, st := range []store.Store{env.a, env.b} {
		svc := newService(t, st, nil)
		ms, err := evaluate.RegisterMicro(connect(), svc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ms.Stop() })
		services = append(services, ms)
	}
	client := connect()

	permitted := 0
	for i := range 40 {
		body, _ := json.Marshal(evaluate.Request{CovenantID: doc.ID(), Action: "read", Resource: "/data/x", Context: json.RawMessage(`{"n":1}`)})
		msg, err := client.RequestWithContext(ctx, evaluate.SubjectEvaluate, body)
		if err != nil {
			t.Fatal(err)
		}
		if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
			t.Fatalf("request %d: error %s %s", i, code, msg.Data)
		}
		var d evaluate.Decision
		if err := json.Unmarshal(msg.Data, &d); err != nil {
			t.Fatalf("reply %s: %v", msg.Data, err)
		}
		if d.AuditEntry.Index != i {
			t.Fatalf("request %d recorded at %d", i, d.AuditEntry.Index)
		}
		if d.Permitted {
			permitted++
		}
	}
	if permitted != 30 {
		t.Fatalf("%d permitted, want the limit of 30", permitted)
	}
	for i, ms := range services {
		if n := ms.Stats().Endpoints[0].NumRequests; n == 0 {
			t.Errorf("service %d answered no request: the queue group does not spread them", i)
		}
		if info := ms.Info(); info.Name != "stele" || info.Endpoints[0].Subject != "stele.evaluate" || info.Endpoints[0].QueueGroup != "stele" {
			t.Errorf("service info %+v", info)
		}
	}

	for _, c := range []struct{ body, code, errCode, field string }{
		// A fault of the body as a whole names the field "body", as POST
		// /v1/evaluate does.
		{`{`, "400", "invalid_json", "body"},
		{``, "400", "invalid_json", "body"},
		{`[]`, "400", "invalid_json", "body"},
		{`{"covenantId":"x","action":"read"} {}`, "400", "invalid_json", "body"},
		{`{"covenantId":"` + doc.ID() + `","action":"read"}` + strings.Repeat(" ", 64<<10), "413", "body_too_large", "body"},
		{`{"action":"read"}`, "400", "missing_field", "covenantId"},
		{`{"action":"read","verb":"x"}`, "400", "unknown_field", "verb"},
		{`{"action":"read","action":"write"}`, "400", "invalid_field", "action"},
		{`{"covenantId":"` + doc.ID() + `","action":"read","context":7}`, "400", "invalid_field", "context"},
		{`{"covenantId":"` + strings.Repeat("0", 64) + `","action":"read"}`, "404", "not_found", "covenantId"},
	} {
		msg, err := client.RequestWithContext(ctx, evaluate.SubjectEvaluate, []byte(c.body))
		if err != nil {
			t.Fatal(err)
		}
		var eb evaluate.ErrorBody
		if err := json.Unmarshal(msg.Data, &eb); err != nil {
			t.Fatalf("%s: error body %q: %v", c.body, msg.Data, err)
		}
		// The header, all a generic micro client shows, names the field too.
		wantHeader := eb.Error.Message
		if c.field != "body" {
			wantHeader = c.field + ": " + eb.Error.Message
		}
		if got := msg.Header.Get(micro.ErrorCodeHeader); got != c.code || eb.Error.Code != c.errCode || eb.Error.Field != c.field ||
			eb.Error.Message == "" || msg.Header.Get(micro.ErrorHeader) != wantHeader {
			t.Errorf("%s: code %q header %q body %+v; want %s %s %q", c.body, got, msg.Header.Get(micro.ErrorHeader), eb, c.code, c.errCode, c.field)
		}
	}

	// The evaluations' own figures, in the endpoint's stats data: every
	// answer counted once, the five errors the caller's.
	var sum evaluate.MicroStats
	for i, ms := range services {
		var got evaluate.MicroStats
		if err := json.Unmarshal(ms.Stats().Endpoints[0].Data, &got); err != nil {
			t.Fatalf("service %d stats data %s: %v", i, ms.Stats().Endpoints[0].Data, err)
		}
		if got != ms.EvaluateStats() {
			t.Errorf("service %d: stats data %+v, EvaluateStats %+v", i, got, ms.EvaluateStats())
		}
		sum.Answered += got.Answered
		sum.Errors += got.Errors
		sum.ServerErrors += got.ServerErrors
		if got.Answered > 0 && got.ProcessingTime <= 0 {
			t.Errorf("service %d: answered %d in no time", i, got.Answered)
		}
	}
	if sum.Answered != 50 || sum.Errors != 10 || sum.ServerErrors != 0 {
		t.Errorf("stats: answered %d, errors %d (server %d); want 50, 10, 0", sum.Answered, sum.Errors, sum.ServerErrors)
	}

	// Stopped everywhere: nobody answers.
	for _, ms := range services {
		if err := ms.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := ms.Stop(); err != nil {
			t.Fatalf("second stop: %v", err)
		}
	}
	// (The unsubscription reaches the server shortly after Stop returns;
	// until then a request is refused with 503.)
	deadline := time.Now().Add(5 * time.Second)
	for {
		msg, err := client.Request(evaluate.SubjectEvaluate, []byte(`{}`), 2*time.Second)
		if errors.Is(err, nats.ErrNoResponders) {
			break
		}
		if err != nil {
			t.Fatalf("after stop: %v", err)
		}
		if code := msg.Header.Get(micro.ErrorCodeHeader); code != "503" {
			t.Fatalf("after stop: code %q, %s", code, msg.Data)
		}
		if time.Now().After(deadline) {
			t.Fatal("still answered 5 s after stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestErrorCodeUnavailable: a store that timed out, could not be reached or
// cannot serve for now is a "503" ("retry"), as the HTTP API answers it;
// before, it was a "500", which the README tells clients not to retry.
func TestErrorCodeUnavailable(t *testing.T) {
	down := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, c := range []struct {
		err          error
		status, code string
	}{
		{fmt.Errorf("resolve x: %w", context.DeadlineExceeded), "503", "unavailable"},
		{fmt.Errorf("redisstore: get document x: %w", down), "503", "unavailable"},
		{fmt.Errorf("redisstore: get document x: LOADING: %w", store.ErrUnavailable), "503", "unavailable"},
		{errors.New("boom"), "500", "internal"},
		{fmt.Errorf("x: %w", context.Canceled), "500", "internal"},
	} {
		if status, code := evaluate.ErrorCode(c.err); status != c.status || code != c.code {
			t.Errorf("%v: %s %s, want %s %s", c.err, status, code, c.status, c.code)
		}
	}
}
