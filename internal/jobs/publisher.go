package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/store"
)

// Publisher defaults.
const (
	DefaultChunkItems    = 256
	DefaultChunkBytes    = 512 << 10
	DefaultPublishWindow = 8
	// payloadHeadroom is kept free under the server's max payload for the
	// headers (Nats-Msg-Id) and protocol framing.
	payloadHeadroom = 4 << 10
	// maxAtLen bounds the "at" member copied into every chunk.
	maxAtLen = 64
	// A chunk that JetStream answers with "no responders" (no stream
	// takes the subject yet: a restarted server still recovering its
	// streams, a cluster electing the stream's leader) is published again
	// every publishRetryWait, up to publishRetryAttempts times (5 s in
	// all), before the publish fails. The chunk keeps its Nats-Msg-Id, so
	// a chunk stored after all is not stored twice.
	publishRetryWait     = 250 * time.Millisecond
	publishRetryAttempts = 20
)

// Job describes a job to publish: its ID (see ValidJobID), kind and the
// options every chunk carries. The job record itself is created in the store
// by the caller before publishing.
type Job struct {
	ID   string
	Kind store.JobKind
	// At (RFC 3339), when set, makes workers verify as of that instant.
	At    string
	Chain bool
}

func (j Job) validate() error {
	if !ValidJobID(j.ID) {
		return fmt.Errorf("jobs: job id %q: %w", truncate(j.ID, 64), ErrInvalidJob)
	}
	if _, err := SubjectFor(j.Kind); err != nil {
		return err
	}
	if j.At != "" {
		if len(j.At) > maxAtLen {
			return fmt.Errorf("jobs: job %s: at too long: %w", j.ID, ErrInvalidJob)
		}
		if _, err := ParseAt(j.At); err != nil {
			return fmt.Errorf("jobs: job %s: at %q is not RFC 3339: %w", j.ID, j.At, ErrInvalidJob)
		}
	}
	return nil
}

// PublishStats reports what a publish did.
type PublishStats struct {
	Items      int // items queued; indices 0..Items-1
	Chunks     int // messages published
	Duplicates int // chunks the stream dropped as already published
	Staged     int // documents too large to inline, stored and sent by reference
}

// Publisher splits jobs into chunk messages on STELE_JOBS. It is safe for
// concurrent use; each Publish or ChunkWriter works independently.
type Publisher struct {
	js         jetstream.JetStream
	blobs      store.Blobs
	chunkItems int
	chunkBytes int
	window     int
	log        *slog.Logger
}

// PublisherOption configures a Publisher.
type PublisherOption func(*Publisher) error

// WithChunkItems bounds the items of one chunk (default DefaultChunkItems).
func WithChunkItems(n int) PublisherOption {
	return func(p *Publisher) error {
		if n < 1 || n > 100_000 {
			return fmt.Errorf("%w: chunk items %d not in 1..100000", ErrInvalidOption, n)
		}
		p.chunkItems = n
		return nil
	}
}

// WithChunkBytes bounds the encoded size of one chunk (default
// DefaultChunkBytes). The bound is further capped to the connection's
// maximum payload minus a headroom for headers.
func WithChunkBytes(n int) PublisherOption {
	return func(p *Publisher) error {
		if n < 1024 {
			return fmt.Errorf("%w: chunk bytes %d below 1024", ErrInvalidOption, n)
		}
		p.chunkBytes = n
		return nil
	}
}

// WithPublishWindow bounds the chunks published and not yet acknowledged by
// the stream, per Publish or ChunkWriter (default DefaultPublishWindow).
// Memory held by a writer is at most (window + 1) chunks.
func WithPublishWindow(n int) PublisherOption {
	return func(p *Publisher) error {
		if n < 1 || n > 4096 {
			return fmt.Errorf("%w: publish window %d not in 1..4096", ErrInvalidOption, n)
		}
		p.window = n
		return nil
	}
}

