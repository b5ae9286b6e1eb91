package covenant

import (
	"context"
	"sync"
)

// MemorySignatureCache is a bounded in-process SignatureCache. When full it
// forgets the oldest entry. It is safe for concurrent use.
type MemorySignatureCache struct {
	mu      sync.Mutex
	max     int
	entries map[[32]byte]bool
	order   [][32]byte // ring of inserted keys, oldest at next
	next    int
}

var _ SignatureCache = (*MemorySignatureCache)(nil)

// NewMemorySignatureCache returns a cache holding at most max entries
// (at least 1).
func NewMemorySignatureCache(max int) *MemorySignatureCache {
	if max < 1 {
		max = 1
	}
	return &MemorySignatureCache{max: max, entries: make(map[[32]byte]bool)}
}

// Len reports the number of entries.
func (c *MemorySignatureCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// GetSigs returns, per key, 0 when unknown, 1 when valid, 2 when invalid.
func (c *MemorySignatureCache) GetSigs(_ context.Context, keys [][32]byte) ([]byte, error) {
	out := make([]byte, len(keys))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		if ok, found := c.entries[k]; found {
			out[i] = outcome(ok)
		}
	}
	return out, nil
}

// PutSigs records outcomes; keys already present keep their first outcome
// (outcomes are deterministic, so both are equal).
func (c *MemorySignatureCache) PutSigs(_ context.Context, keys [][32]byte, valid []bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		if i >= len(valid) {
			break
		}
		if _, found := c.entries[k]; found {
			continue
		}
		if len(c.order) < c.max {
			c.order = append(c.order, k)
		} else {
			delete(c.entries, c.order[c.next])
			c.order[c.next] = k
			c.next = (c.next + 1) % c.max
		}
		c.entries[k] = valid[i]
	}
	return nil
}
