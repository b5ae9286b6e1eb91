package audit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func mustMonitor(t testing.TB, id, constraints string, opts ...Option) *Monitor {
	t.Helper()
	m, err := NewMonitor(id, constraints, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ctxOf(kv ...any) *canon.Object {
	o := canon.NewObject(len(kv) / 2)
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

// TestRateLimitExample is the example of §6.3.
func TestRateLimitExample(t *testing.T) {
	clk := newClock(epoch)
	m := mustMonitor(t, "cov", "permit api.call on '**'\nlimit api.call 2 per 1 minutes", WithClock(clk.Now))
	ctx := context.Background()
	for i := range 2 {
		e, err := m.Evaluate(ctx, "api.call", "/x", nil)
		if err != nil || !e.Result.Permitted || e.Outcome != Executed {
			t.Fatalf("call %d: %+v %v", i+1, e, err)
		}
	}
	clk.Advance(59999 * time.Millisecond)
	e, err := m.Evaluate(ctx, "api.call", "/x", nil)
	var de *MonitorDeniedError
	if !errors.As(err, &de) {
		t.Fatalf("call 3: %v, want a denial", err)
	}
	if e.Result.Permitted || e.Outcome != Denied || e.Result.Reason != "Rate limit exceeded for action 'api.call'" || e.Result.Severity != "high" {
		t.Errorf("call 3 entry %+v", e.Result)
	}
	if de.MatchedRule == nil || de.MatchedRule.Type != ccl.Permit || e.Result.MatchedRule.Type != ccl.Permit {
		t.Errorf("rate-limit denial should name the permit: %v", de.MatchedRule)
	}
	if de.Error() != "Action 'api.call' on resource '/x' denied: matched permit rule" {
		t.Errorf("message %q", de.Error())
	}
	st, err := m.RateLimitStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []RateLimitState{{Action: "api.call", Count: 2, PeriodStart: epoch, PeriodSeconds: 60, Limit: 2}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	// Exactly one period after the window opened it resets (>=, not >).
	clk.Advance(time.Millisecond)
	if _, err := m.Evaluate(ctx, "api.call", "/x", nil); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	st, _ = m.RateLimitStates(ctx)
	if st[0].Count != 1 || !st[0].PeriodStart.Equal(epoch.Add(time.Minute)) {
		t.Errorf("window not reset: %+v", st[0])
	}
	if err := m.VerifyIntegrity(ctx); err != nil {
		t.Error(err)
	}
}

func TestRateLimitSemantics(t *testing.T) {
	ctx := context.Background()
	t.Run("most specific checked, every match counted", func(t *testing.T) {
		m := mustMonitor(t, "c", "permit api.** on '**'\nlimit api.* 5 per 1 minutes\nlimit api.call 2 per 1 minutes", WithClock(newClock(epoch).Now))
		for range 2 {
			if _, err := m.Evaluate(ctx, "api.call", "r", nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := m.Evaluate(ctx, "api.call", "r", nil); !errors.Is(err, ErrDenied) {
			t.Fatalf("third api.call: %v", err)
		}
		if _, err := m.Evaluate(ctx, "api.read", "r", nil); err != nil {
			t.Fatalf("api.read: %v", err)
		}
		st, err := m.RateLimitStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, s := range st {
			got[s.Action] = s.Count
		}
		if diff := cmp.Diff(map[string]int64{"api.*": 3, "api.call": 2}, got); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		if st[0].Action != "api.call" {
			t.Errorf("states not in creation order: %+v", st)
		}
		// No limit pattern covers api.foo.bar (api.* is one segment).
		s, err := m.CheckRateLimit(ctx, "api.foo.bar")
		if err != nil || s.Exceeded || !math.IsInf(s.Remaining, 1) {
			t.Errorf("unlimited action: %+v %v", s, err)
		}
		s, err = m.CheckRateLimit(ctx, "api.read")
		if err != nil || s.Exceeded || s.Remaining != 2 {
			t.Errorf("api.read check: %+v %v", s, err)
		}
	})
	t.Run("duplicate patterns double count", func(t *testing.T) {
		m := mustMonitor(t, "c", "permit a on '**'\nlimit a 3 per 1 minutes\nlimit a 10 per 1 hours", WithClock(newClock(epoch).Now))
		passed := 0
		for range 5 {
			if _, err := m.Evaluate(ctx, "a", "r", nil); err == nil {
				passed++
			}
		}
		if passed != 2 {
			t.Errorf("%d calls passed, want 2 (each counted twice against limit 3)", passed)
		}
		st, _ := m.RateLimitStates(ctx)
		if len(st) != 1 || st[0].Limit != 3 || st[0].PeriodSeconds != 60 || st[0].Count != 4 {
			t.Errorf("state %+v", st)
		}
	})
	t.Run("denied actions are not counted", func(t *testing.T) {
		m := mustMonitor(t, "c", "permit a on '/ok'\nlimit a 1 per 1 minutes", WithClock(newClock(epoch).Now))
		for range 3 {
			if _, err := m.Evaluate(ctx, "a", "/no", nil); !errors.Is(err, ErrDenied) {
				t.Fatal(err)
			}
		}
		if _, err := m.Evaluate(ctx, "a", "/ok", nil); err != nil {
			t.Fatalf("first permitted call: %v", err)
		}
	})
}

func TestLogOnlyMode(t *testing.T) {
	ctx := context.Background()
	var violations, actions []Entry
	m := mustMonitor(t, "c", "permit read on '/data/**'\ndeny read on '/data/secret/**' severity critical",
		WithMode(LogOnly), WithClock(newClock(epoch).Now),
		WithOnViolation(func(e Entry) { violations = append(violations, e) }),
		WithOnAction(func(e Entry) { actions = append(actions, e) }))
	e, err := m.Evaluate(ctx, "read", "/data/secret/key", nil)
	if err != nil {
		t.Fatalf("log_only returned %v", err)
	}
	if e.Result.Permitted || e.Outcome != Executed || e.Result.Severity != "critical" {
		t.Errorf("entry %+v", e)
	}
	ran := false
	e, err = m.Execute(ctx, "write", "/x", nil, func(context.Context) error { ran = true; return nil })
	if err != nil || !ran || e.Outcome != Executed || e.Result.Permitted {
		t.Errorf("log_only execute of a denied action: ran=%v entry=%+v err=%v", ran, e, err)
	}
	if len(violations) != 2 || len(actions) != 2 || violations[1].Index != 1 {
		t.Errorf("callbacks: %d violations, %d actions", len(violations), len(actions))
	}
	if err := m.VerifyIntegrity(ctx); err != nil {
		t.Error(err)
	}
}

func TestExecute(t *testing.T) {
	ctx := context.Background()
	var calls []string
	m := mustMonitor(t, "c", "permit run on '**'",
		WithClock(newClock(epoch).Now),
		WithOnViolation(func(e Entry) { calls = append(calls, "violation:"+e.Action) }),
		WithOnAction(func(e Entry) { calls = append(calls, "action:"+e.Action) }))

	ran := false
	if _, err := m.Execute(ctx, "other", "/x", nil, func(context.Context) error { ran = true; return nil }); !errors.Is(err, ErrDenied) || ran {
		t.Fatalf("denied execute: ran=%v err=%v", ran, err)
	}
	boom := errors.New("boom")
	e, err := m.Execute(ctx, "run", "/x", nil, func(context.Context) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("handler error not returned: %v", err)
	}
	if e.Error == nil || *e.Error != "boom" || e.Outcome != Executed || !e.Result.Permitted {
		t.Errorf("failed handler entry %+v", e)
	}
	e, err = m.Execute(ctx, "run", "/y", nil, func(context.Context) error { return nil })
	if err != nil || e.Error != nil || e.Index != 2 {
		t.Errorf("successful execute: %+v %v", e, err)
	}
	want := []string{"violation:other", "action:other", "action:run", "action:run"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("callbacks (-want +got):\n%s", diff)
	}
	snap, err := m.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := []Outcome{}
	for _, e := range snap.Entries {
		outcomes = append(outcomes, e.Outcome)
	}
	if diff := cmp.Diff([]Outcome{Denied, Executed, Executed}, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if err := VerifyIntegrity(snap.Entries); err != nil {
		t.Error(err)
	}
}

func TestContextIsCopied(t *testing.T) {
	ctx := context.Background()
	m := mustMonitor(t, "c", "permit read on '**' when role = 'admin'", WithClock(newClock(epoch).Now))
	c := ctxOf("role", "admin", "tags", []any{"a"})
	e, err := m.Evaluate(ctx, "read", "/x", c)
	if err != nil {
		t.Fatal(err)
	}
	c.Set("role", "guest")
	c.Set("extra", true)
	got, ok, err := m.AuditEntry(ctx, 0)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if string(canon.Canonical(got.Context)) != `{"role":"admin","tags":["a"]}` || got.Hash != e.Hash {
		t.Errorf("logged context changed: %s", canon.Canonical(got.Context))
	}
	// Modifying a returned entry does not touch the log.
	got.Context.Set("role", "root")
	if err := m.VerifyIntegrity(ctx); err != nil {
		t.Error(err)
	}
	if _, ok, _ := m.AuditEntry(ctx, 5); ok {
		t.Error("entry 5 of a one-entry log")
	}
}

func TestMonitorInputErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := NewMonitor(" ", "permit a on '**'"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("blank id: %v", err)
	}
	if _, err := NewMonitor("c", " \n"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("blank constraints: %v", err)
	}
	if _, err := NewMonitor("c", "permit"); err == nil {
		t.Error("bad CCL accepted")
	}
	for _, o := range []Option{WithMode("strict"), WithLog(nil), WithRateLimiter(nil), WithClock(nil), WithLogger(nil), WithEvaluator(nil), WithMaxContextBytes(0)} {
		if _, err := NewMonitor("c", "permit a on '**'", o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("bad option accepted: %v", err)
		}
	}
	m := mustMonitor(t, "c", "permit a on '**'", WithMaxContextBytes(64))
	for name, f := range map[string]func() error{
		"blank action": func() error { _, err := m.Evaluate(ctx, "  ", "/r", nil); return err },
		"long action":  func() error { _, err := m.Evaluate(ctx, strings.Repeat("a", MaxNameBytes+1), "/r", nil); return err },
		"long resource": func() error {
			_, err := m.Evaluate(ctx, "a", strings.Repeat("/r", MaxNameBytes), nil)
			return err
		},
		"big context": func() error {
			_, err := m.Evaluate(ctx, "a", "/r", ctxOf("k", strings.Repeat("x", 100)))
			return err
		},
		"nil handler": func() error { _, err := m.Execute(ctx, "a", "/r", nil, nil); return err },
		"bad index":   func() error { _, err := m.MerkleProof(ctx, 0); return err },
	} {
		if err := f(); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Evaluate(cancelled, "a", "/r", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if snap, _ := m.AuditLog(ctx); snap.Count != 0 {
		t.Errorf("rejected inputs were logged: %d entries", snap.Count)
	}
}

// failingLimiter fails every call, to check that storage errors deny.
type failingLimiter struct{ MemoryRateLimiter }

var errStore = errors.New("store unavailable")

func (*failingLimiter) Acquire(context.Context, string, Limit, []Limit, time.Time) (RateStatus, error) {
	return RateStatus{}, errStore
}

func TestStorageErrorsPropagate(t *testing.T) {
	ctx := context.Background()
	m := mustMonitor(t, "c", "permit a on '**'\nlimit a 5 per 1 minutes", WithRateLimiter(&failingLimiter{}))
	if _, err := m.Evaluate(ctx, "a", "/r", nil); !errors.Is(err, errStore) || errors.Is(err, ErrDenied) {
		t.Errorf("limiter failure: %v", err)
	}
	ran := false
	if _, err := m.Execute(ctx, "a", "/r", nil, func(context.Context) error { ran = true; return nil }); !errors.Is(err, errStore) || ran {
		t.Errorf("limiter failure in execute: ran=%v %v", ran, err)
	}
}

func TestReset(t *testing.T) {
	ctx := context.Background()
	m := mustMonitor(t, "c", "permit a on '**'\nlimit a 1 per 1 hours")
	if _, err := m.Evaluate(ctx, "a", "/r", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Evaluate(ctx, "a", "/r", nil); !errors.Is(err, ErrDenied) {
		t.Fatal(err)
	}
	if err := m.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if snap, _ := m.AuditLog(ctx); snap.Count != 0 || snap.MerkleRoot != GenesisHash {
		t.Errorf("after reset: %+v", snap)
	}
	e, err := m.Evaluate(ctx, "a", "/r", nil)
	if err != nil || e.Index != 0 || e.PreviousHash != GenesisHash {
		t.Errorf("after reset: %+v %v", e, err)
	}
}

// TestConcurrentMonitors runs monitors of one covenant in parallel over one
// shared log and limiter: the chain must stay intact and the limit exact.
func TestConcurrentMonitors(t *testing.T) {
	ctx := context.Background()
	log, lim := NewMemoryLog(), NewMemoryRateLimiter()
	const workers, calls, limit = 8, 40, 100
	monitors := make([]*Monitor, 3)
	for i := range monitors {
		monitors[i] = mustMonitor(t, "shared", fmt.Sprintf("permit api.call on '**'\nlimit api.call %d per 1 hours", limit),
			WithLog(log), WithRateLimiter(lim))
	}
	other := mustMonitor(t, "other", "permit x on '**'", WithLog(log), WithRateLimiter(lim))
	var wg sync.WaitGroup
	var mu sync.Mutex
	permitted, denied := 0, 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := monitors[w%len(monitors)]
			for i := range calls {
				_, err := m.Evaluate(ctx, "api.call", "/r", ctxOf("w", float64(w), "i", float64(i)))
				mu.Lock()
				switch {
				case err == nil:
					permitted++
				case errors.Is(err, ErrDenied):
					denied++
				default:
					t.Error(err)
				}
				mu.Unlock()
				if _, err := other.Evaluate(ctx, "x", "/r", nil); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if permitted != limit || denied != workers*calls-limit {
		t.Errorf("permitted %d denied %d, want %d and %d", permitted, denied, limit, workers*calls-limit)
	}
	for _, m := range []*Monitor{monitors[0], other} {
		snap, err := m.AuditLog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Count != workers*calls {
			t.Errorf("%s: %d entries, want %d", m.CovenantID(), snap.Count, workers*calls)
		}
		if err := VerifyIntegrity(snap.Entries); err != nil {
			t.Errorf("%s: %v", m.CovenantID(), err)
		}
	}
}

func BenchmarkMonitorEvaluate(b *testing.B) {
	ctx := context.Background()
	m := mustMonitor(b, "c", "permit read on '/data/**'\ndeny read on '/data/secret/**'\nlimit read 1000000000 per 1 days")
	c := ctxOf("user", "ana", "role", "admin")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Evaluate(ctx, "read", "/data/users/1", c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryLogAppend(b *testing.B) {
	ctx := context.Background()
	l := NewMemoryLog()
	c := ctxOf("user", "ana")
	b.ReportAllocs()
	for b.Loop() {
		_, err := l.Append(ctx, "c", func(prev Head) (Entry, error) {
			return Entry{Index: prev.Len, Timestamp: "2025-01-01T00:00:00.000Z", Action: "read", Resource: "/r",
				Context: c, Result: Result{Permitted: true, Reason: "Matched permit rule for read on /r", Severity: "high"},
				Outcome: Executed, PreviousHash: prev.Hash}.Seal(), nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestMonitorBlankIsJavaScriptTrim: the Monitor rejects a blank covenant id,
// constraint text or action as the reference does, by String.prototype.trim()
// (enforcement Monitor constructor and evaluate): U+FEFF (a BOM) is
// whitespace there and U+0085 (NEL) is not, unlike strings.TrimSpace.
func TestMonitorBlankIsJavaScriptTrim(t *testing.T) {
	ctx := context.Background()
	if _, err := NewMonitor("\ufeff", "permit a on '**'"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("BOM-only covenant id: %v, want ErrInvalidInput", err)
	}
	if _, err := NewMonitor("c", "\ufeff \u3000"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("BOM-only constraints: %v, want ErrInvalidInput", err)
	}
	// NEL is not blank to JavaScript; the lexer skips it: no statements.
	if m, err := NewMonitor("\u0085", "\u0085", WithMode(LogOnly)); err != nil {
		t.Errorf("NEL covenant id and constraints: %v", err)
	} else if e, err := m.Evaluate(ctx, "a", "/r", nil); err != nil || e.Result.Permitted {
		t.Errorf("evaluate under no statements: %+v %v", e, err)
	}
	m := mustMonitor(t, "c", "permit ** on '**'", WithMode(LogOnly))
	if _, err := m.Evaluate(ctx, "\ufeff", "/r", nil); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("BOM-only action: %v, want ErrInvalidInput", err)
	}
	e, err := m.Evaluate(ctx, "\u0085", "/r", nil)
	if err != nil || !e.Result.Permitted || e.Action != "\u0085" {
		t.Errorf("NEL action: %+v %v, want permitted by permit ** on '**'", e, err)
	}
}
