package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/stele-go/stele/internal/store"
)

// schemaRegistry is migration 2: the revocation list, the directory of
// signing keys, and listing by createdAt milliseconds. created_ms
// (store.CreatedMillis of created_at) orders listings by the same number as
// the Redis indexes' scores; the indexes on the created_at text are replaced
// by ones on (…, created_ms, id), which also serve the cursor. Existing rows
// get their created_ms from backfillCreatedMs, in the same transaction.
const schemaRegistry = `
CREATE TABLE revocations (
	public_key TEXT PRIMARY KEY,  -- lowercase hex
	key_id     TEXT NOT NULL,     -- "" when unknown
	reason     TEXT NOT NULL,
	revoked_at INTEGER NOT NULL   -- Unix ns
) WITHOUT ROWID;
CREATE INDEX revocations_time ON revocations (revoked_at, public_key);

CREATE TABLE signing_keys (
	key_id     TEXT PRIMARY KEY,
	public_key TEXT NOT NULL,     -- lowercase hex
	retired    INTEGER NOT NULL,
	seen_at    INTEGER NOT NULL   -- Unix ns
) WITHOUT ROWID;

ALTER TABLE documents ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE document_tags ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
DROP INDEX documents_issuer;
DROP INDEX documents_beneficiary;
DROP INDEX documents_created;
DROP INDEX documents_chain;
CREATE INDEX documents_issuer ON documents (issuer_id, created_ms, id);
CREATE INDEX documents_beneficiary ON documents (beneficiary_id, created_ms, id);
CREATE INDEX documents_created ON documents (created_ms, id);
CREATE INDEX documents_chain ON documents (has_chain, created_ms, id);
CREATE INDEX document_tags_created ON document_tags (tag, created_ms, doc_id);
`

// backfillCreatedMs sets created_ms of the documents and tags stored before
// migration 2 (a Go function, so that it agrees with store.CreatedMillis
// exactly, also for odd timestamps).
func backfillCreatedMs(ctx context.Context, tx *sql.Tx) error {
	const batch = 1000
	upd, err := tx.PrepareContext(ctx, `UPDATE documents SET created_ms = ? WHERE rowid = ?`)
	if err != nil {
		return fmt.Errorf("backfill created_ms: %w", err)
	}
	defer upd.Close()
	type row struct {
		rowid int64
		ms    int64
	}
	rows := make([]row, 0, batch)
	for last := int64(math.MinInt64); ; {
		rows = rows[:0]
		n, err := func() (int, error) {
			rs, err := tx.QueryContext(ctx, `SELECT rowid, created_at FROM documents WHERE rowid > ? ORDER BY rowid LIMIT ?`, last, batch)
			if err != nil {
				return 0, err
			}
			defer rs.Close()
			n := 0
			for rs.Next() {
				var r row
				var createdAt string
				if err := rs.Scan(&r.rowid, &createdAt); err != nil {
					return 0, err
				}
				n++
				last = r.rowid
				if r.ms = store.CreatedMillis(createdAt); r.ms != 0 {
					rows = append(rows, r)
				}
			}
			return n, rs.Err()
		}()
		if err != nil {
			return fmt.Errorf("backfill created_ms: %w", err)
		}
		for _, r := range rows {
			if _, err := upd.ExecContext(ctx, r.ms, r.rowid); err != nil {
				return fmt.Errorf("backfill created_ms: %w", err)
			}
		}
		if n < batch {
			break
		}
	}
	_, err = tx.ExecContext(ctx, `
UPDATE document_tags SET created_ms = (SELECT created_ms FROM documents WHERE id = document_tags.doc_id)
WHERE EXISTS (SELECT 1 FROM documents WHERE id = document_tags.doc_id)`)
	if err != nil {
		return fmt.Errorf("backfill created_ms of tags: %w", err)
	}
	return nil
}
