// Package gateway is Stele's HTTP API: it accepts verification and signing
// requests, records each as a job in the shared store, queues its items on
// JetStream for the verifier and signer workers and serves job progress,
// results, the covenant registry and the revocation list. It holds no private
// key: signers advertise the keys they hold in the store's key directory.
//
// Routes (Server.Handler):
//
//	POST /v1/verify                 queue a batch (JSON or application/x-ndjson); ?wait=DURATION, ?at=, "chain": true or ?chain=true
//	GET  /v1/jobs/{id}              a job's status and counters
//	GET  /v1/jobs/{id}/results      a page of results (?offset=&limit=), or all of them (from offset, limit when given) as NDJSON
//	GET  /v1/covenants/{id}         a stored covenant
//	POST /v1/sign                   queue a sign job (covenants built and signed by signer processes); ?wait=
//	POST /v1/countersign            queue a countersignature of a stored covenant; ?wait=
//	PUT  /v1/covenants              store a covenant signed elsewhere once it verifies (?chain=true: and narrows its ancestors)
//	GET  /v1/covenants              list stored covenants (?issuer=&beneficiary=&createdAfter=&createdBefore=&hasChain=&tag=&limit=&cursor=)
//	GET  /v1/covenants/{id}/chain   a covenant's ancestors, effective constraints and narrowing verdicts
//	POST /v1/revocations            revoke a signing key ({"keyId"|"publicKey","reason"})
//	GET  /v1/revocations            the revocation list
//	GET  /v1/keys                   the signing keys the signers advertise (no private material)
//	POST /v1/evaluate               decide an action under a covenant's chain, recorded in its audit trail
//	GET  /v1/covenants/{id}/audit   a page of the audit trail (?from=&limit=), or all of it as NDJSON
//	GET  /v1/covenants/{id}/audit/proof/{index}  a Merkle inclusion proof of one entry
//	GET  /v1/covenants/{id}/audit/verify         the whole trail checked
//	POST /v1/covenants/{id}/audit/trim           drop entry bodies before {"upTo":N}, keeping a checkpoint
//	GET  /healthz                   the process is alive
//	GET  /readyz                    NATS, JetStream and the store are reachable (503 otherwise)
//	GET  /health                    each dependency with its latency
//
// Every error is JSON, {"error":{"code":…,"message":…,"field":…}}, with a
// stable code per sentinel error (see errors.go). A rejected request queues
// nothing: a JSON request is validated completely before its job is created,
// and an NDJSON upload is spooled to a temporary file and counted before its
// job is created and published.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/evaluate"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/registry"
	"github.com/stele-go/stele/internal/store"
)

// ErrInvalidConfig wraps every rejected Config value.
var ErrInvalidConfig = errors.New("gateway: invalid config")

// Limits bound what one request may ask for. The zero value of a field means
// its default.
type Limits struct {
	// MaxBodyBytes bounds a JSON request body (default 64 MiB).
	MaxBodyBytes int64
	// MaxItems bounds the items of a JSON request (default 10,000).
	MaxItems int
	// MaxDocumentBytes bounds one document (default 1 MiB, the protocol's
	// MAX_DOCUMENT_SIZE); larger ones are rejected before parsing.
	MaxDocumentBytes int
	// MaxDepth bounds the nesting of one document (default 256).
	MaxDepth int
	// MaxRefBytes bounds an item's ref (default 1,024).
	MaxRefBytes int
	// MaxStreamItems bounds the documents of one NDJSON upload (default
	// 1,000,000).
	MaxStreamItems int
	// MaxStreamBytes bounds an NDJSON body (default 4 GiB); the upload is
	// spooled to disk, never held in memory.
	MaxStreamBytes int64
	// MaxWait caps ?wait (default 60 s).
	MaxWait time.Duration
	// MaxPageSize caps ?limit of the results page (default 1,000); it is also
	// the number of results a ?wait answer inlines.
	MaxPageSize int
	// BodyIdleTimeout bounds the wait for more of a request body (default
	// 30 s): a client that sends nothing for that long mid-body is cut off,
	// so that slow clients cannot hold connections and spool files open.
	BodyIdleTimeout time.Duration
	// MinBodyRate is the average rate, in bytes per second, below which a
	// request body that has been arriving for longer than BodyIdleTimeout
	// is cut off (default 1,024), so that a trickle cannot hold a
	// connection or an upload's place for good.
	MinBodyRate int64
	// WriteIdleTimeout bounds the wait for a client to take more of a
	// response (default 30 s): a client that stops reading a result stream
	// or an audit export for that long is cut off, instead of holding its
	// request's goroutine and buffers for as long as it keeps the
	// connection open.
	WriteIdleTimeout time.Duration
	// MaxUploads bounds the NDJSON uploads the gateway takes at once
	// (default 4): each is spooled to disk (up to MaxStreamBytes) until its
	// job is queued, so together they may fill at most MaxUploads times
	// that. One more is answered 503 with Retry-After before it is read.
	MaxUploads int
	// MaxBodyMemory bounds the bytes of the request bodies the gateway
	// holds in memory at once, all requests together (default four times
	// the larger of MaxBodyBytes and MaxDocumentBytes; at least that
	// larger one): a JSON body is read whole before it is checked, and
	// a client may send most of one and then hold it open with a byte now
	// and then. A request whose body does not fit in what is left is
	// answered 503 with Retry-After. NDJSON uploads, spooled to disk, do
	// not count. The bytes read are counted; the buffers growing to hold
	// them may take up to about twice as much.
	MaxBodyMemory int64
}

