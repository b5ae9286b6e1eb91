package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/stele-go/stele/internal/store"
)

// Handler processes one decoded chunk and returns one result per item, with
// the item's Index. Handlers must be deterministic for a given chunk: a
// redelivered chunk may be handled again, and the store keeps the first
// result of every index.
//
// An error wrapping ErrBadMessage marks the chunk as permanently
// unprocessable (it is terminated); any other error is transient (the chunk
// is handed back for redelivery after a delay).
type Handler interface {
	HandleChunk(ctx context.Context, c *Chunk) ([]store.Result, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *Chunk) ([]store.Result, error)

// HandleChunk calls f.
func (f HandlerFunc) HandleChunk(ctx context.Context, c *Chunk) ([]store.Result, error) {
	return f(ctx, c)
}

// PoisonFunc is told about every message the runner terminates because it
// can never be processed (after the items of a chunk that decoded were
// recorded as failed, and the chunk was kept as a dead letter), before it
// is terminated.
type PoisonFunc func(ctx context.Context, msg jetstream.Msg, err error)

// RunnerConfig tunes a Runner. The zero value means the defaults noted on
// each field.
type RunnerConfig struct {
	// Concurrency is the number of chunks processed at once (default
	// 2×GOMAXPROCS: a chunk spends part of its time waiting for the store
	// and the server, so twice the cores keeps them busy).
	Concurrency int
	// FetchBatch is the number of messages requested per pull (default
	// Concurrency). At most FetchBatch + Concurrency chunks are in hand.
	FetchBatch int
	// FetchMaxWait is how long one pull waits for messages (default 2 s).
	// A shutdown lets the pull in progress finish, so this also bounds how
	// long a drain waits before it has all the chunks in hand.
	FetchMaxWait time.Duration
	// NakDelay is the base redelivery delay after a transient failure; the
	// delay grows linearly with the delivery count up to 10× (default 1 s).
	NakDelay time.Duration
	// JobTTL is the store's job lifetime, when known (0: unknown). A chunk
	// naming its job's total creates the job when it has no record, but not
	// when the chunk is older than JobTTL: its job then existed and expired
	// (a backlog longer than the TTL), and a new record would count only
	// the chunks still to come.
	JobTTL time.Duration
	// ShutdownTimeout bounds Run's drain after its context is cancelled
	// (default 30 s). Chunks not finished by then are left unacknowledged and
	// will be redelivered.
	ShutdownTimeout time.Duration
	// Logger receives the runner's logs (default slog.Default()).
	Logger *slog.Logger
	// OnPoison, when set, is called for every terminated message.
	OnPoison PoisonFunc
	// NoDeadLetters stops the runner from taking the consumer's
	// MAX_DELIVERIES advisories from STELE_DEAD (see the dead letters in
	// deadletter.go); the messages it terminates are still copied there.
	NoDeadLetters bool
}

// Validate reports whether c is usable (with its defaults filled in); the
// error wraps ErrInvalidOption.
func (c RunnerConfig) Validate() error {
	_, err := c.withDefaults()
	return err
}

func (c RunnerConfig) withDefaults() (RunnerConfig, error) {
	if c.Concurrency == 0 {
		c.Concurrency = 2 * runtime.GOMAXPROCS(0)
	}
	if c.FetchBatch == 0 {
		c.FetchBatch = c.Concurrency
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = 2 * time.Second
	}
	if c.NakDelay == 0 {
		c.NakDelay = time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.Concurrency < 1 || c.Concurrency > 4096:
		return c, fmt.Errorf("%w: concurrency %d not in 1..4096", ErrInvalidOption, c.Concurrency)
	case c.FetchBatch < 1 || c.FetchBatch > 10_000:
		return c, fmt.Errorf("%w: fetch batch %d not in 1..10000", ErrInvalidOption, c.FetchBatch)
	case c.FetchMaxWait < 10*time.Millisecond:
		return c, fmt.Errorf("%w: fetch max wait %v below 10ms", ErrInvalidOption, c.FetchMaxWait)
	case c.NakDelay < 0:
		return c, fmt.Errorf("%w: negative nak delay", ErrInvalidOption)
	case c.JobTTL < 0:
		return c, fmt.Errorf("%w: negative job TTL", ErrInvalidOption)
	case c.ShutdownTimeout < 0:
		return c, fmt.Errorf("%w: negative shutdown timeout", ErrInvalidOption)
	}
	return c, nil
}

// Runner is a worker: it pulls chunk messages from a durable consumer,
// processes them with a Handler under a concurrency limit, records the
// results in the store and publishes events, and acknowledges each message
// only after its results are durably stored.
//
// A Runner has two loops: the fetcher, which pulls batches of messages, and
// the processors (an errgroup limited to Concurrency), which handle one
// message each. Shutdown stops them in this order: first the fetcher (no new
// message is requested; messages already received are still dispatched),
// then the processors are waited for, so every chunk in hand is finished and
// acknowledged. Processing runs under a context that is cancelled only when
// the shutdown deadline passes.
type Runner struct {
	cons    jetstream.Consumer
	js      jetstream.JetStream
	jobs    store.Jobs
	commit  store.ChunkCommitter // jobs, when it commits chunks
	outbox  store.Announcements  // jobs, when it keeps deferred announcements
	handler Handler
	cfg     RunnerConfig
	log     *slog.Logger
	// maxDeliver is the consumer's MaxDeliver (0: unknown or unlimited): a
	// chunk that fails on that delivery is settled instead of handed back.
	maxDeliver uint64

	mu          sync.Mutex
	started     bool
	stopFetch   context.CancelFunc
	stopWork    context.CancelFunc
	fetcherDone chan struct{}
	stopDead    context.CancelFunc
	deadDone    chan struct{}
	fetchErr    error
	group       *errgroup.Group

	// known holds the kind and total of job records already read (both
	// are fixed once a record exists), so that each worker reads a job's
	// record once to check the chunks that name it (checkJob).
	knownMu sync.Mutex
	known   map[string]store.Job

	// unreachable is set while the store cannot be reached: the ID of the
	// job whose chunk found it so ("" otherwise). The fetcher stops
	// fetching until reading that job's record works again (waitForStore),
	// so that an outage does not use up the deliveries of the chunks still
	// queued (see failed).
	unreachableMu sync.Mutex
	unreachable   string
}

// maxKnownJobs bounds Runner.known; it is emptied when full.
const maxKnownJobs = 4096

// Chunks that disagree with their job's record (checkJob). One of another
// kind belongs to no job it could be recorded in, not even as failed; one
// naming another total has its items settled as failed, as far as the job
// admits them.
var (
	errWrongKind  = errors.New("the chunk's kind is not its job's")
	errWrongTotal = errors.New("the chunk's total is not its job's")
)

// NewRunner returns a runner that pulls from cons (see EnsureConsumer),
// hands chunks to h, records results in jobs and publishes events with js.
// When jobs is also a store.ChunkCommitter, the writes the VerifyHandler
// would make to that same store (documents, signature outcomes) are made
// together with the results by one CommitChunk. When jobs is also a
// store.Announcements, a job completion that NATS does not take even on a
// chunk's last delivery goes to that outbox (see Announcer) instead of
// being given up.
func NewRunner(cons jetstream.Consumer, js jetstream.JetStream, jobs store.Jobs, h Handler, cfg RunnerConfig) (*Runner, error) {
	if cons == nil || js == nil || jobs == nil || h == nil {
		return nil, fmt.Errorf("%w: runner needs a consumer, JetStream, a job store and a handler", ErrInvalidOption)
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Runner{cons: cons, js: js, jobs: jobs, handler: h, cfg: c, log: c.Logger}
	r.commit, _ = jobs.(store.ChunkCommitter)
	r.outbox, _ = jobs.(store.Announcements)
	if info := cons.CachedInfo(); info != nil && info.Config.MaxDeliver > 0 {
		r.maxDeliver = uint64(info.Config.MaxDeliver)
	}
	return r, nil
}

// Run starts the runner and blocks until ctx is cancelled or fetching fails
// for good (the connection closed), then drains: it stops fetching and
// finishes the chunks in hand, waiting at most ShutdownTimeout. It returns
// nil after a drain caused by ctx, else the fetch error.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-r.fetcherDone:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
	defer cancel()
	return r.Shutdown(sctx)
}

// Start starts fetching and processing in the background. Values of ctx are
// passed to handlers; its cancellation does not stop the runner (Shutdown
// does). A Runner can be started once.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return fmt.Errorf("jobs: runner already started: %w", ErrClosed)
	}
	r.started = true
	base := context.WithoutCancel(ctx)
	fetchCtx, stopFetch := context.WithCancel(base)
	workCtx, stopWork := context.WithCancel(base)
	r.stopFetch, r.stopWork = stopFetch, stopWork
	r.group = new(errgroup.Group)
	r.group.SetLimit(r.cfg.Concurrency)
	r.fetcherDone = make(chan struct{})
	go r.fetch(fetchCtx, workCtx)
	deadCtx, stopDead := context.WithCancel(base)
	r.stopDead, r.deadDone = stopDead, make(chan struct{})
	if r.cfg.NoDeadLetters {
		close(r.deadDone)
	} else {
		go r.watchDeadLetters(deadCtx)
	}
	return nil
}

