package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Dead letters: the chunks no worker could finish, kept for an operator.
//
// A chunk becomes a dead letter when a Runner terminates it (it does not
// decode, names no job it could be recorded in, or its failures cannot be
// recorded even as failed on its last delivery), or when the server stops
// delivering it after MaxDeliver deliveries that no worker answered (a
// worker that crashes on it, say). In the first case the Runner publishes
// the copy itself before terminating the message; in the second the server's
// MAX_DELIVERIES advisory (sent when a worker next pulls), which STELE_DEAD
// captures so that none is lost when a worker stops before handling it,
// leads a Runner of the consumer's kind to record the
// chunk's items as failed (when the store allows), copy the chunk and
// delete it from the work queue, where it would otherwise stay for good,
// taking room and holding back the consumer's acknowledgement floor.
//
// A dead letter is the chunk's payload, unchanged, on DeadSubject(kind), with
// headers naming where it came from and why (HeaderDeadReason, …). Replay
// publishes it again on its work subject (ReplayDeadLetter).
const (
	// StreamDead holds the dead letters and the captured advisories.
	StreamDead = "STELE_DEAD"
	// SubjectDeadPrefix + kind is the subject of a kind's dead letters.
	SubjectDeadPrefix = "stele.dead."
	// subjectMaxDeliveries + consumer is the server's advisory for a
	// message of STELE_JOBS that consumer stopped delivering.
	subjectMaxDeliveries = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + StreamJobs + "."
)

// Headers of a dead letter.
const (
	// HeaderDeadReason says why the chunk was given up.
	HeaderDeadReason = "Stele-Dead-Reason"
	// HeaderDeadSubject is the work subject the chunk was published on.
	HeaderDeadSubject = "Stele-Dead-Subject"
	// HeaderDeadSequence is the chunk's sequence in STELE_JOBS.
	HeaderDeadSequence = "Stele-Dead-Sequence"
	// HeaderDeadDeliveries is how many times it was delivered.
	HeaderDeadDeliveries = "Stele-Dead-Deliveries"
	// HeaderDeadMsgID is the chunk's own Nats-Msg-Id, when it had one
	// (cut to maxDeadMsgIDBytes).
	HeaderDeadMsgID = "Stele-Dead-Msg-Id"
	// HeaderDeadTruncated, when present, is the size of a chunk too large
	// to be kept whole with these headers (near the server's max payload):
	// the dead letter holds only its beginning and cannot be replayed.
	HeaderDeadTruncated = "Stele-Dead-Truncated"
)

// deadHeaderRoom is what a dead letter leaves for its headers under the
// server's max payload. The headers fit in it: the reason and the chunk's
// own message ID are bounded (1000 and maxDeadMsgIDBytes bytes), the rest
// is short.
const deadHeaderRoom = 4 << 10

// maxDeadMsgIDBytes bounds the chunk's own Nats-Msg-Id kept in a dead
// letter (HeaderDeadMsgID): a producer may send one of up to 64 KiB, which
// with a chunk near the max payload would not fit, so that the chunk could
// never be kept.
const maxDeadMsgIDBytes = 1024

// DeadSubject returns the subject of the dead letters of chunks published
// on workSubject (stele.jobs.verify → stele.dead.verify).
func DeadSubject(workSubject string) string {
	kind, ok := strings.CutPrefix(workSubject, "stele.jobs.")
	if !ok || kind == "" || strings.ContainsAny(kind, ".*> ") {
		kind = "unknown"
	}
	return SubjectDeadPrefix + kind
}

// DeadStreamConfig returns the STELE_DEAD configuration EnsureStreams
// applies: limits retention, oldest discarded first.
func DeadStreamConfig(cfg StreamConfig) (jetstream.StreamConfig, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return jetstream.StreamConfig{}, err
	}
	return jetstream.StreamConfig{
		Name:        StreamDead,
		Description: "Stele dead letters: chunks no worker could finish",
		Subjects:    []string{SubjectDeadPrefix + ">", subjectMaxDeliveries + "*"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     c.Storage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.DeadMaxAge,
		MaxBytes:    c.DeadMaxBytes,
		Duplicates:  c.Duplicates,
		Replicas:    c.Replicas,
	}, nil
}

