// Package worker holds what the worker commands (cmd/verifier, cmd/signer)
// share: flags that fall back to STELE_* environment variables, the common
// configuration of a worker, start-up connections to NATS and Redis that wait
// for the servers, and the main function's signal handling and exit codes.
package worker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/store"
)

// UsageError is a configuration mistake (exit status 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// Main runs a worker command: run gets a context cancelled by SIGTERM or
// SIGINT, the arguments, os.Environ() and standard error. It exits with 0
// when run returns nil (or for -h), 2 with a hint for a UsageError, 1
// otherwise, the error prefixed with the program name.
func Main(program string, run func(ctx context.Context, args, environ []string, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stderr)
	stopped := ctx.Err() != nil
	stop()
	code, msg := exitStatus(program, err, stopped)
	if msg != "" {
		fmt.Fprintln(os.Stderr, msg)
	}
	os.Exit(code)
}

// exitStatus is the exit status of a program whose run returned err, and
// what to print first ("" for nothing); stopped tells that a signal asked it
// to stop. A program stopped while it was still waiting for its servers
// (err wraps context.Canceled) exits 0, as one that drained does.
func exitStatus(program string, err error, stopped bool) (int, string) {
	var ue UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0, ""
	case errors.As(err, &ue):
		return 2, fmt.Sprintf("%s: %v\nrun '%s -h' for the flags and their STELE_* variables", program, err, program)
	case stopped && errors.Is(err, context.Canceled):
		return 0, fmt.Sprintf("%s: stopped before start-up completed (%v)", program, err)
	default:
		return 1, fmt.Sprintf("%s: %v", program, err)
	}
}

// Getenv returns a lookup function over environ (os.Environ's form); the
// last definition of a variable wins, as in the process environment.
func Getenv(environ []string) func(string) string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}

// Flags is a flag set whose flags each name a STELE_* variable, used when
// the flag is not on the command line.
type Flags struct {
	*flag.FlagSet
	env map[string]string // flag name -> variable
}

// NewFlags returns an empty flag set for program, printing help to out.
func NewFlags(program string, out io.Writer) *Flags {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(out)
	// The same header as the gateway's help.
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\nEvery flag can also be set with the STELE_* variable in its help; a flag on the command line wins.\n\n", program)
		fs.PrintDefaults()
	}
	return &Flags{FlagSet: fs, env: map[string]string{}}
}

// StringVar defines a string flag read from envName when not given.
func (f *Flags) StringVar(p *string, name, envName, def, usage string) {
	f.FlagSet.StringVar(p, name, def, usage+" ("+envName+")")
	f.env[name] = envName
}

// IntVar defines an int flag read from envName when not given.
func (f *Flags) IntVar(p *int, name, envName string, def int, usage string) {
	f.FlagSet.IntVar(p, name, def, usage+" ("+envName+")")
	f.env[name] = envName
}

// Int64Var defines an int64 flag read from envName when not given.
func (f *Flags) Int64Var(p *int64, name, envName string, def int64, usage string) {
	f.FlagSet.Int64Var(p, name, def, usage+" ("+envName+")")
	f.env[name] = envName
}

// DurationVar defines a duration flag read from envName when not given.
func (f *Flags) DurationVar(p *time.Duration, name, envName string, def time.Duration, usage string) {
	f.FlagSet.DurationVar(p, name, def, usage+" ("+envName+")")
	f.env[name] = envName
}

// Parse parses args, then sets every flag not given on the command line from
// its variable when that is set and not empty. Mistakes are UsageErrors;
// -h returns flag.ErrHelp.
func (f *Flags) Parse(args []string, getenv func(string) string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{err}
	}
	if f.NArg() > 0 {
		return Usagef("unexpected argument %q", f.Arg(0))
	}
	given := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var envErr error
	f.VisitAll(func(fl *flag.Flag) {
		name := f.env[fl.Name]
		if given[fl.Name] || name == "" || envErr != nil {
			return
		}
		if v := getenv(name); v != "" {
			if err := f.Set(fl.Name, v); err != nil {
				envErr = Usagef("bad %s %q: %v", name, v, err)
			}
		}
	})
	return envErr
}