// Shutdown drains the runner: it stops fetching, then waits for every chunk
// in hand to be processed and acknowledged. If ctx ends first, processing is
// cancelled (unacknowledged chunks will be redelivered) and ctx's error is
// returned. It returns the error that stopped fetching, if any. A second
// Shutdown, or one before Start, is harmless.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if !started {
		return nil
	}
	r.stopFetch()
	r.stopDead()
	done := make(chan struct{})
	go func() {
		<-r.fetcherDone
		_ = r.group.Wait()
		<-r.deadDone
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		r.stopWork()
		<-done
		err = fmt.Errorf("jobs: runner shutdown: %w", ctx.Err())
	}
	r.stopWork()
	if nc := r.js.Conn(); nc != nil && !nc.IsClosed() {
		// Send the acks still buffered, so that finished chunks are not
		// redelivered after the process exits.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if ferr := nc.FlushWithContext(fctx); ferr != nil {
			r.log.Warn("jobs: flushing acks failed", "err", ferr)
		}
		cancel()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(err, r.fetchErr)
}

// fetch is the fetcher loop: it pulls batches until fetchCtx is cancelled
// and dispatches every received message to the processors.
//
// A pull is never interrupted: once the server has been asked for messages it
// may have sent them, and a client that stopped listening would strand them
// until AckWait. So on shutdown the pull in progress runs to its end (at most
// FetchMaxWait) and everything it brings is processed.
func (r *Runner) fetch(fetchCtx, workCtx context.Context) {
	defer close(r.fetcherDone)
	failures := 0
	for fetchCtx.Err() == nil {
		if !r.waitForStore(fetchCtx) {
			return
		}
		batch, err := r.cons.Fetch(r.cfg.FetchBatch, jetstream.FetchMaxWait(r.cfg.FetchMaxWait))
		if err == nil {
			for msg := range batch.Messages() {
				r.group.Go(func() error {
					r.process(workCtx, msg)
					return nil
				})
			}
			err = batch.Error()
		}
		if fetchIdle(err) {
			failures = 0
			continue
		}
		if errors.Is(err, nats.ErrConnectionClosed) {
			r.mu.Lock()
			r.fetchErr = fmt.Errorf("jobs: fetch: %w", err)
			r.mu.Unlock()
			r.log.Error("jobs: fetch stopped", "err", err)
			return
		}
		failures++
		backoff := time.Duration(min(failures, 10)) * 200 * time.Millisecond
		r.log.Warn("jobs: fetch failed", "err", err, "retry_in", backoff)
		sleepCtx(fetchCtx, backoff)
	}
}

