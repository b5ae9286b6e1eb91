// Command gateway serves Stele's HTTP API.
//
// In a cluster it connects to NATS JetStream and Redis, which the verifier
// workers share:
//
//	gateway --addr :8080 --nats nats://nats:4222 --redis redis://redis:6379/0
//
// With --embedded it runs the whole pipeline in one process (an in-process
// NATS server with JetStream on disk, the SQLite store, the gateway, a
// verifier and a signer), keeping its data in --data across restarts:
//
//	gateway --embedded --data ./.stele-data --addr 127.0.0.1:8080 --keys ./keys
//
// The embedded signer holds the issuer keys of --keys (a directory of
// <keyID>.key files as `stele keygen` writes them, mode 0600; also
// STELE_KEYS_DIR) and of STELE_KEY_<ID>=<hex seed> variables. Without keys
// everything but signing works (sign requests fail with unknown_key). In a
// cluster the gateway holds no keys: signer processes do.
//
// Every flag can also be set with an environment variable, STELE_ followed by
// the flag name in capitals with '-' as '_' (STELE_NATS_URL and
// STELE_REDIS_URL for --nats and --redis); a flag on the command line wins.
// Both modes serve the NATS request-reply endpoint stele.evaluate next to
// POST /v1/evaluate; --embedded --nats-listen ADDR lets NATS clients reach the
// in-process server (make run NATS_LISTEN=host:port).
//
// SIGINT or SIGTERM shuts down gracefully: requests in flight are finished
// (and, embedded, the verifier drains).
//
// Exit status: 0 after a graceful shutdown, 1 when the gateway fails, 2 on
// bad configuration (flags, STELE_* variables, or the all-in-one's keys).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/embedded"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/keyring"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/worker"
)

// config is the parsed command line.
type config struct {
	addr            string
	natsURL         string
	natsCreds       string
	redisURL        string
	redisPrefix     string
	streams         jobs.StreamConfig
	embedded        bool
	dataDir         string
	natsListen      string
	keysDir         string
	concurrency     int
	limits          gateway.Limits
	chunkItems      int
	jobTTL          time.Duration
	queueLease      time.Duration
	replicas        int
	startupTimeout  time.Duration
	shutdownTimeout time.Duration
	logLevel        slog.Level
	logFormat       string
	debugAddr       string
	spoolDir        string
	adminToken      string
	clock           string
}

// envNames maps flags whose variable is not the mechanical STELE_<FLAG>.
var envNames = map[string]string{"nats": "STELE_NATS_URL", "redis": "STELE_REDIS_URL", "keys": "STELE_KEYS_DIR"}