// deadLetter is what is known of a chunk given up.
type deadLetter struct {
	subject    string // its work subject
	data       []byte
	header     nats.Header // its own headers, if any
	seq        uint64      // in STELE_JOBS
	deliveries uint64
	reason     string
}

// publishDeadLetter copies d to STELE_DEAD and waits for the stream's
// acknowledgement, then announces it (announceDeadLetter; a failure to
// announce is logged, not returned: the copy is what keeps the chunk).
// Publishing the same chunk again within the duplicate window is dropped by
// the stream.
func (r *Runner) publishDeadLetter(ctx context.Context, d deadLetter) error {
	ack, err := publishDeadLetter(ctx, r.js, d)
	if err != nil {
		return err
	}
	if err := announceDeadLetter(ctx, r.js, d, ack.Sequence); err != nil {
		r.log.Warn("jobs: could not announce a dead letter on the job's events", "subject", d.subject, "seq", d.seq, "err", err)
	}
	return nil
}

// announceDeadLetter publishes the [EventChunkDead] of d, kept in STELE_DEAD
// at deadSeq, when its chunk names a valid job ID, read as far as the chunk
// decodes (nothing when it names none). The chunk's number is given when
// the whole chunk decodes.
func announceDeadLetter(ctx context.Context, js jetstream.JetStream, d deadLetter, deadSeq uint64) error {
	var c Chunk
	derr := decodeChunkJSON(d.data, &c)
	if !ValidJobID(c.JobID) {
		return nil // nobody to tell: the chunk names no job
	}
	dead := &DeadChunk{Subject: d.subject, Reason: truncate(d.reason, 1000), DeadSequence: deadSeq}
	if derr == nil {
		n := c.Chunk
		dead.Chunk = &n
	}
	data, err := json.Marshal(Event{V: SchemaVersion, Type: EventChunkDead, JobID: c.JobID, Dead: dead})
	if err != nil {
		return fmt.Errorf("encode dead-chunk event: %w", err)
	}
	_, err = js.PublishMsg(ctx, &nats.Msg{Subject: DeadEventSubject(c.JobID), Data: data},
		jetstream.WithExpectStream(StreamEvents), jetstream.WithMsgID("dead."+strconv.FormatUint(deadSeq, 10)))
	if err != nil {
		return fmt.Errorf("publish dead-chunk event of job %s: %w", c.JobID, err)
	}
	return nil
}

// publishDeadLetter copies d to STELE_DEAD and waits for the stream's
// acknowledgement.
func publishDeadLetter(ctx context.Context, js jetstream.JetStream, d deadLetter) (*jetstream.PubAck, error) {
	h := nats.Header{}
	h.Set(HeaderDeadReason, truncate(d.reason, 1000))
	h.Set(HeaderDeadSubject, d.subject)
	h.Set(HeaderDeadSequence, strconv.FormatUint(d.seq, 10))
	h.Set(HeaderDeadDeliveries, strconv.FormatUint(d.deliveries, 10))
	if id := d.header.Get(nats.MsgIdHdr); id != "" {
		h.Set(HeaderDeadMsgID, truncate(id, maxDeadMsgIDBytes))
	}
	data := d.data
	if nc := js.Conn(); nc != nil && nc.MaxPayload() > 2*deadHeaderRoom && int64(len(data)) > nc.MaxPayload()-deadHeaderRoom {
		// A chunk the server took without these headers may not fit with
		// them: keep its beginning, which tells what it was.
		data = data[:nc.MaxPayload()-deadHeaderRoom]
		h.Set(HeaderDeadTruncated, strconv.Itoa(len(d.data)))
	}
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(StreamDead)}
	if d.seq > 0 {
		opts = append(opts, jetstream.WithMsgID("dead."+strconv.FormatUint(d.seq, 10)))
	}
	ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: DeadSubject(d.subject), Data: data, Header: h}, opts...)
	if err != nil {
		return nil, fmt.Errorf("publish dead letter of %s #%d: %w", d.subject, d.seq, err)
	}
	return ack, nil
}

