package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stele-go/stele/internal/store"
)

// docsPerTx bounds the documents written by one transaction, so that a large
// PutDocuments does not hold the write lock for long.
const docsPerTx = 500

// PutDocuments stores documents with their index columns and tags; see
// store.Documents. A large call is written in several transactions.
func (s *Store) PutDocuments(ctx context.Context, docs []store.Document) error {
	if err := store.CheckDocuments(docs); err != nil {
		return fmt.Errorf("sqlitestore: put documents: %w", err)
	}
	for lo := 0; lo < len(docs); lo += docsPerTx {
		batch := docs[lo:min(lo+docsPerTx, len(docs))]
		err := s.inTx(ctx, func(tx *sql.Tx) error { return putDocumentsTx(ctx, tx, batch) })
		if err != nil {
			return fmt.Errorf("sqlitestore: put documents: %w", err)
		}
	}
	return nil
}

// putDocumentsTx writes docs with their index columns and tags in tx.
func putDocumentsTx(ctx context.Context, tx *sql.Tx, docs []store.Document) error {
	upsert, err := tx.PrepareContext(ctx, `
INSERT INTO documents (id, doc, issuer_id, beneficiary_id, created_at, has_chain, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, issuer_id = excluded.issuer_id,
beneficiary_id = excluded.beneficiary_id, created_at = excluded.created_at, has_chain = excluded.has_chain,
created_ms = excluded.created_ms`)
	if err != nil {
		return err
	}
	defer upsert.Close()
	clearTags, err := tx.PrepareContext(ctx, `DELETE FROM document_tags WHERE doc_id = ?`)
	if err != nil {
		return err
	}
	defer clearTags.Close()
	addTag, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO document_tags (tag, doc_id, created_ms) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer addTag.Close()
	create, err := tx.PrepareContext(ctx, `
INSERT INTO documents (id, doc, issuer_id, beneficiary_id, created_at, has_chain, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return err
	}
	defer create.Close()
	for _, d := range docs {
		ms := store.CreatedMillis(d.CreatedAt)
		stmt := upsert
		if d.CreateOnly {
			stmt = create
		}
		res, err := stmt.ExecContext(ctx, d.ID, d.JSON, d.IssuerID, d.BeneficiaryID, d.CreatedAt, d.HasChain, ms)
		if err != nil {
			return fmt.Errorf("document %s: %w", d.ID, err)
		}
		if d.CreateOnly {
			// Already stored: its tags (signed content, like its ID) are too.
			if n, err := res.RowsAffected(); err == nil && n == 0 {
				continue
			}
		}
		if _, err := clearTags.ExecContext(ctx, d.ID); err != nil {
			return fmt.Errorf("document %s: %w", d.ID, err)
		}
		for _, tag := range store.IndexedTags(d.Tags) {
			if _, err := addTag.ExecContext(ctx, tag, d.ID, ms); err != nil {
				return fmt.Errorf("document %s: %w", d.ID, err)
			}
		}
	}
	return nil
}

// GetDocument returns a document's JSON; see store.Documents.
func (s *Store) GetDocument(ctx context.Context, id string) ([]byte, error) {
	if err := store.CheckID("document", id); err != nil {
		return nil, fmt.Errorf("sqlitestore: get document: %w", err)
	}
	var b []byte
	err := s.r.QueryRowContext(ctx, `SELECT doc FROM documents WHERE id = ?`, id).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlitestore: get document %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get document %s: %w", id, err)
	}
	return b, nil
}

// lookupBatch bounds the parameters of one IN (…) query.
const lookupBatch = 500

// HasDocuments reports which documents are stored; see store.Documents.
func (s *Store) HasDocuments(ctx context.Context, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	err := s.lookupIDs(ctx, `SELECT id FROM documents WHERE id IN `, nil, ids, func(rows *sql.Rows, positions func(id string) []int) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		for _, i := range positions(id) {
			out[i] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: check %d documents: %w", len(ids), err)
	}
	return out, nil
}

// GetDocuments returns documents' JSON, nil where absent; see
// store.Documents.
func (s *Store) GetDocuments(ctx context.Context, ids []string) ([][]byte, error) {
	out, err := s.lookupBytes(ctx, `SELECT id, doc FROM documents WHERE id IN `, nil, ids)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get %d documents: %w", len(ids), err)
	}
	return out, nil
}

// lookupBytes runs query as lookupIDs, its rows being (id, bytes), and
// returns the bytes per ID of ids in order, nil where absent.
func (s *Store) lookupBytes(ctx context.Context, query string, lead []any, ids []string) ([][]byte, error) {
	out := make([][]byte, len(ids))
	err := s.lookupIDs(ctx, query, lead, ids, func(rows *sql.Rows, positions func(id string) []int) error {
		var id string
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return err
		}
		for _, i := range positions(id) {
			out[i] = b
		}
		return nil
	})
	return out, err
}

// lookupIDs runs query (a SELECT ending in "id IN ", with len(lead)
// parameters of its own before that) for ids, lookupBatch IDs at a time,
// and calls scan for each row found; positions gives the indexes in ids of
// an ID (it may repeat).
func (s *Store) lookupIDs(ctx context.Context, query string, lead []any, ids []string, scan func(rows *sql.Rows, positions func(id string) []int) error) error {
	pos := make(map[string][]int, len(ids))
	for i, id := range ids {
		pos[id] = append(pos[id], i)
	}
	positions := func(id string) []int { return pos[id] }
	args := make([]any, 0, len(lead)+lookupBatch)
	for lo := 0; lo < len(ids); lo += lookupBatch {
		hi := min(lo+lookupBatch, len(ids))
		args = append(args[:0], lead...)
		for _, id := range ids[lo:hi] {
			args = append(args, id)
		}
		err := func() error {
			rows, err := s.r.QueryContext(ctx, query+placeholders(1, hi-lo), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := scan(rows, positions); err != nil {
					return err
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return err
		}
	}
	return nil
}
