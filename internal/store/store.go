// Package store defines the storage contract shared by every process of a
// Stele cluster: documents, jobs with their progress and per-item results, and
// the verification cache. internal/redisstore implements it on Redis (the
// cluster default) and internal/sqlitestore on an embedded SQLite database
// (the single-machine default); one conformance suite (internal/store/storetest)
// runs against both.
//
// # Semantics every implementation follows
//
//   - Jobs and their results expire a configurable time (the job TTL) after
//     their last change: CreateJob and every RecordResults restart the clock.
//     An expired job behaves exactly like one that never existed (ErrNotFound,
//     and its ID may be created again, with no trace of the old results).
//   - Documents never expire. Signature-cache entries expire after the cache
//     TTL; an expired entry reads as unknown.
//   - Result indices are positions in the job, 0 <= Index < Total. Because each
//     index counts at most once, Done reaches Total exactly once, and exactly
//     one RecordResults call reports Completed.
//   - Bad arguments return an error wrapping ErrInvalid and change nothing.
//   - Close is idempotent.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors, matched with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	// ErrInvalid marks a bad argument (an empty ID, an index outside the job,
	// a negative offset, …). Nothing was written.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrInvalidOption marks a bad constructor option of an implementation.
	ErrInvalidOption = errors.New("store: invalid option")
	// ErrConflict marks a conditional write whose condition no longer held
	// (another process changed the value first). Nothing was written.
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable marks a store that answered but cannot serve calls for
	// now (a Redis loading its data after a restart, a primary lost in a
	// failover): the call may have been carried out or not, and a later one
	// may succeed. A store that does not answer at all gives a network or
	// deadline error instead.
	ErrUnavailable = errors.New("store: unavailable for now")
)

// Limits on what a store accepts.
const (
	// MaxIDLen bounds job and document IDs in bytes.
	MaxIDLen = 256
	// MaxResultSize bounds the JSON encoding of one Result in bytes.
	MaxResultSize = 1 << 20
	// MaxPageSize bounds the limit argument of Results.
	MaxPageSize = 10_000
)

// Default lifetimes used by the implementations when no option overrides them.
const (
	DefaultJobTTL = 24 * time.Hour
	DefaultSigTTL = 7 * 24 * time.Hour
)

// Document is a covenant as stored: its ID, its plain JSON exactly as it will
// be served back, and the fields the listing indexes use.
type Document struct {
	ID            string
	JSON          []byte
	IssuerID      string
	BeneficiaryID string
	CreatedAt     string // as in the document
	HasChain      bool
	Tags          []string
	// CreateOnly writes the document only when no document with its ID is
	// stored (its index entries are written either way; they are the same).
	// Workers set it for covenants they verified or built: the stored copy
	// of a content-addressed ID is the same covenant and may carry
	// countersignatures added since, which an unconditional write would
	// drop. Countersignatures are added with SwapDocument.
	CreateOnly bool
}

// Documents stores covenants by ID. Putting an existing ID overwrites it
// (documents are content-addressed, so the bytes are equal up to
// countersignatures), unless the Document is CreateOnly. A store writes a document's index entries no later
// than the document itself, so a document that reads back has them: a
// writer that finds a document stored with the bytes it would put may skip
// the put.
type Documents interface {
	// PutDocuments stores docs (ErrInvalid for an empty or overlong ID or
	// empty JSON; nothing is written then).
	PutDocuments(ctx context.Context, docs []Document) error
	// GetDocument returns the stored JSON or ErrNotFound.
	GetDocument(ctx context.Context, id string) ([]byte, error)
	// GetDocuments returns one entry per id, nil where absent.
	GetDocuments(ctx context.Context, ids []string) ([][]byte, error)
	// HasDocuments reports, one entry per id, whether a document is stored
	// under it, without reading the documents (a worker that would write
	// documents create-only asks first and skips the stored ones).
	HasDocuments(ctx context.Context, ids []string) ([]bool, error)
	// SwapDocument replaces the JSON of the stored document id with next,
	// only if the stored JSON still equals prev byte for byte (compare and
	// swap); otherwise it returns ErrConflict and writes nothing. It is how
	// read-modify-write updates (adding a countersignature) from several
	// processes avoid losing each other's changes: on ErrConflict, read
	// again, re-apply, swap again. The document's index fields are not
	// touched (a swap changes countersignatures, which are not indexed).
	// ErrNotFound when id is not stored; ErrInvalid for a bad id or empty
	// JSON.
	SwapDocument(ctx context.Context, id string, prev, next []byte) error
}

