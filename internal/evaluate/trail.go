package evaluate

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/store"
)

// Page sizes of audit listings.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// EntriesPage is a page of a covenant's audit trail.
type EntriesPage struct {
	Entries []audit.Entry `json:"entries"`
	// Next is the index to ask for next, nil at the head of the trail.
	Next *int `json:"next"`
	// Trimmed is the number of entries before the checkpoint, whose bodies
	// were trimmed (their hashes are kept).
	Trimmed int `json:"trimmed"`
}

// TrailReport is the verdict of VerifyTrail.
type TrailReport struct {
	// Valid is true when the whole trail checks out.
	Valid bool `json:"valid"`
	// Entries is the length of the trail, trimmed entries included.
	Entries int `json:"entries"`
	// BrokenAt is the index of the first entry that fails, nil when valid.
	BrokenAt *int `json:"brokenAt"`
	// Reason says what failed at BrokenAt.
	Reason string `json:"reason,omitempty"`
	// MerkleRoot is the root over the stored hashes of every entry.
	MerkleRoot string `json:"merkleRoot"`
	// Checkpoint is the number of trimmed entries, covered by the
	// checkpoint hash instead of their bodies.
	Checkpoint int `json:"checkpoint"`
}

// exists returns an *Error wrapping ErrNotFound when covenant id is not
// stored (after checking its form).
func (s *Service) exists(ctx context.Context, id string) (string, error) {
	id, err := checkID("id", id)
	if err != nil {
		return "", err
	}
	if _, err := s.docs.GetDocument(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", &Error{Err: ErrNotFound, Field: "id", Message: "no such covenant"}
		}
		return "", fmt.Errorf("covenant %s: %w", id, err)
	}
	return id, nil
}

// Entries returns up to limit entries of covenant id's trail from index
// from on (entries before the checkpoint are trimmed and skipped).
func (s *Service) Entries(ctx context.Context, id string, from, limit int) (EntriesPage, error) {
	if from < 0 {
		return EntriesPage{}, invalid("from", "must not be negative")
	}
	if limit < 1 || limit > MaxPageSize {
		return EntriesPage{}, invalid("limit", "must be from 1 to %d", MaxPageSize)
	}
	id, err := s.exists(ctx, id)
	if err != nil {
		return EntriesPage{}, err
	}
	ckpt, err := s.audit.AuditCheckpoint(ctx, id)
	if err != nil {
		return EntriesPage{}, fmt.Errorf("audit checkpoint of %s: %w", id, err)
	}
	head, err := s.audit.AuditHead(ctx, id)
	if err != nil {
		return EntriesPage{}, fmt.Errorf("audit head of %s: %w", id, err)
	}
	page := EntriesPage{Entries: []audit.Entry{}, Trimmed: ckpt.Len}
	start := max(from, ckpt.Len)
	if start >= head.Len {
		return page, nil // beyond the end (no overflow from a huge from)
	}
	es, err := s.audit.AuditEntries(ctx, id, start, start+limit)
	if err != nil {
		return EntriesPage{}, fmt.Errorf("audit entries of %s: %w", id, err)
	}
	if es != nil {
		page.Entries = es
	}
	if next := start + limit; next < head.Len {
		page.Next = &next
	}
	return page, nil
}

// Export calls fn with every entry of covenant id's trail from index from
// on (at or after the checkpoint), in order, reading MaxPageSize entries at
// a time; it stops at the first error of fn, which it returns.
func (s *Service) Export(ctx context.Context, id string, from int, fn func(*audit.Entry) error) error {
	if from < 0 {
		return invalid("from", "must not be negative")
	}
	id, err := s.exists(ctx, id)
	if err != nil {
		return err
	}
	ckpt, err := s.audit.AuditCheckpoint(ctx, id)
	if err != nil {
		return fmt.Errorf("audit checkpoint of %s: %w", id, err)
	}
	for i := max(from, ckpt.Len); ; {
		es, err := s.audit.AuditEntries(ctx, id, i, i+MaxPageSize)
		if err != nil {
			return fmt.Errorf("audit entries of %s from %d: %w", id, i, err)
		}
		for k := range es {
			if err := fn(&es[k]); err != nil {
				return err
			}
		}
		if len(es) < MaxPageSize {
			return nil
		}
		// Advance by position, not by the index stored in the entry: a
		// tampered index must not make the export loop.
		i += len(es)
	}
}

// Proof returns the Merkle inclusion proof of entry index of covenant id's
// trail, over the hashes of every entry (trimmed ones included).
func (s *Service) Proof(ctx context.Context, id string, index int) (audit.Proof, error) {
	id, err := s.exists(ctx, id)
	if err != nil {
		return audit.Proof{}, err
	}
	hashes, err := s.audit.AuditHashes(ctx, id, 0, -1)
	if err != nil {
		return audit.Proof{}, fmt.Errorf("audit hashes of %s: %w", id, err)
	}
	if index < 0 || index >= len(hashes) {
		return audit.Proof{}, &Error{Err: ErrNotFound, Field: "index",
			Message: fmt.Sprintf("no audit entry %d: the trail has %d entries", index, len(hashes))}
	}
	p, err := audit.NewProof(hashes, index)
	if err != nil {
		return audit.Proof{}, fmt.Errorf("proof of entry %d of %s: %w", index, id, err)
	}
	return p, nil
}