// WithStaging lets the publisher stage documents too large to inline in
// blobs (under the SHA-256 of their bytes; see Item.Blob) and send them by
// reference. Without it such an item fails the publish with ErrInvalidJob.
func WithStaging(blobs store.Blobs) PublisherOption {
	return func(p *Publisher) error {
		if blobs == nil {
			return fmt.Errorf("%w: nil blob store", ErrInvalidOption)
		}
		p.blobs = blobs
		return nil
	}
}

// WithPublisherLogger sets the logger (default slog.Default()).
func WithPublisherLogger(l *slog.Logger) PublisherOption {
	return func(p *Publisher) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		p.log = l
		return nil
	}
}

// NewPublisher returns a publisher on js. The chunk byte bound is capped by
// the connection's maximum payload as the server announced it.
func NewPublisher(js jetstream.JetStream, opts ...PublisherOption) (*Publisher, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: nil JetStream", ErrInvalidOption)
	}
	p := &Publisher{
		js:         js,
		chunkItems: DefaultChunkItems,
		chunkBytes: DefaultChunkBytes,
		window:     DefaultPublishWindow,
	}
	for _, o := range opts {
		if err := o(p); err != nil {
			return nil, err
		}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if nc := js.Conn(); nc != nil {
		if mp := int(nc.MaxPayload()); mp > 0 && p.chunkBytes > mp-payloadHeadroom {
			p.chunkBytes = mp - payloadHeadroom
		}
	}
	if p.chunkBytes < 1024 {
		return nil, fmt.Errorf("%w: server max payload too small for chunks", ErrInvalidOption)
	}
	return p, nil
}

// ChunkBytes returns the effective chunk byte bound.
func (p *Publisher) ChunkBytes() int { return p.chunkBytes }

// Publish queues items as job's chunks and waits until the stream has
// acknowledged every chunk. Item indices are assigned in order from 0 (the
// Index members of items are ignored). Publishing the same job again is
// harmless within the stream's duplicate window: every chunk is dropped as a
// duplicate (counted in PublishStats.Duplicates).
func (p *Publisher) Publish(ctx context.Context, job Job, items []Item) (PublishStats, error) {
	w, err := p.NewChunkWriter(job)
	if err != nil {
		return PublishStats{}, err
	}
	for i := range items {
		if err := w.Add(ctx, items[i]); err != nil {
			w.Abort()
			return w.stats, err
		}
	}
	return w.Close(ctx)
}

// ChunkWriter publishes the items of one job as they arrive, flushing a chunk
// whenever it is full by count or bytes. Memory is bounded by one chunk being
// filled plus the publish window. A ChunkWriter is not safe for concurrent
// use.
type ChunkWriter struct {
	p       *Publisher
	job     Job
	subject string

	prefix  []byte // envelope before the chunk number
	items   bytes.Buffer
	nItems  int
	chunk   int
	next    int // index of the next item
	encBuf  []byte
	pending []jetstream.PubAckFuture
	ends    []int // per pending chunk, the index after its last item
	queued  int   // items [0, queued) are in acknowledged chunks
	gap     bool  // a chunk failed: queued stays where it is
	stats   PublishStats
	err     error
	closed  bool
}

// NewChunkWriter starts streaming the items of job.
func (p *Publisher) NewChunkWriter(job Job) (*ChunkWriter, error) {
	if err := job.validate(); err != nil {
		return nil, err
	}
	subject, _ := SubjectFor(job.Kind)
	w := &ChunkWriter{p: p, job: job, subject: subject}

	// The envelope: {"v":1,"jobId":…,"kind":…[,"at":…][,"chain":true],"chunk":N,"items":[…]}
	var b bytes.Buffer
	b.WriteString(`{"v":`)
	b.WriteString(strconv.Itoa(SchemaVersion))
	b.WriteString(`,"jobId":"`)
	b.WriteString(job.ID) // ValidJobID: nothing to escape
	b.WriteString(`","kind":`)
	kind, _ := json.Marshal(job.Kind)
	b.Write(kind)
	if job.At != "" {
		at, _ := json.Marshal(job.At)
		b.WriteString(`,"at":`)
		b.Write(at)
	}
	if job.Chain {
		b.WriteString(`,"chain":true`)
	}
	b.WriteString(`,"chunk":`)
	w.prefix = b.Bytes()
	return w, nil
}

