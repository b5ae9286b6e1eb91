package audit

import "strconv"

// VerifyIntegrity checks a whole log (verifyAuditLogIntegrity): entry i must
// have index i, the previousHash of entry 0 must be GenesisHash and that of
// every later entry the hash of the one before, and every hash must recompute.
// It returns nil for an intact (or empty) log, else an *IntegrityError for the
// first broken entry, which wraps ErrIntegrity.
//
// A deleted entry is reported at the entry after the gap, an edited entry at
// itself, and reordered entries at the first one out of place.
func VerifyIntegrity(entries []Entry) error {
	return VerifyFrom(Head{Hash: GenesisHash}, entries)
}

// VerifyFrom checks entries as the continuation of a log whose head is prev:
// entries[k] must have index prev.Len+k and link to prev.Hash (for k = 0) or
// to entries[k-1]. It lets a long log be verified in segments. Reported
// indexes are log indexes (prev.Len+k).
func VerifyFrom(prev Head, entries []Entry) error {
	base := prev.Len
	for k := range entries {
		e := &entries[k]
		i := base + k
		if e.Index != i {
			return &IntegrityError{Index: i, Reason: "index field is " + strconv.Itoa(e.Index)}
		}
		if !equalHash(e.PreviousHash, prev.Hash) {
			return &IntegrityError{Index: i, Reason: "previousHash does not match the previous entry's hash"}
		}
		if !equalHash(e.ComputeHash(), e.Hash) {
			return &IntegrityError{Index: i, Reason: "hash does not match the entry's content"}
		}
		prev = Head{Len: i + 1, Hash: e.Hash}
	}
	return nil
}
