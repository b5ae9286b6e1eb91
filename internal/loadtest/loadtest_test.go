package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/embedded"
)

func TestCheckLoopback(t *testing.T) {
	good := map[string]string{
		"http://127.0.0.1:8080":   "http://127.0.0.1:8080",
		"http://localhost:80/":    "http://localhost:80",
		"http://[::1]:8080/base/": "http://[::1]:8080/base",
		"http://127.9.9.9":        "http://127.9.9.9",
	}
	for in, want := range good {
		got, err := checkLoopback(in)
		if err != nil || got != want {
			t.Errorf("checkLoopback(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:8080", "http://example.com", "ftp://127.0.0.1", "127.0.0.1:8080", "http://"} {
		if _, err := checkLoopback(bad); !errors.Is(err, ErrUsage) {
			t.Errorf("checkLoopback(%q): %v, want ErrUsage", bad, err)
		}
	}
}

func TestParseArgsBounds(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "0"}, {"-n", "20000000"}, {"-size", "10"}, {"-rate", "0"}, {"-rate", "1e9"},
		{"-duration", "1h"}, {"-phases", "inproc,warp"}, {"-pids", "12,x"}, {"-gateway", "http://192.0.2.1"}, {"stray"},
		{"-sign-n", "0"}, {"-sign-batch", "0"}, {"-eval-rate", "0"}, {"-eval-duration", "0s"}, {"-eval-covenants", "0"},
		{"-eval-conns", "0"}, {"-eval-client", "curl"}, {"-latency-conns", "0"}, {"-latency-client", "curl"}, {"-eval-gateways", "http://127.0.0.1:1,http://10.0.0.1:2"},
	} {
		if _, err := parseArgs("steleload", args, io.Discard); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: %v, want ErrUsage", args, err)
		}
	}
	c, err := parseArgs("steleload", []string{"-n", "10", "-phases", "submit, latency", "-pids", "1,2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Gen.N != 10 || !c.Phases["submit"] || !c.Phases["latency"] || c.Phases["inproc"] || len(c.PIDs) != 2 {
		t.Errorf("config %+v", c)
	}
}

// TestGenerate checks the generated set: valid covenants of about the asked
// size, distinct, cached on the second call, different for another salt.
func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opts := GenOptions{N: 300, Size: 2048, Keys: 3}
	path, cached, err := Generate(ctx, dir, opts)
	if err != nil || cached {
		t.Fatalf("Generate: %v (cached %v)", err, cached)
	}
	ids := map[string]bool{}
	issuers := map[string]bool{}
	err = readLines(path, 0, func(i int, line []byte) error {
		if len(line) < 1900 || len(line) > 2200 {
			t.Errorf("document %d: %d bytes, want about 2048", i, len(line))
		}
		d, err := covenant.Parse(line)
		if err != nil {
			return err
		}
		if r := covenant.Verify(d); !r.Valid {
			t.Errorf("document %d invalid: %v", i, r.Failed())
		}
		ids[d.ID()] = true
		issuers[d.Issuer().PublicKey] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != opts.N || len(issuers) != opts.Keys {
		t.Errorf("%d distinct ids, %d issuers; want %d and %d", len(ids), len(issuers), opts.N, opts.Keys)
	}
	st, _ := os.Stat(path)
	path2, cached, err := Generate(ctx, dir, opts)
	if err != nil || !cached || path2 != path {
		t.Errorf("second Generate: %s %v %v", path2, cached, err)
	}
	if st2, _ := os.Stat(path2); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the cached set was rewritten")
	}
	opts.Salt = "other"
	path3, cached, err := Generate(ctx, dir, opts)
	if err != nil || cached || path3 == path {
		t.Errorf("salted Generate: %s %v %v", path3, cached, err)
	}
}

func TestReadRSS(t *testing.T) {
	kb, err := readRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if kb < 1024 {
		t.Errorf("own RSS %d KiB", kb)
	}
	if _, err := readRSS(1 << 30); err == nil {
		t.Error("RSS of a process that does not exist")
	}
}

// TestRunAgainstEmbedded runs every phase, briefly, against an all-in-one
// instance and checks the report.
func TestRunAgainstEmbedded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in, err := embedded.Start(ctx, embedded.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Shutdown(context.Background())
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var out, errOut bytes.Buffer
	err = Run(ctx, "steleload", []string{
		"-gateway", "http://" + in.Addr(), "-n", "600", "-size", "1024", "-cache", t.TempDir(),
		"-inproc-time", "100ms", "-rate", "40", "-duration", "1s", "-pids", strconv.Itoa(os.Getpid()),
		"-json", jsonPath,
	}, &out, &errOut)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errOut.String())
	}
	var rep Report
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Inproc == nil || rep.Inproc.DocsPerS <= 0 || rep.Inproc.VerifyDocsPerS <= 0 || rep.Inproc.Invalid != 0 {
		t.Errorf("inproc %+v", rep.Inproc)
	}
	for _, s := range []*SubmitResult{rep.Submit, rep.Resubmit} {
		if s == nil || s.Documents != 600 || s.Valid != 600 || s.DocsPerS <= 0 || s.Elapsed <= 0 || s.Elapsed > s.Observed {
			t.Errorf("submission %+v", s)
		}
	}
	if l := rep.Latency; l == nil || l.Requests != 40 || l.Errors != 0 || l.P99 <= 0 || l.P50 > l.P99 || l.Client != "raw" {
		t.Errorf("latency %+v", rep.Latency)
	}
	if len(rep.Memory) != 4 || len(rep.Memory[1].Processes) != 1 {
		t.Errorf("memory %+v", rep.Memory)
	}
	if len(rep.Bars) < 4 {
		t.Errorf("bars %+v", rep.Bars)
	}
	for _, want := range []string{"in-process", "submit", "resubmit", "latency", "end-to-end throughput", "resubmission", "p99", "memory flat"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
