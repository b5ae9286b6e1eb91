// Package jobs holds the message-driven side of the pipeline: the versioned job
// and event schemas, NATS subjects, the JetStream streams and consumers, the
// publisher that splits jobs into chunks, and the worker runner.
//
// # Flow
//
// The gateway creates a job record in the store, then hands the job's items to
// a [Publisher] (or streams them through a [ChunkWriter]). The publisher packs
// items into [Chunk] messages on [SubjectVerify], bounded by count and bytes,
// each with the Nats-Msg-Id [MsgID](jobID, chunk) so that a re-published chunk
// is dropped by the stream's duplicate window. Verifier processes run a
// [Runner] over the durable "verifier" consumer of [StreamJobs]: every chunk is
// verified as one batch, its results are written to the store
// (store.Jobs.RecordResults, idempotent by item index), events are published
// on [StreamEvents], and only then is the message acknowledged. A worker that
// dies before the acknowledgement leaves the message to be redelivered, and
// the redelivery changes neither the counters nor any result.
//
// # Wire schema
//
// Chunks and events are JSON objects with a version member "v". This code
// writes [SchemaVersion] and reads any version from 1 to SchemaVersion; a
// newer message is handed back to the stream (negative acknowledgement with a
// delay) for a newer worker, anything undecodable is terminated as poison
// (kept in STELE_DEAD with a reason naming the member at fault, and
// announced by an [EventChunkDead] when it names a valid job ID).
//
// # Producers on NATS alone
//
// A producer that talks only to NATS sets Chunk.Total on every chunk (the
// first worker creates the job from it), numbers the items 0 to Total-1,
// each once over the whole job, and picks a job ID no other job used
// within the job TTL. It learns of the job on StreamEvents: one
// [EventJobCompleted] and one [EventDocumentInvalid] per invalid document,
// at least once, in no particular order across chunks (a completion may come
// before another chunk's invalid-document events). Valid and failed items
// have no event; the completion event carries every result only for a small
// job recorded in one go (see [Event]), and otherwise the results are read
// from the store, over HTTP with GET /v1/jobs/{id}/results. README.md ("Over
// NATS") has the JSON.
package jobs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stele-go/stele/internal/store"
)

// SchemaVersion is the version of Chunk and Event written by this code.
const SchemaVersion = 1

// Subjects and streams.
const (
	StreamJobs   = "STELE_JOBS"   // work queue, subjects stele.jobs.verify and stele.jobs.sign
	StreamEvents = "STELE_EVENTS" // limits retention, subjects stele.events.>

	// SubjectJobs matches every work subject (for permissions); the
	// STELE_JOBS stream takes only SubjectVerify and SubjectSign, so a
	// mistyped subject gets an error rather than a message no worker reads.
	SubjectJobs   = "stele.jobs.>"
	SubjectEvents = "stele.events.>"

	SubjectVerify = "stele.jobs.verify"
	SubjectSign   = "stele.jobs.sign"

	// SubjectJobEventPrefix + jobID: the job completed.
	// SubjectJobEventPrefix + jobID + ".invalid": one per invalid document.
	// SubjectJobEventPrefix + jobID + ".dead": one per chunk of the job
	// kept as a dead letter.
	SubjectJobEventPrefix = "stele.events.job."

	// SubjectRevocationsChanged is a core NATS subject (no stream takes
	// it) on which a gateway announces, with an empty message, that it
	// revoked a key, so that every gateway re-reads the revocation list
	// at once instead of after its refresh period. A lost announcement
	// costs only that period.
	SubjectRevocationsChanged = "stele.control.revocations"
)

// Event types.
const (
	EventJobCompleted    = "job.completed"
	EventDocumentInvalid = "document.invalid"
	EventChunkDead       = "chunk.dead"
)

// MaxJobIDLen bounds job IDs; they appear in subjects and message IDs.
const MaxJobIDLen = 128

// ParseAt parses the "verify as of" instant of a job (Chunk.At, Job.At,
// the gateway's "at"): an RFC 3339 date-time. RFC 3339 lets its "T" and
// "Z" be written in lower case (section 5.6), which time.RFC3339 alone
// refuses; they are read as upper case.
func ParseAt(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, strings.Map(func(r rune) rune {
		switch r {
		case 't':
			return 'T'
		case 'z':
			return 'Z'
		}
		return r
	}, s))
}