// Config is the configuration every worker shares.
type Config struct {
	NATSURL     string
	NATSCreds   string
	RedisURL    string
	RedisPrefix string
	Name        string
	LogLevel    slog.Level

	Runner   jobs.RunnerConfig
	Consumer jobs.ConsumerConfig
	Streams  jobs.StreamConfig
	JobTTL   time.Duration
	SigTTL   time.Duration
	// RedisWaitReplicas and RedisWaitTimeout: a chunk's results count as
	// recorded only once that many Redis replicas have them
	// (redisstore.WithReplicaWait; 0: do not wait).
	RedisWaitReplicas int
	RedisWaitTimeout  time.Duration
	// ConnectWait bounds the start-up connection retries (0: until stopped).
	ConnectWait time.Duration
	// Clock is where the worker reads the time: ClockStore or ClockHost.
	Clock string
	// DebugAddr, when set, is where StartDebug serves net/http/pprof.
	DebugAddr string

	kind         store.JobKind
	host         func() time.Time // this host's clock (nil: time.Now); tests skew it
	logLevel     string
	logFormat    string
	jobsMaxBytes int64
	jobsMaxMsgs  int64
}

// CommonFlags defines the shared flags on f, filling c, for a worker of
// kind named program. maxDeliver is the default of -max-deliver.
func CommonFlags(f *Flags, c *Config, program string, kind store.JobKind, maxDeliver int) {
	c.kind = kind
	f.StringVar(&c.NATSURL, "nats", "STELE_NATS_URL", nats.DefaultURL, "NATS server URL(s), comma-separated")
	f.StringVar(&c.NATSCreds, "nats-creds", "STELE_NATS_CREDS", "", "NATS credentials file")
	f.StringVar(&c.RedisURL, "redis", "STELE_REDIS_URL", "redis://127.0.0.1:6379", "Redis URL: redis://host:port/db, redis://host:port?master_name=M (Sentinel) or redis+cluster://host:port")
	f.StringVar(&c.RedisPrefix, "redis-prefix", "STELE_REDIS_PREFIX", "stele:", "prefix of every Redis key")
	f.StringVar(&c.Name, "name", "STELE_WORKER_NAME", defaultName(program), "worker name in logs and NATS connection")
	f.StringVar(&c.logLevel, "log-level", "STELE_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	f.StringVar(&c.logFormat, "log-format", "STELE_LOG_FORMAT", "json", "log format: json or text")
	f.IntVar(&c.Runner.Concurrency, "concurrency", "STELE_CONCURRENCY", 2*runtime.GOMAXPROCS(0), "chunks processed at once")
	f.IntVar(&c.Runner.FetchBatch, "fetch-batch", "STELE_FETCH_BATCH", 0, "messages per pull (0: the concurrency)")
	f.DurationVar(&c.Runner.FetchMaxWait, "fetch-wait", "STELE_FETCH_WAIT", 2*time.Second, "how long one pull waits for messages")
	f.DurationVar(&c.Runner.ShutdownTimeout, "shutdown-timeout", "STELE_SHUTDOWN_TIMEOUT", 30*time.Second, "longest drain on SIGTERM")
	f.DurationVar(&c.Runner.NakDelay, "retry-delay", "STELE_RETRY_DELAY", time.Second, "base delay before a failed chunk is retried")
	f.DurationVar(&c.Consumer.AckWait, "ack-wait", "STELE_ACK_WAIT", 30*time.Second, "redelivery delay of an unacknowledged chunk")
	f.IntVar(&c.Consumer.MaxDeliver, "max-deliver", "STELE_MAX_DELIVER", maxDeliver, "deliveries of one chunk before it is given up")
	f.IntVar(&c.Consumer.MaxAckPending, "max-ack-pending", "STELE_MAX_ACK_PENDING", 1024, "chunks in flight across all "+program+"s")
	f.IntVar(&c.Streams.Replicas, "stream-replicas", "STELE_STREAM_REPLICAS", 1, "replicas of the streams")
	f.Int64Var(&c.jobsMaxBytes, "jobs-max-bytes", "STELE_JOBS_MAX_BYTES", 1<<30, "size limit of the work queue")
	f.Int64Var(&c.jobsMaxMsgs, "jobs-max-msgs", "STELE_JOBS_MAX_MSGS", 1_000_000, "message limit of the work queue")
	f.DurationVar(&c.JobTTL, "job-ttl", "STELE_JOB_TTL", store.DefaultJobTTL, "lifetime of jobs and results after their last change")
	f.DurationVar(&c.SigTTL, "sig-ttl", "STELE_SIG_TTL", store.DefaultSigTTL, "lifetime of signature-cache entries")
	f.IntVar(&c.RedisWaitReplicas, "redis-wait-replicas", "STELE_REDIS_WAIT_REPLICAS", 0, "Redis replicas that must have a chunk's results before it is acknowledged (0: the primary's own durability)")
	f.DurationVar(&c.RedisWaitTimeout, "redis-wait-timeout", "STELE_REDIS_WAIT_TIMEOUT", time.Second, "how long to wait for those replicas before the chunk is retried")
	f.DurationVar(&c.ConnectWait, "connect-wait", "STELE_CONNECT_WAIT", 0, "how long to keep retrying NATS and Redis at start-up (0: until stopped)")
	f.StringVar(&c.DebugAddr, "debug-addr", "STELE_DEBUG_ADDR", "", "if set, serve net/http/pprof on this address (keep it private, e.g. 127.0.0.1:6061)")
	f.StringVar(&c.Clock, "clock", "STELE_CLOCK", ClockStore, "clock of expiry, activation and creation times: store (the Redis server's, the same for every process) or host")
}

// Finish checks c after parsing and fills in what follows from it, so that a
// mistake is a UsageError before any connection is made.
func (c *Config) Finish() error {
	if err := c.LogLevel.UnmarshalText([]byte(c.logLevel)); err != nil {
		return Usagef("bad log level %q: want debug, info, warn or error", c.logLevel)
	}
	if c.logFormat != "json" && c.logFormat != "text" {
		return Usagef("bad log format %q: want json or text", c.logFormat)
	}
	c.Streams.JobsMaxBytes, c.Streams.JobsMaxMsgs = c.jobsMaxBytes, c.jobsMaxMsgs
	if c.Runner.Concurrency < 1 {
		return Usagef("concurrency %d: want at least 1", c.Runner.Concurrency)
	}
	if c.Runner.FetchBatch == 0 {
		c.Runner.FetchBatch = c.Runner.Concurrency
	}
	c.Runner.JobTTL = c.JobTTL
	if _, err := jobs.JobsStreamConfig(c.Streams); err != nil {
		return UsageError{err}
	}
	if _, err := jobs.WorkerConsumerConfig(c.kind, c.Consumer); err != nil {
		return UsageError{err}
	}
	if err := c.Runner.Validate(); err != nil {
		return UsageError{err}
	}
	if c.ConnectWait < 0 {
		return Usagef("connect wait must not be negative")
	}
	if c.JobTTL < time.Millisecond || c.SigTTL < time.Millisecond {
		return Usagef("job and signature TTLs must be at least 1ms")
	}
	if c.RedisWaitReplicas < 0 || (c.RedisWaitReplicas > 0 && (c.RedisWaitTimeout < time.Millisecond || c.RedisWaitTimeout > redisstore.MaxReplicaWait)) {
		return Usagef("redis-wait-replicas must not be negative, and redis-wait-timeout from 1ms to %v when waiting", redisstore.MaxReplicaWait)
	}
	if strings.TrimSpace(c.NATSURL) == "" || strings.TrimSpace(c.RedisURL) == "" {
		return Usagef("the NATS and Redis URLs must not be empty")
	}
	return CheckClock(c.Clock)
}

func defaultName(program string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s@%s:%d", program, host, os.Getpid())
}

// Logger returns the logger of a worker, writing to w in c's format (JSON
// unless --log-format text) at c's level and naming the worker.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.logFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("worker", c.Name)
}

