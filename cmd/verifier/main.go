// Command verifier is a Stele verification worker. It pulls job chunks from
// the STELE_JOBS stream (durable consumer "verifier"), verifies every
// document of a chunk as one batch, writes the results to the shared Redis
// store and acknowledges the chunk only then. Run as many as you like, on as
// many machines: they share the work.
//
// Configuration comes from flags, or from the STELE_* environment variable
// named in each flag's help; a flag given on the command line wins. SIGTERM
// or SIGINT drains the worker: it stops fetching, finishes and acknowledges
// the chunks in hand, and exits. At start-up it keeps retrying NATS and Redis
// until they answer (or -connect-wait passes), so it may start before them.
//
// Usage:
//
//	verifier [flags]
//
// Exit status: 0 after a drain, 1 when the worker fails, 2 on bad
// configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	var ue usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "verifier: %v\nrun 'verifier -h' for the flags and their STELE_* variables\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "verifier: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a configuration mistake (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// config is the worker's configuration.
type config struct {
	natsURL   string
	natsCreds string
	redisURL  string
	prefix    string
	name      string
	logLevel  slog.Level

	runner   jobs.RunnerConfig
	consumer jobs.ConsumerConfig
	streams  jobs.StreamConfig
	jobTTL   time.Duration
	sigTTL   time.Duration
	// connectWait bounds the start-up connection retries (0: until stopped).
	connectWait time.Duration
}

// parseConfig reads flags, then the STELE_* variable of every flag not given
// on the command line.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
	fs.SetOutput(out)
	env := map[string]string{} // flag name -> variable

	str := func(p *string, name, envName, def, usage string) {
		fs.StringVar(p, name, def, usage+" ("+envName+")")
		env[name] = envName
	}
	num := func(p *int, name, envName string, def int, usage string) {
		fs.IntVar(p, name, def, usage+" ("+envName+")")
		env[name] = envName
	}
	dur := func(p *time.Duration, name, envName string, def time.Duration, usage string) {
		fs.DurationVar(p, name, def, usage+" ("+envName+")")
		env[name] = envName
	}
	var logLevel string
	var jobsMaxBytes, jobsMaxMsgs int64
	str(&c.natsURL, "nats", "STELE_NATS_URL", nats.DefaultURL, "NATS server URL(s), comma-separated")
	str(&c.natsCreds, "nats-creds", "STELE_NATS_CREDS", "", "NATS credentials file")
	str(&c.redisURL, "redis", "STELE_REDIS_URL", "redis://127.0.0.1:6379", "Redis URL: redis://host:port/db, redis://host:port?master_name=M (Sentinel) or redis+cluster://host:port")
	str(&c.prefix, "redis-prefix", "STELE_REDIS_PREFIX", "stele:", "prefix of every Redis key")
	str(&c.name, "name", "STELE_WORKER_NAME", defaultName(), "worker name in logs and NATS connection")
	str(&logLevel, "log-level", "STELE_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	num(&c.runner.Concurrency, "concurrency", "STELE_CONCURRENCY", 2*runtime.GOMAXPROCS(0), "chunks verified at once")
	num(&c.runner.FetchBatch, "fetch-batch", "STELE_FETCH_BATCH", 0, "messages per pull (0: the concurrency)")
	dur(&c.runner.FetchMaxWait, "fetch-wait", "STELE_FETCH_WAIT", 2*time.Second, "how long one pull waits for messages")
	dur(&c.runner.ShutdownTimeout, "shutdown-timeout", "STELE_SHUTDOWN_TIMEOUT", 30*time.Second, "longest drain on SIGTERM")
	dur(&c.runner.NakDelay, "retry-delay", "STELE_RETRY_DELAY", time.Second, "base delay before a failed chunk is retried")
	dur(&c.consumer.AckWait, "ack-wait", "STELE_ACK_WAIT", 30*time.Second, "redelivery delay of an unacknowledged chunk")
	num(&c.consumer.MaxDeliver, "max-deliver", "STELE_MAX_DELIVER", 10, "deliveries of one chunk before it is given up")
	num(&c.consumer.MaxAckPending, "max-ack-pending", "STELE_MAX_ACK_PENDING", 1024, "chunks in flight across all verifiers")
	num(&c.streams.Replicas, "stream-replicas", "STELE_STREAM_REPLICAS", 1, "replicas of the streams")
	fs.Int64Var(&jobsMaxBytes, "jobs-max-bytes", 1<<30, "size limit of the work queue (STELE_JOBS_MAX_BYTES)")
	env["jobs-max-bytes"] = "STELE_JOBS_MAX_BYTES"
	fs.Int64Var(&jobsMaxMsgs, "jobs-max-msgs", 1_000_000, "message limit of the work queue (STELE_JOBS_MAX_MSGS)")
	env["jobs-max-msgs"] = "STELE_JOBS_MAX_MSGS"
	dur(&c.jobTTL, "job-ttl", "STELE_JOB_TTL", store.DefaultJobTTL, "lifetime of jobs and results after their last change")
	dur(&c.sigTTL, "sig-ttl", "STELE_SIG_TTL", store.DefaultSigTTL, "lifetime of signature-cache entries")
	dur(&c.connectWait, "connect-wait", "STELE_CONNECT_WAIT", 0, "how long to keep retrying NATS and Redis at start-up (0: until stopped)")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageError{err}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := env[f.Name]
		if given[f.Name] || name == "" || envErr != nil {
			return
		}
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = usageError{fmt.Errorf("bad %s %q: %v", name, v, err)}
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if err := c.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return c, usageError{fmt.Errorf("bad log level %q: want debug, info, warn or error", logLevel)}
	}
	c.streams.JobsMaxBytes, c.streams.JobsMaxMsgs = jobsMaxBytes, jobsMaxMsgs
	if c.runner.Concurrency < 1 {
		return c, usageError{fmt.Errorf("concurrency %d: want at least 1", c.runner.Concurrency)}
	}
	if c.runner.FetchBatch == 0 {
		c.runner.FetchBatch = c.runner.Concurrency
	}
	// Validate everything now, so a mistake is a usage error before any
	// connection is made.
	if _, err := jobs.JobsStreamConfig(c.streams); err != nil {
		return c, usageError{err}
	}
	if _, err := jobs.WorkerConsumerConfig(store.KindVerify, c.consumer); err != nil {
		return c, usageError{err}
	}
	if err := c.runner.Validate(); err != nil {
		return c, usageError{err}
	}
	if c.connectWait < 0 {
		return c, usageError{errors.New("connect wait must not be negative")}
	}
	if c.jobTTL < time.Millisecond || c.sigTTL < time.Millisecond {
		return c, usageError{errors.New("job and signature TTLs must be at least 1ms")}
	}
	if strings.TrimSpace(c.natsURL) == "" || strings.TrimSpace(c.redisURL) == "" {
		return c, usageError{errors.New("the NATS and Redis URLs must not be empty")}
	}
	return c, nil
}