// deadLetterOf describes msg, delivered as a chunk, for publishDeadLetter.
func deadLetterOf(msg jetstream.Msg, reason error) deadLetter {
	d := deadLetter{subject: msg.Subject(), data: msg.Data(), header: msg.Headers(), reason: reason.Error()}
	if md, err := msg.Metadata(); err == nil {
		d.seq, d.deliveries = md.Sequence.Stream, md.NumDelivered
	}
	return d
}

// maxDeliveriesAdvisory is the part of the server's advisory read here.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// deadLetterConsumerName is the durable consumer, on STELE_DEAD, of the
// advisories of the work consumer named consumer.
func deadLetterConsumerName(consumer string) string { return consumer + "-dead-letters" }

// watchDeadLetters is the Runner's third loop: it takes the captured
// MAX_DELIVERIES advisories of its consumer and gives up their chunks
// (giveUp), until ctx is cancelled. Any of the kind's workers may take an
// advisory; each is handled once (acknowledged after the chunk is copied
// and removed).
func (r *Runner) watchDeadLetters(ctx context.Context) {
	defer close(r.deadDone)
	consumer := r.consumerName()
	if consumer == "" {
		return
	}
	var cons jetstream.Consumer
	failures := 0
	for ctx.Err() == nil {
		if cons == nil {
			var err error
			cons, err = r.js.CreateOrUpdateConsumer(ctx, StreamDead, jetstream.ConsumerConfig{
				Durable:       deadLetterConsumerName(consumer),
				Description:   "Stele: chunks the " + consumer + " consumer stopped delivering",
				FilterSubject: subjectMaxDeliveries + consumer,
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       time.Minute,
				MaxDeliver:    -1,
			})
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("jobs: dead-letter advisories unavailable; retrying in a minute", "err", err)
				}
				sleepCtx(ctx, time.Minute)
				continue
			}
		}
		batch, err := cons.Fetch(16, jetstream.FetchMaxWait(r.cfg.FetchMaxWait))
		if err == nil {
			for msg := range batch.Messages() {
				r.handleAdvisory(ctx, msg)
			}
			err = batch.Error()
		}
		if fetchIdle(err) {
			failures = 0
			continue
		}
		if errors.Is(err, nats.ErrConnectionClosed) {
			return
		}
		// The consumer or the stream may have been deleted (and the stream
		// created again by another process): make the consumer again.
		if failures++; failures == 1 || failures%60 == 0 {
			r.log.Warn("jobs: reading dead-letter advisories failed; retrying", "failures", failures, "err", err)
		}
		cons = nil
		sleepCtx(ctx, time.Second)
	}
}

// handleAdvisory gives up the chunk one advisory names.
func (r *Runner) handleAdvisory(ctx context.Context, msg jetstream.Msg) {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(msg.Data(), &adv); err != nil || adv.Stream != StreamJobs || adv.StreamSeq == 0 {
		r.log.Warn("jobs: ignoring an unreadable max-deliveries advisory", "err", err, "data", truncate(string(msg.Data()), 200))
		_ = msg.Term()
		return
	}
	if err := r.giveUp(ctx, adv); err != nil {
		r.log.Warn("jobs: giving up a chunk failed; will retry", "seq", adv.StreamSeq, "err", err)
		_ = msg.NakWithDelay(10 * time.Second)
		return
	}
	_ = msg.Ack()
}