// Conn is a worker's connections: NATS with JetStream, and the Redis store,
// with the worker's clock.
type Conn struct {
	NC    *nats.Conn
	JS    jetstream.JetStream
	Store *redisstore.Store
	// Now is the worker's clock (Config.Clock; see StartClock).
	Now       func() time.Time
	stopClock func()
}

// Close stops the clock's resyncs and closes the store and the NATS
// connection.
func (c *Conn) Close() {
	if c.stopClock != nil {
		c.stopClock()
	}
	if c.Store != nil {
		c.Store.Close()
	}
	if c.NC != nil {
		c.NC.Close()
	}
}

// Connect connects to NATS and opens the Redis store, retrying each until
// it answers (see Retry), then ensures the streams and the worker kind's
// consumer. On error nothing stays open.
func Connect(ctx context.Context, c *Config, log *slog.Logger) (*Conn, jetstream.Consumer, error) {
	natsOpts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(LogDisconnect(log)),
		nats.ReconnectHandler(LogReconnect(log)),
	}
	if c.NATSCreds != "" {
		natsOpts = append(natsOpts, nats.UserCredentials(c.NATSCreds))
	}
	conn := &Conn{}
	// The store is opened before the worker's clock, which reads the
	// server's through it; the times it writes follow that clock once set.
	storeClock := &LateClock{host: c.host}
	err := Retry(ctx, c.ConnectWait, log, "nats", func(context.Context) error {
		var err error
		conn.NC, err = nats.Connect(c.NATSURL, natsOpts...)
		return URLError(err)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s: %w", RedactURL(c.NATSURL), err)
	}
	if conn.JS, err = jetstream.New(conn.NC); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	err = Retry(ctx, c.ConnectWait, log, "redis", func(ctx context.Context) error {
		var err error
		conn.Store, err = redisstore.Open(ctx, c.RedisURL, redisstore.WithKeyPrefix(c.RedisPrefix),
			redisstore.WithJobTTL(c.JobTTL), redisstore.WithSigTTL(c.SigTTL),
			redisstore.WithReplicaWait(c.RedisWaitReplicas, c.RedisWaitTimeout),
			redisstore.WithClock(storeClock.Now))
		return err
	})
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("open Redis store at %s: %w", RedactURL(c.RedisURL), err)
	}
	if conn.Now, conn.stopClock, err = startClock(ctx, c.Clock, conn.Store, c.ConnectWait, c.host, log); err != nil {
		conn.Close()
		return nil, nil, err
	}
	storeClock.Set(conn.Now)
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := jobs.EnsureStreams(setupCtx, conn.JS, c.Streams); err != nil {
		conn.Close()
		return nil, nil, err
	}
	cons, err := jobs.EnsureConsumer(setupCtx, conn.JS, c.kind, c.Consumer)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, cons, nil
}

