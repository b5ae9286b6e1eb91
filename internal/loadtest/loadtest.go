// Package loadtest measures a running Stele gateway against the pipeline's
// performance bars. It is the engine of the steleload binary (and of a
// future `stele loadtest`): Run parses command-line arguments and runs, in
// one process and one run,
//
//  1. inproc: the in-process batch verifier on every core, batches of 256:
//     from the documents' bytes (covenant.Parse, then Verifier.VerifyBatch),
//     the reference figure of the throughput bar, and on documents parsed
//     beforehand (VerifyBatch alone), reported alongside;
//  2. submit: an NDJSON upload of the whole generated set to the gateway,
//     timed until the job completes (end-to-end throughput);
//  3. resubmit: the same set again, which the verifiers' signature cache
//     answers (the speed-up over submit);
//  4. latency: single-document verifications with ?wait at a fixed rate,
//     with the latency distribution;
//
// and, when asked for with -phases (they need signers holding keys),
//
//  5. sign-inproc: covenant.Build with one key on every core, the reference
//     figure of the sign throughput bar;
//  6. sign: -sign-n covenants signed through POST /v1/sign (requests of at
//     most -sign-batch items), timed until every job completes, every result
//     checked for a covenant ID and no error;
//  7. evaluate: POST /v1/evaluate at a fixed rate, open loop, against
//     covenants the phase signs first, spread over one or more gateways
//     (-eval-gateways), every decision and the audit trails checked;
//
// while sampling the resident memory of the processes given with -pids. It
// prints a table with the bars (and optionally JSON). The documents, N
// signed covenants of about -size bytes over a few keys, are cached on disk
// between runs. Only loopback gateways are accepted and every loop is
// bounded.
package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// ErrUsage marks bad arguments.
var ErrUsage = errors.New("usage")

// Bounds of the tool's inputs.
const (
	MaxDocuments = 10_000_000
	maxRate      = 20_000
	maxDuration  = 10 * time.Minute
)

// Config is a parsed command line.
type Config struct {
	Gateway     string
	Gen         GenOptions
	CacheDir    string
	Fresh       bool
	Phases      map[string]bool
	Sample      int
	InprocTime  time.Duration
	Rate        float64
	Duration    time.Duration
	MaxInFlight int
	PIDs        []int
	Interval    time.Duration
	Timeout     time.Duration
	JSONPath    string

	SignN         int
	SignBatch     int
	SignKey       string
	EvalRate      float64
	EvalDuration  time.Duration
	EvalCovenants int
	EvalGateways  []string
	EvalConns     int
	EvalClient    string
	// LatencyConns and LatencyClient are the connections and the HTTP
	// client of the latency phase (as EvalConns and EvalClient).
	LatencyConns  int
	LatencyClient string
}

var (
	allPhases     = []string{"inproc", "submit", "resubmit", "latency", "sign-inproc", "sign", "evaluate"}
	defaultPhases = allPhases[:4] // the verification pipeline's; the others need signers
)

