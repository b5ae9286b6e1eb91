package worker

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stele-go/stele/internal/store"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:secret@host:6379/0": "redis://***@host:6379/0",
		"redis://user:pw@host":        "redis://***@host",
		"redis://host:6379":           "redis://host:6379",
		"host@example":                "host@example",
		// Every URL of a list, and a token alone, are hidden; an '@' in
		// the path or query is not taken for credentials.
		"nats://a:pw1@n1:4222,nats://b:pw2@n2:4222": "nats://***@n1:4222,nats://***@n2:4222",
		"nats://tok@n1:4222,nats://n2:4222":         "nats://***@n1:4222,nats://n2:4222",
		"redis://:p@ss@host:6379/0":                 "redis://***@host:6379/0",
		"redis://host:6379/0?client_name=a@b":       "redis://host:6379/0?client_name=a@b",
		// A Sentinel URL names the master's password in its query.
		"redis://:spw@s1:26379?master_name=m&password=mpw&db=0": "redis://***@s1:26379?master_name=m&password=***&db=0",
		"redis://s1:26379?Password=mpw#frag":                    "redis://s1:26379?Password=***#frag",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGetenvLastWins(t *testing.T) {
	get := Getenv([]string{"A=1", "B=x=y", "A=2", "NOVALUE"})
	if get("A") != "2" || get("B") != "x=y" || get("NOVALUE") != "" || get("C") != "" {
		t.Errorf("A=%q B=%q", get("A"), get("B"))
	}
}

