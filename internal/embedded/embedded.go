// Package embedded runs a whole Stele pipeline in one process, for one
// machine: an in-process NATS server with JetStream on disk, the SQLite
// store, the HTTP gateway, a verifier runner and a signer runner holding the
// keys given in Config.Keys (none by default). Everything lives under one
// data directory and survives restarts:
//
//	DIR/nats/      JetStream storage (the STELE_JOBS and STELE_EVENTS streams)
//	DIR/stele.db   the SQLite store (jobs, results, documents, signature cache)
//	DIR/spool/     NDJSON uploads being counted (emptied at start)
//	DIR/queueing/  a file per job being queued (settle.go)
//	DIR/LOCK       held while an instance runs, so two cannot share DIR
//
// The gateway also serves the NATS request-reply endpoint stele.evaluate
// (evaluate.RegisterMicro).
//
// By default the NATS server does not listen on the network: the gateway and
// the runner reach it through in-process connections, and only the gateway's
// HTTP address is open. With Config.NATSListen it also accepts NATS clients
// on that address (integrations that publish jobs or call stele.evaluate,
// such as examples/nats); keep it on a loopback address, it has no
// authentication.
package embedded

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/gateway"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/keyring"
	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
)

// Sentinel errors.
var (
	// ErrInvalidConfig wraps every rejected Config value.
	ErrInvalidConfig = errors.New("embedded: invalid config")
	// ErrLocked reports a data directory in use by another instance.
	ErrLocked = errors.New("embedded: data directory in use")
)

// Config describes an all-in-one instance.
type Config struct {
	// DataDir holds everything the instance stores (required).
	DataDir string
	// Addr is the HTTP listen address, host:port (default 127.0.0.1:8080;
	// port 0 picks a free one, see Instance.Addr).
	Addr string
	// Concurrency is the number of chunks the verifier (and the signer)
	// processes at once (default 2 × GOMAXPROCS, as jobs.RunnerConfig).
	Concurrency int
	// Streams sizes the work queue and the other streams (jobs.StreamConfig;
	// its Replicas is ignored: the in-process server is one node).
	Streams jobs.StreamConfig
	// Keys are the issuer keys of the in-process signer (nil: none). They
	// are advertised in the store's key directory at start, so the gateway
	// accepts sign requests naming them; requests naming other keys fail
	// with unknown_key.
	Keys *keyring.Keyring
	// Limits bound gateway requests (see gateway.Limits).
	Limits gateway.Limits
	// AdminToken guards the gateway's operator routes (see
	// gateway.Config.AdminToken; empty: open).
	AdminToken string
	// PublisherOptions tune how the gateway chunks jobs (see
	// jobs.NewPublisher).
	PublisherOptions []jobs.PublisherOption
	// JobTTL is how long jobs and results are kept after their last change
	// (default store.DefaultJobTTL).
	JobTTL time.Duration
	// Logger receives every component's logs (default slog.Default()).
	Logger *slog.Logger
	// NATSListen, when set (host:port; port 0 picks a free one), makes the
	// in-process NATS server accept clients on that address too; see
	// Instance.NATSURL. Empty: in-process connections only.
	NATSListen string
}

// Instance is a running all-in-one.
type Instance struct {
	log    *slog.Logger
	lock   *dirLock
	ns     *server.Server
	nc     *nats.Conn
	st     store.Store
	runner *jobs.Runner
	signer *jobs.Runner
	gw     *gateway.Server
	micro  *evaluate.MicroService
	srv    *http.Server
	ln     net.Listener
	served chan error
	// watchStop ends the JetStream watcher (watchJetStream), watchDone
	// is closed when it has returned.
	watchStop chan struct{}
	watchDone chan struct{}
	// settleStop ends settleInterrupted, settleDone is closed when it has
	// returned.
	settleStop context.CancelFunc
	settleDone chan struct{}
	// checkStop ends the store's integrity check, checkDone is closed when
	// it has returned.
	checkStop context.CancelFunc
	checkDone chan struct{}
	// announceStop ends the jobs.Announcer, announceDone is closed when it
	// has returned.
	announceStop context.CancelFunc
	announceDone chan struct{}
	stopOnce     sync.Once
	stopErr      error
}