// parseArgs parses the command line.
func parseArgs(name string, args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
	var phases, pids, evalGateways string
	cacheDefault := filepath.Join(os.TempDir(), "stele-loadtest")
	if d, err := os.UserCacheDir(); err == nil {
		cacheDefault = filepath.Join(d, "stele", "loadtest")
	}
	fs.StringVar(&c.Gateway, "gateway", "http://127.0.0.1:8080", "gateway base URL (loopback only)")
	fs.IntVar(&c.Gen.N, "n", 100_000, "documents in the batch")
	fs.IntVar(&c.Gen.Size, "size", 2048, "approximate bytes per document")
	fs.IntVar(&c.Gen.Keys, "keys", 4, "issuer keys the documents are spread over")
	fs.StringVar(&c.CacheDir, "cache", cacheDefault, "directory of generated document sets")
	fs.BoolVar(&c.Fresh, "fresh", false, "generate a new set (new signatures) instead of reusing the cached one")
	fs.StringVar(&phases, "phases", strings.Join(defaultPhases, ","), "phases to run: "+strings.Join(allPhases, ","))
	fs.IntVar(&c.Sample, "inproc-sample", 20_000, "distinct documents verified in process")
	fs.DurationVar(&c.InprocTime, "inproc-time", 4*time.Second, "minimum duration of the in-process measurement")
	fs.Float64Var(&c.Rate, "rate", 500, "single-document requests per second in the latency phase")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "duration of the latency phase")
	fs.IntVar(&c.MaxInFlight, "max-inflight", 2000, "requests in flight at most in the latency phase")
	fs.StringVar(&pids, "pids", "", "comma-separated PIDs whose RSS is sampled (e.g. gateway and verifiers)")
	fs.DurationVar(&c.Interval, "sample-interval", 100*time.Millisecond, "RSS sampling interval")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Minute, "time limit of one submission")
	fs.StringVar(&c.JSONPath, "json", "", "also write the report as JSON to this file (- for stdout alone, the table then going to stderr)")
	fs.IntVar(&c.SignN, "sign-n", 20_000, "covenants signed through the pipeline in the sign phase")
	fs.IntVar(&c.SignBatch, "sign-batch", 10_000, "items per POST /v1/sign request (at most the gateway's -max-items)")
	fs.StringVar(&c.SignKey, "sign-key", "", "key ID the sign and evaluate phases sign with (default: the first usable key of GET /v1/keys)")
	fs.Float64Var(&c.EvalRate, "eval-rate", 2000, "evaluations per second in the evaluate phase")
	fs.DurationVar(&c.EvalDuration, "eval-duration", 20*time.Second, "duration of the evaluate phase")
	fs.IntVar(&c.EvalCovenants, "eval-covenants", 1, "covenants the evaluations are spread over")
	fs.StringVar(&evalGateways, "eval-gateways", "", "comma-separated gateway URLs the evaluations go to in turn (default: -gateway)")
	fs.IntVar(&c.EvalConns, "eval-conns", 32, "keep-alive connections per gateway in the evaluate phase")
	fs.StringVar(&c.EvalClient, "eval-client", "raw", "HTTP client of the evaluate phase: raw (a minimal HTTP/1.1 connection pool, little CPU) or std (net/http)")
	fs.IntVar(&c.LatencyConns, "latency-conns", 256, "keep-alive connections in the latency phase (requests beyond wait, and the wait counts)")
	fs.StringVar(&c.LatencyClient, "latency-client", "raw", "HTTP client of the latency phase: raw or std, as -eval-client")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if err := c.Gen.check(); err != nil {
		return c, err
	}
	base, err := checkLoopback(c.Gateway)
	if err != nil {
		return c, err
	}
	c.Gateway = base
	c.Phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !contains(allPhases, p) {
			return c, fmt.Errorf("%w: unknown phase %q (phases: %s)", ErrUsage, p, strings.Join(allPhases, ","))
		}
		c.Phases[p] = true
	}
	for _, p := range strings.Split(pids, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pid, err := strconv.Atoi(p)
		if err != nil || pid < 1 {
			return c, fmt.Errorf("%w: bad pid %q", ErrUsage, p)
		}
		c.PIDs = append(c.PIDs, pid)
	}
	for _, g := range strings.Split(evalGateways, ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		u, err := checkLoopback(g)
		if err != nil {
			return c, err
		}
		c.EvalGateways = append(c.EvalGateways, u)
	}
	if len(c.EvalGateways) == 0 {
		c.EvalGateways = []string{c.Gateway}
	}
	switch {
	case c.Rate <= 0 || c.Rate > maxRate:
		return c, fmt.Errorf("%w: rate %g not in (0, %d]", ErrUsage, c.Rate, maxRate)
	case c.Duration <= 0 || c.Duration > maxDuration:
		return c, fmt.Errorf("%w: duration %v not in (0, %v]", ErrUsage, c.Duration, maxDuration)
	case c.InprocTime < 0 || c.InprocTime > maxDuration:
		return c, fmt.Errorf("%w: inproc-time %v not in [0, %v]", ErrUsage, c.InprocTime, maxDuration)
	case c.Sample < 1 || c.Sample > 1_000_000:
		return c, fmt.Errorf("%w: inproc-sample %d not in 1..1000000", ErrUsage, c.Sample)
	case c.MaxInFlight < 1 || c.MaxInFlight > 100_000:
		return c, fmt.Errorf("%w: max-inflight %d not in 1..100000", ErrUsage, c.MaxInFlight)
	case c.Interval < 10*time.Millisecond:
		return c, fmt.Errorf("%w: sample-interval below 10ms", ErrUsage)
	case c.Timeout <= 0:
		return c, fmt.Errorf("%w: timeout must be positive", ErrUsage)
	case c.SignN < 1 || c.SignN > 1_000_000:
		return c, fmt.Errorf("%w: sign-n %d not in 1..1000000", ErrUsage, c.SignN)
	case c.SignBatch < 1 || c.SignBatch > 100_000:
		return c, fmt.Errorf("%w: sign-batch %d not in 1..100000", ErrUsage, c.SignBatch)
	case len(c.SignKey) > 64:
		return c, fmt.Errorf("%w: sign-key longer than 64 bytes", ErrUsage)
	case c.EvalRate <= 0 || c.EvalRate > maxRate:
		return c, fmt.Errorf("%w: eval-rate %g not in (0, %d]", ErrUsage, c.EvalRate, maxRate)
	case c.EvalDuration <= 0 || c.EvalDuration > maxDuration:
		return c, fmt.Errorf("%w: eval-duration %v not in (0, %v]", ErrUsage, c.EvalDuration, maxDuration)
	case c.EvalCovenants < 1 || c.EvalCovenants > 1000:
		return c, fmt.Errorf("%w: eval-covenants %d not in 1..1000", ErrUsage, c.EvalCovenants)
	case c.EvalConns < 1 || c.EvalConns > 1000:
		return c, fmt.Errorf("%w: eval-conns %d not in 1..1000", ErrUsage, c.EvalConns)
	case c.EvalClient != "raw" && c.EvalClient != "std":
		return c, fmt.Errorf("%w: eval-client %q is neither raw nor std", ErrUsage, c.EvalClient)
	case c.LatencyConns < 1 || c.LatencyConns > 4096:
		return c, fmt.Errorf("%w: latency-conns %d not in 1..4096", ErrUsage, c.LatencyConns)
	case c.LatencyClient != "raw" && c.LatencyClient != "std":
		return c, fmt.Errorf("%w: latency-client %q is neither raw nor std", ErrUsage, c.LatencyClient)
	case len(c.EvalGateways) > 16:
		return c, fmt.Errorf("%w: at most 16 eval-gateways", ErrUsage)
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkLoopback accepts an http URL whose host is a loopback address and
// returns it without a trailing slash.
func checkLoopback(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: gateway %q is not an http URL", ErrUsage, raw)
	}
	host := u.Hostname()
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return "", fmt.Errorf("%w: gateway %q is not a loopback address; the load tool only targets this machine", ErrUsage, raw)
		}
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// Report is everything one run measured.
type Report struct {
	Started    time.Time         `json:"started"`
	GoMaxProc  int               `json:"gomaxprocs"`
	Set        GenOptions        `json:"set"`
	SetPath    string            `json:"setPath"`
	Cached     bool              `json:"cached"`
	Generate   time.Duration     `json:"generateNs,omitempty"`
	Inproc     *InprocResult     `json:"inproc,omitempty"`
	Submit     *SubmitResult     `json:"submit,omitempty"`
	Resubmit   *SubmitResult     `json:"resubmit,omitempty"`
	Latency    *LatencyResult    `json:"latency,omitempty"`
	SignInproc *SignInprocResult `json:"signInproc,omitempty"`
	Sign       *SignResult       `json:"sign,omitempty"`
	Evaluate   *EvaluateResult   `json:"evaluate,omitempty"`
	Memory     []PhaseRSS        `json:"memory,omitempty"`
	CPU        []PhaseCPU        `json:"cpu,omitempty"`
	Bars       []Bar             `json:"bars"`
}

