package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stele-go/stele/internal/store"
)

// schemaBlobs is migration 4: staged blobs (store.Blobs), apart from the
// documents table and its listing indexes.
const schemaBlobs = `
CREATE TABLE blobs (
	id         TEXT PRIMARY KEY,
	data       BLOB NOT NULL,
	expires_at INTEGER NOT NULL -- Unix ns
);
CREATE INDEX blobs_expires ON blobs (expires_at);
`

// schemaLegacyBlobs is migration 5: earlier versions staged documents as
// registry documents named "blob:<sha256>". They move to the blobs table,
// for a day (chunks still queued that name them read them there), and
// leave the registry.
const schemaLegacyBlobs = `
INSERT OR IGNORE INTO blobs (id, data, expires_at)
	SELECT substr(id, 6), doc, (CAST(strftime('%s', 'now') AS INTEGER) + 86400) * 1000000000
	FROM documents WHERE id LIKE 'blob:%';
DELETE FROM document_tags WHERE doc_id LIKE 'blob:%';
DELETE FROM documents WHERE id LIKE 'blob:%';
`

// PutBlobs stores staged blobs for the job TTL; see store.Blobs.
func (s *Store) PutBlobs(ctx context.Context, blobs []store.Blob) error {
	if err := store.CheckBlobs(blobs); err != nil {
		return fmt.Errorf("sqlitestore: put blobs: %w", err)
	}
	if len(blobs) == 0 {
		return nil
	}
	expires := s.nowNano() + s.opts.jobTTL.Nanoseconds()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, b := range blobs {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO blobs (id, data, expires_at) VALUES (?, ?, ?)
				 ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`,
				b.ID, b.Data, expires); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: put %d blobs: %w", len(blobs), err)
	}
	return nil
}

// GetBlobs reads staged blobs; see store.Blobs.
func (s *Store) GetBlobs(ctx context.Context, ids []string) ([][]byte, error) {
	out, err := s.lookupBytes(ctx, `SELECT id, data FROM blobs WHERE expires_at > ? AND id IN `, []any{s.nowNano()}, ids)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get %d blobs: %w", len(ids), err)
	}
	return out, nil
}

// purgeBlobs deletes the blobs expired at now (Unix ns), in short
// statements.
func (s *Store) purgeBlobs(ctx context.Context, now int64) error {
	for {
		res, err := s.w.ExecContext(ctx,
			`DELETE FROM blobs WHERE id IN (SELECT id FROM blobs WHERE expires_at <= ? LIMIT 100)`, now)
		if err != nil {
			return fmt.Errorf("sqlitestore: purge blobs: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlitestore: purge blobs: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
}
