// Package store defines the storage contract shared by every process of a
// Stele cluster: documents, jobs with their progress and per-item results, and
// the verification cache. internal/redisstore implements it on Redis (the
// cluster default) and internal/sqlitestore on an embedded SQLite database
// (the single-machine default); one conformance suite (storetest) runs against
// both.
//
// CONTRACT FILE: the store implementer may refine it (add methods, options,
// fields), keeping the names and meanings below that jobs and the gateway use.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors, matched with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
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
}

// Documents stores covenants by ID. Putting an existing ID overwrites it
// (documents are content-addressed, so the bytes are equal up to
// countersignatures).
type Documents interface {
	PutDocuments(ctx context.Context, docs []Document) error
	// GetDocument returns the stored JSON or ErrNotFound.
	GetDocument(ctx context.Context, id string) ([]byte, error)
	// GetDocuments returns one entry per id, nil where absent.
	GetDocuments(ctx context.Context, ids []string) ([][]byte, error)
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

// Progress is what RecordResults reports.
type Progress struct {
	Job Job
	// Completed is true for exactly one caller: the one whose results
	// brought Done to Total.
	Completed bool
}

// Jobs stores job records, progress and results.
type Jobs interface {
	// CreateJob stores a new job (ErrExists if the ID is taken).
	CreateJob(ctx context.Context, job Job) error
	// GetJob returns the job or ErrNotFound.
	GetJob(ctx context.Context, id string) (Job, error)
	// RecordResults stores results and advances the counters atomically and
	// idempotently: a result for an index that already has one is ignored
	// (the first result stands, progress is not counted twice), so a
	// redelivered message changes nothing.
	RecordResults(ctx context.Context, jobID string, results []Result) (Progress, error)
	// Results returns results in index order from offset, at most limit, and
	// the next offset (-1 when there are no more).
	Results(ctx context.Context, jobID string, offset, limit int) ([]Result, int, error)
}

// SigCache remembers Ed25519 outcomes by a SHA-256 key over (document ID,
// signature, public key), so repeated documents cost no signature work.
type SigCache interface {
	// GetSigs returns, per key, 0 when unknown, 1 when valid, 2 when invalid.
	GetSigs(ctx context.Context, keys [][32]byte) ([]byte, error)
	PutSigs(ctx context.Context, keys [][32]byte, valid []bool) error
}

// Store is everything a Stele process needs from shared storage.
type Store interface {
	Documents
	Jobs
	SigCache
	// Ping checks the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}