// JobKind names the work a job does.
type JobKind string

const (
	KindVerify JobKind = "verify"
	KindSign   JobKind = "sign"
)

// JobStatus is a job's life-cycle state.
type JobStatus string

const (
	StatusQueued    JobStatus = "queued"
	StatusRunning   JobStatus = "running"
	StatusCompleted JobStatus = "completed"
)

// Job is a job's record and progress counters. Done = Valid + Invalid + Failed.
type Job struct {
	ID          string    `json:"jobId"`
	Kind        JobKind   `json:"kind"`
	Status      JobStatus `json:"status"`
	Total       int       `json:"total"`
	Done        int       `json:"done"`
	Valid       int       `json:"valid"`
	Invalid     int       `json:"invalid"`
	Failed      int       `json:"failed"`
	CreatedAt   time.Time `json:"createdAt"`
	CompletedAt time.Time `json:"completedAt,omitzero"` // zero until completed
}

// Check is one verification check of a result.
type Check struct {
	Name    string `json:"name"`
	Passed  bool   `json:"passed"`
	Message string `json:"message"`
}

// Result is the outcome of one item of a job. Exactly one of Valid/Invalid/
// Failed applies: Error != "" means the item failed (malformed, unknown
// document, …); otherwise Valid says whether the document verified.
type Result struct {
	Index      int     `json:"index"`
	Ref        string  `json:"ref,omitempty"`
	DocumentID string  `json:"documentId,omitempty"`
	Valid      bool    `json:"valid"`
	Checks     []Check `json:"checks,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// Outcome is the counter a result advances.
type Outcome byte

const (
	OutcomeValid Outcome = iota
	OutcomeInvalid
	OutcomeFailed
)

// Outcome classifies r: failed when Error is set, else valid or invalid.
func (r Result) Outcome() Outcome {
	switch {
	case r.Error != "":
		return OutcomeFailed
	case r.Valid:
		return OutcomeValid
	default:
		return OutcomeInvalid
	}
}

// Progress is what RecordResults reports.
type Progress struct {
	Job Job
	// Completed is true for exactly one caller: the one whose results
	// brought Done to Total.
	Completed bool
	// Recorded is the number of the call's results that were new. When it
	// is below the number of distinct indices given, the others were
	// recorded before and the store kept those results, which may differ
	// from the ones given (read them back with Results).
	Recorded int
}

// Jobs stores job records, progress and results.
type Jobs interface {
	// CreateJob stores a new job (ErrExists if the ID is taken by a job that
	// has not expired). Only ID, Kind, Total and CreatedAt (the store's
	// clock when zero) are taken from job: counters start at zero and the
	// status at queued, except that a job with Total 0 is created completed
	// (CompletedAt = CreatedAt). ErrInvalid for an empty or overlong ID, an
	// empty Kind or a negative Total.
	CreateJob(ctx context.Context, job Job) error
	// GetJob returns the job or ErrNotFound.
	GetJob(ctx context.Context, id string) (Job, error)
	// RecordResults stores results and advances the counters atomically and
	// idempotently: a result for an index that already has one is ignored
	// (the first result stands, progress is not counted twice; within one
	// call the first of duplicate indices stands), so a redelivered message
	// changes nothing. The first newly counted result moves the job to
	// running; the one that brings Done to Total moves it to completed, sets
	// CompletedAt and makes this call report Completed. It returns
	// ErrNotFound for an unknown job and ErrInvalid (writing nothing) when an
	// index is outside [0, Total) or a result encodes to more than
	// MaxResultSize bytes. Implementations may apply a large call in several
	// atomic steps; each result is still counted exactly once.
	RecordResults(ctx context.Context, jobID string, results []Result) (Progress, error)
	// Results returns the recorded results whose index lies in
	// [offset, offset+limit), in index order (indices with no result yet are
	// skipped, so a page of a running job may be short), and the next offset:
	// offset+limit, or -1 once that reaches Total. ErrNotFound for an unknown
	// job; ErrInvalid for a negative offset or a limit outside
	// [1, MaxPageSize].
	Results(ctx context.Context, jobID string, offset, limit int) ([]Result, int, error)
}

// SigCache remembers Ed25519 outcomes by a SHA-256 key over (document ID,
// signature, public key), so repeated documents cost no signature work. The
// verifier computes the keys (covenant.SignatureCache, which SigCache
// satisfies); a store treats them as opaque.
type SigCache interface {
	// GetSigs returns, per key, 0 when unknown, 1 when valid, 2 when invalid.
	GetSigs(ctx context.Context, keys [][32]byte) ([]byte, error)
	// PutSigs records outcomes (ErrInvalid when the lengths differ).
	PutSigs(ctx context.Context, keys [][32]byte, valid []bool) error
}

// Signature-cache values returned by GetSigs.
const (
	SigUnknown byte = 0
	SigValid   byte = 1
	SigInvalid byte = 2
)

// ChunkWrites is everything a worker writes for one processed chunk of a
// job: the documents to keep, the signature outcomes it computed and the
// results.
type ChunkWrites struct {
	// Documents are stored as by PutDocuments.
	Documents []Document
	// SigKeys and SigValid are recorded as by PutSigs.
	SigKeys  [][32]byte
	SigValid []bool
	// Results are recorded as by RecordResults.
	Results []Result
}

// ChunkCommitter writes a chunk's documents, signature outcomes and results
// together, in as few round trips as the backend allows (one on a single
// Redis node, one transaction on SQLite).
type ChunkCommitter interface {
	// CommitChunk has the effect of PutSigs, PutDocuments and then
	// RecordResults(ctx, jobID, w.Results), with their idempotency: the
	// documents and signature outcomes are written before the results are
	// counted, so once a call has succeeded (or has counted the results and
	// failed later) a repeat of it changes nothing but rewriting equal
	// data, and reports the same counters. The arguments are all checked
	// first: an empty job ID, a bad document, mismatched signature lengths
	// or an unencodable result is ErrInvalid with nothing written. A result
	// index outside the job is ErrInvalid with no result recorded, though
	// the documents and signature outcomes may be (they are valid on their
	// own). ErrNotFound for an unknown job, likewise.
	CommitChunk(ctx context.Context, jobID string, w ChunkWrites) (Progress, error)
}

// Blob is a staged document's bytes under the ID the publisher gives them.
type Blob struct {
	ID   string
	Data []byte
}

// Blobs holds documents too large to travel inline in a job message, from
// the publisher that stages them to the worker that reads them. A blob is
// not a document of the registry: it is stored before anything verified it,
// is never indexed or listed, and expires after the store's job TTL.
type Blobs interface {
	// PutBlobs stores blobs (ErrInvalid for an empty or overlong ID or
	// empty data; nothing is written then), replacing a blob of the same
	// ID and restarting its lifetime.
	PutBlobs(ctx context.Context, blobs []Blob) error
	// GetBlobs returns, per ID, the blob's bytes, nil when there is none
	// (never stored, or expired).
	GetBlobs(ctx context.Context, ids []string) ([][]byte, error)
}

// CheckBlobs validates the arguments of a PutBlobs call.
func CheckBlobs(blobs []Blob) error {
	for i, b := range blobs {
		if err := CheckID("blob", b.ID); err != nil {
			return fmt.Errorf("blob %d: %w", i, err)
		}
		if len(b.Data) == 0 {
			return fmt.Errorf("blob %q: empty data: %w", b.ID, ErrInvalid)
		}
	}
	return nil
}

// QueueLeases let the gateways of a cluster finish each other's jobs. A
// gateway holds a lease on each job while it queues the job's items and
// renews it as it goes; when the gateway dies part-way, the lease runs out,
// another process claims it and settles the job (jobs.Reclaimer records the
// items that never reached the queue as failed, so the job completes
// instead of waiting until it expires).
//
// A lease is held by an owner, an opaque token its holder chooses, for a
// time to live measured on the store's clock (so the clocks of the
// processes need not agree). Job IDs are checked with CheckID, owners must
// be non-empty, and a TTL must be positive: otherwise ErrInvalid.
type QueueLeases interface {
	// AcquireQueueLease gives owner the lease of job jobID for ttl, or
	// extends it when owner holds it already. ErrConflict when another
	// owner holds it, whether or not that lease has run out.
	AcquireQueueLease(ctx context.Context, jobID, owner string, ttl time.Duration) error
	// RenewQueueLease extends owner's lease of jobID to ttl from now.
	// ErrConflict when owner no longer holds it: another process claimed it
	// (it had run out) or it was released. Owner must then stop queueing.
	RenewQueueLease(ctx context.Context, jobID, owner string, ttl time.Duration) error
	// ReleaseQueueLease ends owner's lease of jobID. ErrConflict, leaving
	// the lease alone, when owner does not hold it (it ran out and was
	// claimed, or was released before): a gateway finishing its queueing
	// learns this way, in the same call, that a reclaimer took the job.
	ReleaseQueueLease(ctx context.Context, jobID, owner string) error
	// ClaimQueueLeases gives owner, for ttl, up to max leases that had run
	// out (oldest first) and returns their job IDs. max must be positive.
	ClaimQueueLeases(ctx context.Context, owner string, ttl time.Duration, max int) ([]string, error)
}

// CheckQueueLease validates the arguments of a QueueLeases call on one
// lease.
func CheckQueueLease(jobID, owner string, ttl time.Duration) error {
	if err := CheckID("job", jobID); err != nil {
		return err
	}
	return checkLeaseOwner(owner, ttl)
}

// CheckLeaseClaim validates the arguments of ClaimQueueLeases.
func CheckLeaseClaim(owner string, ttl time.Duration, max int) error {
	if max <= 0 {
		return fmt.Errorf("claim of %d leases: %w", max, ErrInvalid)
	}
	return checkLeaseOwner(owner, ttl)
}

func checkLeaseOwner(owner string, ttl time.Duration) error {
	if owner == "" || len(owner) > MaxIDLen {
		return fmt.Errorf("lease owner of %d bytes: %w", len(owner), ErrInvalid)
	}
	if ttl <= 0 {
		return fmt.Errorf("lease TTL %v: %w", ttl, ErrInvalid)
	}
	return nil
}

// Announcements is the outbox of job completions that could not be
// announced on NATS when they happened (NATS out of reach, its stream
// refusing): the process that completed the job adds it here, and a
// jobs.Announcer publishes the completion once NATS takes it, then drops
// it. Job IDs are checked with CheckID: otherwise ErrInvalid.
type Announcements interface {
	// DeferAnnouncement adds job jobID to the outbox; adding one that is
	// there already keeps its place.
	DeferAnnouncement(ctx context.Context, jobID string) error
	// DeferredAnnouncements returns up to max job IDs of the outbox, in the
	// order they were first added. max is 1 to MaxPageSize.
	DeferredAnnouncements(ctx context.Context, max int) ([]string, error)
	// DropAnnouncement removes job jobID from the outbox; removing one
	// that is not there is no error.
	DropAnnouncement(ctx context.Context, jobID string) error
}

// CheckDeferredMax validates the max of DeferredAnnouncements.
func CheckDeferredMax(max int) error {
	if max < 1 || max > MaxPageSize {
		return fmt.Errorf("%d deferred announcements: want 1 to %d: %w", max, MaxPageSize, ErrInvalid)
	}
	return nil
}

// Store is everything a Stele process needs from shared storage.
type Store interface {
	Documents
	Blobs
	Jobs
	QueueLeases
	Announcements
	SigCache
	ChunkCommitter
	Registry
	Revocations
	KeyDirectory
	AuditLog
	RateLimits
	// Ping checks the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store; calling it again is harmless.
	Close() error
}

// NewJob validates job for CreateJob and returns the record to store: the
// ID, Kind and Total of job, CreatedAt (now when zero) in UTC without a
// monotonic reading, zero counters and the initial status. Implementations
// share it so that they agree.
func NewJob(job Job, now time.Time) (Job, error) {
	if err := CheckID("job", job.ID); err != nil {
		return Job{}, err
	}
	if job.Kind == "" {
		return Job{}, fmt.Errorf("job %q: empty kind: %w", job.ID, ErrInvalid)
	}
	if job.Total < 0 {
		return Job{}, fmt.Errorf("job %q: negative total %d: %w", job.ID, job.Total, ErrInvalid)
	}
	created := job.CreatedAt
	if created.IsZero() {
		created = now
	}
	rec := Job{
		ID:        job.ID,
		Kind:      job.Kind,
		Status:    StatusQueued,
		Total:     job.Total,
		CreatedAt: created.UTC().Round(0),
	}
	if rec.Total == 0 {
		rec.Status = StatusCompleted
		rec.CompletedAt = rec.CreatedAt
	}
	return rec, nil
}

// CheckID reports whether id is usable as a job or document ID (what names
// the kind of ID in the error).
func CheckID(what, id string) error {
	if id == "" {
		return fmt.Errorf("empty %s id: %w", what, ErrInvalid)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%s id of %d bytes exceeds %d: %w", what, len(id), MaxIDLen, ErrInvalid)
	}
	return nil
}

// NormalHexID returns s in lower case, and true, when it is 64 hex digits of
// either case: a covenant ID or a SHA-256 as the stores hold them.
func NormalHexID(s string) (string, bool) {
	if len(s) != 64 {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", false
		}
	}
	return string(b), true
}

// CheckPage validates the offset and limit of a Results call.
func CheckPage(offset, limit int) error {
	if offset < 0 {
		return fmt.Errorf("negative offset %d: %w", offset, ErrInvalid)
	}
	if limit < 1 || limit > MaxPageSize {
		return fmt.Errorf("limit %d outside [1, %d]: %w", limit, MaxPageSize, ErrInvalid)
	}
	return nil
}

// NextOffset is the next offset Results reports for a page starting at
// offset of a job with total items.
func NextOffset(offset, limit, total int) int {
	if offset+limit >= total {
		return -1
	}
	return offset + limit
}

// CheckDocuments validates the documents of a PutDocuments call.
func CheckDocuments(docs []Document) error {
	for i, d := range docs {
		if err := CheckID("document", d.ID); err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		if len(d.JSON) == 0 {
			return fmt.Errorf("document %q: empty JSON: %w", d.ID, ErrInvalid)
		}
	}
	return nil
}

// CheckSigs validates the arguments of a PutSigs call.
func CheckSigs(keys [][32]byte, valid []bool) error {
	if len(keys) != len(valid) {
		return fmt.Errorf("%d signature keys but %d outcomes: %w", len(keys), len(valid), ErrInvalid)
	}
	return nil
}

// EncodeResult returns the JSON a store keeps for r (what json.Marshal
// writes), checking that the index
// is not negative and the encoding fits MaxResultSize. (The upper bound of the
// index, Total, is checked by the store.)
func EncodeResult(r Result) ([]byte, error) {
	if r.Index < 0 {
		return nil, fmt.Errorf("result index %d is negative: %w", r.Index, ErrInvalid)
	}
	b := appendResult(nil, &r)
	if len(b) > MaxResultSize {
		return nil, fmt.Errorf("result %d encodes to %d bytes, over %d: %w", r.Index, len(b), MaxResultSize, ErrInvalid)
	}
	return b, nil
}
