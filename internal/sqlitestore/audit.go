package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/store/auditbatch"
)

// Audit logs live in audit_entries and audit_heads (schema_audit.go).
// Appends are group-committed per covenant by an auditbatch.Batcher: a batch
// is one write transaction that checks the head and inserts the entries, so
// two processes sharing the file (or two Stores) still never fork a log.

// auditLogs is the Store's audit-log state: the batcher, made on first use
// and stopped by Close.
type auditLogs struct {
	mu   sync.Mutex
	b    *auditbatch.Batcher
	done bool
}

// batcher returns the store's batcher, nil after Close.
func (s *Store) batcher() *auditbatch.Batcher {
	s.audit.mu.Lock()
	defer s.audit.mu.Unlock()
	if s.audit.b == nil && !s.audit.done {
		s.audit.b = auditbatch.New(auditBackend{s})
	}
	return s.audit.b
}

// close stops the batcher; later appends fail with auditbatch.ErrClosed.
func (a *auditLogs) close() {
	a.mu.Lock()
	b := a.b
	a.done = true
	a.mu.Unlock()
	if b != nil {
		b.Close()
	}
}

// rawHash converts a hex hash to bytes (nil for GenesisHash).
func rawHash(h string) ([]byte, error) {
	if h == audit.GenesisHash {
		return nil, nil
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("hash %q is not 64 hex digits: %w", h, store.ErrInvalid)
	}
	return b, nil
}

// hexHash converts a stored hash to hex (NULL or empty is GenesisHash).
func hexHash(raw []byte) string {
	if len(raw) == 0 {
		return audit.GenesisHash
	}
	return hex.EncodeToString(raw)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// heads reads the head and checkpoint of id's log.
func heads(ctx context.Context, q querier, id string) (head, ckpt audit.Head, err error) {
	var n, c int
	var h, ch []byte
	err = q.QueryRowContext(ctx, `SELECT len, hash, ckpt_len, ckpt_hash FROM audit_heads WHERE covenant_id = ?`, id).
		Scan(&n, &h, &c, &ch)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{Hash: audit.GenesisHash}, audit.Head{Hash: audit.GenesisHash}, nil
	}
	if err != nil {
		return head, ckpt, err
	}
	return audit.Head{Len: n, Hash: hexHash(h)}, audit.Head{Len: c, Hash: hexHash(ch)}, nil
}

// auditBackend is the batcher's view of the store.
type auditBackend struct{ s *Store }

func (b auditBackend) Head(ctx context.Context, id string) (audit.Head, error) {
	h, _, err := heads(ctx, b.s.r, id)
	return h, err
}

// auditInsertRows is the number of entries inserted by one statement.
const auditInsertRows = 256

func (b auditBackend) AppendIf(ctx context.Context, id string, prev audit.Head, entries []audit.Entry, bodies [][]byte) (audit.Head, bool, error) {
	hashes := make([][]byte, len(entries))
	for i, e := range entries {
		raw, err := rawHash(e.Hash)
		if err != nil || raw == nil {
			return audit.Head{}, false, fmt.Errorf("entry %d: hash %q: %w", e.Index, e.Hash, store.ErrInvalid)
		}
		hashes[i] = raw
	}
	var cur audit.Head
	appended := false
	err := b.s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if cur, _, err = heads(ctx, tx, id); err != nil {
			return err
		}
		if cur != prev {
			return nil
		}
		args := make([]any, 0, 4*auditInsertRows)
		for lo := 0; lo < len(entries); lo += auditInsertRows {
			hi := min(lo+auditInsertRows, len(entries))
			args = args[:0]
			for i := lo; i < hi; i++ {
				args = append(args, id, entries[i].Index, hashes[i], bodies[i])
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO audit_entries (covenant_id, idx, hash, body) VALUES `+placeholders(hi-lo, 4), args...); err != nil {
				return err
			}
		}
		last := entries[len(entries)-1]
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO audit_heads (covenant_id, len, hash) VALUES (?, ?, ?)
			 ON CONFLICT (covenant_id) DO UPDATE SET len = excluded.len, hash = excluded.hash`,
			id, last.Index+1, hashes[len(hashes)-1]); err != nil {
			return err
		}
		cur = audit.Head{Len: last.Index + 1, Hash: last.Hash}
		appended = true
		return nil
	})
	if err != nil {
		return audit.Head{}, false, err
	}
	return cur, appended, nil
}

// AppendAudit appends to covenantID's audit log; see store.AuditLog and
// auditbatch.Batcher.Append. Concurrent appends to one log are written in
// batches, one transaction each.
func (s *Store) AppendAudit(ctx context.Context, covenantID string, build func(prev audit.Head) (audit.Entry, error)) (audit.Entry, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return audit.Entry{}, fmt.Errorf("sqlitestore: append audit: %w", err)
	}
	b := s.batcher()
	if b == nil {
		return audit.Entry{}, fmt.Errorf("sqlitestore: append to audit log %s: %w", covenantID, auditbatch.ErrClosed)
	}
	e, err := b.Append(ctx, covenantID, build)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("sqlitestore: %w", err)
	}
	return e, nil
}

// AuditHead returns the head of covenantID's audit log.
func (s *Store) AuditHead(ctx context.Context, covenantID string) (audit.Head, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return audit.Head{}, fmt.Errorf("sqlitestore: audit head: %w", err)
	}
	h, _, err := heads(ctx, s.r, covenantID)
	if err != nil {
		return audit.Head{}, fmt.Errorf("sqlitestore: audit head %s: %w", covenantID, err)
	}
	return h, nil
}