func envName(flagName string) string {
	if n, ok := envNames[flagName]; ok {
		return n
	}
	return "STELE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&c.natsURL, "nats", nats.DefaultURL, "NATS server URL(s), comma-separated")
	fs.StringVar(&c.natsCreds, "nats-creds", "", "NATS credentials file (a user JWT and its nkey seed, as the workers' --nats-creds take); for a cluster gateway")
	fs.StringVar(&c.redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis URL (redis://, rediss://, redis+cluster://, or with ?master_name= for Sentinel)")
	fs.StringVar(&c.redisPrefix, "redis-prefix", "stele:", "prefix of every Redis key (the verifiers and signers must use the same)")
	fs.Int64Var(&c.streams.JobsMaxBytes, "jobs-max-bytes", 1<<30, "size limit of the work queue (the same as the verifiers' and signers')")
	fs.Int64Var(&c.streams.JobsMaxMsgs, "jobs-max-msgs", 1_000_000, "message limit of the work queue (the same as the verifiers' and signers')")
	fs.BoolVar(&c.embedded, "embedded", false, "run the all-in-one: in-process NATS, SQLite store, gateway, verifier and signer")
	fs.StringVar(&c.dataDir, "data", ".stele-data", "data directory of the all-in-one (--embedded)")
	fs.StringVar(&c.natsListen, "nats-listen", "", "with --embedded: also accept NATS clients on this address (e.g. 127.0.0.1:4222) for integrations; no authentication, keep it on loopback")
	fs.StringVar(&c.keysDir, "keys", "", "directory of issuer key files <keyID>.key for the all-in-one's signer (--embedded; an empty <keyID>.retired retires one); keys also from STELE_KEY_<ID>=<hex seed>, and STELE_KEYS_RETIRED=<ID>[,<ID>...] retires keys of either")
	fs.IntVar(&c.concurrency, "concurrency", 0, "chunks the embedded verifier processes at once (0: two per CPU)")
	fs.IntVar(&c.limits.MaxItems, "max-items", gateway.DefaultMaxItems, "items per JSON request")
	fs.Int64Var(&c.limits.MaxBodyBytes, "max-body-bytes", gateway.DefaultMaxBodyBytes, "bytes per JSON request body")
	fs.IntVar(&c.limits.MaxStreamItems, "max-stream-items", gateway.DefaultMaxStreamItems, "documents per NDJSON upload")
	fs.Int64Var(&c.limits.MaxStreamBytes, "max-stream-bytes", gateway.DefaultMaxStreamBytes, "bytes per NDJSON upload")
	fs.DurationVar(&c.limits.MaxWait, "max-wait", gateway.DefaultMaxWait, "longest ?wait")
	fs.DurationVar(&c.limits.BodyIdleTimeout, "body-idle-timeout", gateway.DefaultBodyIdleTimeout, "how long a request body may stall before the request is cut off")
	fs.Int64Var(&c.limits.MinBodyRate, "body-min-rate", gateway.DefaultMinBodyRate, "bytes per second a request body must average once it has taken longer than --body-idle-timeout")
	fs.IntVar(&c.limits.MaxUploads, "max-uploads", gateway.DefaultMaxUploads, "NDJSON uploads taken at once (each spools up to --max-stream-bytes to disk); one more is answered 503")
	fs.Int64Var(&c.limits.MaxBodyMemory, "max-body-memory", 0, "bytes of JSON request bodies held in memory at once, all requests together (0: four times the largest body allowed); a body beyond what is left is answered 503")
	fs.DurationVar(&c.limits.WriteIdleTimeout, "write-idle-timeout", gateway.DefaultWriteIdleTimeout, "how long a client may stop reading a response (a result stream, an audit export) before it is cut off")
	fs.IntVar(&c.chunkItems, "chunk-items", jobs.DefaultChunkItems, "documents per job message")
	fs.DurationVar(&c.jobTTL, "job-ttl", 24*time.Hour, "how long jobs and results are kept")
	fs.DurationVar(&c.queueLease, "queue-lease", jobs.DefaultQueueLease, "lease a cluster gateway renews on each job while it queues it; once a stopped gateway's lease has run out, another gateway records the items it never queued as failed, so the job completes (the same on every gateway)")
	fs.IntVar(&c.replicas, "stream-replicas", 1, "replicas of the JetStream streams (3 in a NATS cluster)")
	fs.DurationVar(&c.startupTimeout, "startup-timeout", time.Minute, "how long to wait for NATS and Redis at start-up")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown may take")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or text (default text with --embedded)")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "if set, serve net/http/pprof on this address (keep it private, e.g. 127.0.0.1:6060)")
	fs.StringVar(&c.adminToken, "admin-token", "", "token the operator routes (sign, countersign, revocations, audit trim) require as Authorization: Bearer; empty: those routes are open; prefer the variable to the flag, which shows in the process list")
	fs.StringVar(&c.clock, "clock", worker.ClockStore, "clock of evaluations (expiry, activation, rate windows, audit times) and of the times the gateway sets: store (the Redis server's, the same for every process of the cluster) or host (this host's); the all-in-one uses this host's")
	fs.StringVar(&c.spoolDir, "spool-dir", "", "directory NDJSON uploads are spooled to while they are counted (default the system's temporary directory; a volume apart from JetStream's store keeps their writes apart); the all-in-one spools under --data")
	// -h names every flag's variable, as the workers' help does.
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " (" + envName(f.Name) + ")" })
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gateway [flags]\n\nEvery flag can also be set with the STELE_* variable in its help; a flag on the command line wins.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || envErr != nil {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %v", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if set["keys"] && !c.embedded {
		return c, errors.New("--keys needs --embedded: in a cluster the signer processes hold the keys, never the gateway")
	}
	// The all-in-one's own flags would be ignored by a cluster gateway (a
	// shared environment may still set their variables).
	for _, name := range []string{"data", "nats-listen", "concurrency"} {
		if set[name] && !c.embedded {
			return c, fmt.Errorf("--%s needs --embedded: it configures the all-in-one, and a cluster gateway would ignore it", name)
		}
	}
	if set["clock"] && c.embedded {
		return c, errors.New("--clock is for a cluster gateway: the all-in-one's store is on this host, and it uses this host's clock")
	}
	if err := worker.CheckClock(c.clock); err != nil {
		return c, fmt.Errorf("--%v (%s)", err, envName("clock"))
	}
	if set["nats-creds"] && c.embedded {
		return c, errors.New("--nats-creds is for a cluster gateway: the all-in-one's NATS server is in process and needs no credentials")
	}
	if c.natsCreds != "" && !c.embedded {
		// Read now: the connection retries without end, and would only log
		// a file it cannot read.
		if _, err := os.ReadFile(c.natsCreds); err != nil {
			return c, fmt.Errorf("--nats-creds (%s): %w", envName("nats-creds"), err)
		}
	}
	if set["queue-lease"] && c.embedded {
		return c, errors.New("--queue-lease is for a cluster gateway: the all-in-one settles a job it stopped queueing at its next start")
	}
	if c.spoolDir != "" {
		if c.embedded {
			return c, errors.New("--spool-dir is for a cluster gateway: the all-in-one spools uploads under --data")
		}
		if st, err := os.Stat(c.spoolDir); err != nil || !st.IsDir() {
			return c, fmt.Errorf("--spool-dir %q: not a directory", c.spoolDir)
		}
	}
	if c.embedded && !set["log-format"] && getenv(envName("log-format")) == "" {
		c.logFormat = "text" // the all-in-one is usually run by hand
	}
	if c.logFormat != "json" && c.logFormat != "text" {
		return c, fmt.Errorf("--log-format %q: want json or text", c.logFormat)
	}
	if c.concurrency < 0 || c.chunkItems < 1 || c.replicas < 1 || c.jobTTL <= 0 {
		return c, errors.New("--concurrency, --chunk-items, --stream-replicas and --job-ttl must be positive")
	}
	if err := checkValues(fs, c); err != nil {
		return c, err
	}
	c.streams.Replicas = c.replicas
	if _, err := jobs.JobsStreamConfig(c.streams); err != nil {
		return c, err
	}
	return c, nil
}