// envelopeLen is the size of a chunk without its items.
func (w *ChunkWriter) envelopeLen() int {
	return len(w.prefix) + 20 + len(`,"items":[]}`)
}

// Add queues one item; its Index is set to the number of items added before
// it. The item is copied: its byte slices may be reused once Add returns. A
// document whose encoded item cannot fit in a chunk is staged in the store
// (see WithStaging) and sent by reference. Add blocks while the publish
// window is full. After an error the writer is unusable (Close returns the
// error; chunks already published stay queued).
func (w *ChunkWriter) Add(ctx context.Context, it Item) error {
	return w.add(ctx, it, true)
}

// AddValidated is Add for an item whose raw members (Document, Sign) the
// caller has already checked to be exactly one JSON value each, as the
// gateway does while parsing a request: it skips that check, which otherwise
// costs a full scan of every document. Passing text that is not one JSON
// value makes a chunk no worker can decode (it is terminated as a bad
// message), so use Add for anything not validated.
func (w *ChunkWriter) AddValidated(ctx context.Context, it Item) error {
	return w.add(ctx, it, false)
}

func (w *ChunkWriter) add(ctx context.Context, it Item, check bool) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	it.Index = w.next
	if check {
		for _, raw := range []json.RawMessage{it.Document, it.Sign} {
			if raw != nil && !validJSON(raw) {
				return w.fail(fmt.Errorf("jobs: job %s item %d: %w: document is not valid JSON", w.job.ID, it.Index, ErrInvalidJob))
			}
		}
	}
	enc, err := w.encodeItem(it)
	if err != nil {
		return w.fail(err)
	}
	if w.envelopeLen()+len(enc) > w.p.chunkBytes {
		if it.Document == nil {
			return w.fail(fmt.Errorf("jobs: job %s item %d: %d bytes do not fit a chunk: %w", w.job.ID, it.Index, len(enc), ErrInvalidJob))
		}
		it, err = w.stage(ctx, it)
		if err != nil {
			return w.fail(err)
		}
		if enc, err = w.encodeItem(it); err != nil {
			return w.fail(err)
		}
		if w.envelopeLen()+len(enc) > w.p.chunkBytes {
			return w.fail(fmt.Errorf("jobs: job %s item %d: does not fit a chunk even by reference: %w", w.job.ID, it.Index, ErrInvalidJob))
		}
	}
	if w.nItems > 0 && (w.nItems >= w.p.chunkItems || w.envelopeLen()+w.items.Len()+1+len(enc) > w.p.chunkBytes) {
		if err := w.flush(ctx); err != nil {
			return w.fail(err)
		}
	}
	if w.nItems > 0 {
		w.items.WriteByte(',')
	}
	w.items.Write(enc)
	w.nItems++
	w.next++
	w.stats.Items++
	return nil
}

// encodeItem returns the JSON of it. Raw members (document, sign), checked
// by the caller to be one JSON value, are copied verbatim: documents travel
// byte for byte. The slice is valid until the next call.
func (w *ChunkWriter) encodeItem(it Item) ([]byte, error) {
	b := w.encBuf[:0]
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(it.Index), 10)
	str := func(name, v string) {
		if v != "" {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = store.AppendJSONString(b, v)
		}
	}
	raw := func(name string, v json.RawMessage) {
		if v != nil {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = append(b, v...)
		}
	}
	str("ref", it.Ref)
	raw("document", it.Document)
	str("documentId", it.DocumentID)
	str("blob", it.Blob)
	str("error", it.Error)
	raw("sign", it.Sign)
	b = append(b, '}')
	w.encBuf = b
	return b, nil
}

