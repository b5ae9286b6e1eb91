package audit

import (
	"fmt"
	"sync"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/keys"
)

// ChainResult is the result recorded by a standalone chain entry.
type ChainResult string

// Chain results.
const (
	ChainPermitted ChainResult = "permitted"
	ChainDenied    ChainResult = "denied"
	ChainError     ChainResult = "error"
)

// ChainRecord is what a caller appends to a Chain.
type ChainRecord struct {
	Timestamp  string
	Action     string
	Resource   string
	CovenantID string
	Result     ChainResult
}

// ChainEntry is one entry of a standalone AuditChain (§6.5).
type ChainEntry struct {
	ID           string // 32 random hex digits
	Timestamp    string
	Action       string
	Resource     string
	CovenantID   string
	Result       ChainResult
	PreviousHash string
	Nonce        string // 64 random hex digits
	Hash         string
}

// chainMembers are the member names in the reference's order; every one but
// hash is hashed.
var chainMembers = [...]string{"id", "timestamp", "action", "resource", "covenantId", "result", "previousHash", "nonce", "hash"}

func (e *ChainEntry) fields() [9]*string {
	r := (*string)(&e.Result)
	return [9]*string{&e.ID, &e.Timestamp, &e.Action, &e.Resource, &e.CovenantID, r, &e.PreviousHash, &e.Nonce, &e.Hash}
}

// ComputeHash returns the SHA-256 of the canonical JSON of every member but
// hash.
func (e *ChainEntry) ComputeHash() string {
	o := canon.NewObject(8)
	f := e.fields()
	for i, name := range chainMembers[:8] {
		o.Set(name, *f[i])
	}
	return keys.SHA256Hex(canon.Canonical(o))
}

func (e *ChainEntry) object() *canon.Object {
	o := canon.NewObject(9)
	f := e.fields()
	for i, name := range chainMembers {
		o.Set(name, *f[i])
	}
	return o
}

// Chain is the reference's standalone AuditChain: a hash chain of
// ChainEntry values with random ids and nonces. It is safe for concurrent use.
// The zero Chain is empty and ready to use.
type Chain struct {
	mu      sync.Mutex
	entries []ChainEntry
}

// NewChain returns an empty chain.
func NewChain() *Chain { return &Chain{} }

// Append adds r with a fresh random id and nonce, linked to the last entry,
// and returns the entry. It fails only if the system's randomness does.
func (c *Chain) Append(r ChainRecord) (ChainEntry, error) {
	id, err := keys.RandomID(16)
	if err != nil {
		return ChainEntry{}, fmt.Errorf("audit chain append: %w", err)
	}
	nonce, err := keys.Nonce()
	if err != nil {
		return ChainEntry{}, fmt.Errorf("audit chain append: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := ChainEntry{
		ID: id, Timestamp: r.Timestamp, Action: r.Action, Resource: r.Resource,
		CovenantID: r.CovenantID, Result: r.Result, PreviousHash: GenesisHash, Nonce: nonce,
	}
	if n := len(c.entries); n > 0 {
		e.PreviousHash = c.entries[n-1].Hash
	}
	e.Hash = e.ComputeHash()
	c.entries = append(c.entries, e)
	return e, nil
}

// ChainVerification is the result of Verify and VerifyRange. BrokenAt is the
// first failing index, -1 when Valid.
type ChainVerification struct {
	Valid    bool
	BrokenAt int
	Entries  int // the chain's length (Verify only)
}

// Verify checks the whole chain.
func (c *Chain) Verify() ChainVerification {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := verifyChainRange(c.entries, 0, len(c.entries)-1)
	v.Entries = len(c.entries)
	return v
}

// VerifyRange checks entries start..end inclusive, clamped to the chain:
// each must link to its predecessor (entry 0 to GenesisHash) and its hash
// must recompute.
func (c *Chain) VerifyRange(start, end int) ChainVerification {
	c.mu.Lock()
	defer c.mu.Unlock()
	return verifyChainRange(c.entries, start, end)
}

func verifyChainRange(es []ChainEntry, start, end int) ChainVerification {
	start = max(start, 0)
	end = min(end, len(es)-1)
	for i := start; i <= end; i++ {
		want := GenesisHash
		if i > 0 {
			want = es[i-1].Hash
		}
		if !equalHash(es[i].PreviousHash, want) || !equalHash(es[i].ComputeHash(), es[i].Hash) {
			return ChainVerification{BrokenAt: i}
		}
	}
	return ChainVerification{Valid: true, BrokenAt: -1}
}

// Entries returns a copy of the entries.
func (c *Chain) Entries() []ChainEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ChainEntry(nil), c.entries...)
}

// Latest returns the last entry; ok is false for an empty chain.
func (c *Chain) Latest() (e ChainEntry, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 {
		return ChainEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// ChainStats counts entries by result.
type ChainStats struct {
	Total, Permitted, Denied, Errors int
}

// Stats counts the entries by result.
func (c *Chain) Stats() ChainStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := ChainStats{Total: len(c.entries)}
	for _, e := range c.entries {
		switch e.Result {
		case ChainPermitted:
			s.Permitted++
		case ChainDenied:
			s.Denied++
		case ChainError:
			s.Errors++
		}
	}
	return s
}

// Export returns the chain as a plain JSON array, members in the reference's
// order (id, timestamp, action, resource, covenantId, result, previousHash,
// nonce, hash).
func (c *Chain) Export() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	arr := make([]any, len(c.entries))
	for i := range c.entries {
		arr[i] = c.entries[i].object()
	}
	return canon.AppendJSON(nil, arr)
}

// ImportChain parses an exported chain within canon's default limits and
// verifies it (AuditChain.import). Input that is not a JSON array of objects
// fails with ErrInvalidInput; an entry lacking a string member, or failing
// verification, fails with an *IntegrityError (ErrIntegrity) at its index.
func ImportChain(data []byte) (*Chain, error) {
	return ImportChainLimits(data, canon.Limits{})
}

// ImportChainLimits is ImportChain with explicit parse limits.
func ImportChainLimits(data []byte, l canon.Limits) (*Chain, error) {
	v, err := canon.ParseLimits(data, l)
	if err != nil {
		return nil, fmt.Errorf("import audit chain: %w: %w", ErrInvalidInput, err)
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("import audit chain: expected a JSON array: %w", ErrInvalidInput)
	}
	c := &Chain{entries: make([]ChainEntry, len(arr))}
	for i, x := range arr {
		o, ok := x.(*canon.Object)
		if !ok || o == nil {
			return nil, fmt.Errorf("import audit chain: %w", &IntegrityError{Index: i, Reason: "entry is not an object"})
		}
		f := c.entries[i].fields()
		for j, name := range chainMembers {
			s, ok := o.String(name)
			if !ok {
				return nil, fmt.Errorf("import audit chain: %w", &IntegrityError{Index: i, Reason: fmt.Sprintf("%q is not a string", name)})
			}
			*f[j] = s
		}
	}
	if r := verifyChainRange(c.entries, 0, len(c.entries)-1); !r.Valid {
		return nil, fmt.Errorf("import audit chain: %w", &IntegrityError{Index: r.BrokenAt, Reason: "hash or link mismatch"})
	}
	return c, nil
}
