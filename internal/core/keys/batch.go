package keys

import "github.com/hdevalence/ed25519consensus"

// Tuning of BatchVerifier's search for bad entries; see its cost model.
const (
	// singleBelow: groups smaller than this are verified one by one; a batch
	// of two or three costs about as much as verifying them singly.
	singleBelow = 4
	// fanout: a failed group is split into this many parts. Eight parts
	// isolate one bad entry with about one further pass over the batch
	// (halving needs up to two).
	fanout = 8
	// bisectBudgetQuarters: after the first batch, at most this many
	// quarters of n entries may enter further batches.
	bisectBudgetQuarters = 5
)

// BatchVerifier verifies many (public key, message, signature) triples
// together with ed25519consensus's ZIP-215 batch verifier, and reports a
// result per entry that is identical to calling [Verify] on that entry.
//
// Entries whose key or signature has the wrong length, or whose S is not
// below the group order, are recorded as failed when added and never enter
// a batch. Entries whose key or R has one of the unusual encodings on which
// the reference and ZIP-215 compute different challenges (see [Verify]) are
// verified singly; honest signatures never have them. When a batch fails, Verify splits it into eight parts and
// batch-verifies each (skipping the last when the other seven pass, since it
// must then hold a bad entry), recursing into the parts that fail and
// verifying parts of fewer than four entries singly. It thus finds exactly
// the bad entries.
//
// Cost model. Let v be the cost of one single verification (two point
// decompressions, a double-base scalar multiplication and a SHA-512 pass
// over the message). In a batch each entry still needs its decompressions
// and its hash but shares the doublings, so it costs about 0.55·v. Hence:
//
//   - all n entries valid: one batch, about 0.55·n·v;
//   - one bad entry: about one further pass, about 1.2·n·v in all, a little
//     more than verifying singly from the start;
//   - many bad entries: the search batch-verifies at most 1.25·n further
//     entries and then verifies the remaining suspect groups singly, so the
//     cost stays below about 2.5·n·v.
//
// Measured in CPU time on a 2-core Xeon with n = 256 and 100-byte messages:
// v = 54 µs, so 13.7 ms for 256 single verifications; one batch 7.5 ms
// (29 µs per signature); with 1, 4, 16 and 64 bad entries 16, 22, 25 and
// 32 ms.
//
// Every sub-batch decompresses its points and hashes its messages again
// (ed25519consensus keeps no state between batches), which is why the
// search is not cheaper. Batch verification therefore pays when bad
// signatures are rare, which is the case it is meant for; callers expecting
// many bad signatures should call [Verify] per entry. Malformed entries cost
// nothing.
//
// Add copies the key and signature but retains msg until Reset: the caller
// must not modify a message between Add and the end of Verify. A
// BatchVerifier is not safe for concurrent use; reuse one with Reset to
// keep its allocations.
type BatchVerifier struct {
	entries []batchEntry
	idx     []int // scratch: indices of well-formed entries

	// budget is the number of entries that may still enter a batch during
	// this Verify; past it, suspect groups are verified singly.
	budget int

	// work counters, read by tests of the search cost
	batches, batched, singles int
}

type batchEntry struct {
	pub  [PublicKeySize]byte
	sig  [SignatureSize]byte
	msg  []byte
	good bool // well-formed; only good entries are verified
	// unusual: A or R has an encoding on which the reference's challenge
	// differs from ed25519consensus's (see Verify); verified singly.
	unusual bool
}

// NewBatchVerifier returns an empty BatchVerifier with room for n entries.
func NewBatchVerifier(n int) *BatchVerifier {
	n = max(n, 0)
	return &BatchVerifier{
		entries: make([]batchEntry, 0, n),
		idx:     make([]int, 0, n),
	}
}

// Add queues one signature and returns its index in Verify's result.
func (b *BatchVerifier) Add(pub, msg, sig []byte) int {
	b.entries = append(b.entries, batchEntry{})
	e := &b.entries[len(b.entries)-1]
	if len(pub) == PublicKeySize && len(sig) == SignatureSize && canonicalS(sig[32:]) {
		copy(e.pub[:], pub)
		copy(e.sig[:], sig)
		e.msg = msg
		e.good = true
		e.unusual = !ordinaryEncoding(pub) || !ordinaryEncoding(sig[:32])
	}
	return len(b.entries) - 1
}

// Len returns the number of entries added since the last Reset.
func (b *BatchVerifier) Len() int { return len(b.entries) }

// Reset empties the verifier, keeping its allocations, and drops its
// references to the messages.
func (b *BatchVerifier) Reset() {
	clear(b.entries)
	b.entries = b.entries[:0]
	b.idx = b.idx[:0]
	b.batches, b.batched, b.singles = 0, 0, 0
}

// Verify returns, for each added entry in order, whether it verifies. The
// result is identical to calling [Verify] on each entry (up to the 2^-128
// chance, inherent in batch verification, that a batch holding a bad
// signature passes). An empty verifier returns an empty slice. Verify may be
// called again, also after further Adds; the returned slice belongs to the
// caller.
func (b *BatchVerifier) Verify() []bool {
	res := make([]bool, len(b.entries))
	b.idx = b.idx[:0]
	for i := range b.entries {
		switch e := &b.entries[i]; {
		case !e.good:
		case e.unusual:
			b.singles++
			res[i] = Verify(e.pub[:], e.msg, e.sig[:])
		default:
			b.idx = append(b.idx, i)
		}
	}
	n := len(b.idx)
	b.budget = n + n*bisectBudgetQuarters/4
	b.resolve(b.idx, res, false)
	return res
}

// resolve fills res for the entries idx and reports whether all of them are
// valid. knownBad says that idx is already known to hold an invalid entry,
// which saves a batch that would fail.
func (b *BatchVerifier) resolve(idx []int, res []bool, knownBad bool) bool {
	if len(idx) < singleBelow || (!knownBad && len(idx) > b.budget) {
		all := true
		for _, i := range idx {
			e := &b.entries[i]
			b.singles++
			// Batched entries have ordinary encodings, on which Verify is
			// ed25519consensus.Verify.
			res[i] = ed25519consensus.Verify(e.pub[:], e.msg, e.sig[:])
			all = all && res[i]
		}
		return all
	}
	if !knownBad && b.batch(idx) {
		for _, i := range idx {
			res[i] = true
		}
		return true
	}
	q := min(fanout, len(idx))
	prevValid := true
	for j := range q {
		part := idx[j*len(idx)/q : (j+1)*len(idx)/q]
		ok := b.resolve(part, res, j == q-1 && prevValid)
		prevValid = prevValid && ok
	}
	return false
}

// batch reports whether all entries idx verify as one batch.
func (b *BatchVerifier) batch(idx []int) bool {
	b.batches++
	b.batched += len(idx)
	b.budget -= len(idx)
	bv := ed25519consensus.NewPreallocatedBatchVerifier(len(idx))
	for _, i := range idx {
		e := &b.entries[i]
		bv.Add(e.pub[:], e.msg, e.sig[:])
	}
	return bv.Verify()
}