// Item is one unit of work inside a chunk. A verify item carries exactly one
// of: the document inline (Document, raw JSON), a reference to a stored
// document (DocumentID, fetched from the store), a staged document too large
// to inline (Blob), or an Error recorded by the producer. An item with
// more than one of Document, DocumentID and Blob fails (Error wins over
// them all); one with none fails with "item has no document".
type Item struct {
	Index int    `json:"index"`
	Ref   string `json:"ref,omitempty"`
	// Document is the covenant as received, inline.
	Document json.RawMessage `json:"document,omitempty"`
	// DocumentID names a covenant already in the store (the caller's
	// documentId). A missing document fails the item.
	DocumentID string `json:"documentId,omitempty"`
	// Blob is the lowercase hex SHA-256 of a document that was too large to
	// inline; the publisher stored its bytes as a store.Blob of that ID
	// before publishing. Staging is addressed by the hash of the bytes, not by
	// the document's claimed ID, so an unverified document can never replace
	// a stored covenant.
	Blob string `json:"blob,omitempty"`
	// Error, when set, fails the item without looking at it: the producer
	// already knows it is bad (for example a malformed NDJSON line). The
	// worker records it as a Failed result with this message.
	Error string `json:"error,omitempty"`
	// Sign is the sign request for sign jobs (defined with the signer).
	Sign json.RawMessage `json:"sign,omitempty"`
}

// Chunk is the payload of one job message. Its Nats-Msg-Id is JobID + "." +
// Chunk, so a re-published chunk is dropped by the stream's duplicate window.
type Chunk struct {
	V     int           `json:"v"`
	JobID string        `json:"jobId"`
	Kind  store.JobKind `json:"kind"`
	Chunk int           `json:"chunk"`
	// Total, when positive, is the number of items of the whole job. It
	// lets a producer that talks only to NATS submit a job: a worker that
	// finds no job record creates it (kind Kind, Total items) before
	// recording results. Producers that create the record themselves (the
	// gateway) leave it out.
	Total int `json:"total,omitempty"`
	// At, when set (RFC 3339), verifies as of that instant instead of now.
	At string `json:"at,omitempty"`
	// Chain, on a verify chunk, also checks the delegation chain of every
	// item that verified and names a chain.parentId: its ancestors are
	// resolved from the chunk's own documents and the store, and each link
	// must narrow its parent (failing checks chain_narrowing and
	// chain_resolved; see VerifyHandler).
	Chain bool   `json:"chain,omitempty"`
	Items []Item `json:"items"`
}

// Event is published on STELE_EVENTS for integrations: Type
// [EventJobCompleted] carries Job (its final counters) on
// SubjectJobEventPrefix+jobID; Type [EventDocumentInvalid] carries the
// Result of one invalid document on SubjectJobEventPrefix+jobID+".invalid";
// Type [EventChunkDead] carries Dead, a chunk of the job that no worker
// could process and that was kept as a dead letter, on
// SubjectJobEventPrefix+jobID+".dead" (only when the chunk names a valid
// job ID: a chunk that is not JSON names none). Its items may then never
// get results, so its job may never complete: replay the dead letter once
// the cause is mended, or submit the job again under a new ID.
//
// A completion event of a small job (at most MaxEventResults items) whose
// results were all recorded by the call that completed it also carries
// Results, every result in index order exactly as stored, so that a caller
// waiting for the job needs no store read; otherwise Results is absent.
type Event struct {
	V       int             `json:"v"`
	Type    string          `json:"type"` // "job.completed" | "document.invalid"
	JobID   string          `json:"jobId"`
	Job     *store.Job      `json:"job,omitempty"`
	Result  *store.Result   `json:"result,omitempty"`
	Results []store.Result  `json:"results,omitempty"`
	Dead    *DeadChunk      `json:"dead,omitempty"`
	Details json.RawMessage `json:"details,omitempty"`
}

// DeadChunk is the payload of an [EventChunkDead]: which chunk was given
// up, why, and where its copy is (for stele dead replay).
type DeadChunk struct {
	// Chunk is the chunk's number, when it could be read.
	Chunk *int `json:"chunk,omitempty"`
	// Subject is the work subject the chunk was published on.
	Subject string `json:"subject"`
	// Reason says why no worker could process it.
	Reason string `json:"reason"`
	// DeadSequence is the copy's sequence in STELE_DEAD.
	DeadSequence uint64 `json:"deadSequence"`
}

// MaxEventResults bounds the jobs whose completion event carries their
// results (see Event), and maxEventResultBytes the encoded event.
const (
	MaxEventResults     = 64
	maxEventResultBytes = 256 << 10
)

// MsgID is the Nats-Msg-Id of a job's chunk: jobID + "." + chunk.
func MsgID(jobID string, chunk int) string {
	return jobID + "." + strconv.Itoa(chunk)
}

// SubjectFor returns the work subject of a job kind.
func SubjectFor(kind store.JobKind) (string, error) {
	switch kind {
	case store.KindVerify:
		return SubjectVerify, nil
	case store.KindSign:
		return SubjectSign, nil
	}
	return "", fmt.Errorf("jobs: unknown job kind %q: %w", kind, ErrInvalidJob)
}

// JobEventSubject is the subject of a job's completion event.
func JobEventSubject(jobID string) string { return SubjectJobEventPrefix + jobID }