// giveUp ends the chunk at sequence adv.StreamSeq of STELE_JOBS, which the
// server no longer delivers: it records the chunk's items as failed (as far
// as the store allows: the chunk stays replayable either way), copies it to
// STELE_DEAD and deletes it from the work queue. A chunk already gone
// (acknowledged, or given up by another worker) needs nothing.
func (r *Runner) giveUp(ctx context.Context, adv maxDeliveriesAdvisory) error {
	stream, err := r.js.Stream(ctx, StreamJobs)
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamJobs, err)
	}
	raw, err := stream.GetMsg(ctx, adv.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read chunk #%d: %w", adv.StreamSeq, err)
	}
	reason := fmt.Errorf("no worker finished it in %d deliveries", adv.Deliveries)
	if c, derr := DecodeChunk(raw.Data); derr == nil {
		// The chunk's message time decides whether it may create its job
		// (mayCreate), as on a delivery.
		sctx := WithMessageInfo(ctx, MsgInfo{NumDelivered: adv.Deliveries, Timestamp: raw.Time, StreamSeq: adv.StreamSeq})
		cerr := r.checkJob(sctx, c)
		if cerr != nil && !errors.Is(cerr, errWrongKind) && !errors.Is(cerr, errWrongTotal) {
			return cerr // the store is unreachable: the advisory comes back
		}
		// A chunk of another kind than its job's records nothing; one of
		// another total settles what its job admits, as on a delivery.
		if !errors.Is(cerr, errWrongKind) {
			job, recErr, pubErr := r.settle(sctx, c, reason, adv.Deliveries)
			switch {
			case recErr != nil:
				r.log.Warn("jobs: a dead chunk's items could not be recorded as failed; replay it once the store is back",
					"job", c.JobID, "chunk", c.Chunk, "err", recErr)
			case pubErr != nil:
				r.deferCompletion(ctx, job, r.log.With("job", c.JobID, "chunk", c.Chunk))
			}
		}
	}
	d := deadLetter{subject: raw.Subject, data: raw.Data, header: raw.Header, seq: adv.StreamSeq, deliveries: adv.Deliveries, reason: reason.Error()}
	if err := r.publishDeadLetter(ctx, d); err != nil {
		return err
	}
	if err := stream.DeleteMsg(ctx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("delete chunk #%d from %s: %w", adv.StreamSeq, StreamJobs, err)
	}
	r.log.Error("jobs: chunk given up after its last delivery; kept as a dead letter",
		"seq", adv.StreamSeq, "subject", raw.Subject, "deliveries", adv.Deliveries)
	return nil
}

// consumerName is the name of the runner's durable consumer ("" if unknown).
func (r *Runner) consumerName() string {
	if info := r.cons.CachedInfo(); info != nil {
		return info.Name
	}
	return ""
}

// ReplayDeadLetter publishes the dead letter at sequence seq of STELE_DEAD
// again on the work subject it came from, then deletes it from STELE_DEAD.
// The chunk is processed like a new one: items already recorded keep their
// results (the stores keep the first result of an index), the others are
// recorded. ErrInvalidOption when seq holds no dead letter (an advisory, or
// nothing).
func ReplayDeadLetter(ctx context.Context, js jetstream.JetStream, seq uint64) error {
	stream, err := js.Stream(ctx, StreamDead)
	if err != nil {
		return fmt.Errorf("replay dead letter %d: %w", seq, err)
	}
	raw, err := stream.GetMsg(ctx, seq)
	if err != nil {
		return fmt.Errorf("replay dead letter %d: %w", seq, err)
	}
	subject := raw.Header.Get(HeaderDeadSubject)
	if !strings.HasPrefix(raw.Subject, SubjectDeadPrefix) || (subject != SubjectVerify && subject != SubjectSign) {
		return fmt.Errorf("replay dead letter %d: %w: message on %s is no dead letter of a work subject", seq, ErrInvalidOption, raw.Subject)
	}
	if n := raw.Header.Get(HeaderDeadTruncated); n != "" {
		return fmt.Errorf("replay dead letter %d: %w: only the beginning of its %s bytes was kept", seq, ErrInvalidOption, n)
	}
	// A new message ID: the chunk's own may still be in the work queue's
	// duplicate window, which would drop the replay.
	id := "replay." + strconv.FormatUint(seq, 10)
	if orig := raw.Header.Get(HeaderDeadMsgID); orig != "" {
		id = orig + "." + id
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: raw.Data},
		jetstream.WithMsgID(id), jetstream.WithExpectStream(StreamJobs)); err != nil {
		return fmt.Errorf("replay dead letter %d: %w", seq, classifyPublishErr(err))
	}
	if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("replay dead letter %d: delete: %w", seq, err)
	}
	return nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// DeadLetter describes a dead letter kept in STELE_DEAD.
