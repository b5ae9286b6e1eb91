package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stele-go/stele/internal/store"
)

// schemaLeases is migration 7: the queue leases of store.QueueLeases. The
// all-in-one, the one process on its database, marks the jobs it queues
// with files instead (gateway.Config.QueueingDir); the table serves the
// interface, and whatever else shares the database.
const schemaLeases = `
CREATE TABLE queue_leases (
	job_id     TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	expires_at INTEGER NOT NULL -- Unix ns
) WITHOUT ROWID;
CREATE INDEX queue_leases_expires ON queue_leases (expires_at, job_id);
`

// AcquireQueueLease takes or extends a queue lease; see store.QueueLeases.
func (s *Store) AcquireQueueLease(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	return s.lease(ctx, "acquire", jobID, owner, ttl)
}

// RenewQueueLease extends a queue lease owner holds; see store.QueueLeases.
func (s *Store) RenewQueueLease(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	return s.lease(ctx, "renew", jobID, owner, ttl)
}

// ReleaseQueueLease ends a queue lease owner holds; see store.QueueLeases.
func (s *Store) ReleaseQueueLease(ctx context.Context, jobID, owner string) error {
	if err := store.CheckQueueLease(jobID, owner, time.Millisecond); err != nil {
		return fmt.Errorf("sqlitestore: release queue lease: %w", err)
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM queue_leases WHERE job_id = ? AND owner = ?`, jobID, owner)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: release queue lease of job %s: %w", jobID, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlitestore: release queue lease of job %s: not held by this owner: %w", jobID, store.ErrConflict)
	}
	return nil
}

func (s *Store) lease(ctx context.Context, mode, jobID, owner string, ttl time.Duration) error {
	if err := store.CheckQueueLease(jobID, owner, ttl); err != nil {
		return fmt.Errorf("sqlitestore: %s queue lease: %w", mode, err)
	}
	expires := s.nowNano() + ttl.Nanoseconds()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT owner FROM queue_leases WHERE job_id = ?`, jobID).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if mode == "renew" {
				return store.ErrConflict
			}
		case err != nil:
			return err
		case cur != owner:
			return store.ErrConflict
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO queue_leases (job_id, owner, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`, jobID, owner, expires)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("sqlitestore: %s queue lease of job %s: held by another owner: %w", mode, jobID, err)
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: %s queue lease of job %s: %w", mode, jobID, err)
	}
	return nil
}

// ClaimQueueLeases takes the queue leases that ran out; see
// store.QueueLeases.
func (s *Store) ClaimQueueLeases(ctx context.Context, owner string, ttl time.Duration, max int) ([]string, error) {
	if err := store.CheckLeaseClaim(owner, ttl, max); err != nil {
		return nil, fmt.Errorf("sqlitestore: claim queue leases: %w", err)
	}
	now := s.nowNano()
	var ids []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ids = ids[:0]
		rows, err := tx.QueryContext(ctx, `SELECT job_id FROM queue_leases WHERE expires_at < ? ORDER BY expires_at, job_id LIMIT ?`, now, max)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE queue_leases SET owner = ?, expires_at = ? WHERE job_id = ?`,
				owner, now+ttl.Nanoseconds(), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim queue leases: %w", err)
	}
	return ids, nil
}