// Trim deletes the bodies of the entries before upTo and returns the new
// checkpoint; the rest of the trail still verifies against it. upTo beyond
// the head is an *Error (field "upTo").
func (s *Service) Trim(ctx context.Context, id string, upTo int) (audit.Head, error) {
	if upTo < 0 {
		return audit.Head{}, invalid("upTo", "must not be negative")
	}
	id, err := s.exists(ctx, id)
	if err != nil {
		return audit.Head{}, err
	}
	h, err := s.audit.TrimAudit(ctx, id, upTo)
	if errors.Is(err, store.ErrInvalid) {
		return audit.Head{}, invalid("upTo", "%v", err)
	}
	if err != nil {
		return audit.Head{}, fmt.Errorf("trim audit trail of %s to %d: %w", id, upTo, err)
	}
	return h, nil
}

// verifyPage is the number of entries VerifyTrail reads at a time.
const verifyPage = 1000

// VerifyTrail checks the whole trail of covenant id: the list of hashes is
// as long as the trail, the checkpoint's hash is the hash of the last
// trimmed entry, every remaining entry recomputes to its hash, links to the
// one before (the first to the checkpoint) and carries its index, every
// entry's hash equals the stored hash of its index, and the head is the last
// entry. A lost, inserted, reordered or altered entry makes the trail
// invalid, with BrokenAt the first index that fails.
//
// It reads a snapshot of the head first and checks the trail up to it, so
// appends during the check do not disturb it; a trim during the check may be
// reported as a break.
func (s *Service) VerifyTrail(ctx context.Context, id string) (TrailReport, error) {
	id, err := s.exists(ctx, id)
	if err != nil {
		return TrailReport{}, err
	}
	head, err := s.audit.AuditHead(ctx, id)
	if err != nil {
		return TrailReport{}, fmt.Errorf("audit head of %s: %w", id, err)
	}
	n := head.Len
	hashes, err := s.audit.AuditHashes(ctx, id, 0, n)
	if err != nil {
		return TrailReport{}, fmt.Errorf("audit hashes of %s: %w", id, err)
	}
	ckpt, err := s.audit.AuditCheckpoint(ctx, id)
	if err != nil {
		return TrailReport{}, fmt.Errorf("audit checkpoint of %s: %w", id, err)
	}
	rep := TrailReport{Entries: n, MerkleRoot: audit.MerkleRoot(hashes), Checkpoint: ckpt.Len}
	broken := func(i int, reason string) {
		if rep.BrokenAt == nil || i < *rep.BrokenAt {
			rep.BrokenAt, rep.Reason = &i, reason
		}
	}
	if len(hashes) != n {
		broken(min(len(hashes), n), fmt.Sprintf("the hash list has %d entries, the head says %d", len(hashes), n))
	}
	if ckpt.Len > n {
		broken(n, fmt.Sprintf("the checkpoint (%d) is beyond the head (%d)", ckpt.Len, n))
	} else if ckpt.Len > 0 && ckpt.Len <= len(hashes) && !equal(hashes[ckpt.Len-1], ckpt.Hash) {
		broken(ckpt.Len-1, "the checkpoint hash is not the entry's hash")
	} else if ckpt.Len == 0 && !equal(ckpt.Hash, audit.GenesisHash) {
		broken(0, "an untrimmed trail must start from the genesis hash")
	}
	prev := ckpt
	for prev.Len < n && rep.BrokenAt == nil {
		es, err := s.audit.AuditEntries(ctx, id, prev.Len, min(prev.Len+verifyPage, n))
		if err != nil {
			return TrailReport{}, fmt.Errorf("audit entries of %s from %d: %w", id, prev.Len, err)
		}
		if len(es) == 0 {
			broken(prev.Len, "the entry is missing")
			break
		}
		var ie *audit.IntegrityError
		if err := audit.VerifyFrom(prev, es); errors.As(err, &ie) {
			broken(ie.Index, ie.Reason)
		} else if err != nil {
			return TrailReport{}, fmt.Errorf("verify audit trail of %s: %w", id, err)
		}
		for k := range es {
			if i := es[k].Index; i >= 0 && i < len(hashes) && !equal(hashes[i], es[k].Hash) {
				broken(i, "the entry's hash is not the stored hash of its index")
				break
			}
		}
		last := es[len(es)-1]
		prev = audit.Head{Len: last.Index + 1, Hash: last.Hash}
	}
	if rep.BrokenAt == nil && n > 0 && !equal(prev.Hash, head.Hash) {
		broken(n-1, "the head hash is not the last entry's hash")
	}
	rep.Valid = rep.BrokenAt == nil
	return rep, nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