func TestFlagsPrecedence(t *testing.T) {
	var out bytes.Buffer
	var c Config
	f := NewFlags("w", &out)
	CommonFlags(f, &c, "w", store.KindSign, 40)
	var extra string
	f.StringVar(&extra, "extra", "STELE_EXTRA", "def", "an extra flag")
	err := f.Parse([]string{"-concurrency", "3"}, Getenv([]string{
		"STELE_CONCURRENCY=7", "STELE_EXTRA=env", "STELE_FETCH_WAIT=250ms", "STELE_LOG_LEVEL=warn", "STELE_REDIS_URL=",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.Runner.Concurrency != 3 || c.Runner.FetchBatch != 3 {
		t.Errorf("concurrency %d, fetch batch %d: the flag must beat the variable", c.Runner.Concurrency, c.Runner.FetchBatch)
	}
	if extra != "env" || c.Runner.FetchMaxWait != 250*time.Millisecond || c.LogLevel.String() != "WARN" {
		t.Errorf("environment not applied: extra %q, %+v", extra, c)
	}
	if c.RedisURL != "redis://127.0.0.1:6379" || c.Consumer.MaxDeliver != 40 || c.Streams.JobsMaxMsgs != 1_000_000 {
		t.Errorf("defaults not kept (an empty variable is unset): %+v", c)
	}
	if !strings.HasPrefix(c.Name, "w@") {
		t.Errorf("name %q", c.Name)
	}
}

func TestFlagsErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  []string
		want string
	}{
		"bad env number": {nil, []string{"STELE_CONCURRENCY=many"}, `bad STELE_CONCURRENCY "many"`},
		"unknown flag":   {[]string{"-colour"}, nil, "colour"},
		"stray argument": {[]string{"now"}, nil, "unexpected argument"},
		"bad log level":  {[]string{"-log-level", "loud"}, nil, "log level"},
		"bad log format": {[]string{"-log-format", "xml"}, nil, "log format"},
		"max deliver":    {[]string{"-max-deliver", "-2"}, nil, "max deliver"},
		"negative wait":  {[]string{"-connect-wait", "-1s"}, nil, "connect wait"},
		"empty nats":     {[]string{"-nats", " "}, nil, "URLs"},
		"bad clock":      {[]string{"-clock", "ntp"}, nil, `clock "ntp"`},
		"bad env clock":  {nil, []string{"STELE_CLOCK=Store"}, `clock "Store"`},
	} {
		var c Config
		f := NewFlags("w", new(bytes.Buffer))
		CommonFlags(f, &c, "w", store.KindVerify, 10)
		err := f.Parse(tc.args, Getenv(tc.env))
		if err == nil {
			err = c.Finish()
		}
		var ue UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a usage error mentioning %q", name, err, tc.want)
		}
	}
	var help bytes.Buffer
	f := NewFlags("w", &help)
	var c Config
	CommonFlags(f, &c, "w", store.KindVerify, 10)
	if err := f.Parse([]string{"-h"}, Getenv(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	// The gateway's header, then every flag with its variable.
	if out := help.String(); !strings.HasPrefix(out, "usage: w [flags]\n\nEvery flag can also be set with the STELE_* variable") ||
		!strings.Contains(out, "(STELE_CLOCK)") {
		t.Errorf("-h printed:\n%s", out)
	}
}

// TestURLErrorHidesCredentials: a NATS URL that does not parse fails with
// an error that quotes it without its credentials (url.Parse's own quotes
// the whole URL), and Retry gives up at once: no retry mends it.
func TestURLErrorHidesCredentials(t *testing.T) {
	for _, raw := range []string{
		"nats://user:s3cretpw@host:bad",
		"nats://user:s3c%zzretpw@host:4222",
		"nats://user:s3cretpw@n1:4222,nats://user:s3cretpw@n2:bad",
	} {
		_, err := nats.Connect(raw, nats.Timeout(time.Second))
		if err == nil {
			t.Fatalf("nats.Connect(%q) succeeded", raw)
		}
		err = URLError(err)
		if strings.Contains(err.Error(), "s3c") || !errors.Is(err, ErrMalformedURL) {
			t.Errorf("URLError(nats.Connect(%q)) = %v, want ErrMalformedURL without the password", raw, err)
		}
		calls := 0
		rerr := Retry(t.Context(), time.Hour, slog.New(slog.DiscardHandler), "nats", func(context.Context) error {
			calls++
			_, err := nats.Connect(raw, nats.Timeout(time.Second))
			return URLError(err)
		})
		if calls != 1 || !errors.Is(rerr, ErrMalformedURL) {
			t.Errorf("Retry of %q = %v after %d calls, want the URL error after 1", raw, rerr, calls)
		}
	}
	if err := URLError(nil); err != nil {
		t.Errorf("URLError(nil) = %v", err)
	}
	refused := errors.New("connection refused")
	if err := URLError(refused); err != refused {
		t.Errorf("URLError(%v) = %v, want it unchanged", refused, err)
	}
}

// TestRetryStopsOnBadOption: a configuration mistake is returned at once,
// not retried until the connect wait runs out.
func TestRetryStopsOnBadOption(t *testing.T) {
	calls := 0
	err := Retry(t.Context(), time.Hour, slog.New(slog.DiscardHandler), "redis", func(context.Context) error {
		calls++
		return fmt.Errorf("open: %w", store.ErrInvalidOption)
	})
	if !errors.Is(err, store.ErrInvalidOption) || calls != 1 {
		t.Errorf("Retry = %v after %d calls, want the option error after 1", err, calls)
	}
}

// TestStoppedDuringStartUp: a worker told to stop while it still waits for
// its servers gives up with an error wrapping context.Canceled and the last
// connection error, and exits 0 as after a drain; a connect wait that runs
// out still exits 1 with the last error.
func TestStoppedDuringStartUp(t *testing.T) {
	refused := errors.New("connection refused")
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	err := Retry(ctx, time.Hour, slog.New(slog.DiscardHandler), "nats", func(context.Context) error { return refused })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, refused) {
		t.Fatalf("Retry after a stop = %v, want context.Canceled and the last error", err)
	}
	if code, msg := exitStatus("signer", fmt.Errorf("connect to NATS: %w", err), true); code != 0 || !strings.Contains(msg, "stopped before start-up completed") {
		t.Errorf("exit status after a stop during start-up: %d %q, want 0", code, msg)
	}

	err = Retry(t.Context(), 50*time.Millisecond, slog.New(slog.DiscardHandler), "nats", func(context.Context) error { return refused })
	if err != refused {
		t.Fatalf("Retry past its wait = %v, want the last error itself", err)
	}
	if code, msg := exitStatus("signer", fmt.Errorf("connect to NATS: %w", err), false); code != 1 || !strings.Contains(msg, "connection refused") {
		t.Errorf("exit status after the connect wait: %d %q, want 1", code, msg)
	}
	if code, _ := exitStatus("signer", errors.New("drain: ack failed"), true); code != 1 {
		t.Errorf("an error after a stop that is not the stop itself: exit %d, want 1", code)
	}
	if code, msg := exitStatus("signer", UsageError{errors.New("bad flag")}, false); code != 2 || !strings.Contains(msg, "-h") {
		t.Errorf("usage error: %d %q, want 2 and a hint", code, msg)
	}
}

// TestLogDisconnect: a lost connection is a warning; the process closing its
// own connection at shutdown (a nil error) is not.
func TestLogDisconnect(t *testing.T) {
	var buf bytes.Buffer
	h := LogDisconnect(slog.New(slog.NewTextHandler(&buf, nil)))
	h(nil, nil)
	if buf.Len() != 0 {
		t.Errorf("a clean close logged %q at info level or above", buf.String())
	}
	h(nil, errors.New("read tcp: connection reset by peer"))
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "connection reset") {
		t.Errorf("a lost connection logged %q, want a warning with the error", buf.String())
	}
}

// TestLoggerFormat: the worker logs JSON by default and text with
// --log-format text, naming itself either way.
func TestLoggerFormat(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, `{"time":`},
		{[]string{"-log-format", "text"}, "time="},
	} {
		var cfg Config
		f := NewFlags("w", new(bytes.Buffer))
		CommonFlags(f, &cfg, "w", store.KindVerify, 10)
		if err := f.Parse(append(c.args, "-name", "w1"), Getenv(nil)); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Finish(); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cfg.Logger(&out).Info("hello")
		if line := out.String(); !strings.HasPrefix(line, c.want) || !strings.Contains(line, "w1") {
			t.Errorf("%v: logged %q, want it to start with %q and name w1", c.args, line, c.want)
		}
	}
}
