package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/keyring"
	"github.com/stele-go/stele/internal/testutil/natstest"
)

func TestParseConfigPrecedence(t *testing.T) {
	env := map[string]string{
		"STELE_NATS_URL":  "nats://env:4222",
		"STELE_REDIS_URL": "redis://env:6379/1",
		"STELE_ADDR":      "127.0.0.1:9999",
		"STELE_MAX_ITEMS": "50",
		"STELE_MAX_WAIT":  "5s",
		"STELE_EMBEDDED":  "true",
	}
	c, err := parseConfig([]string{"--addr", "127.0.0.1:7000", "--max-items", "7"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:7000" || c.limits.MaxItems != 7 {
		t.Errorf("flags must win over the environment: addr %s, max items %d", c.addr, c.limits.MaxItems)
	}
	if c.natsURL != "nats://env:4222" || c.redisURL != "redis://env:6379/1" || c.limits.MaxWait != 5*time.Second || !c.embedded {
		t.Errorf("environment not applied: %+v", c)
	}
	if c.logFormat != "text" {
		t.Errorf("embedded log format %q, want text by default", c.logFormat)
	}
	if c.streams.Replicas != 1 || c.streams.JobsMaxMsgs != 1_000_000 {
		t.Errorf("stream config %+v", c.streams)
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--max-items", "x"}, nil, "max-items"},
		{nil, map[string]string{"STELE_MAX_WAIT": "forever"}, "STELE_MAX_WAIT"},
		{[]string{"--log-format", "xml"}, nil, "log-format"},
		{[]string{"--chunk-items", "0"}, nil, "chunk-items"},
		{[]string{"--jobs-max-bytes", "-5"}, nil, "negative"},
		{[]string{"extra"}, nil, "unexpected argument"},
		{[]string{"--keys", "/tmp/keys"}, nil, "--keys needs --embedded"},
		{[]string{"--data", "/tmp/d"}, nil, "--data needs --embedded"},
		{[]string{"--nats-listen", "127.0.0.1:4223"}, nil, "--nats-listen needs --embedded"},
		{[]string{"--concurrency", "4"}, nil, "--concurrency needs --embedded"},
		{[]string{"--spool-dir", "/nonexistent/spool"}, nil, "--spool-dir"},
		{[]string{"--spool-dir", "/tmp", "--embedded"}, nil, "all-in-one spools"},
		{nil, map[string]string{"STELE_SPOOL_DIR": "/dev/null"}, "not a directory"},
		// Refused before start-up, naming the flag (the gateway once
		// started and then failed with "invalid config: negative limit").
		{[]string{"--max-items", "-1"}, nil, "--max-items -1 (STELE_MAX_ITEMS): must not be negative"},
		{nil, map[string]string{"STELE_MAX_WAIT": "-5s"}, "--max-wait -5s (STELE_MAX_WAIT)"},
		{[]string{"--body-min-rate", "-1"}, nil, "--body-min-rate"},
		{[]string{"--max-uploads", "-2"}, nil, "--max-uploads"},
		{[]string{"--embedded", "--concurrency", "5000"}, nil, "--concurrency 5000"},
		{[]string{"--chunk-items", "100001"}, nil, "--chunk-items 100001"},
		{[]string{"--job-ttl", "1ns"}, nil, "--job-ttl"},
		{[]string{"--queue-lease", "10ms"}, nil, "--queue-lease"},
		{nil, map[string]string{"STELE_QUEUE_LEASE": "0s"}, "STELE_QUEUE_LEASE"},
		{[]string{"--queue-lease", "5s", "--embedded"}, nil, "for a cluster gateway"},
		{[]string{"--clock", "host", "--embedded"}, nil, "--clock is for a cluster gateway"},
		{[]string{"--clock", "redis"}, nil, `--clock "redis"`},
		{[]string{"--shutdown-timeout", "-1s"}, nil, "--shutdown-timeout"},
		{[]string{"--addr", "nonsense"}, nil, `--addr "nonsense"`},
		{[]string{"--addr", "127.0.0.1:99999"}, nil, `--addr "127.0.0.1:99999"`},
		{[]string{"--embedded", "--nats-listen", "4222"}, nil, "--nats-listen"},
		{[]string{"--debug-addr", "localhost"}, nil, "--debug-addr"},
		{[]string{"--nats-creds", "/nonexistent/gw.creds"}, nil, "--nats-creds (STELE_NATS_CREDS)"},
		{[]string{"--nats-creds", "/tmp", "--embedded"}, nil, "--nats-creds is for a cluster gateway"},
	}
	for _, c := range cases {
		_, err := parseConfig(c.args, func(k string) string { return c.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: error %v, want one mentioning %q", c.args, c.env, err, c.want)
		}
	}
}

func TestParseConfigKeys(t *testing.T) {
	env := map[string]string{"STELE_KEYS_DIR": "/etc/stele/keys", "STELE_EMBEDDED": "true"}
	c, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.keysDir != "/etc/stele/keys" {
		t.Errorf("STELE_KEYS_DIR: %q, %v", c.keysDir, err)
	}
	c, err = parseConfig([]string{"--keys", "./k"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.keysDir != "./k" {
		t.Errorf("--keys: %q, %v", c.keysDir, err)
	}
	// In a cluster a shared environment may name the signers' key
	// directory: the gateway ignores it.
	delete(env, "STELE_EMBEDDED")
	if _, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Errorf("STELE_KEYS_DIR without --embedded: %v", err)
	}
}

// TestParseConfigNATSCreds: a cluster gateway authenticates to NATS with a
// credentials file, as the workers do (deployments/nats/auth.conf).
func TestParseConfigNATSCreds(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "gateway.creds")
	if err := os.WriteFile(creds, []byte("creds"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseConfig(nil, func(k string) string { return map[string]string{"STELE_NATS_CREDS": creds}[k] }, io.Discard)
	if err != nil || c.natsCreds != creds {
		t.Errorf("STELE_NATS_CREDS: %q, %v", c.natsCreds, err)
	}
	c, err = parseConfig([]string{"--nats-creds", creds}, func(string) string { return "" }, io.Discard)
	if err != nil || c.natsCreds != creds {
		t.Errorf("--nats-creds: %q, %v", c.natsCreds, err)
	}
}

func TestParseConfigSpoolDir(t *testing.T) {
	dir := t.TempDir()
	c, err := parseConfig(nil, func(k string) string { return map[string]string{"STELE_SPOOL_DIR": dir}[k] }, io.Discard)
	if err != nil || c.spoolDir != dir {
		t.Errorf("STELE_SPOOL_DIR: spool dir %q, %v; want %q", c.spoolDir, err, dir)
	}
}

// TestWarnOpen: without an admin token the gateway says its operator routes
// are open, as a warning unless it listens on loopback only; with a token
// (spaces around it are ignored) it says nothing.
func TestWarnOpen(t *testing.T) {
	for _, c := range []struct{ token, addr, want string }{
		{"", "0.0.0.0:8080", "level=WARN"},
		{"", ":8080", "level=WARN"},
		{"", "127.0.0.1:8080", "level=INFO"},
		{"", "localhost:8080", "level=INFO"},
		{"  ", "[::1]:8080", "level=INFO"},
		{"tok", "0.0.0.0:8080", ""},
	} {
		var buf bytes.Buffer
		warnOpen(slog.New(slog.NewTextHandler(&buf, nil)), c.token, c.addr)
		got := buf.String()
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("token %q, addr %s: logged %q, want %q", c.token, c.addr, got, c.want)
		}
	}
}

// TestPrintNATSAccess: the all-in-one tells NATS integrations where to
// connect, or, without --nats-listen, that they cannot and how to fix it.
func TestPrintNATSAccess(t *testing.T) {
	var b strings.Builder
	printNATSAccess(&b, "nats://127.0.0.1:4223")
	if !strings.Contains(b.String(), "nats://127.0.0.1:4223") {
		t.Errorf("with a listener: %q", b.String())
	}
	b.Reset()
	printNATSAccess(&b, "")
	if !strings.Contains(b.String(), "--nats-listen") {
		t.Errorf("without a listener: %q, want it to name --nats-listen", b.String())
	}
}

// TestHelpNamesVariables: -h names the STELE_* variable of every flag,
// including those that are not the mechanical STELE_<FLAG>.
func TestHelpNamesVariables(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"STELE_NATS_URL", "STELE_REDIS_URL", "STELE_KEYS_DIR", "STELE_ADMIN_TOKEN", "STELE_ADDR", "STELE_MAX_WAIT", "STELE_EMBEDDED"} {
		if !strings.Contains(out.String(), "("+want+")") {
			t.Errorf("help lacks %s:\n%s", want, out.String())
		}
	}
}

// TestPrintSignExample: the all-in-one's start-up message names the key its
// example sign request uses, and, when every key is retired, says so rather
// than asking for the --keys it was given.
func TestPrintSignExample(t *testing.T) {
	seed := strings.Repeat("11", 32)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range []struct {
		environ []string
		want    string
	}{
		{nil, "No signing keys: start with --keys DIR"},
		{[]string{"STELE_KEY_old=" + seed, "STELE_KEY_new=" + strings.Repeat("22", 32), "STELE_KEYS_RETIRED=old"}, `Sign a covenant with key "new"`},
		{[]string{"STELE_KEY_old=" + seed, "STELE_KEYS_RETIRED=old"}, "Every key is retired (old)"},
	} {
		ring, err := keyring.FromEnv(c.environ)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		printSignExample(&out, t.TempDir(), "http://127.0.0.1:8080", ring, false, false, log)
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: printed %q, want %q", c.environ, out.String(), c.want)
		}
	}
}

// TestAuthConfGatewayPermissions: the gateway user of
// deployments/nats/auth.conf may publish and subscribe on every core NATS
// subject a cluster gateway uses (it could not subscribe to the revocation
// announcements, so other gateways learnt of a revocation only by polling).
func TestAuthConfGatewayPermissions(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "deployments", "nats", "auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(data)
	start := strings.Index(conf, "{ user: gateway,")
	if start < 0 {
		t.Fatal("auth.conf has no gateway user")
	}
	block := conf[start+1:]
	if end := strings.Index(block, "{ user:"); end >= 0 {
		block = block[:end]
	}
	list := func(kind string) []string {
		i := strings.Index(block, kind+":")
		if i < 0 {
			t.Fatalf("gateway user: no %s list", kind)
		}
		l := block[i:]
		l = l[strings.Index(l, "[")+1 : strings.Index(l, "]")]
		var subjects []string
		for _, s := range strings.Split(l, ",") {
			subjects = append(subjects, strings.Trim(strings.TrimSpace(s), `"`))
		}
		return subjects
	}
	for _, kind := range []string{"publish", "subscribe"} {
		allowed := list(kind)
		for _, subject := range []string{jobs.SubjectRevocationsChanged, jobs.SubjectJobEventPrefix + "job-1", evaluate.SubjectEvaluate} {
			if kind == "publish" && subject == evaluate.SubjectEvaluate {
				continue // served, not requested
			}
			if !slices.ContainsFunc(allowed, func(p string) bool { return subjectMatches(p, subject) }) {
				t.Errorf("auth.conf: the gateway may not %s on %s (allowed: %v)", kind, subject, allowed)
			}
		}
	}
}

// subjectMatches reports whether NATS subject pattern p (with * and >)
// covers subject s.
func subjectMatches(p, s string) bool {
	pt, st := strings.Split(p, "."), strings.Split(s, ".")
	for i, tok := range pt {
		if tok == ">" {
			return len(st) > i
		}
		if i >= len(st) || (tok != "*" && tok != st[i]) {
			return false
		}
	}
	return len(pt) == len(st)
}

// TestMalformedURLsHideCredentials: a NATS or Redis URL that does not parse
// stops the cluster gateway at once with an error, and log lines, that name
// neither its password (url.Parse's errors quote the whole URL), rather
// than retrying what no retry mends until the start-up timeout.
func TestMalformedURLsHideCredentials(t *testing.T) {
	natsURL := natstest.Start(t)
	for _, args := range [][]string{
		{"--nats", "nats://user:s3cretpw@host:bad"},
		{"--nats", natsURL, "--redis", "redis://user:s3cretpw@host:bad/0"},
		{"--nats", natsURL, "--redis", "redis://:s3c%zzretpw@127.0.0.1:6379/0"},
	} {
		cfg, err := parseConfig(append(args, "--startup-timeout", "20s"), func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		start := time.Now()
		err = runCluster(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if err == nil || strings.Contains(err.Error(), "s3c") || strings.Contains(logs.String(), "s3c") {
			t.Errorf("%v: %v; logs:\n%s\nwant an error without the password", args, err, logs.String())
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%v: gave up after %v, want at once", args, d)
		}
	}
}