// fetchIdle reports whether a pull ended normally: with messages, or with
// none before its wait ran out.
func fetchIdle(err error) bool {
	return err == nil || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout)
}

// process handles one message: decode, handle, record, publish events, ack.
// A handler's ErrRetryChunk (see RetryChunk) records its partial results and
// publishes what is due like a finished chunk, then naks instead of acking.
func (r *Runner) process(ctx context.Context, msg jetstream.Msg) {
	info := MsgInfo{NumDelivered: 1}
	if md, err := msg.Metadata(); err == nil {
		info = MsgInfo{NumDelivered: md.NumDelivered, Timestamp: md.Timestamp, StreamSeq: md.Sequence.Stream}
	}
	delivered := info.NumDelivered
	// Everything below sees the delivery (see mayCreate).
	ctx = WithMessageInfo(ctx, info)
	c, err := DecodeChunk(msg.Data())
	if err != nil {
		if errors.Is(err, ErrUnsupportedVersion) {
			if r.finalDelivery(delivered) {
				// Kept as a dead letter that says why, rather than
				// dropped with "no worker finished it".
				r.poison(ctx, msg, fmt.Errorf("no worker that reads its schema took it in %d deliveries: %w", delivered, err))
				return
			}
			r.log.Warn("jobs: chunk from a newer schema; handing it back", "err", err)
			r.nak(msg, delivered)
			return
		}
		r.poison(ctx, msg, err)
		return
	}
	log := r.log.With("job", c.JobID, "chunk", c.Chunk, "delivery", delivered)
	refused := func(err error) bool {
		switch {
		case err == nil:
			return false
		case errors.Is(err, errWrongKind):
			r.poison(ctx, msg, err)
		case errors.Is(err, errWrongTotal):
			r.settleFailed(ctx, msg, c, fmt.Errorf("%w: %w", ErrBadMessage, err), delivered, log)
		default:
			r.failed(ctx, msg, c, err, delivered, log)
		}
		return true
	}
	// The chunk must fit its job (checkJob). A verify chunk whose writes
	// wait for the commit is verified while the job's record is read (a
	// store round trip, once per job and worker); any other chunk waits for
	// the check, since its handler may write (a signer stores covenants).
	var checked chan error
	if c.Kind == store.KindVerify && r.commit != nil {
		checked = make(chan error, 1)
		go func() { checked <- r.checkJob(ctx, c) }()
	} else if refused(r.checkJob(ctx, c)) {
		return
	}

	hctx, pending := ctx, (*pendingWrites)(nil)
	if r.commit != nil {
		hctx, pending = withPendingWrites(hctx, r.commit)
	}
	results, err := r.handle(hctx, c)
	if checked != nil && refused(<-checked) {
		return
	}
	var retry *RetryError
	switch {
	case err == nil:
		err = checkResults(c, results)
	case errors.As(err, &retry):
		if err = checkPartialResults(c, results); err == nil {
			r.retry(ctx, msg, c, pending, results, retry, delivered, log)
			return
		}
	}
	if err != nil {
		if errors.Is(err, ErrBadMessage) {
			r.settleFailed(ctx, msg, c, err, delivered, log)
			return
		}
		r.failed(ctx, msg, c, fmt.Errorf("handle: %w", err), delivered, log)
		return
	}

	prog, err := r.record(ctx, c, pending, results)
	if err != nil {
		if errors.Is(err, errWrongKind) {
			r.poison(ctx, msg, err)
			return
		}
		if errors.Is(err, store.ErrInvalid) || errors.Is(err, errWrongTotal) {
			// The chunk does not fit its job (an index beyond the total):
			// no retry can record it.
			r.settleFailed(ctx, msg, c, fmt.Errorf("record results: %w: %w", ErrBadMessage, err), delivered, log)
			return
		}
		r.failed(ctx, msg, c, fmt.Errorf("record results: %w", err), delivered, log)
		return
	}

	if err := r.announceRecorded(ctx, c.JobID, results, prog, delivered); err != nil {
		// The results are recorded: a redelivery records nothing twice and
		// publishes again; on the last delivery the events are given up.
		if r.finalDelivery(delivered) {
			log.Error("jobs: publishing events failed on the last delivery; acknowledging without them", "err", err)
			r.deferCompletion(ctx, prog.Job, log)
		} else {
			log.Warn("jobs: publish events failed; will retry", "err", err)
			r.nak(msg, delivered)
			return
		}
	}
	// The ack is not waited for: the results and events are durable, so a
	// lost ack only means a redelivery, which changes nothing. Shutdown
	// flushes the acks still buffered.
	if err := msg.Ack(); err != nil {
		log.Warn("jobs: ack failed", "err", err)
		return
	}
	if prog.Completed {
		log.Info("jobs: job completed", "total", prog.Job.Total, "valid", prog.Job.Valid,
			"invalid", prog.Job.Invalid, "failed", prog.Job.Failed)
	}
}

