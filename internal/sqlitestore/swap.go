package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stele-go/stele/internal/store"
)

// SwapDocument replaces a document's JSON if it is still prev; see
// store.Documents.
func (s *Store) SwapDocument(ctx context.Context, id string, prev, next []byte) error {
	if err := store.CheckID("document", id); err != nil {
		return fmt.Errorf("sqlitestore: swap document: %w", err)
	}
	if len(prev) == 0 || len(next) == 0 {
		return fmt.Errorf("sqlitestore: swap document %s: empty JSON: %w", id, store.ErrInvalid)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE documents SET doc = ? WHERE id = ? AND doc = ?`, next, id, prev)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM documents WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		return store.ErrConflict
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: swap document %s: %w", id, err)
	}
	return nil
}