// Defaults of Limits.
const (
	DefaultMaxBodyBytes     = 64 << 20
	DefaultMaxItems         = 10_000
	DefaultMaxDocumentBytes = 1 << 20
	DefaultMaxDepth         = 256
	// MaxMaxDepth is the largest MaxDepth allowed.
	MaxMaxDepth            = 1000
	DefaultMaxRefBytes     = 1024
	DefaultMaxStreamItems  = 1_000_000
	DefaultMaxStreamBytes  = 4 << 30
	DefaultMaxWait         = 60 * time.Second
	DefaultBodyIdleTimeout = 30 * time.Second
	// DefaultWriteIdleTimeout is the default of Limits.WriteIdleTimeout.
	DefaultWriteIdleTimeout = 30 * time.Second
	// DefaultMinBodyRate is the default of Limits.MinBodyRate.
	DefaultMinBodyRate = 1024
	// DefaultMaxUploads is the default of Limits.MaxUploads.
	DefaultMaxUploads  = 4
	DefaultMaxPageSize = 1000
	defaultPageSize    = 100
)

func (l Limits) withDefaults() (Limits, error) {
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&l.MaxItems, DefaultMaxItems)
	setInt(&l.MaxDocumentBytes, DefaultMaxDocumentBytes)
	setInt(&l.MaxDepth, DefaultMaxDepth)
	setInt(&l.MaxRefBytes, DefaultMaxRefBytes)
	setInt(&l.MaxStreamItems, DefaultMaxStreamItems)
	setInt(&l.MaxPageSize, DefaultMaxPageSize)
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxStreamBytes == 0 {
		l.MaxStreamBytes = DefaultMaxStreamBytes
	}
	if l.MaxWait == 0 {
		l.MaxWait = DefaultMaxWait
	}
	if l.BodyIdleTimeout == 0 {
		l.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if l.WriteIdleTimeout == 0 {
		l.WriteIdleTimeout = DefaultWriteIdleTimeout
	}
	if l.MinBodyRate == 0 {
		l.MinBodyRate = DefaultMinBodyRate
	}
	if l.MaxUploads == 0 {
		l.MaxUploads = DefaultMaxUploads
	}
	largestBody := max(l.MaxBodyBytes, int64(l.MaxDocumentBytes))
	if l.MaxBodyMemory == 0 {
		l.MaxBodyMemory = 4 * largestBody
	}
	switch {
	case l.MaxBodyBytes < 0, l.MaxItems < 0, l.MaxDocumentBytes < 0, l.MaxDepth < 0,
		l.MaxRefBytes < 0, l.MaxStreamItems < 0, l.MaxStreamBytes < 0, l.MaxWait < 0, l.MaxPageSize < 0, l.BodyIdleTimeout < 0,
		l.WriteIdleTimeout < 0, l.MaxUploads < 0, l.MinBodyRate < 0, l.MaxBodyMemory < 0:
		return l, fmt.Errorf("%w: negative limit", ErrInvalidConfig)
	case l.MaxBodyMemory < largestBody:
		// A body of the largest size allowed would never be taken.
		return l, fmt.Errorf("%w: body memory %d under the largest body allowed, %d", ErrInvalidConfig, l.MaxBodyMemory, largestBody)
	case l.MaxPageSize > store.MaxPageSize:
		return l, fmt.Errorf("%w: page size %d over the store's %d", ErrInvalidConfig, l.MaxPageSize, store.MaxPageSize)
	case l.MaxRefBytes > jobs.MaxItemRefBytes:
		// Workers fail the items of longer refs.
		return l, fmt.Errorf("%w: ref limit %d over the workers' %d", ErrInvalidConfig, l.MaxRefBytes, jobs.MaxItemRefBytes)
	case l.MaxDepth > MaxMaxDepth:
		// Deeper documents would make job messages that workers (and the
		// core's parser) refuse as a whole.
		return l, fmt.Errorf("%w: document depth %d over %d", ErrInvalidConfig, l.MaxDepth, MaxMaxDepth)
	}
	return l, nil
}

