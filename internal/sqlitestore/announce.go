package sqlitestore

import (
	"context"
	"fmt"

	"github.com/stele-go/stele/internal/store"
)

// schemaAnnouncements is migration 8: the outbox of store.Announcements.
// seq orders the IDs by when each was first added.
const schemaAnnouncements = `
CREATE TABLE deferred_announcements (
	seq    INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id TEXT NOT NULL UNIQUE
);
`

// DeferAnnouncement adds jobID to the outbox; see store.Announcements.
func (s *Store) DeferAnnouncement(ctx context.Context, jobID string) error {
	if err := store.CheckID("job", jobID); err != nil {
		return fmt.Errorf("sqlitestore: defer announcement: %w", err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO deferred_announcements (job_id) VALUES (?) ON CONFLICT (job_id) DO NOTHING`, jobID); err != nil {
		return fmt.Errorf("sqlitestore: defer the announcement of job %s: %w", jobID, err)
	}
	return nil
}

// DeferredAnnouncements lists the outbox, oldest first; see
// store.Announcements.
func (s *Store) DeferredAnnouncements(ctx context.Context, max int) ([]string, error) {
	if err := store.CheckDeferredMax(max); err != nil {
		return nil, fmt.Errorf("sqlitestore: deferred announcements: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT job_id FROM deferred_announcements ORDER BY seq LIMIT ?`, max)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: deferred announcements: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlitestore: deferred announcements: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: deferred announcements: %w", err)
	}
	return ids, nil
}

// DropAnnouncement removes jobID from the outbox; see store.Announcements.
func (s *Store) DropAnnouncement(ctx context.Context, jobID string) error {
	if err := store.CheckID("job", jobID); err != nil {
		return fmt.Errorf("sqlitestore: drop announcement: %w", err)
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM deferred_announcements WHERE job_id = ?`, jobID); err != nil {
		return fmt.Errorf("sqlitestore: drop the announcement of job %s: %w", jobID, err)
	}
	return nil
}
