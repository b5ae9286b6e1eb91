package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stele-go/stele/internal/store"
)

// GetSigs looks keys up in the signature cache; see store.SigCache.
func (s *Store) GetSigs(ctx context.Context, keys [][32]byte) ([]byte, error) {
	out := make([]byte, len(keys))
	pos := make(map[[32]byte][]int, len(keys))
	for i, k := range keys {
		pos[k] = append(pos[k], i)
	}
	now := s.nowNano()
	args := make([]any, 0, lookupBatch+1)
	for lo := 0; lo < len(keys); lo += lookupBatch {
		hi := min(lo+lookupBatch, len(keys))
		args = append(args[:0], now)
		for i := lo; i < hi; i++ {
			args = append(args, keys[i][:])
		}
		err := func() error {
			rows, err := s.r.QueryContext(ctx,
				`SELECT key, outcome FROM sigs WHERE expires_at > ? AND key IN `+placeholders(1, hi-lo), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var key []byte
				var o byte
				if err := rows.Scan(&key, &o); err != nil {
					return err
				}
				if len(key) != 32 || (o != store.SigValid && o != store.SigInvalid) {
					continue
				}
				for _, i := range pos[[32]byte(key)] {
					out[i] = o
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: get %d signature outcomes: %w", len(keys), err)
		}
	}
	return out, nil
}

// sigRows is the number of entries written by one statement.
const sigRows = 256

// PutSigs records signature outcomes with the cache TTL; see store.SigCache.
func (s *Store) PutSigs(ctx context.Context, keys [][32]byte, valid []bool) error {
	if err := store.CheckSigs(keys, valid); err != nil {
		return fmt.Errorf("sqlitestore: put signature outcomes: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	expires := s.nowNano() + s.opts.sigTTL.Nanoseconds()
	err := s.inTx(ctx, func(tx *sql.Tx) error { return putSigsTx(ctx, tx, keys, valid, expires) })
	if err != nil {
		return fmt.Errorf("sqlitestore: put %d signature outcomes: %w", len(keys), err)
	}
	return nil
}

// putSigsTx writes signature outcomes expiring at expires (Unix ns) in tx.
func putSigsTx(ctx context.Context, tx *sql.Tx, keys [][32]byte, valid []bool, expires int64) error {
	args := make([]any, 0, 3*sigRows)
	for lo := 0; lo < len(keys); lo += sigRows {
		hi := min(lo+sigRows, len(keys))
		args = args[:0]
		for i := lo; i < hi; i++ {
			o := store.SigInvalid
			if valid[i] {
				o = store.SigValid
			}
			args = append(args, keys[i][:], o, expires)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sigs (key, outcome, expires_at) VALUES `+placeholders(hi-lo, 3)+
			` ON CONFLICT (key) DO UPDATE SET outcome = excluded.outcome, expires_at = excluded.expires_at`, args...)
		if err != nil {
			return err
		}
	}
	return nil
}