// AuditCheckpoint returns the trim point of covenantID's audit log.
func (s *Store) AuditCheckpoint(ctx context.Context, covenantID string) (audit.Head, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return audit.Head{}, fmt.Errorf("sqlitestore: audit checkpoint: %w", err)
	}
	_, c, err := heads(ctx, s.r, covenantID)
	if err != nil {
		return audit.Head{}, fmt.Errorf("sqlitestore: audit checkpoint %s: %w", covenantID, err)
	}
	return c, nil
}

// readTx runs fn in a read transaction (one snapshot).
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// clampAudit clamps [start, end) to [lo, hi); end < 0 means hi.
func clampAudit(start, end, lo, hi int) (int, int) {
	if end < 0 || end > hi {
		end = hi
	}
	start = max(start, lo)
	if start > end {
		start = end
	}
	return start, end
}

// AuditEntries returns the entries of covenantID's log with index in
// [start, end), clamped to [checkpoint, head); end < 0 means the head.
func (s *Store) AuditEntries(ctx context.Context, covenantID string, start, end int) ([]audit.Entry, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return nil, fmt.Errorf("sqlitestore: audit entries: %w", err)
	}
	out := []audit.Entry{}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		head, ckpt, err := heads(ctx, tx, covenantID)
		if err != nil {
			return err
		}
		lo, hi := clampAudit(start, end, ckpt.Len, head.Len)
		if lo >= hi {
			return nil
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT idx, body FROM audit_entries WHERE covenant_id = ? AND idx >= ? AND idx < ? ORDER BY idx`,
			covenantID, lo, hi)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var idx int
			var body []byte
			if err := rows.Scan(&idx, &body); err != nil {
				return err
			}
			e, err := audit.ParseEntry(body)
			if err != nil {
				return fmt.Errorf("stored entry %d: %w", idx, err)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: audit entries %s: %w", covenantID, err)
	}
	return out, nil
}

// AuditHashes returns the hashes of the entries with index in [start, end)
// of covenantID's log (end < 0: the head), trimmed ones included. The k-th
// hash is that of entry start+k: a row missing from the table ends the list
// there.
func (s *Store) AuditHashes(ctx context.Context, covenantID string, start, end int) ([]string, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return nil, fmt.Errorf("sqlitestore: audit hashes: %w", err)
	}
	out := []string{}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		head, _, err := heads(ctx, tx, covenantID)
		if err != nil {
			return err
		}
		lo, hi := clampAudit(start, end, 0, head.Len)
		if lo >= hi {
			return nil
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT idx, hash FROM audit_entries WHERE covenant_id = ? AND idx >= ? AND idx < ? ORDER BY idx`,
			covenantID, lo, hi)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var idx int
			var h []byte
			if err := rows.Scan(&idx, &h); err != nil {
				return err
			}
			if idx != lo+len(out) {
				// A row deleted behind the store's back: the list ends at
				// the gap, so that the hashes after it are not taken for
				// those of the indexes before them (VerifyTrail reports the
				// break at the gap, Proof refuses the indexes beyond it).
				break
			}
			out = append(out, hex.EncodeToString(h))
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: audit hashes %s: %w", covenantID, err)
	}
	return out, nil
}

// TrimAudit deletes the bodies of covenantID's entries before upTo, keeping
// their hashes, and returns the new checkpoint.
func (s *Store) TrimAudit(ctx context.Context, covenantID string, upTo int) (audit.Head, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return audit.Head{}, fmt.Errorf("sqlitestore: trim audit: %w", err)
	}
	if upTo < 0 {
		return audit.Head{}, fmt.Errorf("sqlitestore: trim audit %s: negative index %d: %w", covenantID, upTo, store.ErrInvalid)
	}
	var ckpt audit.Head
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		head, c, err := heads(ctx, tx, covenantID)
		if err != nil {
			return err
		}
		if upTo > head.Len {
			return fmt.Errorf("up to %d: beyond the head %d: %w", upTo, head.Len, store.ErrInvalid)
		}
		ckpt = c
		if upTo <= c.Len {
			return nil
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE audit_entries SET body = NULL WHERE covenant_id = ? AND idx >= ? AND idx < ?`,
			covenantID, c.Len, upTo); err != nil {
			return err
		}
		var h []byte
		if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_entries WHERE covenant_id = ? AND idx = ?`,
			covenantID, upTo-1).Scan(&h); err != nil {
			return fmt.Errorf("hash of entry %d: %w", upTo-1, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE audit_heads SET ckpt_len = ?, ckpt_hash = ? WHERE covenant_id = ?`,
			upTo, h, covenantID); err != nil {
			return err
		}
		ckpt = audit.Head{Len: upTo, Hash: hexHash(h)}
		return nil
	})
	if err != nil {
		return audit.Head{}, fmt.Errorf("sqlitestore: trim audit %s: %w", covenantID, err)
	}
	return ckpt, nil
}

// ResetAudit deletes covenantID's audit log, checkpoint included.
func (s *Store) ResetAudit(ctx context.Context, covenantID string) error {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return fmt.Errorf("sqlitestore: reset audit: %w", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_entries WHERE covenant_id = ?`, covenantID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM audit_heads WHERE covenant_id = ?`, covenantID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: reset audit %s: %w", covenantID, err)
	}
	if b := s.batcher(); b != nil {
		b.Forget(covenantID)
	}
	return nil
}