// Start starts an instance and returns once the gateway accepts requests.
// ctx bounds the start-up only. Shutdown stops the instance.
func Start(ctx context.Context, cfg Config) (_ *Instance, err error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: empty data directory", ErrInvalidConfig)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded: data directory: %w", err)
	}
	in := &Instance{log: cfg.Logger, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			in.release(context.Background())
		}
	}()
	if in.lock, err = lockDir(filepath.Join(cfg.DataDir, "LOCK")); err != nil {
		return nil, err
	}

	// NATS with JetStream on disk, reachable only in process.
	nopts := &server.Options{
		ServerName:         "stele-embedded",
		DontListen:         true,
		JetStream:          true,
		StoreDir:           filepath.Join(cfg.DataDir, "nats"),
		JetStreamMaxMemory: 64 << 20,
		NoSigs:             true,
		NoLog:              true,
	}
	if cfg.NATSListen != "" {
		host, port, err := net.SplitHostPort(cfg.NATSListen)
		if err != nil {
			return nil, fmt.Errorf("%w: NATS listen address %q: %v", ErrInvalidConfig, cfg.NATSListen, err)
		}
		if nopts.Port, err = strconv.Atoi(port); err != nil || nopts.Port < 0 || nopts.Port > 65535 {
			return nil, fmt.Errorf("%w: NATS listen port %q", ErrInvalidConfig, port)
		}
		if nopts.Port == 0 {
			nopts.Port = server.RANDOM_PORT
		} else if err := portFree(cfg.NATSListen); err != nil {
			// The server would only time out waiting to become ready.
			return nil, fmt.Errorf("%w: NATS listen address %s is not available (another NATS server may be running there; choose another address or leave it out): %v",
				ErrInvalidConfig, cfg.NATSListen, err)
		}
		nopts.DontListen, nopts.Host = false, host
	}
	// The server takes nopts for its own; the watcher reloads a copy.
	reloadOpts := nopts.Clone()
	in.ns, err = server.NewServer(nopts)
	if err != nil {
		return nil, fmt.Errorf("embedded: nats server: %w", err)
	}
	nlog := &natsLogger{log: cfg.Logger, writeErr: make(chan struct{}, 1)}
	in.ns.SetLoggerV2(nlog, false, false, false)
	in.ns.Start()
	for !in.ns.ReadyForConnections(100 * time.Millisecond) {
		if msg := nlog.fatal(); msg != "" {
			return nil, fmt.Errorf("embedded: nats server (in %s): %s", nopts.StoreDir, msg)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("embedded: nats server not ready: %w", err)
		}
	}
	in.watchStop, in.watchDone = make(chan struct{}), make(chan struct{})
	go in.watchJetStream(reloadOpts, nlog, jetStreamRetry)
	in.nc, err = nats.Connect("", nats.InProcessServer(in.ns), nats.Name("stele-embedded"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("embedded: nats connect: %w", err)
	}
	js, err := jetstream.New(in.nc)
	if err != nil {
		return nil, fmt.Errorf("embedded: jetstream: %w", err)
	}
	streams := cfg.Streams
	streams.Replicas = 1
	if err := jobs.EnsureStreams(ctx, js, streams); err != nil {
		return nil, fmt.Errorf("embedded: %w", explainStorage(err, streams, nopts.StoreDir))
	}
	// Jobs whose queueing a crash interrupted, and the last chunk queued
	// before this start (see settleInterrupted).
	queueingDir := filepath.Join(cfg.DataDir, "queueing")
	interrupted, err := interruptedJobs(queueingDir)
	if err != nil {
		return nil, fmt.Errorf("embedded: queueing directory: %w", err)
	}
	jstr, err := js.Stream(ctx, jobs.StreamJobs)
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	lastSeq := jstr.CachedInfo().State.LastSeq
	var storeOpts []sqlitestore.Option
	if cfg.JobTTL != 0 {
		storeOpts = append(storeOpts, sqlitestore.WithJobTTL(cfg.JobTTL))
	}
	storeOpts = append(storeOpts, sqlitestore.WithLogger(cfg.Logger))
	st, err := sqlitestore.Open(ctx, filepath.Join(cfg.DataDir, "stele.db"), storeOpts...)
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	in.st = st // only now: a nil *Store in the interface would not be nil

	handler, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: in.st, SigCache: in.st, Revocations: in.st, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	in.runner, err = jobs.StartWorker(context.WithoutCancel(ctx), js, store.KindVerify, jobs.ConsumerConfig{}, in.st, handler, runnerConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	if in.signer, err = startSigner(ctx, js, in.st, cfg); err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}

	in.gw, err = gateway.New(gateway.Config{
		Store:            in.st,
		NATS:             in.nc,
		Limits:           cfg.Limits,
		AdminToken:       cfg.AdminToken,
		PublisherOptions: cfg.PublisherOptions,
		SpoolDir:         filepath.Join(cfg.DataDir, "spool"),
		QueueingDir:      queueingDir,
		Logger:           cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	if err := resetDir(filepath.Join(cfg.DataDir, "spool")); err != nil {
		return nil, fmt.Errorf("embedded: spool directory: %w", err)
	}
	if in.micro, err = evaluate.RegisterMicro(in.nc, in.gw.Evaluator()); err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	in.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded: listen: %w", err)
	}
	in.srv = newHTTPServer(in.gw.Handler(), cfg.Logger)
	in.srv.RegisterOnShutdown(in.gw.StopWaiting)
	go func() { in.served <- in.srv.Serve(in.ln) }()
	// SQLite's quick check reads the whole file: it runs behind the
	// started instance, and damage it finds makes /readyz fail.
	cctx, cancel := context.WithCancel(context.Background())
	in.checkStop, in.checkDone = cancel, make(chan struct{})
	go func() {
		defer close(in.checkDone)
		start := time.Now()
		err := st.CheckIntegrity(cctx)
		switch {
		case errors.Is(err, sqlitestore.ErrCorrupt):
			cfg.Logger.Error("the store's database file is damaged; stop the all-in-one and restore "+
				"the data directory from a backup (sqlite3's .recover may save what is readable); "+
				"until then it reports itself not ready", "file", filepath.Join(cfg.DataDir, "stele.db"), "err", err)
		case err != nil && cctx.Err() == nil:
			cfg.Logger.Warn("the store's integrity check failed to run", "err", err)
		case err == nil:
			cfg.Logger.Debug("the store's integrity check passed", "duration", time.Since(start))
		}
	}()
	// Completions NATS did not take when they happened (kept in the store,
	// across restarts too) are announced once it does.
	ann, err := jobs.NewAnnouncer(js, st, jobs.WithAnnouncerLogger(cfg.Logger))
	if err != nil {
		return nil, err
	}
	actx, cancelAnn := context.WithCancel(context.Background())
	in.announceStop, in.announceDone = cancelAnn, make(chan struct{})
	go func() { defer close(in.announceDone); _ = ann.Run(actx) }()
	if len(interrupted) > 0 {
		cfg.Logger.Warn("settling jobs whose queueing was interrupted by a crash, once the queue has passed them", "jobs", len(interrupted))
		sctx, cancel := context.WithCancel(context.Background())
		in.settleStop, in.settleDone = cancel, make(chan struct{})
		go func() {
			defer close(in.settleDone)
			in.settleInterrupted(sctx, js, st, queueingDir, interrupted, lastSeq)
		}()
	}
	return in, nil
}

// startSigner advertises cfg.Keys in the store and starts a sign runner on
// the "signer" consumer. It runs even without keys, so that sign jobs
// published straight on NATS naming unknown keys still fail (unknown_key)
// instead of waiting in the queue.
func startSigner(ctx context.Context, js jetstream.JetStream, st store.Store, cfg Config) (*jobs.Runner, error) {
	keys := cfg.Keys
	if keys == nil {
		var err error
		if keys, err = keyring.New(); err != nil {
			return nil, err
		}
	}
	if keys.Len() > 0 {
		if err := keys.Advertise(ctx, st, time.Now()); err != nil {
			return nil, err
		}
	}
	h, err := jobs.NewSignHandler(jobs.SignConfig{Keys: keys, Documents: st, Revocations: st, Jobs: st, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	r, err := jobs.StartWorker(context.WithoutCancel(ctx), js, store.KindSign, jobs.ConsumerConfig{}, st, h, runnerConfig(cfg))
	if err != nil {
		return nil, err
	}
	cfg.Logger.Info("signer ready", "keys", keys)
	return r, nil
}

// runnerConfig is the runner configuration of the all-in-one's workers.
func runnerConfig(cfg Config) jobs.RunnerConfig {
	return jobs.RunnerConfig{
		Concurrency: cfg.Concurrency,
		// Pulls return as soon as messages arrive; a short wait only
		// bounds how long an idle pull lasts.
		FetchMaxWait: time.Second,
		JobTTL:       cmp.Or(cfg.JobTTL, store.DefaultJobTTL),
		Logger:       cfg.Logger,
	}
}

// resetDir creates dir, or empties it: uploads left in the spool by a
// process that died mid-request are never needed again.
func resetDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o700)
}

// newHTTPServer returns the HTTP server settings shared with cmd/gateway.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Addr returns the address the gateway listens on.
func (in *Instance) Addr() string { return in.ln.Addr().String() }

// NATSURL returns the client URL of the NATS server when Config.NATSListen
// is set, else "".
func (in *Instance) NATSURL() string {
	if in.ns == nil || in.ns.Addr() == nil {
		return ""
	}
	return in.ns.ClientURL()
}

// Store returns the instance's store (for tests and tools in the process).
func (in *Instance) Store() store.Store { return in.st }

// Done is closed when the HTTP server stops on its own (an error), with the
// error; a Shutdown does not report here.
func (in *Instance) Done() <-chan error { return in.served }

// Shutdown stops the instance, in this order: the HTTP server stops
// accepting and finishes the requests in flight; the stele.evaluate service
// stops and answers the requests in hand; the gateway's subscription
// ends; the verifier and signer runners drain (finish and acknowledge the chunks in hand);
// the NATS connection and server stop; the store closes; the data directory
// is unlocked. Chunks still queued stay in JetStream and are verified after
// the next Start. ctx bounds the HTTP and runner drains. A second call
// returns the first one's result.
func (in *Instance) Shutdown(ctx context.Context) error {
	in.stopOnce.Do(func() { in.stopErr = in.release(ctx) })
	return in.stopErr
}

func (in *Instance) release(ctx context.Context) error {
	var errs []error
	if in.srv != nil {
		if err := in.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	} else if in.ln != nil {
		in.ln.Close()
	}
	if in.micro != nil {
		if err := in.micro.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stele.evaluate service: %w", err))
		}
	}
	if in.gw != nil {
		if err := in.gw.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if in.runner != nil {
		if err := in.runner.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("runner: %w", err))
		}
	}
	if in.signer != nil {
		if err := in.signer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("signer: %w", err))
		}
	}
	if in.settleStop != nil {
		in.settleStop()
		<-in.settleDone
	}
	if in.checkStop != nil {
		in.checkStop()
		<-in.checkDone
	}
	if in.announceStop != nil {
		in.announceStop()
		<-in.announceDone
	}
	if in.watchStop != nil {
		close(in.watchStop)
		<-in.watchDone
	}
	if in.nc != nil {
		in.nc.Close()
	}
	if in.ns != nil {
		in.ns.Shutdown()
		in.ns.WaitForShutdown()
	}
	if in.st != nil {
		if err := in.st.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: %w", err))
		}
	}
	if in.lock != nil {
		if err := in.lock.release(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("embedded: shutdown: %w", err)
	}
	return nil
}

