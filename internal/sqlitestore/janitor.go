package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// runJanitor purges expired rows every janitor interval until Close.
func (s *Store) runJanitor() {
	defer s.janitorWG.Done()
	t := time.NewTicker(s.opts.janitor)
	defer t.Stop()
	for {
		select {
		case <-s.janitorCtx.Done():
			return
		case <-t.C:
		}
		jobs, sigs, err := s.Purge(s.janitorCtx)
		switch {
		case err != nil && s.janitorCtx.Err() == nil:
			s.opts.logger.Warn("sqlitestore: purge expired rows", "err", err)
		case jobs+sigs > 0:
			s.opts.logger.Debug("sqlitestore: purged expired rows", "jobs", jobs, "sigs", sigs)
		}
	}
}

// Purge deletes expired jobs (with their results) and signature entries,
// in short transactions so that other writers are not held up, and reports
// how many of each it deleted.
func (s *Store) Purge(ctx context.Context) (jobs, sigs int, err error) {
	now := s.nowNano()
	for {
		rows, err := s.r.QueryContext(ctx, `SELECT id FROM jobs WHERE expires_at <= ? LIMIT 100`, now)
		if err != nil {
			return jobs, sigs, fmt.Errorf("sqlitestore: purge: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return jobs, sigs, fmt.Errorf("sqlitestore: purge: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return jobs, sigs, fmt.Errorf("sqlitestore: purge: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			err := s.inTx(ctx, func(tx *sql.Tx) error {
				// Re-check inside the transaction: the ID may have been
				// created afresh since the query.
				res, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id = ? AND expires_at <= ?`, id, now)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					return nil
				}
				jobs++
				_, err = tx.ExecContext(ctx, `DELETE FROM results WHERE job_id = ?`, id)
				return err
			})
			if err != nil {
				return jobs, sigs, fmt.Errorf("sqlitestore: purge job %s: %w", id, err)
			}
		}
	}
	for {
		res, err := s.w.ExecContext(ctx,
			`DELETE FROM sigs WHERE key IN (SELECT key FROM sigs WHERE expires_at <= ? LIMIT 5000)`, now)
		if err != nil {
			return jobs, sigs, fmt.Errorf("sqlitestore: purge signature cache: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return jobs, sigs, fmt.Errorf("sqlitestore: purge signature cache: %w", err)
		}
		sigs += int(n)
		if n == 0 {
			break
		}
	}
	if err := s.purgeBlobs(ctx, now); err != nil {
		return jobs, sigs, err
	}
	return jobs, sigs, nil
}