// stage stores it.Document as a blob named by the hash of its bytes and
// returns the item by reference.
func (w *ChunkWriter) stage(ctx context.Context, it Item) (Item, error) {
	if w.p.blobs == nil {
		return it, fmt.Errorf("jobs: job %s item %d: document of %d bytes too large to inline and no staging store: %w", w.job.ID, it.Index, len(it.Document), ErrInvalidJob)
	}
	sum := sha256.Sum256(it.Document)
	h := hex.EncodeToString(sum[:])
	if err := w.p.blobs.PutBlobs(ctx, []store.Blob{{ID: h, Data: bytes.Clone(it.Document)}}); err != nil {
		return it, fmt.Errorf("jobs: job %s item %d: stage document: %w", w.job.ID, it.Index, err)
	}
	w.stats.Staged++
	it.Document = nil
	it.Blob = h
	return it, nil
}

// flush publishes the chunk being filled and waits for the oldest
// acknowledgement when the window is full.
func (w *ChunkWriter) flush(ctx context.Context) error {
	if w.nItems == 0 {
		return nil
	}
	payload := make([]byte, 0, w.envelopeLen()+w.items.Len())
	payload = append(payload, w.prefix...)
	payload = strconv.AppendInt(payload, int64(w.chunk), 10)
	payload = append(payload, `,"items":[`...)
	payload = append(payload, w.items.Bytes()...)
	payload = append(payload, "]}"...)

	for len(w.pending) >= w.p.window {
		if err := w.waitOldest(ctx); err != nil {
			return err
		}
	}
	msg := &nats.Msg{Subject: w.subject, Data: payload}
	fut, err := w.p.js.PublishMsgAsync(msg, jetstream.WithMsgID(MsgID(w.job.ID, w.chunk)), jetstream.WithExpectStream(StreamJobs),
		jetstream.WithRetryWait(publishRetryWait), jetstream.WithRetryAttempts(publishRetryAttempts))
	if err != nil {
		return fmt.Errorf("jobs: publish job %s chunk %d: %w", w.job.ID, w.chunk, classifyPublishErr(err))
	}
	w.pending = append(w.pending, fut)
	w.ends = append(w.ends, w.next)
	w.stats.Chunks++
	w.chunk++
	w.items.Reset()
	w.nItems = 0
	return nil
}

func (w *ChunkWriter) waitOldest(ctx context.Context) error {
	fut, end := w.pending[0], w.ends[0]
	w.pending[0] = nil
	w.pending, w.ends = w.pending[1:], w.ends[1:]
	select {
	case ack := <-fut.Ok():
		if ack.Duplicate {
			w.stats.Duplicates++
		}
		if !w.gap {
			w.queued = end
		}
		return nil
	case err := <-fut.Err():
		w.gap = true
		return fmt.Errorf("jobs: publish job %s: %w", w.job.ID, classifyPublishErr(err))
	case <-ctx.Done():
		w.gap = true
		return fmt.Errorf("jobs: publish job %s: %w", w.job.ID, ctx.Err())
	}
}

func (w *ChunkWriter) fail(err error) error {
	w.err = err
	return err
}

// Items returns the number of items added so far.
func (w *ChunkWriter) Items() int { return w.stats.Items }

// Queued returns how many items, from index 0, are in chunks the stream has
// acknowledged: after a failed Add or Close, items [0, Queued()) are queued
// for certain, and the others may or may not be (a chunk whose
// acknowledgement was lost may still have been stored).
func (w *ChunkWriter) Queued() int { return w.queued }

// Close publishes the last chunk, waits until the stream acknowledged every
// chunk and reports the totals: Items is the job's total. Close after an
// error returns that error; a second Close returns ErrClosed.
func (w *ChunkWriter) Close(ctx context.Context) (PublishStats, error) {
	if w.closed {
		return w.stats, ErrClosed
	}
	w.closed = true
	if w.err != nil {
		return w.stats, w.err
	}
	if err := w.flush(ctx); err != nil {
		w.err = err
		return w.stats, err
	}
	var errs []error
	for len(w.pending) > 0 {
		if err := w.waitOldest(ctx); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	w.pending, w.ends = nil, nil
	if err := errors.Join(errs...); err != nil {
		w.err = err
		return w.stats, err
	}
	return w.stats, nil
}

// Abort discards the writer without publishing the chunk being filled.
// Chunks already published stay queued.
func (w *ChunkWriter) Abort() {
	w.closed = true
	w.pending, w.ends = nil, nil
	w.items.Reset()
}
