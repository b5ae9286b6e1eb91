package audit

import (
	"context"
	"fmt"
	"sync"
)

// Head describes the end of a log.
type Head struct {
	// Len is the number of entries, which is also the index of the next.
	Len int
	// Hash is the hash of the last entry, GenesisHash when the log is empty.
	Hash string
}

// Log stores audit logs, one hash chain per covenant id. Implementations must
// be safe for concurrent use, and Append must advance the head atomically:
// however many goroutines or processes append to one covenant's log, every
// entry extends the head its builder was given and no two entries share an
// index.
type Log interface {
	// Append calls build with the current head of covenantID's log and
	// appends the entry it returns, which must have Index prev.Len and
	// PreviousHash prev.Hash (else Append fails with ErrHeadMoved) and should
	// carry its hash. No other entry may be appended to that log between the
	// read of prev and the append. An implementation that cannot hold a lock
	// (a shared store using compare-and-set) may call build again with the
	// newer head after losing a race, so build must have no side effects. An
	// error from build is returned as it is. Append returns the entry stored.
	Append(ctx context.Context, covenantID string, build func(prev Head) (Entry, error)) (Entry, error)
	// Head returns the current head of covenantID's log; an unknown
	// covenant has Head{0, GenesisHash}.
	Head(ctx context.Context, covenantID string) (Head, error)
	// Entries returns the entries with indexes in [start, end) of
	// covenantID's log, clamped to the log; end < 0 means the end of the
	// log. Callers may modify the returned entries.
	Entries(ctx context.Context, covenantID string, start, end int) ([]Entry, error)
	// Reset deletes covenantID's log.
	Reset(ctx context.Context, covenantID string) error
}

// MemoryLog is a Log held in process memory. The zero MemoryLog is ready to
// use; it must not be copied after first use.
type MemoryLog struct {
	mu   sync.Mutex
	logs map[string][]Entry
}

var _ Log = (*MemoryLog)(nil)

// NewMemoryLog returns an empty MemoryLog.
func NewMemoryLog() *MemoryLog { return &MemoryLog{} }

func headOf(entries []Entry) Head {
	if len(entries) == 0 {
		return Head{Hash: GenesisHash}
	}
	return Head{Len: len(entries), Hash: entries[len(entries)-1].Hash}
}

// Append implements Log. build runs with the log's lock held, so the head it
// receives is the head the entry is appended to.
func (l *MemoryLog) Append(ctx context.Context, covenantID string, build func(prev Head) (Entry, error)) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, fmt.Errorf("append to audit log %s: %w", covenantID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	prev := headOf(l.logs[covenantID])
	e, err := build(prev)
	if err != nil {
		return Entry{}, err
	}
	if e.Index != prev.Len || e.PreviousHash != prev.Hash {
		return Entry{}, fmt.Errorf("append to audit log %s: entry %d links to %.12s…, head is %d at %.12s…: %w",
			covenantID, e.Index, e.PreviousHash, prev.Len, prev.Hash, ErrHeadMoved)
	}
	if l.logs == nil {
		l.logs = make(map[string][]Entry)
	}
	l.logs[covenantID] = append(l.logs[covenantID], e.Clone())
	return e, nil
}

// Head implements Log.
func (l *MemoryLog) Head(ctx context.Context, covenantID string) (Head, error) {
	if err := ctx.Err(); err != nil {
		return Head{}, fmt.Errorf("audit log head %s: %w", covenantID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return headOf(l.logs[covenantID]), nil
}

// Entries implements Log; it returns deep copies.
func (l *MemoryLog) Entries(ctx context.Context, covenantID string, start, end int) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("audit log entries %s: %w", covenantID, err)
	}
	l.mu.Lock()
	src := l.logs[covenantID]
	start, end = clampRange(start, end, len(src))
	// Entries are never modified once appended, so copying them can happen
	// outside the lock from this snapshot of the slice header.
	src = src[start:end:end]
	l.mu.Unlock()
	out := make([]Entry, len(src))
	for i := range src {
		out[i] = src[i].Clone()
	}
	return out, nil
}

// Reset implements Log.
func (l *MemoryLog) Reset(ctx context.Context, covenantID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reset audit log %s: %w", covenantID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.logs, covenantID)
	return nil
}

func clampRange(start, end, n int) (int, int) {
	if end < 0 || end > n {
		end = n
	}
	if start < 0 {
		start = 0
	}
	if start > end {
		start = end
	}
	return start, end
}