// LogDisconnect returns a NATS disconnect handler that warns of a lost
// connection. A nil error is the process's own Close or Drain at shutdown,
// not a fault: it is logged at debug level only.
func LogDisconnect(log *slog.Logger) nats.ConnErrHandler {
	return func(_ *nats.Conn, err error) {
		if err == nil {
			log.Debug("nats connection closed")
			return
		}
		log.Warn("nats disconnected", "err", err)
	}
}

// LogReconnect returns a NATS reconnect handler that logs the server now
// connected, without credentials.
func LogReconnect(log *slog.Logger) nats.ConnHandler {
	return func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }
}

// Backoff of the start-up connection attempts.
const (
	firstRetry = 100 * time.Millisecond
	maxRetry   = 5 * time.Second
)

// Retry calls connect until it succeeds, with a growing pause between
// attempts, so that a worker started before its servers waits for them. It
// gives up with the last error once wait (if > 0) has passed since the first
// attempt, and with an error wrapping both context.Canceled and the last
// error when ctx is canceled.
func Retry(ctx context.Context, wait time.Duration, log *slog.Logger, what string, connect func(context.Context) error) error {
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
		if errors.Is(err, store.ErrInvalidOption) || errors.Is(err, ErrMalformedURL) {
			return err // a configuration mistake: no retry mends it
		}
		log.Warn("not reachable yet; retrying", "to", what, "err", err, "retry_in", pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.Canceled) {
				return fmt.Errorf("%w while waiting for %s (last error: %w)", ctx.Err(), what, err)
			}
			return err
		case <-t.C:
		}
		pause = min(2*pause, maxRetry)
	}
}

// ErrMalformedURL marks a server URL that does not parse (URLError): a
// configuration mistake, which Retry does not retry.
var ErrMalformedURL = errors.New("malformed URL")

// URLError returns err, from connecting to a server named by a URL (such as
// nats.Connect returns), with the URL's credentials hidden: url.Parse's
// errors quote the whole URL, password and all, so such an error becomes one
// wrapping ErrMalformedURL that quotes the URL redacted (RedactURL) and, for
// a bad %-escape, which may lie in the password, not the escape. Any other
// error (nil included) is returned as it is.
func URLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) || ue.Op != "parse" {
		return err
	}
	reason := ue.Err.Error()
	var esc url.EscapeError
	if errors.As(ue.Err, &esc) {
		reason = "invalid URL escape (a '%' not followed by two hex digits)"
	}
	return fmt.Errorf("%w: %s %q: %s", ErrMalformedURL, ue.Op, RedactURL(ue.URL), reason)
}

// RedactURL hides the credentials (user, password or token) of a URL, or of
// each URL of a comma-separated list such as --nats takes, for logs and
// error messages, and the values of its query parameters that name a
// password (a Sentinel URL's password=, the master's).
func RedactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		parts[i] = redactOne(p)
	}
	return strings.Join(parts, ",")
}

func redactOne(raw string) string {
	scheme := strings.Index(raw, "://")
	if scheme < 0 {
		return raw
	}
	rest := raw[scheme+3:]
	// The credentials end at the last '@' before the path, query or fragment.
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		rest = rest[:end]
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		raw = raw[:scheme+3] + "***" + raw[scheme+3+at:]
	}
	return redactQuery(raw)
}