// checkValues refuses, before anything starts, values that the gateway or
// the all-in-one would otherwise refuse only once running (exit status 1,
// with a message that named no flag).
func checkValues(fs *flag.FlagSet, c config) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		switch f.Name {
		case "max-items", "max-body-bytes", "max-stream-items", "max-stream-bytes", "max-wait",
			"body-idle-timeout", "body-min-rate", "max-uploads", "write-idle-timeout", "max-body-memory":
			if strings.HasPrefix(f.Value.String(), "-") {
				err = fmt.Errorf("--%s %s (%s): must not be negative (0: the default, %s)", f.Name, f.Value, envName(f.Name), f.DefValue)
			}
		}
	})
	if err != nil {
		return err
	}
	switch {
	case c.concurrency > 4096:
		return fmt.Errorf("--concurrency %d: want 0 (two per CPU) to 4096", c.concurrency)
	case c.chunkItems > 100_000:
		return fmt.Errorf("--chunk-items %d: want 1 to 100000", c.chunkItems)
	case c.jobTTL < time.Millisecond:
		return fmt.Errorf("--job-ttl %v: want at least 1ms", c.jobTTL)
	case c.queueLease < 100*time.Millisecond:
		return fmt.Errorf("--queue-lease %v (%s): want at least 100ms", c.queueLease, envName("queue-lease"))
	case c.startupTimeout <= 0 || c.shutdownTimeout <= 0:
		return errors.New("--startup-timeout and --shutdown-timeout must be positive")
	}
	for _, a := range []struct{ flag, addr string }{{"addr", c.addr}, {"debug-addr", c.debugAddr}, {"nats-listen", c.natsListen}} {
		if a.addr == "" && a.flag != "addr" {
			continue
		}
		_, port, perr := net.SplitHostPort(a.addr)
		if perr == nil {
			_, perr = net.LookupPort("tcp", port)
		}
		if perr != nil {
			return fmt.Errorf("--%s %q: want HOST:PORT, e.g. 127.0.0.1:8080 (%v)", a.flag, a.addr, perr)
		}
	}
	return nil
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\nrun gateway -h for the flags\n", err)
		os.Exit(2)
	}
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	var h slog.Handler = slog.NewJSONHandler(os.Stderr, opts)
	if cfg.logFormat == "text" {
		h = slog.NewTextHandler(os.Stderr, opts)
	}
	log := slog.New(h)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.debugAddr != "" {
		ln, err := net.Listen("tcp", cfg.debugAddr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gateway: --debug-addr: %v\n", err)
			os.Exit(1)
		}
		defer worker.ServeDebug(ln, log).Close()
	}
	if cfg.embedded {
		// Unreadable, unsafe or malformed keys are a configuration
		// mistake, as they are for the signer: exit status 2.
		ring, kerr := keyring.LoadAll(cfg.keysDir, os.Environ())
		if kerr != nil {
			fmt.Fprintf(os.Stderr, "gateway: keys: %v\nrun gateway -h for the flags\n", kerr)
			os.Exit(2)
		}
		err = runEmbedded(ctx, cfg, ring, log)
	} else {
		err = runCluster(ctx, cfg, log)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
}