// Config wires a Server.
type Config struct {
	// Store is the shared store (required).
	Store store.Store
	// NATS is the connection used for JetStream and events (required). The
	// server does not close it.
	NATS *nats.Conn
	// PublisherOptions tune the chunking of jobs (see jobs.NewPublisher);
	// staging of large documents in Store is always enabled.
	PublisherOptions []jobs.PublisherOption
	// Limits bound requests.
	Limits Limits
	// AdminToken, when set, is required (Authorization: Bearer <token>) by
	// the routes that act with the operator's authority: POST /v1/sign,
	// /v1/countersign, /v1/revocations and …/audit/trim.
	AdminToken string
	// SpoolDir holds NDJSON uploads while they are counted (default
	// os.TempDir()).
	SpoolDir string
	// QueueingDir, when set, holds one empty file per job being queued,
	// named by its ID: created before the job's record, removed once every
	// item is queued or recorded as failed. A file left there names a job
	// whose queueing a crash interrupted; the all-in-one settles those
	// jobs at its next start (it alone publishes to its queue). Empty: no
	// files (a cluster's gateways, which share the queue).
	QueueingDir string
	// QueueLease is the lifetime of the queue lease (store.QueueLeases) a
	// gateway without a QueueingDir holds on each job while it queues it,
	// renewed every third of it (default jobs.DefaultQueueLease, at least
	// 100ms). When the gateway stops part-way, a jobs.Reclaimer settles the
	// job once the lease has run out; it must be given the same lifetime.
	QueueLease time.Duration
	// Logger receives request and error logs (default slog.Default()).
	Logger *slog.Logger
	// Evaluate serves POST /v1/evaluate and the audit routes; when nil, New
	// builds one over Store (evaluate.New with default settings and Now).
	Evaluate *evaluate.Service
	// Now is the clock of the times the gateway sets (a signed covenant's
	// createdAt, a countersignature's timestamp, a revocation's time, a
	// job's creation) and of the expiry and activation checks of
	// evaluations and PUT /v1/covenants (default time.Now). A cluster's processes share one
	// (worker.StartClock), so that these agree with the workers' decisions.
	Now func() time.Time
}

// Server serves the HTTP API. Create it with New and release it with Close.
type Server struct {
	store    store.Store
	nc       *nats.Conn
	js       jetstream.JetStream
	pub      *jobs.Publisher
	lim      Limits
	admin    adminGate
	spoolDir string
	queueing string        // Config.QueueingDir
	lease    time.Duration // Config.QueueLease
	uploads  chan struct{} // one token per NDJSON upload in progress (Limits.MaxUploads)
	bodyMem  *bodyMemory   // bytes of request bodies held (Limits.MaxBodyMemory)
	log      *slog.Logger
	now      func() time.Time // Config.Now
	started  time.Time
	waiters  *waiters
	keyDir   *keyDirectory
	verifier *covenant.Verifier
	resolver *registry.Resolver
	eval     *evaluate.Service
	sub      *nats.Subscription
	revSub   *nats.Subscription // jobs.SubjectRevocationsChanged
	handler  http.Handler

	// stopWait is closed by StopWaiting: every ?wait in progress ends.
	stopWait     chan struct{}
	stopWaitOnce sync.Once
	closeOnce    sync.Once
}