// redactQuery hides the values of the query parameters of raw whose names
// contain "password" (in any case).
func redactQuery(raw string) string {
	q := strings.IndexByte(raw, '?')
	if q < 0 {
		return raw
	}
	query, frag := raw[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		name, _, ok := strings.Cut(p, "=")
		if ok && strings.Contains(strings.ToLower(name), "password") {
			params[i] = name + "=***"
		}
	}
	return raw[:q+1] + strings.Join(params, "&") + frag
}

// Where a process reads the time (--clock, STELE_CLOCK).
const (
	// ClockStore follows the Redis server's clock (redisstore.Clock), so
	// every process of a cluster decides expiry, activation and rate
	// windows by one clock: the default.
	ClockStore = "store"
	// ClockHost uses the host's clock as it is.
	ClockHost = "host"
)

// CheckClock refuses a --clock value other than ClockStore and ClockHost.
func CheckClock(mode string) error {
	if mode != ClockStore && mode != ClockHost {
		return Usagef("clock %q: want %s (the Redis server's, the same for every process) or %s (this host's)", mode, ClockStore, ClockHost)
	}
	return nil
}

// StartClock returns the clock of a process whose store is st: time.Now
// for ClockHost; for ClockStore a redisstore.Clock, synced once before
// StartClock returns (retried as Retry does, within wait) and then every
// redisstore.DefaultClockResync until stop is called. stop waits for the
// resync loop to end.
func StartClock(ctx context.Context, mode string, st *redisstore.Store, wait time.Duration, log *slog.Logger) (now func() time.Time, stop func(), err error) {
	return startClock(ctx, mode, st, wait, nil, log)
}

// startClock is StartClock on the host clock host (nil: time.Now).
func startClock(ctx context.Context, mode string, st *redisstore.Store, wait time.Duration, host func() time.Time, log *slog.Logger) (now func() time.Time, stop func(), err error) {
	if err := CheckClock(mode); err != nil {
		return nil, nil, err
	}
	host = hostClock(host)
	if mode == ClockHost {
		return host, func() {}, nil
	}
	clock := st.NewClock(host, log)
	if err := Retry(ctx, wait, log, "redis clock", clock.Sync); err != nil {
		return nil, nil, fmt.Errorf("read the Redis server's clock: %w", err)
	}
	off, _ := clock.Offset()
	log.Debug("following the Redis server's clock", "offset", off.String())
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); clock.Run(rctx, redisstore.DefaultClockResync) }()
	return clock.Now, func() { cancel(); <-done }, nil
}

// hostClock returns host, or time.Now when it is nil.
func hostClock(host func() time.Time) func() time.Time {
	if host == nil {
		return time.Now
	}
	return host
}

// LateClock is the clock of a store opened before the process's clock
// exists (StartClock reads the Redis server's clock through that store): it
// reads the host's clock until Set, and from then on the clock set, so that
// the times the store writes itself (a job's completedAt) follow the clock
// the process decides by and sets other times by (a job's createdAt). The
// zero value reads time.Now until Set. A LateClock is safe for concurrent
// use.
type LateClock struct {
	host func() time.Time // nil: time.Now
	now  atomic.Pointer[func() time.Time]
}

// Now reads the clock set, or the host's before Set.
func (l *LateClock) Now() time.Time {
	if f := l.now.Load(); f != nil {
		return (*f)()
	}
	return hostClock(l.host)()
}

// Set makes Now read now from then on.
func (l *LateClock) Set(now func() time.Time) { l.now.Store(&now) }

// StartAnnouncer runs a jobs.Announcer over c until stop is called (stop
// waits for it): a completion that NATS did not take when a worker or a
// gateway completed the job is announced once it does, also in a
// deployment whose producers publish on NATS with no gateway running.
// Several announcers share the outbox harmlessly.
func StartAnnouncer(c *Conn, log *slog.Logger) (stop func(), err error) {
	a, err := jobs.NewAnnouncer(c.JS, c.Store, jobs.WithAnnouncerLogger(log))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	return func() { cancel(); <-done }, nil
}

// StartDebug serves net/http/pprof on c.DebugAddr, when set, until stop
// is called; a DebugAddr that cannot be listened on is an error at once.
func StartDebug(c *Config, log *slog.Logger) (stop func(), err error) {
	if c.DebugAddr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", c.DebugAddr)
	if err != nil {
		return nil, fmt.Errorf("debug address: %w", err)
	}
	srv := ServeDebug(ln, log)
	return func() { srv.Close() }, nil
}

// ServeDebug serves the profiling endpoints of net/http/pprof on ln until
// the returned server is closed.
func ServeDebug(ln net.Listener, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("debug endpoints listening", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug server stopped", "err", err)
		}
	}()
	return srv
}