// runEmbedded runs the all-in-one, signing with ring, until ctx ends.
func runEmbedded(ctx context.Context, cfg config, ring *keyring.Keyring, log *slog.Logger) error {
	sctx, cancel := context.WithTimeout(ctx, cfg.startupTimeout)
	defer cancel()
	in, err := embedded.Start(sctx, embedded.Config{
		Keys:             ring,
		DataDir:          cfg.dataDir,
		Addr:             cfg.addr,
		Concurrency:      cfg.concurrency,
		Streams:          cfg.streams,
		Limits:           cfg.limits,
		AdminToken:       cfg.adminToken,
		PublisherOptions: []jobs.PublisherOption{jobs.WithChunkItems(cfg.chunkItems)},
		JobTTL:           cfg.jobTTL,
		Logger:           log,
		NATSListen:       cfg.natsListen,
	})
	if err != nil {
		if errors.Is(err, embedded.ErrLocked) {
			return fmt.Errorf("%w\nis another gateway --embedded running with --data %s?", err, cfg.dataDir)
		}
		return err
	}
	base := "http://" + in.Addr()
	log.Info("all-in-one ready", "addr", in.Addr(), "data", cfg.dataDir)
	fmt.Fprintf(os.Stdout, "Stele all-in-one listening on %s (data in %s)\n", base, cfg.dataDir)
	printNATSAccess(os.Stdout, in.NATSURL())
	if path, err := embedded.WriteExample(cfg.dataDir); err != nil {
		log.Warn("could not write the example request", "err", err)
	} else {
		fmt.Fprintf(os.Stdout, "Verify a covenant (an example request was written to %s):\n\n"+
			"  curl -s -H 'Content-Type: application/json' --data-binary %s '%s/v1/verify?wait=5s'\n\n"+
			"Large batches: one covenant per line, -H 'Content-Type: application/x-ndjson'; then GET %s/v1/jobs/<jobId>/results\n",
			path, shellQuote("@"+path), base, base)
	}
	printSignExample(os.Stdout, cfg.dataDir, base, ring, strings.TrimSpace(cfg.adminToken) != "",
		os.Getenv("STELE_ADMIN_TOKEN") != cfg.adminToken, log)
	warnOpen(log, cfg.adminToken, cfg.addr)
	select {
	case <-ctx.Done():
	case err := <-in.Done():
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}
	log.Info("shutting down")
	sctx2, cancel2 := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel2()
	return in.Shutdown(sctx2)
}