// New checks cfg and returns a server. It subscribes to job completion events
// (used by ?wait); the subscription ends with Close.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	if cfg.NATS == nil {
		return nil, fmt.Errorf("%w: nil NATS connection", ErrInvalidConfig)
	}
	lim, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.QueueLease == 0:
		cfg.QueueLease = jobs.DefaultQueueLease
	case cfg.QueueLease < 100*time.Millisecond:
		return nil, fmt.Errorf("%w: queue lease %v under 100ms", ErrInvalidConfig, cfg.QueueLease)
	}
	// A chunk the stream has not acknowledged within publishAckTimeout
	// fails the publish (503) instead of holding the request.
	js, err := jetstream.New(cfg.NATS, jetstream.WithPublishAsyncTimeout(publishAckTimeout))
	if err != nil {
		return nil, fmt.Errorf("gateway: jetstream: %w", err)
	}
	opts := append([]jobs.PublisherOption{jobs.WithStaging(cfg.Store)}, cfg.PublisherOptions...)
	if cfg.Logger != nil {
		opts = append(opts, jobs.WithPublisherLogger(cfg.Logger))
	}
	pub, err := jobs.NewPublisher(js, opts...)
	if err != nil {
		return nil, fmt.Errorf("gateway: publisher: %w", err)
	}
	s := &Server{
		store:    cfg.Store,
		nc:       cfg.NATS,
		js:       js,
		pub:      pub,
		lim:      lim,
		uploads:  make(chan struct{}, lim.MaxUploads),
		bodyMem:  &bodyMemory{max: lim.MaxBodyMemory},
		admin:    newAdminGate(cfg.AdminToken),
		spoolDir: cfg.SpoolDir,
		queueing: cfg.QueueingDir,
		lease:    cfg.QueueLease,
		log:      cfg.Logger,
		now:      cfg.Now,
		started:  time.Now(),
		waiters:  newWaiters(),
		keyDir:   newKeyDirectory(cfg.Store),
		stopWait: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.spoolDir == "" {
		s.spoolDir = os.TempDir()
	}
	if s.now == nil {
		s.now = time.Now
	}
	// PUT /v1/covenants verifies with the shared signature cache, and
	// checks expiry and activation by the clock evaluations follow.
	s.verifier, err = covenant.NewVerifier(covenant.WithSignatureCache(cfg.Store), covenant.WithClock(s.now), covenant.WithLogger(s.log))
	if err != nil {
		return nil, fmt.Errorf("gateway: verifier: %w", err)
	}
	s.resolver = registry.NewResolver(cfg.Store)
	if s.eval = cfg.Evaluate; s.eval == nil {
		s.eval, err = evaluate.New(evaluate.Config{Documents: cfg.Store, Audit: cfg.Store, Limits: cfg.Store,
			Revocations: cfg.Store, Resolver: s.resolver, Now: s.now, Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("gateway: evaluate: %w", err)
		}
	}
	// One subscription for every job's completion: "*" matches the job ID
	// token only, so per-document ".invalid" events are not delivered here.
	s.sub, err = cfg.NATS.Subscribe(jobs.SubjectJobEventPrefix+"*", func(m *nats.Msg) {
		s.waiters.notify(m.Subject[len(jobs.SubjectJobEventPrefix):], m.Data)
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: subscribe to job events: %w", err)
	}
	// A key another gateway revoked is honoured by this one's next
	// evaluation too.
	s.revSub, err = cfg.NATS.Subscribe(jobs.SubjectRevocationsChanged, func(*nats.Msg) {
		ctx, cancel := context.WithTimeout(context.Background(), revocationReloadTimeout)
		defer cancel()
		if err := s.eval.RevocationsChanged(ctx); err != nil {
			s.log.Warn("re-reading the revocation list another gateway changed failed; evaluations honour it within the refresh period", "err", err)
		}
	})
	if err != nil {
		s.sub.Unsubscribe()
		return nil, fmt.Errorf("gateway: subscribe to revocation announcements: %w", err)
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler with every route and request logging.
func (s *Server) Handler() http.Handler { return s.handler }

// StopWaiting ends every ?wait in progress, and makes later ones end at
// once: each request answers as when its wait runs out (202 with the job, or
// 200 when it has completed). Call it when a shutdown begins
// (http.Server.RegisterOnShutdown): a waiting request would otherwise hold
// the shutdown up to its deadline and then be cut off, its client left
// without the ID of the job it queued. Calling it again is harmless.
func (s *Server) StopWaiting() {
	s.stopWaitOnce.Do(func() { close(s.stopWait) })
}

// Close ends the event subscription and every ?wait (StopWaiting). It does
// not close the store or the NATS connection. Calling it again is harmless.
func (s *Server) Close() error {
	s.StopWaiting()
	var err error
	s.closeOnce.Do(func() {
		for _, sub := range []*nats.Subscription{s.sub, s.revSub} {
			if sub == nil {
				continue
			}
			if uerr := sub.Unsubscribe(); uerr != nil && !errors.Is(uerr, nats.ErrConnectionClosed) && !errors.Is(uerr, nats.ErrBadSubscription) {
				err = errors.Join(err, uerr)
			}
		}
	})
	return err
}

func (s *Server) routes() http.Handler {
	rt := &router{mux: http.NewServeMux(), methods: make(map[string][]string)}
	rt.handle("POST /v1/verify", s.handleVerify)
	rt.handle("GET /v1/jobs/{id}", s.noParams(s.handleJob))
	rt.handle("GET /v1/jobs/{id}/results", s.handleResults)
	rt.handle("GET /v1/covenants/{id}", s.noParams(s.handleCovenant))
	rt.handle("GET /healthz", s.handleHealthz)
	rt.handle("GET /readyz", s.handleReadyz)
	rt.handle("GET /health", s.handleHealth)
	s.registryRoutes(rt)
	s.evaluateRoutes(rt)
	// Method-less patterns are less specific than the ones above, so they
	// only catch other methods on known paths; "/" catches unknown paths.
	// Both answer with JSON errors rather than the mux's plain text.
	for _, p := range rt.paths {
		allow := strings.Join(rt.methods[p], ", ")
		rt.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, &Error{Err: ErrMethodNotAllowed, Field: "method", Message: r.Method + " is not allowed on " + r.URL.Path + " (allowed: " + allow + ")"})
		})
	}
	rt.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Err: ErrNotFound, Field: "path", Message: "no such endpoint: " + r.URL.Path})
	})
	return s.logRequests(noSniff(bodyIdleTimeout(s.lim.BodyIdleTimeout, s.lim.MinBodyRate,
		writeIdleTimeout(s.lim.WriteIdleTimeout, s.limitBodyMemory(rt.mux)))))
}

