package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/stele-go/stele/internal/store"
)

// ListDocuments lists documents with one query; see store.Registry. The
// query walks one index in (created_ms, id) order: document_tags_created for a
// tag, otherwise whichever of the documents indexes SQLite's planner picks for
// the filters (each is keyed by (filter, created_ms, id)), and it reads the
// page's tags with it.
func (s *Store) ListDocuments(ctx context.Context, q store.DocumentQuery) (store.DocumentPage, error) {
	b, err := store.CheckDocumentQuery(q)
	if err != nil {
		return store.DocumentPage{}, fmt.Errorf("sqlitestore: list documents: %w", err)
	}
	if b.Empty() {
		return store.DocumentPage{}, nil
	}
	query, args := listQuery(q, b)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return store.DocumentPage{}, fmt.Errorf("sqlitestore: list documents: %w", err)
	}
	defer rows.Close()
	var page store.DocumentPage
	var lastMs int64
	for rows.Next() {
		if len(page.Documents) == b.Limit {
			last := page.Documents[len(page.Documents)-1]
			page.Next = store.EncodeCursor(lastMs, last.ID)
			break
		}
		var d store.Document
		var tags string
		if err := rows.Scan(&d.ID, &d.JSON, &d.IssuerID, &d.BeneficiaryID, &d.CreatedAt, &d.HasChain, &lastMs, &tags); err != nil {
			return store.DocumentPage{}, fmt.Errorf("sqlitestore: list documents: %w", err)
		}
		if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
			return store.DocumentPage{}, fmt.Errorf("sqlitestore: list documents: tags of %s: %w", d.ID, err)
		}
		d.Tags = store.NormalizeTags(d.Tags)
		page.Documents = append(page.Documents, d)
	}
	if err := rows.Err(); err != nil {
		return store.DocumentPage{}, fmt.Errorf("sqlitestore: list documents: %w", err)
	}
	return page, nil
}

// listQuery builds the query of a listing: the page and one row more, in
// (created_ms, id) order, each row with its tags as a JSON array.
func listQuery(q store.DocumentQuery, b store.ListBounds) (string, []any) {
	var sb strings.Builder
	var args []any
	ms, id := "d.created_ms", "d.id"
	sb.WriteString(`SELECT d.id, d.doc, d.issuer_id, d.beneficiary_id, d.created_at, d.has_chain, d.created_ms,
(SELECT json_group_array(tag) FROM (SELECT tag FROM document_tags WHERE doc_id = d.id ORDER BY tag))
FROM `)
	if q.Tag != "" {
		ms, id = "t.created_ms", "t.doc_id"
		sb.WriteString(`document_tags t JOIN documents d ON d.id = t.doc_id WHERE t.tag = ?`)
		args = append(args, q.Tag)
	} else {
		sb.WriteString(`documents d WHERE 1`)
	}
	if q.Issuer != "" {
		sb.WriteString(` AND d.issuer_id = ?`)
		args = append(args, q.Issuer)
	}
	if q.Beneficiary != "" {
		sb.WriteString(` AND d.beneficiary_id = ?`)
		args = append(args, q.Beneficiary)
	}
	if q.HasChain != nil {
		sb.WriteString(` AND d.has_chain = ?`)
		args = append(args, *q.HasChain)
	}
	if b.After != math.MinInt64 {
		sb.WriteString(` AND ` + ms + ` > ?`)
		args = append(args, b.After)
	}
	if b.Before != math.MaxInt64 {
		sb.WriteString(` AND ` + ms + ` < ?`)
		args = append(args, b.Before)
	}
	if b.HasCursor {
		sb.WriteString(` AND (` + ms + `, ` + id + `) > (?, ?)`)
		args = append(args, b.CursorMs, b.CursorID)
	}
	sb.WriteString(` ORDER BY ` + ms + `, ` + id + ` LIMIT ?`)
	args = append(args, b.Limit+1)

	return sb.String(), args
}

// RevokeKey records a revocation unless the key has one; see
// store.Revocations.
func (s *Store) RevokeKey(ctx context.Context, r store.Revocation) error {
	rec, err := store.CheckRevocation(r, s.opts.now())
	if err != nil {
		return fmt.Errorf("sqlitestore: revoke key: %w", err)
	}
	res, err := s.w.ExecContext(ctx, `
INSERT INTO revocations (public_key, key_id, reason, revoked_at) VALUES (?, ?, ?, ?)
ON CONFLICT (public_key) DO NOTHING`, rec.PublicKey, rec.KeyID, rec.Reason, rec.RevokedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlitestore: revoke key %s: %w", rec.PublicKey, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlitestore: revoke key %s: %w", rec.PublicKey, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitestore: revoke key %s: %w", rec.PublicKey, store.ErrExists)
	}
	return nil
}