// printNATSAccess says how NATS clients reach the all-in-one (url, from
// --nats-listen), or how to let them in when they cannot.
func printNATSAccess(w io.Writer, url string) {
	if url != "" {
		fmt.Fprintf(w, "NATS clients (jobs on stele.jobs.verify|sign, requests on stele.evaluate): %s\n", url)
		return
	}
	fmt.Fprintf(w, "NATS clients cannot connect: restart with --nats-listen 127.0.0.1:PORT (make run NATS_LISTEN=…) "+
		"to submit jobs on stele.jobs.verify|sign and call stele.evaluate over NATS (see examples/nats)\n")
}

// printSignExample writes a sign request for the first key that is not
// retired, if any, and prints to w how to send it; without one it says why
// nothing can be signed (no keys, or every key retired).
func printSignExample(w io.Writer, dataDir, base string, ring *keyring.Keyring, token, fromFlag bool, log *slog.Logger) {
	keyID := ""
	all := ring.Keys()
	for _, k := range all {
		if !k.Retired {
			keyID = k.KeyID
			break
		}
	}
	if keyID == "" && len(all) > 0 {
		fmt.Fprintf(w, "\nEvery key is retired (%s): add a key under a new ID (`stele keygen --out DIR/<keyID>.key`) to sign with POST /v1/sign.\n",
			strings.Join(ring.IDs(), ", "))
		return
	}
	if keyID == "" {
		fmt.Fprintf(w, "\nNo signing keys: start with --keys DIR (files from `stele keygen --out DIR/<keyID>.key`, mode 0600) to sign with POST /v1/sign.\n")
		return
	}
	path, err := embedded.WriteSignExample(dataDir, keyID)
	if err != nil {
		log.Warn("could not write the example sign request", "err", err)
		return
	}
	auth, note := "", ""
	if token {
		auth = `-H "Authorization: Bearer $STELE_ADMIN_TOKEN" `
		if fromFlag {
			note = "(with STELE_ADMIN_TOKEN set in your shell to the --admin-token value)\n"
		}
	}
	fmt.Fprintf(w, "\nSign a covenant with key %q (request in %s):\n\n"+
		"  curl -s -H 'Content-Type: application/json' %s--data-binary %s '%s/v1/sign?wait=5s'\n%s",
		keyID, path, auth, shellQuote("@"+path), base, note)
}

// shellQuote quotes s for a POSIX shell, so that a printed command can be
// pasted whatever the path holds.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// warnOpen logs, when no admin token is set, that the operator routes are
// open: a warning unless the gateway listens on loopback only.
func warnOpen(log *slog.Logger, token, addr string) {
	if strings.TrimSpace(token) != "" {
		return
	}
	msg := "no admin token: signing, countersigning, revocations and audit trims are open to every client (set STELE_ADMIN_TOKEN)"
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			log.Info(msg)
			return
		}
	}
	log.Warn(msg)
}