// retry records the partial results of a chunk the handler asked to retry
// (with the writes it deferred), publishes the events they bring about, and
// naks the message with the handler's delay. A failure to record or publish
// falls back to an ordinary transient failure: nothing is lost, the whole
// chunk is retried.
func (r *Runner) retry(ctx context.Context, msg jetstream.Msg, c *Chunk, pending *pendingWrites, results []store.Result,
	retry *RetryError, delivered uint64, log *slog.Logger) {
	delay := retry.Delay
	if delay <= 0 {
		delay = r.cfg.NakDelay
	}
	if len(results) > 0 {
		prog, err := r.record(ctx, c, pending, results)
		if errors.Is(err, store.ErrInvalid) {
			r.settleFailed(ctx, msg, c, fmt.Errorf("record results: %w: %w", ErrBadMessage, err), delivered, log)
			return
		}
		if err == nil {
			err = r.announceRecorded(ctx, c.JobID, results, prog, delivered)
		}
		if err != nil {
			r.failed(ctx, msg, c, fmt.Errorf("record partial results: %w", err), delivered, log)
			return
		}
	}
	if r.finalDelivery(delivered) {
		// No other worker will get it: the items still without a result
		// are settled as failed (those recorded above keep theirs).
		r.settleFailed(ctx, msg, c, fmt.Errorf("handed back on each of %d deliveries: %s", delivered, retry.Reason), delivered, log)
		return
	}
	log.Debug("jobs: chunk handed back for another worker", "reason", retry.Reason, "delay", delay)
	if err := msg.NakWithDelay(delay); err != nil {
		log.Warn("jobs: nak failed", "err", err)
	}
}

// record commits a chunk's writes (or records its results). When the job
// has no record and the chunk names the job's total (a producer that only
// talks to NATS), it creates the record and tries once more; a record
// created meanwhile by another worker is fine.
func (r *Runner) record(ctx context.Context, c *Chunk, pending *pendingWrites, results []store.Result) (store.Progress, error) {
	commit := func() (store.Progress, error) {
		if pending != nil {
			return r.commit.CommitChunk(ctx, c.JobID, pending.writes(results))
		}
		return r.jobs.RecordResults(ctx, c.JobID, results)
	}
	prog, err := commit()
	if errors.Is(err, store.ErrNotFound) && c.Total <= 0 {
		// Say what the producer can mend: the reason ends in the dead
		// letter once the chunk's deliveries run out.
		return prog, fmt.Errorf("%w (job %s has no record, and the chunk names no total to create it from)", err, c.JobID)
	}
	if !errors.Is(err, store.ErrNotFound) || !r.mayCreate(ctx, c) {
		return prog, err
	}
	cerr := r.jobs.CreateJob(ctx, store.Job{ID: c.JobID, Kind: c.Kind, Total: c.Total})
	if errors.Is(cerr, store.ErrExists) {
		// Created meanwhile, perhaps from a chunk that disagrees.
		cerr = r.checkJob(ctx, c)
	}
	if cerr != nil {
		return prog, fmt.Errorf("create job %s of %d items from its chunk: %w", c.JobID, c.Total, cerr)
	}
	return commit()
}