func defaultName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("verifier@%s:%d", host, os.Getpid())
}

// run runs the worker until ctx is cancelled, then drains it.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel})).With("worker", cfg.name)
	cfg.runner.Logger = log

	natsOpts := []nats.Option{
		nats.Name(cfg.name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrl()) }),
	}
	if cfg.natsCreds != "" {
		natsOpts = append(natsOpts, nats.UserCredentials(cfg.natsCreds))
	}
	nc, err := connectNATS(ctx, cfg.natsURL, natsOpts, cfg.connectWait, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	var st *redisstore.Store
	err = retry(ctx, cfg.connectWait, log, "redis", func(ctx context.Context) error {
		var err error
		st, err = redisstore.Open(ctx, cfg.redisURL, redisstore.WithKeyPrefix(cfg.prefix), redisstore.WithJobTTL(cfg.jobTTL), redisstore.WithSigTTL(cfg.sigTTL))
		return err
	})
	if err != nil {
		return fmt.Errorf("open Redis store at %s: %w", redactURL(cfg.redisURL), err)
	}
	defer st.Close()

	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := jobs.EnsureStreams(setupCtx, js, cfg.streams); err != nil {
		return err
	}
	cons, err := jobs.EnsureConsumer(setupCtx, js, store.KindVerify, cfg.consumer)
	if err != nil {
		return err
	}
	h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: st, SigCache: st, Revocations: st, Logger: log})
	if err != nil {
		return err
	}
	r, err := jobs.NewRunner(cons, js, st, h, cfg.runner)
	if err != nil {
		return err
	}
	log.Info("verifier started", "nats", nc.ConnectedUrl(), "concurrency", cfg.runner.Concurrency,
		"fetch_batch", cfg.runner.FetchBatch)
	err = r.Run(ctx)
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	log.Info("verifier drained")
	return nil
}

// connectNATS connects to NATS, retrying while the server is not up yet (see
// retry).
func connectNATS(ctx context.Context, url string, opts []nats.Option, wait time.Duration, log *slog.Logger) (*nats.Conn, error) {
	var nc *nats.Conn
	err := retry(ctx, wait, log, "nats", func(context.Context) error {
		var err error
		nc, err = nats.Connect(url, opts...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}

// Backoff of the start-up connection attempts.
const (
	firstRetry = 100 * time.Millisecond
	maxRetry   = 5 * time.Second
)

// retry calls connect until it succeeds, with a growing pause between
// attempts, so that a worker started before its servers waits for them. It
// gives up with the last error when ctx is done or, if wait > 0, once wait
// has passed since the first attempt.
func retry(ctx context.Context, wait time.Duration, log *slog.Logger, what string, connect func(context.Context) error) error {
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	pause := firstRetry
	for attempt := 1; ; attempt++ {
		err := connect(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info("connected", "to", what, "attempts", attempt)
			}
			return nil
		}
		log.Warn("not reachable yet; retrying", "to", what, "err", err, "retry_in", pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, maxRetry)
	}
}

// redactURL hides a password in a URL for error messages.
func redactURL(raw string) string {
	at := strings.LastIndex(raw, "@")
	scheme := strings.Index(raw, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return raw
	}
	return raw[:scheme+3] + "***" + raw[at:]
}