// InvalidEventSubject is the subject of a job's invalid-document events.
func InvalidEventSubject(jobID string) string { return SubjectJobEventPrefix + jobID + ".invalid" }

// DeadEventSubject is the subject of a job's dead-chunk events.
func DeadEventSubject(jobID string) string { return SubjectJobEventPrefix + jobID + ".dead" }

// ValidJobID reports whether id can name a job: 1 to MaxJobIDLen characters
// from [A-Za-z0-9_-], so that it is one subject token.
func ValidJobID(id string) bool {
	if id == "" || len(id) > MaxJobIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// DecodeChunk decodes and checks a chunk message. Documents (and sign
// requests) are returned as sub-slices of data, which must not be modified
// while the chunk is in use. Member names match exactly and unknown members
// are ignored; every item must have an index (an item without one is not
// taken as index 0). Errors wrap
// [ErrBadMessage] (the message can never be processed) or
// [ErrUnsupportedVersion] (a newer producer wrote it).
func DecodeChunk(data []byte) (*Chunk, error) {
	var c Chunk
	noIndex, err := decodeChunkFields(data, &c)
	if err != nil {
		return nil, fmt.Errorf("decode chunk: %w: %v", ErrBadMessage, err)
	}
	if c.V > SchemaVersion {
		return nil, fmt.Errorf("decode chunk %s.%d: version %d: %w", c.JobID, c.Chunk, c.V, ErrUnsupportedVersion)
	}
	if c.V < 1 {
		return nil, fmt.Errorf("decode chunk: %w: version %d", ErrBadMessage, c.V)
	}
	if !ValidJobID(c.JobID) {
		return nil, fmt.Errorf("decode chunk: %w: invalid job id %q", ErrBadMessage, truncate(c.JobID, 64))
	}
	if c.Chunk < 0 {
		return nil, fmt.Errorf("decode chunk %s: %w: negative chunk number", c.JobID, ErrBadMessage)
	}
	if c.Total < 0 || c.Total > MaxTotal {
		return nil, fmt.Errorf("decode chunk %s: %w: total %d outside [0, %d]", c.JobID, ErrBadMessage, c.Total, MaxTotal)
	}
	if _, err := SubjectFor(c.Kind); err != nil {
		return nil, fmt.Errorf("decode chunk %s: %w: kind %q is neither %q nor %q", c.JobID, ErrBadMessage,
			truncate(string(c.Kind), 64), store.KindVerify, store.KindSign)
	}
	if noIndex >= 0 {
		return nil, fmt.Errorf("decode chunk %s.%d: %w: item %d has no index", c.JobID, c.Chunk, ErrBadMessage, noIndex)
	}
	for i := range c.Items {
		it := &c.Items[i]
		if it.Index < 0 || it.Index >= MaxTotal {
			return nil, fmt.Errorf("decode chunk %s.%d: %w: item %d has index %d outside [0, %d)", c.JobID, c.Chunk, ErrBadMessage, i, it.Index, MaxTotal)
		}
		boundItem(it)
	}
	return &c, nil
}

// Bounds of what a chunk carries into its results.
const (
	// MaxTotal bounds a job's total and its items' indices (well within
	// the integers a float64, and so Redis's Lua, holds exactly).
	MaxTotal = 1 << 40
	// MaxItemRefBytes bounds an item's ref (the gateway's own limit may
	// not exceed it). Escaped as JSON, such a ref still fits a result.
	MaxItemRefBytes = 64 << 10
	// maxItemIDBytes bounds an item's documentId and blob (both are 64
	// hex digits when valid).
	maxItemIDBytes = 128
	// maxItemErrorBytes bounds the producer's error of an item.
	maxItemErrorBytes = 4096
)

// boundItem fails an item whose ref, documentId, blob or error is too long
// to be carried into its result, which keeps the item's place in the job
// (and is short enough for any store) while nothing of it is looked at.
func boundItem(it *Item) {
	var field string
	var limit int
	switch {
	case len(it.Ref) > MaxItemRefBytes:
		field, limit = "ref", MaxItemRefBytes
	case len(it.DocumentID) > maxItemIDBytes:
		field, limit = "documentId", maxItemIDBytes
	case len(it.Blob) > maxItemIDBytes:
		field, limit = "blob", maxItemIDBytes
	case len(it.Error) > maxItemErrorBytes:
		it.Error = truncateUTF8(it.Error, maxItemErrorBytes) + "…"
		return
	default:
		return
	}
	it.Ref = truncateUTF8(it.Ref, MaxItemRefBytes)
	it.DocumentID, it.Blob, it.Document, it.Sign = "", "", nil, nil
	it.Error = fmt.Sprintf("%s: longer than %d bytes", field, limit)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func itoa(i int) string { return strconv.Itoa(i) }

// marshalEvent encodes an event.
func marshalEvent(ev Event) ([]byte, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("jobs: encode %s event for job %s: %w", ev.Type, ev.JobID, err)
	}
	return data, nil
}