// runCluster runs the gateway against external NATS and Redis until ctx
// ends.
func runCluster(ctx context.Context, cfg config, log *slog.Logger) error {
	// The address is taken first and answers at once: /healthz with 200,
	// the rest with 503 "starting" until NATS and Redis are reached, when
	// the gateway's own handler takes over.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var handler atomic.Pointer[http.Handler]
	starting := gateway.Starting("NATS and Redis")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h := handler.Load(); h != nil {
				(*h).ServeHTTP(w, r)
				return
			}
			starting.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("gateway starting", "addr", ln.Addr().String())
	shutdown := sync.OnceValue(func() error {
		dctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer cancel()
		return srv.Shutdown(dctx)
	})
	defer func() { _ = shutdown() }()

	sctx, cancel := context.WithTimeout(ctx, cfg.startupTimeout)
	defer cancel()
	opts := []nats.Option{
		nats.Name("stele-gateway"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(worker.LogDisconnect(log)),
		nats.ReconnectHandler(worker.LogReconnect(log)),
	}
	if cfg.natsCreds != "" {
		opts = append(opts, nats.UserCredentials(cfg.natsCreds))
	}
	nc, err := nats.Connect(cfg.natsURL, opts...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", worker.RedactURL(cfg.natsURL), worker.URLError(err))
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := retry(sctx, log, "ensure streams", func(ctx context.Context) error {
		return jobs.EnsureStreams(ctx, js, cfg.streams)
	}); err != nil {
		return err
	}
	var st *redisstore.Store
	// The times the store writes itself (a job's completedAt) follow the
	// clock started below, as the gateway's own do.
	storeClock := &worker.LateClock{}
	if err := retry(sctx, log, "connect to redis", func(ctx context.Context) (err error) {
		st, err = redisstore.Open(ctx, cfg.redisURL, redisstore.WithKeyPrefix(cfg.redisPrefix), redisstore.WithJobTTL(cfg.jobTTL),
			redisstore.WithClock(storeClock.Now))
		return err
	}); err != nil {
		return err
	}
	defer st.Close()
	// Evaluations follow the clock the workers follow.
	now, stopClock, err := worker.StartClock(sctx, cfg.clock, st, 0, log)
	if err != nil {
		return err
	}
	defer stopClock()
	storeClock.Set(now)

	gw, err := gateway.New(gateway.Config{
		Now:              now,
		Store:            st,
		NATS:             nc,
		Limits:           cfg.limits,
		AdminToken:       cfg.adminToken,
		SpoolDir:         cfg.spoolDir,
		PublisherOptions: []jobs.PublisherOption{jobs.WithChunkItems(cfg.chunkItems)},
		QueueLease:       cfg.queueLease,
		Logger:           log,
	})
	if err != nil {
		return err
	}
	defer gw.Close()
	// Jobs whose gateway stopped while queueing them are settled by the
	// gateways still running.
	rec, err := jobs.NewReclaimer(js, st, jobs.WithQueueLease(cfg.queueLease), jobs.WithReclaimerLogger(log))
	if err != nil {
		return err
	}
	// Completions NATS did not take when they happened are announced once
	// it does, by whichever gateway gets to them first.
	ann, err := jobs.NewAnnouncer(js, st, jobs.WithAnnouncerLogger(log))
	if err != nil {
		return err
	}
	bctx, cancelBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	background.Go(func() { rec.Run(bctx) })
	background.Go(func() { ann.Run(bctx) })
	stopBackground := sync.OnceFunc(func() { cancelBackground(); background.Wait() })
	defer stopBackground()
	ms, err := evaluate.RegisterMicro(nc, gw.Evaluator())
	if err != nil {
		return err
	}
	defer ms.Stop()
	// A shutdown answers the requests waiting for their jobs (?wait) at
	// once, with their job IDs, instead of waiting for them to time out.
	srv.RegisterOnShutdown(gw.StopWaiting)
	h := gw.Handler()
	handler.Store(&h)
	log.Info("gateway listening", "addr", ln.Addr().String(), "nats", nc.ConnectedUrlRedacted())
	warnOpen(log, cfg.adminToken, cfg.addr)
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down")
	if err := shutdown(); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := ms.Stop(); err != nil {
		log.Warn("stele.evaluate service stop", "err", err)
	}
	// Before NATS drains: a job the reclaimer is settling is announced.
	stopBackground()
	if err := nc.Drain(); err != nil {
		log.Warn("nats drain", "err", err)
	}
	return nil
}

// retry calls fn until it succeeds or ctx ends, backing off up to 2 s; a
// configuration mistake (store.ErrInvalidOption, a malformed URL), which no
// retry mends, is returned at once.
func retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, store.ErrInvalidOption) || errors.Is(err, worker.ErrMalformedURL) {
			return fmt.Errorf("%s: %w", what, err)
		}
		log.Warn(what+" failed; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (gave up: %v)", what, err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
