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
//
// A trim that passes the export's position before the entries there were
// read would leave a hole: Export then fails with ErrTrimmed, naming the
// index to export again from, rather than end as if the trail were complete.
// (Before fn has been called, it simply starts at the new checkpoint.)
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
	emitted := false
	for i := max(from, ckpt.Len); ; {
		es, err := s.audit.AuditEntries(ctx, id, i, i+MaxPageSize)
		if err != nil {
			return fmt.Errorf("audit entries of %s from %d: %w", id, i, err)
		}
		// The store clamps the range to the checkpoint: a page that comes up
		// short or starts at another index may be one a trim cut.
		if len(es) < MaxPageSize || es[0].Index != i {
			c, err := s.audit.AuditCheckpoint(ctx, id)
			if err != nil {
				return fmt.Errorf("audit checkpoint of %s: %w", id, err)
			}
			if c.Len > i {
				if !emitted {
					i = c.Len
					continue
				}
				return fmt.Errorf("audit trail of %s: entries %d to %d: %w; export again from %d",
					id, i, c.Len-1, ErrTrimmed, c.Len)
			}
		}
		for k := range es {
			emitted = true
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

// The page sizes of Proof and VerifyTrail (Service.hashPage and
// Service.verifyPage, which tests may make smaller): they hold that many
// hashes and entries of a trail at a time, whatever its length.
const (
	// defaultHashPage is the number of stored hashes read at a time.
	defaultHashPage = 1 << 14
	// defaultVerifyPage is the number of entries VerifyTrail reads at a time.
	defaultVerifyPage = 1000
)

// Proof returns the Merkle inclusion proof of entry index of covenant id's
// trail, over the hashes of every entry (trimmed ones included) up to a
// snapshot of the head taken first. It reads the hashes hashPage at a time
// into an audit.ProofStream, so its memory does not grow with the trail.
// An index beyond the trail is an *Error wrapping ErrNotFound.
func (s *Service) Proof(ctx context.Context, id string, index int) (audit.Proof, error) {
	id, err := s.exists(ctx, id)
	if err != nil {
		return audit.Proof{}, err
	}
	head, err := s.audit.AuditHead(ctx, id)
	if err != nil {
		return audit.Proof{}, fmt.Errorf("audit head of %s: %w", id, err)
	}
	notFound := func(n int) error {
		return &Error{Err: ErrNotFound, Field: "index",
			Message: fmt.Sprintf("no audit entry %d: the trail has %d entries", index, n)}
	}
	if index < 0 || index >= head.Len {
		return audit.Proof{}, notFound(head.Len)
	}
	ps := audit.NewProofStream(index)
	for lo := 0; lo < head.Len; {
		hs, short, err := s.hashPageAt(ctx, id, lo, head.Len)
		if err != nil {
			return audit.Proof{}, err
		}
		for k, h := range hs {
			if err := ps.Add(h); err != nil {
				return audit.Proof{}, fmt.Errorf("audit hash %d of %s: %w", lo+k, id, err)
			}
		}
		if short {
			break // the hash list ends before the head
		}
		lo += len(hs)
	}
	if index >= ps.Len() {
		return audit.Proof{}, notFound(ps.Len())
	}
	p, err := ps.Proof()
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
		// The store's error names the store and the key: say it in the
		// API's words.
		if head, herr := s.audit.AuditHead(ctx, id); herr == nil {
			return audit.Head{}, invalid("upTo", "%d is beyond the trail, which has %d entries", upTo, head.Len)
		}
		return audit.Head{}, invalid("upTo", "%d is beyond the trail", upTo)
	}
	if err != nil {
		return audit.Head{}, fmt.Errorf("trim audit trail of %s to %d: %w", id, upTo, err)
	}
	return h, nil
}

// VerifyTrail checks the whole trail of covenant id: the list of hashes is
// as long as the trail, the checkpoint's hash is the hash of the last
// trimmed entry, every remaining entry recomputes to its hash, links to the
// one before (the first to the checkpoint) and carries its index, every
// entry's hash equals the stored hash of its index, and the head is the last
// entry. A lost, inserted, reordered or altered entry makes the trail
// invalid, with BrokenAt the first index that fails. A fault of the hash
// list (too short, a hash missing or not 64 hex digits) is reported in
// preference to a fault of the entries after it, but not of those before;
// a fault of the checkpoint (it does not match its hash or lies beyond the
// head) is reported before any entry is checked.
//
// held are entries the caller was given (Decision.AuditEntry), which the
// trail must still hold with the same hashes: the store alone cannot tell
// that its last entries were deleted and its head set back consistently
// (by hand, or by a failover to a replica that had not received them), but
// a caller holding a later entry can. A held index at or beyond the head is
// reported as a break at the head ("entries were lost"), a held hash that is
// not the stored hash of its index as a break there. Since each entry links
// to the one before, holding the latest entry one was given covers all
// before it. An index below 0 or a hash that is not 64 hex digits is an
// *Error naming "index" or "hash".
//
// It reads a snapshot of the head first and checks the trail up to it, so
// appends during the check do not disturb it. A trim during the check
// removes entries it has yet to read, which would look like a break: a
// check that finds a break while the checkpoint moved during it is made
// again, up to verifyAttempts times in all, so only a trail that is
// broken (or trimmed under every attempt) is reported invalid.
//
// It reads the hashes hashPage at a time and the entries verifyPage at a
// time, feeding the hashes to an audit.MerkleStream for MerkleRoot, so its
// memory does not grow with the trail. MerkleRoot is empty when a stored
// hash is not 64 hex digits.
func (s *Service) VerifyTrail(ctx context.Context, id string, held ...EntryRef) (TrailReport, error) {
	heldHashes := make(map[int]string, len(held))
	for _, e := range held {
		if e.Index < 0 {
			return TrailReport{}, invalid("index", "must be an entry index: 0 or more")
		}
		h, err := checkID("hash", e.Hash)
		if err != nil {
			return TrailReport{}, invalid("hash", "must be an entry hash: 64 hex characters")
		}
		if prev, ok := heldHashes[e.Index]; ok && prev != h {
			return TrailReport{}, invalid("hash", "entry %d is given with two hashes", e.Index)
		}
		heldHashes[e.Index] = h
	}
	id, err := s.exists(ctx, id)
	if err != nil {
		return TrailReport{}, err
	}
	for attempt := 1; ; attempt++ {
		before, err := s.audit.AuditCheckpoint(ctx, id)
		if err != nil {
			return TrailReport{}, fmt.Errorf("audit checkpoint of %s: %w", id, err)
		}
		rep, err := s.verifyTrailOnce(ctx, id, heldHashes)
		if err != nil || rep.Valid || attempt == verifyAttempts {
			return rep, err
		}
		after, err := s.audit.AuditCheckpoint(ctx, id)
		if err != nil {
			return TrailReport{}, fmt.Errorf("audit checkpoint of %s: %w", id, err)
		}
		if after.Len == before.Len {
			return rep, nil // no trim during the check: the break is real
		}
	}
}

// verifyAttempts bounds the checks of one VerifyTrail when trims keep
// overtaking them.
const verifyAttempts = 4

// verifyTrailOnce is one check of VerifyTrail, on a stored covenant id,
// with the held entries' hashes by index.
func (s *Service) verifyTrailOnce(ctx context.Context, id string, heldHashes map[int]string) (TrailReport, error) {
	head, err := s.audit.AuditHead(ctx, id)
	if err != nil {
		return TrailReport{}, fmt.Errorf("audit head of %s: %w", id, err)
	}
	n := head.Len
	ckpt, err := s.audit.AuditCheckpoint(ctx, id)
	if err != nil {
		return TrailReport{}, fmt.Errorf("audit checkpoint of %s: %w", id, err)
	}
	hs := &trailHashes{s: s, id: id, n: n, bad: -1, held: heldHashes, heldBad: -1}
	if ckpt.Len > 0 && ckpt.Len <= n {
		hs.ckptAt, hs.ckptHash = ckpt.Len-1, ckpt.Hash
	} else {
		hs.ckptAt = -1
	}
	genesisBad := ckpt.Len == 0 && !equal(ckpt.Hash, audit.GenesisHash)
	// fault reports a fault of the checkpoint: no entry is checked then.
	fault := func() bool { return hs.ckptBad || ckpt.Len > n || genesisBad }
	// checkable returns the index before which entries can be checked: the
	// head, or the first index whose stored hash is missing or malformed
	// (known so far). Entries before it are still checked, so that one
	// failing there is reported as the first break.
	checkable := func() int {
		end := n
		if hs.short {
			end = min(end, hs.count())
		}
		if hs.bad >= 0 {
			end = min(end, hs.bad)
		}
		return end
	}

	// The trimmed entries: their hashes feed the root and the last one is
	// the checkpoint's.
	if err := hs.fill(ctx, min(ckpt.Len, n), min(ckpt.Len, n)); err != nil {
		return TrailReport{}, err
	}
	// The entries, a page at a time with the stored hashes of their indexes,
	// up to the first that fails.
	var entryAt *int
	var entryReason string
	entryBroken := func(i int, reason string) {
		if entryAt == nil || i < *entryAt {
			entryAt, entryReason = &i, reason
		}
	}
	prev := ckpt
	for prev.Len < checkable() && entryAt == nil && !fault() {
		end := min(prev.Len+s.verifyPage, n)
		if err := hs.fill(ctx, prev.Len, end); err != nil {
			return TrailReport{}, err
		}
		if end = min(end, checkable()); end <= prev.Len || fault() {
			break
		}
		es, err := s.audit.AuditEntries(ctx, id, prev.Len, end)
		if err != nil {
			return TrailReport{}, fmt.Errorf("audit entries of %s from %d: %w", id, prev.Len, err)
		}
		if len(es) == 0 {
			entryBroken(prev.Len, "the entry is missing")
			break
		}
		var ie *audit.IntegrityError
		if err := audit.VerifyFrom(prev, es); errors.As(err, &ie) {
			entryBroken(ie.Index, ie.Reason)
		} else if err != nil {
			return TrailReport{}, fmt.Errorf("verify audit trail of %s: %w", id, err)
		}
		for k := range es {
			i := es[k].Index
			h, ok, err := hs.at(ctx, i)
			if err != nil {
				return TrailReport{}, err
			}
			if ok && !equal(h, es[k].Hash) {
				entryBroken(i, "the entry's hash is not the stored hash of its index")
				break
			}
		}
		last := es[len(es)-1]
		prev = audit.Head{Len: last.Index + 1, Hash: last.Hash}
	}
	// The rest of the hashes, for the root.
	if err := hs.fill(ctx, n, n); err != nil {
		return TrailReport{}, err
	}

	rep := TrailReport{Entries: n, Checkpoint: ckpt.Len}
	if hs.bad < 0 {
		rep.MerkleRoot = hs.root.Root()
	}
	broken := func(i int, reason string) {
		if rep.BrokenAt == nil || i < *rep.BrokenAt {
			rep.BrokenAt, rep.Reason = &i, reason
		}
	}
	if m := hs.count(); m != n {
		broken(min(m, n), fmt.Sprintf("no stored hash for entry %d: the hash list ends there, the head says %d entries", m, n))
	}
	if ckpt.Len > n {
		broken(n, fmt.Sprintf("the checkpoint (%d) is beyond the head (%d)", ckpt.Len, n))
	} else if hs.ckptBad {
		broken(ckpt.Len-1, "the checkpoint hash is not the entry's hash")
	} else if genesisBad {
		broken(0, "an untrimmed trail must start from the genesis hash")
	}
	if hs.bad >= 0 {
		broken(hs.bad, "the stored hash is not 64 hex digits")
	}
	if entryAt != nil {
		broken(*entryAt, entryReason) // before any fault of the hash list
	}
	if hs.heldBad >= 0 {
		broken(hs.heldBad, fmt.Sprintf("the stored hash of entry %d is not the one it had when it was recorded: the trail was rewritten", hs.heldBad))
	}
	for i := range heldHashes {
		if i >= n {
			broken(n, fmt.Sprintf("the trail has %d entries, but entry %d was recorded: entries were lost", n, i))
		}
	}
	if rep.BrokenAt == nil && n > 0 && !equal(prev.Hash, head.Hash) {
		broken(n-1, "the head hash is not the last entry's hash")
	}
	rep.Valid = rep.BrokenAt == nil
	return rep, nil
}

// hashPageAt reads the stored hashes of covenant id from index lo, at most
// hashPage of them and none from index n on. short reports that the list
// ended before that page was full.
func (s *Service) hashPageAt(ctx context.Context, id string, lo, n int) (hs []string, short bool, err error) {
	hi := min(lo+s.hashPage, n)
	hs, err = s.audit.AuditHashes(ctx, id, lo, hi)
	if err != nil {
		return nil, false, fmt.Errorf("audit hashes of %s from %d: %w", id, lo, err)
	}
	hs = hs[:min(len(hs), hi-lo)]
	return hs, len(hs) < hi-lo, nil
}

// trailHashes reads the stored hashes of a trail in order, up to the head
// snapshot n, hashPage at a time: it feeds each to the Merkle root, checks
// the checkpoint's, and keeps a window of them for the entries being
// checked.
type trailHashes struct {
	s  *Service
	id string
	n  int
	// win holds the hashes of [lo, lo+len(win)); every hash before it has
	// been read.
	lo  int
	win []string
	// short is set when the store returned fewer hashes than asked: the
	// list ends at lo+len(win).
	short bool
	root  audit.MerkleStream
	// bad is the index of the first hash that is not 64 hex digits (-1:
	// none); no hash after it feeds the root.
	bad int
	// ckptAt is the index whose hash must be ckptHash (-1: none); ckptBad
	// is set when it is not.
	ckptAt   int
	ckptHash string
	ckptBad  bool
	// held maps indices to the hashes the caller holds for them; heldBad
	// is the first index whose stored hash differs (-1: none).
	held    map[int]string
	heldBad int
}

// count returns the number of hashes read.
func (t *trailHashes) count() int { return t.lo + len(t.win) }

// fill reads hashes until those before index to (at most n) are read or the
// list ends, keeping in the window only those from index keep on.
func (t *trailHashes) fill(ctx context.Context, keep, to int) error {
	t.drop(keep)
	for t.count() < to && !t.short {
		lo := t.count()
		hs, short, err := t.s.hashPageAt(ctx, t.id, lo, t.n)
		if err != nil {
			return err
		}
		for k, h := range hs {
			i := lo + k
			if t.bad < 0 {
				if err := t.root.Add(h); err != nil {
					t.bad = i
				}
			}
			if i == t.ckptAt && !equal(h, t.ckptHash) {
				t.ckptBad = true
			}
			if want, ok := t.held[i]; ok && !equal(h, want) && (t.heldBad < 0 || i < t.heldBad) {
				t.heldBad = i
			}
		}
		t.win = append(t.win, hs...)
		t.short = short
		t.drop(keep)
	}
	return nil
}

// drop removes the hashes before index keep from the window.
func (t *trailHashes) drop(keep int) {
	if d := min(keep-t.lo, len(t.win)); d > 0 {
		t.win = t.win[:copy(t.win, t.win[d:])]
		t.lo += d
	}
}

// at returns the stored hash of index i, if there is one before the head:
// from the window, or else (an entry carrying an index other than its
// position) read alone.
func (t *trailHashes) at(ctx context.Context, i int) (string, bool, error) {
	if i >= t.lo && i < t.count() {
		return t.win[i-t.lo], true, nil
	}
	if i < 0 || i >= t.n || t.short && i >= t.count() {
		return "", false, nil
	}
	hs, err := t.s.audit.AuditHashes(ctx, t.id, i, i+1)
	if err != nil {
		return "", false, fmt.Errorf("audit hash %d of %s: %w", i, t.id, err)
	}
	if len(hs) == 0 {
		return "", false, nil
	}
	return hs[0], true, nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