type DeadLetter struct {
	// Sequence in STELE_DEAD: what ReplayDeadLetter takes.
	Sequence uint64    `json:"sequence"`
	Time     time.Time `json:"time"`
	// Subject is the work subject the chunk was published on.
	Subject    string `json:"subject"`
	Deliveries uint64 `json:"deliveries"`
	Reason     string `json:"reason"`
	// JobID, Chunk and Items describe the chunk when it decodes as one.
	JobID string `json:"jobId,omitempty"`
	Chunk int    `json:"chunk"`
	Items int    `json:"items"`
	Bytes int    `json:"bytes"`
}

// MaxDeadLetterList bounds the dead letters one ListDeadLetters call returns.
const MaxDeadLetterList = 10_000

// ListDeadLetters returns the oldest dead letters, at most limit (1 to
// MaxDeadLetterList) of them, in the order they were kept.
func ListDeadLetters(ctx context.Context, js jetstream.JetStream, limit int) ([]DeadLetter, error) {
	if limit < 1 || limit > MaxDeadLetterList {
		return nil, fmt.Errorf("list dead letters: %w: limit %d not in 1..%d", ErrInvalidOption, limit, MaxDeadLetterList)
	}
	stream, err := js.Stream(ctx, StreamDead)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(SubjectDeadPrefix+">"))
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	var kept uint64
	for _, n := range info.State.Subjects {
		kept += n
	}
	if kept == 0 {
		return nil, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{SubjectDeadPrefix + ">"}})
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	want := min(uint64(limit), kept)
	var out []DeadLetter
	for uint64(len(out)) < want {
		batch, err := cons.Fetch(int(want)-len(out), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return out, fmt.Errorf("list dead letters: %w", err)
		}
		n := len(out)
		for msg := range batch.Messages() {
			out = append(out, describeDeadLetter(msg))
		}
		if err := batch.Error(); !fetchIdle(err) {
			return out, fmt.Errorf("list dead letters: %w", err)
		}
		if len(out) == n {
			break // removed meanwhile
		}
	}
	return out, nil
}

func describeDeadLetter(msg jetstream.Msg) DeadLetter {
	h := msg.Headers()
	d := DeadLetter{Subject: h.Get(HeaderDeadSubject), Reason: h.Get(HeaderDeadReason), Bytes: len(msg.Data())}
	d.Deliveries, _ = strconv.ParseUint(h.Get(HeaderDeadDeliveries), 10, 64)
	if md, err := msg.Metadata(); err == nil {
		d.Sequence, d.Time = md.Sequence.Stream, md.Timestamp
	}
	var c struct {
		JobID string            `json:"jobId"`
		Chunk int               `json:"chunk"`
		Items []json.RawMessage `json:"items"`
	}
	if json.Unmarshal(msg.Data(), &c) == nil {
		d.JobID, d.Chunk, d.Items = truncate(c.JobID, MaxJobIDLen), c.Chunk, len(c.Items)
	}
	return d
}