// router registers routes ("METHOD /path") and remembers their paths and
// methods, for which other methods answer 405 with an Allow header.
type router struct {
	mux     *http.ServeMux
	paths   []string
	methods map[string][]string
}

func (rt *router) handle(pattern string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	if method == http.MethodPost || method == http.MethodPut {
		h = identityEncoding(h)
	}
	rt.mux.HandleFunc(pattern, h)
	if _, ok := rt.methods[path]; !ok {
		rt.paths = append(rt.paths, path)
	}
	rt.methods[path] = append(rt.methods[path], method)
	if method == http.MethodGet {
		// The mux serves HEAD with the GET handler.
		rt.methods[path] = append(rt.methods[path], http.MethodHead)
	}
}

// noParams refuses any query parameter on a route that takes none, as the
// routes that take some refuse those they do not know (queryParams): ignored,
// POST /v1/evaluate?dryRun=true would be recorded like any evaluation. The
// health routes stay lenient for probes.
func (s *Server) noParams(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := queryParams(r); err != nil {
			s.fail(w, r, err)
			return
		}
		next(w, r)
	}
}

// identityEncoding answers 415 naming Content-Encoding, with Accept-Encoding:
// identity, when a request body comes in a content coding such as gzip: the
// gateway reads bodies as sent, so a compressed one would otherwise be
// refused as malformed JSON or, uploaded as NDJSON, become a job of failed
// lines.
func identityEncoding(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, v := range r.Header.Values("Content-Encoding") {
			for coding := range strings.SplitSeq(v, ",") {
				if coding = strings.TrimSpace(coding); coding != "" && !strings.EqualFold(coding, "identity") {
					w.Header().Set("Accept-Encoding", "identity")
					writeError(w, fieldError(ErrUnsupportedMedia, "Content-Encoding",
						"unsupported content coding %q: send the body uncompressed", truncateString(coding, 64)))
					return
				}
			}
		}
		next(w, r)
	}
}

// fail logs unexpected errors and writes err.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if status, _ := statusAndCode(err); status >= 500 {
		s.log.Log(r.Context(), serverErrorLevel(w.Header()), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, err)
}

// serverErrorLevel is the log level of a 5xx answer with headers h: Warn
// for a request turned away under load (Retry-After: expected when busy,
// and the client is told when to come back), else Error.
func serverErrorLevel(h http.Header) slog.Level {
	if h.Get("Retry-After") != "" {
		return slog.LevelWarn
	}
	return slog.LevelError
}

// publishAckTimeout bounds the wait for the stream's acknowledgement of one
// chunk.
const publishAckTimeout = 10 * time.Second

// revocationReloadTimeout bounds the re-read of the revocation list that an
// announcement from another gateway triggers.
const revocationReloadTimeout = 10 * time.Second

// ctxTimeout is the time budget of store and NATS calls on behalf of a
// request that has no deadline of its own.
const ctxTimeout = 10 * time.Second

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return withBudget(ctx, ctxTimeout)
}

// auditTimeout is the budget of reading a whole audit trail (its
// verification, an inclusion proof): the work grows with the trail, about
// a second per million entries on a local Redis.
const auditTimeout = 5 * time.Minute

// withBudget is withTimeout with the budget d.
func withBudget(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