// explainStorage adds to JetStream's "insufficient storage resources" what
// it means for the all-in-one: JetStream reserves every stream's MaxBytes
// on disk and takes at most 75% of the free space of its directory, so a
// disk with less free space than that refuses the streams.
func explainStorage(err error, streams jobs.StreamConfig, dir string) error {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.ErrorCode(server.ApiErrors[server.JSStorageResourcesExceededErr].ErrCode) {
		return err
	}
	var total int64
	for _, f := range []func(jobs.StreamConfig) (jetstream.StreamConfig, error){jobs.JobsStreamConfig, jobs.EventsStreamConfig, jobs.DeadStreamConfig} {
		if sc, cerr := f(streams); cerr == nil {
			total += max(sc.MaxBytes, 0)
		}
	}
	return fmt.Errorf("%w: the streams reserve %d MiB on disk and JetStream uses at most 75%% of the free space where %s lies; free disk space there, or make the work queue smaller (--jobs-max-bytes)",
		err, total>>20, dir)
}

// portFree reports whether addr can be listened on now.
func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

// natsLogger passes the in-process NATS server's warnings and errors to the
// instance's logger and keeps its first fatal error, which the server
// reports (for example a JetStream directory it cannot use) instead of
// becoming ready.
type natsLogger struct {
	log *slog.Logger
	// writeErr receives a value when JetStream reports that it could not
	// write to its store (see watchJetStream).
	writeErr chan struct{}

	mu        sync.Mutex
	fatalText string
}

func (l *natsLogger) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatalText
}

func (l *natsLogger) Noticef(string, ...any) {}
func (l *natsLogger) Debugf(string, ...any)  {}
func (l *natsLogger) Tracef(string, ...any)  {}

func (l *natsLogger) Warnf(format string, v ...any) {
	l.log.Warn("nats: " + fmt.Sprintf(format, v...))
}

func (l *natsLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error("nats: " + msg)
	if storeWriteFailed(msg) {
		select {
		case l.writeErr <- struct{}{}:
		default:
		}
	}
}

// storeWriteFailed reports whether a NATS server error says that JetStream
// could not write to its store: a stream that fails a write (a full disk)
// keeps the error and refuses every later message, and out of resources
// JetStream disables itself.
func storeWriteFailed(msg string) bool {
	return strings.Contains(msg, "critical write error") || strings.Contains(msg, "will be DISABLED")
}

func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error("nats: " + msg)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatalText == "" {
		l.fatalText = msg
	}
}