// checkJob refuses a chunk whose kind (errWrongKind), or total when it
// names one (errWrongTotal), differs from its job's record: a sign chunk must not be
// recorded in a verify job (or the reverse), nor a chunk that disagrees
// about the job's size. A job with no record is created from a chunk that
// may create it (mayCreate) here, before the chunk is handled, so that
// another chunk of the job, disagreeing and processed at the same time,
// cannot create it between this check and the commit; one that may not
// passes (its commit finds no job). The record is read once per job and
// worker.
func (r *Runner) checkJob(ctx context.Context, c *Chunk) error {
	r.knownMu.Lock()
	job, ok := r.known[c.JobID]
	if ok && (job.Kind != c.Kind || (c.Total > 0 && c.Total != job.Total)) {
		// Read the record again before refusing: the one known may have
		// expired and another job taken its ID since.
		delete(r.known, c.JobID)
		ok = false
	}
	r.knownMu.Unlock()
	if !ok {
		var err error
		job, err = r.jobs.GetJob(ctx, c.JobID)
		if errors.Is(err, store.ErrNotFound) {
			if !r.mayCreate(ctx, c) {
				return nil
			}
			job = store.Job{ID: c.JobID, Kind: c.Kind, Total: c.Total}
			if err = r.jobs.CreateJob(ctx, job); errors.Is(err, store.ErrExists) {
				job, err = r.jobs.GetJob(ctx, c.JobID) // created meanwhile
			}
			if err != nil {
				return fmt.Errorf("create job %s of %d items from its chunk: %w", c.JobID, c.Total, err)
			}
		}
		if err != nil {
			return fmt.Errorf("read job %s: %w", c.JobID, err)
		}
		job = store.Job{Kind: job.Kind, Total: job.Total}
		r.knownMu.Lock()
		if len(r.known) >= maxKnownJobs || r.known == nil {
			r.known = make(map[string]store.Job)
		}
		r.known[c.JobID] = job
		r.knownMu.Unlock()
	}
	switch {
	case job.Kind != c.Kind:
		return fmt.Errorf("%w: a %s chunk for %s job %s", errWrongKind, c.Kind, job.Kind, c.JobID)
	case c.Total > 0 && c.Total != job.Total:
		return fmt.Errorf("%w: it names a total of %d, job %s has %d", errWrongTotal, c.Total, c.JobID, job.Total)
	}
	return nil
}

// mayCreate reports whether c may create its job's record: it names the
// job's total and its message (MessageInfo of ctx) is not older than the
// job TTL (see RunnerConfig.JobTTL).
func (r *Runner) mayCreate(ctx context.Context, c *Chunk) bool {
	if c.Total <= 0 {
		return false
	}
	info, ok := MessageInfo(ctx)
	return r.cfg.JobTTL <= 0 || !ok || info.Timestamp.IsZero() || time.Since(info.Timestamp) < r.cfg.JobTTL
}

// handle calls the handler, turning a panic into an error so that one bad
// chunk cannot take the worker down; the chunk is retried (its items are
// settled as failed on the consumer's last delivery) like after any other
// failure.
func (r *Runner) handle(ctx context.Context, c *Chunk) (results []store.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("jobs: handler panicked", "job", c.JobID, "chunk", c.Chunk, "panic", p, "stack", string(debug.Stack()))
			results, err = nil, fmt.Errorf("jobs: handler panicked: %v", p)
		}
	}()
	return r.handler.HandleChunk(ctx, c)
}

// checkResults verifies the handler answered exactly the chunk's items.
func checkResults(c *Chunk, results []store.Result) error {
	if len(results) != len(c.Items) {
		return fmt.Errorf("jobs: handler returned %d results for %d items", len(results), len(c.Items))
	}
	for i := range results {
		if results[i].Index != c.Items[i].Index {
			return fmt.Errorf("jobs: handler result %d has index %d, want %d", i, results[i].Index, c.Items[i].Index)
		}
	}
	return nil
}

// publishEvents publishes one event per invalid document and, when
// announce is set, the job's completion event, and waits for the stream's
// acknowledgements. Message IDs make republishing idempotent.
//
// withResults adds results to the completion event: the caller sets it only
// when they are all of the job's results, just recorded by the call that
// completed it (so they are exactly what the store holds), and few.
func (r *Runner) publishEvents(ctx context.Context, jobID string, results []store.Result, job store.Job, announce, withResults bool) error {
	var futs []jetstream.PubAckFuture
	pub := func(subject, msgID string, ev Event) error {
		data, err := marshalEvent(ev)
		if err != nil {
			return err
		}
		f, err := r.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data},
			jetstream.WithMsgID(msgID), jetstream.WithExpectStream(StreamEvents))
		if err != nil {
			return fmt.Errorf("publish %s: %w", subject, err)
		}
		futs = append(futs, f)
		return nil
	}
	for i := range results {
		res := &results[i]
		if res.Valid || res.Error != "" {
			continue
		}
		ev := Event{V: SchemaVersion, Type: EventDocumentInvalid, JobID: jobID, Result: res}
		if err := pub(InvalidEventSubject(jobID), jobID+".invalid."+itoa(res.Index), ev); err != nil {
			return err
		}
	}
	if announce {
		j := job
		ev := Event{V: SchemaVersion, Type: EventJobCompleted, JobID: jobID, Job: &j}
		if withResults {
			ev.Results = results
			if data, err := marshalEvent(ev); err != nil || len(data) > maxEventResultBytes {
				ev.Results = nil
			}
		}
		if err := pub(JobEventSubject(jobID), jobID+".completed", ev); err != nil {
			return err
		}
	}
	var errs []error
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// announceRecorded publishes the events that results, just recorded with
// progress prog, bring about: one per invalid document (as the store holds
// it, see eventResults) and the job's completion when shouldAnnounce says so.
func (r *Runner) announceRecorded(ctx context.Context, jobID string, results []store.Result, prog store.Progress, delivered uint64) error {
	// A completing call that recorded all of its results, as many as the
	// job has, recorded all of the job's (indices are unique and below the
	// total), so they are the stored ones and may ride on the event.
	withResults := prog.Completed && prog.Recorded == len(results) && len(results) == prog.Job.Total &&
		len(results) <= MaxEventResults && sortedByIndex(results)
	events, err := r.eventResults(ctx, jobID, results, prog)
	if err != nil {
		return err
	}
	return r.publishEvents(ctx, jobID, events, prog.Job, shouldAnnounce(prog, results, delivered), withResults)
}

