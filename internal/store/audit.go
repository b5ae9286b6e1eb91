package store

import (
	"context"

	"github.com/stele-go/stele/internal/core/audit"
)

// AuditLog is the covenants' audit trails in the shared store: one hash chain
// per covenant ID, appended by every gateway process.
//
// Beyond audit.Log (whose Append advances the head atomically across
// processes: concurrent appends never fork the chain or lose an entry), a
// log can be trimmed: the bodies of entries before a checkpoint are deleted
// and the checkpoint (the index and hash of the last trimmed entry, as an
// audit.Head) is kept, so the remainder still verifies with
// audit.VerifyFrom(checkpoint, entries). The hashes of all entries, trimmed
// or not, are kept, so Merkle roots and inclusion proofs cover the whole log.
//
// Entries returns only entries at or after the checkpoint (its range is
// clamped to [checkpoint.Len, head.Len)). Reset deletes everything,
// checkpoint included.
type AuditLog interface {
	audit.Log
	// AuditCheckpoint returns the trim point of covenantID's log: Len is the
	// number of trimmed entries and Hash the hash of the last one
	// (Head{0, audit.GenesisHash} for a log never trimmed).
	AuditCheckpoint(ctx context.Context, covenantID string) (audit.Head, error)
	// TrimAudit deletes the entries with index < upTo and returns the new
	// checkpoint. upTo beyond the head is ErrInvalid; upTo at or below the
	// current checkpoint changes nothing.
	TrimAudit(ctx context.Context, covenantID string, upTo int) (audit.Head, error)
	// AuditHashes returns the hashes of the entries with index in
	// [start, end) (end < 0: the head), including trimmed ones.
	AuditHashes(ctx context.Context, covenantID string, start, end int) ([]string, error)
}

// RateLimits is audit.RateLimiter in the shared store: a limit's window is
// counted across every process, and Acquire's check-then-count is one
// atomic step.
type RateLimits interface {
	audit.RateLimiter
}