// Bar is one performance bar and whether this run met it.
type Bar struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
}

// Run runs the load tool as the program name (in its usage and messages)
// with command-line arguments args, printing the report to stdout (with -json -, the JSON
// report alone; the table then goes to stderr). It returns an error
// wrapping ErrUsage for bad arguments.
func Run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseArgs(name, args, stderr)
	if err != nil {
		return err
	}
	rep := &Report{Started: time.Now().UTC(), GoMaxProc: runtime.GOMAXPROCS(0), Set: cfg.Gen}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, name+": "+format+"\n", args...) }

	if cfg.Fresh {
		var salt [8]byte
		_, _ = rand.Read(salt[:])
		rep.Set.Salt = hex.EncodeToString(salt[:])
		cfg.Gen.Salt = rep.Set.Salt
	}
	if cfg.Phases["inproc"] || cfg.Phases["submit"] || cfg.Phases["resubmit"] {
		start := time.Now()
		logf("preparing %d documents of ~%d bytes in %s", cfg.Gen.N, cfg.Gen.Size, cfg.CacheDir)
		rep.SetPath, rep.Cached, err = Generate(ctx, cfg.CacheDir, cfg.Gen)
		if err != nil {
			return err
		}
		if !rep.Cached {
			rep.Generate = time.Since(start)
		}
	}
	marker := rep.SetPath + ".submitted"
	if _, err := os.Stat(marker); err == nil && (cfg.Phases["submit"]) {
		logf("warning: this set was submitted before; if the gateway's store still caches its signatures the first submission is not cold (use -fresh)")
	}

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: cfg.MaxInFlight, MaxIdleConnsPerHost: cfg.MaxInFlight, IdleConnTimeout: 30 * time.Second,
	}}
	defer client.CloseIdleConnections()

	sampler := newRSSSampler(cfg.PIDs, cfg.Interval)
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go sampler.run(sctx)

	// phase marks the start of a phase; the function it returns marks the
	// end and records the CPU used.
	phase := func(name string) func() {
		sampler.setPhase(name)
		m := markCPU(cfg.PIDs)
		return func() { rep.CPU = append(rep.CPU, m.since(name)) }
	}

	if cfg.Phases["inproc"] {
		end := phase("inproc")
		logf("in-process batch verification on %d cores", rep.GoMaxProc)
		r, err := measureInproc(ctx, rep.SetPath, min(cfg.Sample, cfg.Gen.N), cfg.InprocTime)
		if err != nil {
			return err
		}
		rep.Inproc = &r
		end()
	}
	if cfg.Phases["submit"] {
		end := phase("submit")
		logf("submitting %d documents as NDJSON to %s", cfg.Gen.N, cfg.Gateway)
		r, err := submitNDJSON(ctx, client, cfg.Gateway, rep.SetPath, cfg.Timeout)
		if err != nil {
			return err
		}
		rep.Submit = &r
		_ = os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
		end()
	}
	if cfg.Phases["resubmit"] {
		end := phase("resubmit")
		logf("submitting the same %d documents again", cfg.Gen.N)
		r, err := submitNDJSON(ctx, client, cfg.Gateway, rep.SetPath, cfg.Timeout)
		if err != nil {
			return err
		}
		rep.Resubmit = &r
		end()
	}
	if cfg.Phases["latency"] {
		n := int(cfg.Rate * cfg.Duration.Seconds())
		var salt [8]byte
		_, _ = rand.Read(salt[:])
		logf("generating %d fresh single documents", n)
		docs, err := Documents(ctx, GenOptions{N: min(n, 100_000), Size: cfg.Gen.Size, Keys: cfg.Gen.Keys, Salt: hex.EncodeToString(salt[:])})
		if err != nil {
			return err
		}
		post, closePost, err := newPoster([]string{cfg.Gateway}, latencyPath, cfg.LatencyConns, cfg.LatencyClient)
		if err != nil {
			return err
		}
		end := phase("latency")
		logf("single-document ?wait verifications at %g/s for %v (%s client)", cfg.Rate, cfg.Duration, cfg.LatencyClient)
		r, err := measureLatency(ctx, post, docs, cfg.Rate, cfg.Duration, cfg.MaxInFlight)
		closePost()
		if err != nil {
			return err
		}
		r.Client = cfg.LatencyClient
		rep.Latency = &r
		end()
	}
	if cfg.Phases["sign-inproc"] {
		end := phase("sign-inproc")
		logf("in-process build+sign on %d cores", rep.GoMaxProc)
		r, err := measureSignInproc(ctx, cfg.InprocTime)
		if err != nil {
			return err
		}
		rep.SignInproc = &r
		end()
	}
	keyID := cfg.SignKey
	if keyID == "" && (cfg.Phases["sign"] || cfg.Phases["evaluate"]) {
		if keyID, err = defaultSignKey(ctx, client, cfg.Gateway); err != nil {
			return err
		}
	}
	var salt [8]byte
	_, _ = rand.Read(salt[:])
	runSalt := hex.EncodeToString(salt[:])
	if cfg.Phases["sign"] {
		bodies, err := signRequests(keyID, runSalt, cfg.SignN, cfg.SignBatch, 1000)
		if err != nil {
			return err
		}
		end := phase("sign")
		logf("signing %d covenants with key %q through %s (%d requests)", cfg.SignN, keyID, cfg.Gateway, len(bodies))
		r, err := measureSign(ctx, client, cfg.Gateway, keyID, bodies, cfg.SignN, cfg.Timeout)
		if err != nil {
			return err
		}
		rep.Sign = &r
		end()
	}
	if cfg.Phases["evaluate"] {
		r, err := measureEvaluate(ctx, client, cfg.Gateway, cfg.EvalGateways, cfg.EvalClient, keyID, runSalt, cfg.EvalCovenants,
			cfg.EvalRate, cfg.EvalDuration, cfg.EvalConns, cfg.MaxInFlight, func() func() { return phase("evaluate") }, logf)
		if err != nil {
			return err
		}
		rep.Evaluate = &r
	}
	stopSampling()
	rep.Memory = sampler.report()
	rep.Bars = bars(rep)
	// With -json -, standard output carries the JSON report alone (a script
	// parses it), and the table goes to standard error with the progress.
	table := stdout
	if cfg.JSONPath == "-" {
		table = stderr
	}
	writeTable(table, rep)
	if cfg.JSONPath != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		data = append(data, '\n')
		if cfg.JSONPath == "-" {
			_, err = stdout.Write(data)
		} else {
			err = os.WriteFile(cfg.JSONPath, data, 0o644)
		}
		if err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return nil
}

// Documents builds the set described by opts in memory and returns its
// documents, one JSON text each (tests use it for smaller sets).
func Documents(ctx context.Context, opts GenOptions) ([][]byte, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	var buf strings.Builder
	if err := writeDocuments(ctx, &buf, opts); err != nil {
		return nil, err
	}
	var docs [][]byte
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		docs = append(docs, []byte(line))
	}
	return docs, nil
}