// RevokedKeys reads the records of publicKeys with one query (several for
// more than lookupBatch keys); see store.Revocations.
func (s *Store) RevokedKeys(ctx context.Context, publicKeys []string) (map[string]store.Revocation, error) {
	out := make(map[string]store.Revocation)
	var args []any
	for _, k := range publicKeys {
		if store.IsPublicKeyHex(k) {
			args = append(args, k)
		}
	}
	for lo := 0; lo < len(args); lo += lookupBatch {
		hi := min(lo+lookupBatch, len(args))
		err := s.queryRevocations(ctx, `WHERE public_key IN `+placeholders(1, hi-lo), args[lo:hi], func(r store.Revocation) {
			out[r.PublicKey] = r
		})
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: revoked keys: %w", err)
		}
	}
	return out, nil
}

// ListRevocations reads every revocation, oldest first; see
// store.Revocations.
func (s *Store) ListRevocations(ctx context.Context) ([]store.Revocation, error) {
	out := []store.Revocation{}
	err := s.queryRevocations(ctx, `ORDER BY revoked_at, public_key`, nil, func(r store.Revocation) {
		out = append(out, r)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list revocations: %w", err)
	}
	return out, nil
}

// queryRevocations calls fn with each revocation the query tail selects.
func (s *Store) queryRevocations(ctx context.Context, tail string, args []any, fn func(store.Revocation)) error {
	rows, err := s.r.QueryContext(ctx, `SELECT public_key, key_id, reason, revoked_at FROM revocations `+tail, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r store.Revocation
		var at int64
		if err := rows.Scan(&r.PublicKey, &r.KeyID, &r.Reason, &at); err != nil {
			return err
		}
		r.RevokedAt = fromNano(at)
		fn(r)
	}
	return rows.Err()
}

// errKeyConflict marks a key ID that holds another public key.
var errKeyConflict = errors.New("key id holds another public key")

// AdvertiseKeys upserts keys in one transaction that first checks every
// key ID for a different public key; see store.KeyDirectory.
func (s *Store) AdvertiseKeys(ctx context.Context, keys []store.SigningKey) error {
	recs, err := store.CheckSigningKeys(keys, s.opts.now())
	if err != nil {
		return fmt.Errorf("sqlitestore: advertise keys: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		get, err := tx.PrepareContext(ctx, `SELECT public_key FROM signing_keys WHERE key_id = ?`)
		if err != nil {
			return err
		}
		defer get.Close()
		for _, k := range recs {
			var pub string
			err := get.QueryRowContext(ctx, k.KeyID).Scan(&pub)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return err
			case pub != k.PublicKey:
				return fmt.Errorf("key id %s: %w", k.KeyID, errKeyConflict)
			}
		}
		put, err := tx.PrepareContext(ctx, `
INSERT INTO signing_keys (key_id, public_key, retired, seen_at) VALUES (?, ?, ?, ?)
ON CONFLICT (key_id) DO UPDATE SET retired = excluded.retired, seen_at = excluded.seen_at`)
		if err != nil {
			return err
		}
		defer put.Close()
		for _, k := range recs {
			if _, err := put.ExecContext(ctx, k.KeyID, k.PublicKey, k.Retired, k.SeenAt.UnixNano()); err != nil {
				return fmt.Errorf("key id %s: %w", k.KeyID, err)
			}
		}
		return nil
	})
	if errors.Is(err, errKeyConflict) {
		return fmt.Errorf("sqlitestore: advertise keys: %w: %w", err, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: advertise keys: %w", err)
	}
	return nil
}

// SigningKeys reads the directory; see store.KeyDirectory.
func (s *Store) SigningKeys(ctx context.Context) (map[string]store.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key_id, public_key, retired, seen_at FROM signing_keys`)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: signing keys: %w", err)
	}
	defer rows.Close()
	out := make(map[string]store.SigningKey)
	for rows.Next() {
		var k store.SigningKey
		var seen int64
		if err := rows.Scan(&k.KeyID, &k.PublicKey, &k.Retired, &seen); err != nil {
			return nil, fmt.Errorf("sqlitestore: signing keys: %w", err)
		}
		k.SeenAt = fromNano(seen)
		out[k.KeyID] = k
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: signing keys: %w", err)
	}
	return out, nil
}