// eventResults returns the results the invalid-document events are made
// of: results when the store recorded all of them, else what the store
// holds for their indices. A redelivered chunk is verified again, against
// a later clock, revocation list and registry, and may reach other
// verdicts than the delivery whose results were recorded first; the events
// must tell what the store holds.
func (r *Runner) eventResults(ctx context.Context, jobID string, results []store.Result, prog store.Progress) ([]store.Result, error) {
	// The stores keep the first result of a repeated index.
	results = firstOfEachIndex(results)
	if len(results) == 0 || prog.Recorded >= len(results) {
		return results, nil
	}
	want := make(map[int]bool, len(results))
	indices := make([]int, len(results))
	for i, res := range results {
		want[res.Index], indices[i] = true, res.Index
	}
	slices.Sort(indices)
	stored := make([]store.Result, 0, len(indices))
	err := recordedResults(ctx, r.jobs, jobID, indices, func(res store.Result) {
		if want[res.Index] {
			stored = append(stored, res)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read the recorded results of job %s: %w", jobID, err)
	}
	return stored, nil
}

// recordedResults calls visit with the results job jobID has recorded in
// the pages that hold indices (sorted, distinct): one Results call per run
// of indices that fits in a page, so the gaps between far-apart indices
// (a hostile chunk's, say) cost nothing. visit may see other indices of
// those pages too.
func recordedResults(ctx context.Context, js store.Jobs, jobID string, indices []int, visit func(store.Result)) error {
	for i := 0; i < len(indices); {
		off, j := indices[i], i+1
		for j < len(indices) && indices[j]-off < store.MaxPageSize {
			j++
		}
		page, _, err := js.Results(ctx, jobID, off, indices[j-1]-off+1)
		if err != nil {
			return err
		}
		for _, res := range page {
			visit(res)
		}
		i = j
	}
	return nil
}

// firstOfEachIndex returns the first result of each index of results, in
// their order (results itself when no index repeats).
func firstOfEachIndex(results []store.Result) []store.Result {
	if sortedByIndex(results) {
		return results
	}
	seen := make(map[int]bool, len(results))
	out := make([]store.Result, 0, len(results))
	for _, res := range results {
		if !seen[res.Index] {
			seen[res.Index] = true
			out = append(out, res)
		}
	}
	return out
}

// distinctIndices returns the number of different indices in results.
func distinctIndices(results []store.Result) int { return len(firstOfEachIndex(results)) }

// AnnounceCompletion publishes the completion event of job (completed) on
// STELE_EVENTS and waits for the stream's acknowledgement, as the runner
// does when a chunk completes a job; for a producer whose own recording
// completed it (failed results of items it could not queue). Publishing it
// again is harmless within the stream's duplicate window.
func AnnounceCompletion(ctx context.Context, js jetstream.JetStream, job store.Job) error {
	data, err := marshalEvent(Event{V: SchemaVersion, Type: EventJobCompleted, JobID: job.ID, Job: &job})
	if err != nil {
		return err
	}
	_, err = js.PublishMsg(ctx, &nats.Msg{Subject: JobEventSubject(job.ID), Data: data},
		jetstream.WithMsgID(job.ID+".completed"), jetstream.WithExpectStream(StreamEvents))
	if err != nil {
		return fmt.Errorf("jobs: announce the completion of job %s: %w", job.ID, err)
	}
	return nil
}

// sortedByIndex reports whether results are in increasing index order.
func sortedByIndex(results []store.Result) bool {
	for i := 1; i < len(results); i++ {
		if results[i].Index <= results[i-1].Index {
			return false
		}
	}
	return true
}

// finalDelivery reports whether delivery number delivered is the consumer's
// last: the server will not deliver the message again.
func (r *Runner) finalDelivery(delivered uint64) bool {
	return r.maxDeliver > 0 && delivered >= r.maxDeliver
}

// failed handles a chunk that failed for a reason that may pass (a store or
// NATS outage, a handler error or panic): it is handed back for a later
// delivery, except on the last one, after which the server would drop it
// and leave its job short of its total for good; then its items are settled
// as failed with err.
func (r *Runner) failed(ctx context.Context, msg jetstream.Msg, c *Chunk, err error, delivered uint64, log *slog.Logger) {
	if r.finalDelivery(delivered) {
		r.settleFailed(ctx, msg, c, fmt.Errorf("failed on each of %d deliveries, last: %w", delivered, err), delivered, log)
		return
	}
	log.Warn("jobs: chunk failed; will retry", "err", err)
	r.nak(msg, delivered)
	r.checkStore(ctx, c.JobID)
}

// Store probes: how long one may take, and the delays between them while
// the fetcher waits for the store (doubling from the first to the last).
const (
	storeProbeTimeout  = 2 * time.Second
	storeProbeFirstGap = 250 * time.Millisecond
	storeProbeLastGap  = 5 * time.Second
)

// probeStore reports whether the store answers: reading job jobID's record
// works, finds none, or is refused (the store answered).
func (r *Runner) probeStore(ctx context.Context, jobID string) bool {
	pctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
	defer cancel()
	_, err := r.jobs.GetJob(pctx, jobID)
	return err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid)
}

// checkStore probes the store after a chunk of job jobID failed, and when
// it does not answer, has the fetcher wait for it. Every delivery of a chunk
// counts towards the consumer's MaxDeliver, after which its items are
// settled as failed (or, the store still away, kept as a dead letter and
// its job left short of its total): a worker that went on fetching during
// an outage would spend the deliveries of every queued chunk on failures
// that say nothing about the chunk. Chunks already in hand still fail once;
// the queued ones wait in the stream, their delivery counts unchanged.
func (r *Runner) checkStore(ctx context.Context, jobID string) {
	if ctx.Err() != nil || r.probeStore(ctx, jobID) {
		return
	}
	r.unreachableMu.Lock()
	if r.unreachable == "" {
		r.unreachable = jobID
		r.log.Warn("jobs: the store does not answer; fetching paused until it does", "job", jobID)
	}
	r.unreachableMu.Unlock()
}

// waitForStore returns at once while the store is reachable; after
// checkStore found it unreachable, it probes it at growing intervals until
// it answers (true) or ctx ends (false).
func (r *Runner) waitForStore(ctx context.Context) bool {
	r.unreachableMu.Lock()
	jobID := r.unreachable
	r.unreachableMu.Unlock()
	if jobID == "" {
		return true
	}
	start := time.Now()
	for gap := storeProbeFirstGap; ; gap = min(2*gap, storeProbeLastGap) {
		sleepCtx(ctx, gap)
		if ctx.Err() != nil {
			return false
		}
		if r.probeStore(ctx, jobID) {
			break
		}
	}
	r.unreachableMu.Lock()
	r.unreachable = ""
	r.unreachableMu.Unlock()
	r.log.Info("jobs: the store answers again; fetching resumed", "paused", time.Since(start).Round(time.Millisecond).String())
	return true
}

// settleFailed ends a chunk that decoded but cannot be processed: each of
// its items that the job admits (index below the job's total) is recorded
// as failed with reason, the events that follow are published (the job's
// completion, when this completes it), and the message is terminated, so
// that the job completes instead of waiting for items that will never come.
// When even the failures cannot be recorded the message is handed back.
func (r *Runner) settleFailed(ctx context.Context, msg jetstream.Msg, c *Chunk, reason error, delivered uint64, log *slog.Logger) {
	// On the last delivery a failure here strands the chunk (the server
	// will not deliver it again), so it is tried a few times, the
	// message's acknowledgement deadline moved on meanwhile.
	attempts := 1
	if r.finalDelivery(delivered) {
		attempts = settleAttempts
	}
	var recErr, pubErr error
	var job store.Job
	for a := 1; ; a++ {
		job, recErr, pubErr = r.settle(ctx, c, reason, delivered)
		if (recErr == nil && pubErr == nil) || a >= attempts || ctx.Err() != nil ||
			errors.Is(recErr, errWrongKind) || errors.Is(recErr, store.ErrInvalid) {
			break
		}
		log.Warn("jobs: settling a chunk on its last delivery failed; trying again", "attempt", a, "err", errors.Join(recErr, pubErr))
		_ = msg.InProgress()
		sleepCtx(ctx, time.Duration(a)*time.Second)
	}
	switch {
	case errors.Is(recErr, errWrongKind) || errors.Is(recErr, store.ErrInvalid) || (recErr != nil && r.finalDelivery(delivered)):
		// The job refuses the failures themselves, or this was the last
		// delivery: kept as a dead letter, to replay once the cause is
		// gone (left in the work queue for the dead-letter advisory if even
		// that fails, see poison).
		log.Error("jobs: could not record the chunk's items as failed", "reason", reason, "err", recErr)
		r.poison(ctx, msg, fmt.Errorf("%w (recording its items as failed: %w)", reason, recErr))
		return
	case recErr != nil:
		log.Error("jobs: could not record the chunk's items as failed; handing it back", "reason", reason, "err", recErr)
		r.nak(msg, delivered)
		r.checkStore(ctx, c.JobID)
		return
	case pubErr != nil && !r.finalDelivery(delivered):
		// A redelivery finds the failures recorded and announces the
		// completion again.
		log.Warn("jobs: publishing the completion of a settled chunk failed; handing it back", "err", pubErr)
		r.nak(msg, delivered)
		return
	case pubErr != nil:
		log.Error("jobs: publishing the completion of a settled chunk failed on the last delivery", "err", pubErr)
		r.deferCompletion(ctx, job, log)
	}
	r.poison(ctx, msg, reason)
}

// settleAttempts is how many times settleFailed tries on a chunk's last
// delivery.
const settleAttempts = 4

// settle records the failed results of c's items and publishes the
// completion they bring about: recErr when they could not be recorded,
// pubErr when the completion could not be published. job is the job as
// recorded.
func (r *Runner) settle(ctx context.Context, c *Chunk, reason error, delivered uint64) (job store.Job, recErr, pubErr error) {
	results, err := r.failedResults(ctx, c, reason)
	if err != nil || len(results) == 0 {
		return store.Job{}, err, nil
	}
	prog, err := r.record(ctx, c, nil, results)
	if err != nil {
		return store.Job{}, err, nil
	}
	return prog.Job, nil, r.publishEvents(ctx, c.JobID, nil, prog.Job, shouldAnnounce(prog, results, delivered), false)
}

// deferCompletion adds job to the store's outbox when it is completed and
// the store keeps one: called once publishing its events has failed for
// good, so that its completion is announced later (its invalid-document
// events are not).
func (r *Runner) deferCompletion(ctx context.Context, job store.Job, log *slog.Logger) {
	if r.outbox == nil || job.ID == "" || job.Status != store.StatusCompleted {
		return
	}
	if err := deferAnnouncement(ctx, r.outbox, job.ID); err != nil {
		log.Error("jobs: could not keep the job's completion for a later announcement; it is lost", "err", err)
		return
	}
	log.Warn("jobs: the job's completion is kept for a later announcement")
}

// shouldAnnounce reports whether a call that recorded results, with
// progress prog, publishes the job's completion: when it completed the job,
// and again when the job was completed before and this chunk was delivered
// again or found some of its results recorded already (the call that
// completed the job may have died before announcing it; the event's message
// ID makes a repeat within the stream's window a duplicate).
func shouldAnnounce(prog store.Progress, results []store.Result, delivered uint64) bool {
	return prog.Completed || (prog.Job.Status == store.StatusCompleted &&
		(delivered > 1 || prog.Recorded < distinctIndices(results)))
}

// failedResults returns a failed result, saying reason, for each item of c
// whose index the job's total admits (once per index).
func (r *Runner) failedResults(ctx context.Context, c *Chunk, reason error) ([]store.Result, error) {
	// The job's total, not the chunk's claim; a chunk naming its total
	// creates the job it lacks (see record).
	total := c.Total
	job, err := r.jobs.GetJob(ctx, c.JobID)
	switch {
	case err == nil:
		total = job.Total
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("read job %s: %w", c.JobID, err)
	case !r.mayCreate(ctx, c):
		return nil, nil // no job to complete
	}
	msg := "chunk could not be processed: " + truncate(reason.Error(), 300)
	seen := make(map[int]bool, len(c.Items))
	var out []store.Result
	for _, it := range c.Items {
		if it.Index < 0 || it.Index >= total || seen[it.Index] {
			continue
		}
		seen[it.Index] = true
		out = append(out, store.Result{Index: it.Index, Ref: it.Ref, DocumentID: it.DocumentID, Error: msg})
	}
	return out, nil
}

// nak hands msg back for redelivery after a delay growing with its delivery
// count.
func (r *Runner) nak(msg jetstream.Msg, delivered uint64) {
	delay := r.cfg.NakDelay * time.Duration(min(delivered, 10))
	if err := msg.NakWithDelay(delay); err != nil {
		r.log.Warn("jobs: nak failed", "err", err)
	}
}

// poison terminates a message that can never be processed, after copying
// it to STELE_DEAD. When the copy cannot be made, the message is handed
// back instead: a later delivery tries again, and after the last one the
// server's MAX_DELIVERIES advisory leads a runner to keep it (giveUp). A
// message is never terminated without its copy.
func (r *Runner) poison(ctx context.Context, msg jetstream.Msg, err error) {
	d := deadLetterOf(msg, err)
	if derr := r.publishDeadLetter(ctx, d); derr != nil {
		r.log.Warn("jobs: could not keep an unprocessable message as a dead letter; handing it back",
			"subject", msg.Subject(), "err", err, "dead_letter_err", derr)
		r.nak(msg, d.deliveries)
		return
	}
	r.log.Error("jobs: terminating unprocessable message", "subject", msg.Subject(), "seq", d.seq, "err", err)
	if r.cfg.OnPoison != nil {
		r.cfg.OnPoison(ctx, msg, err)
	}
	if terr := msg.TermWithReason(truncate(err.Error(), 200)); terr != nil {
		r.log.Warn("jobs: term failed", "err", terr)
	}
}

// StartWorker is the wiring every worker of a job kind needs: it ensures the
// kind's durable consumer (EnsureConsumer with cc), creates a Runner over it
// with h and cfg, and starts it under ctx (Shutdown stops it).
func StartWorker(ctx context.Context, js jetstream.JetStream, kind store.JobKind, cc ConsumerConfig,
	jobs store.Jobs, h Handler, cfg RunnerConfig) (*Runner, error) {
	cons, err := EnsureConsumer(ctx, js, kind, cc)
	if err != nil {
		return nil, err
	}
	r, err := NewRunner(cons, js, jobs, h, cfg)
	if err != nil {
		return nil, err
	}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}
