package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stele-go/stele/internal/store"
)

// CreateJob stores a new job; see store.Jobs. An expired job of the same ID
// is deleted with its results first.
func (s *Store) CreateJob(ctx context.Context, job store.Job) error {
	rec, err := store.NewJob(job, s.opts.now())
	if err != nil {
		return fmt.Errorf("sqlitestore: create job: %w", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.nowNano()
		var expires int64
		err := tx.QueryRowContext(ctx, `SELECT expires_at FROM jobs WHERE id = ?`, rec.ID).Scan(&expires)
		switch {
		case err == nil && expires > now:
			return store.ErrExists
		case err == nil:
			if _, err := tx.ExecContext(ctx, `DELETE FROM results WHERE job_id = ?`, rec.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id = ?`, rec.ID); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var completed any
		if !rec.CompletedAt.IsZero() {
			completed = rec.CompletedAt.UnixNano()
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO jobs (id, kind, status, total, created_at, completed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			rec.ID, string(rec.Kind), string(rec.Status), rec.Total, rec.CreatedAt.UnixNano(), completed,
			now+s.opts.jobTTL.Nanoseconds())
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: create job %s: %w", rec.ID, err)
	}
	return nil
}

const jobColumns = `kind, status, total, done, valid, invalid, failed, created_at, completed_at`

// scanJob reads jobColumns.
func scanJob(id string, row interface{ Scan(...any) error }) (store.Job, error) {
	job := store.Job{ID: id}
	var kind, status string
	var created int64
	var completed sql.NullInt64
	err := row.Scan(&kind, &status, &job.Total, &job.Done, &job.Valid, &job.Invalid, &job.Failed, &created, &completed)
	if err != nil {
		return store.Job{}, err
	}
	job.Kind = store.JobKind(kind)
	job.Status = store.JobStatus(status)
	job.CreatedAt = fromNano(created)
	if completed.Valid {
		job.CompletedAt = fromNano(completed.Int64)
	}
	return job, nil
}

// GetJob returns a job; see store.Jobs.
func (s *Store) GetJob(ctx context.Context, id string) (store.Job, error) {
	if err := store.CheckID("job", id); err != nil {
		return store.Job{}, fmt.Errorf("sqlitestore: get job: %w", err)
	}
	row := s.r.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ? AND expires_at > ?`, id, s.nowNano())
	job, err := scanJob(id, row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Job{}, fmt.Errorf("sqlitestore: get job %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("sqlitestore: get job %s: %w", id, err)
	}
	return job, nil
}

// insertRows is the number of results inserted by one statement (4
// parameters each, well under SQLite's limit of 32766).
const insertRows = 256

// RecordResults stores results and advances the counters in one
// transaction; see store.Jobs.
func (s *Store) RecordResults(ctx context.Context, jobID string, results []store.Result) (store.Progress, error) {
	if err := store.CheckID("job", jobID); err != nil {
		return store.Progress{}, fmt.Errorf("sqlitestore: record results: %w", err)
	}
	bodies := make([][]byte, len(results))
	for i, r := range results {
		b, err := store.AppendStoredResult(nil, &r)
		if err != nil {
			return store.Progress{}, fmt.Errorf("sqlitestore: record results of job %s: %w", jobID, err)
		}
		bodies[i] = b
	}
	var p store.Progress
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = s.recordTx(ctx, tx, jobID, results, bodies)
		return err
	})
	if err != nil {
		return store.Progress{}, fmt.Errorf("sqlitestore: record results of job %s: %w", jobID, err)
	}
	return p, nil
}

// recordTx stores results (bodies are their encodings) and advances the
// job's counters in tx; see RecordResults.
func (s *Store) recordTx(ctx context.Context, tx *sql.Tx, jobID string, results []store.Result, bodies [][]byte) (store.Progress, error) {
	var p store.Progress
	now := s.opts.now()
	row := tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ? AND expires_at > ?`, jobID, now.UnixNano())
	job, err := scanJob(jobID, row)
	if errors.Is(err, sql.ErrNoRows) {
		return p, store.ErrNotFound
	}
	if err != nil {
		return p, err
	}
	for _, r := range results {
		if r.Index >= job.Total {
			return p, fmt.Errorf("index %d outside a job of %d: %w", r.Index, job.Total, store.ErrInvalid)
		}
	}
	var added [3]int
	args := make([]any, 0, 4*insertRows)
	for lo := 0; lo < len(results); lo += insertRows {
		hi := min(lo+insertRows, len(results))
		args = args[:0]
		for i := lo; i < hi; i++ {
			args = append(args, jobID, results[i].Index, int(results[i].Outcome()), bodies[i])
		}
		rows, err := tx.QueryContext(ctx,
			`INSERT INTO results (job_id, idx, outcome, body) VALUES `+placeholders(hi-lo, 4)+
				` ON CONFLICT DO NOTHING RETURNING outcome`, args...)
		if err != nil {
			return p, err
		}
		for rows.Next() {
			var o int
			if err := rows.Scan(&o); err != nil {
				rows.Close()
				return p, err
			}
			if o >= 0 && o < len(added) {
				added[o]++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return p, err
		}
	}
	n := added[store.OutcomeValid] + added[store.OutcomeInvalid] + added[store.OutcomeFailed]
	p.Recorded = n
	if n > 0 {
		job.Valid += added[store.OutcomeValid]
		job.Invalid += added[store.OutcomeInvalid]
		job.Failed += added[store.OutcomeFailed]
		job.Done += n
		if job.Done >= job.Total {
			job.Status = store.StatusCompleted
			job.CompletedAt = now.UTC().Round(0)
			p.Completed = true
		} else if job.Status == store.StatusQueued {
			job.Status = store.StatusRunning
		}
	}
	var completed any
	if !job.CompletedAt.IsZero() {
		completed = job.CompletedAt.UnixNano()
	}
	_, err = tx.ExecContext(ctx,
		`UPDATE jobs SET status = ?, done = ?, valid = ?, invalid = ?, failed = ?, completed_at = ?, expires_at = ? WHERE id = ?`,
		string(job.Status), job.Done, job.Valid, job.Invalid, job.Failed, completed,
		now.UnixNano()+s.opts.jobTTL.Nanoseconds(), jobID)
	p.Job = job
	return p, err
}

// CommitChunk writes a chunk's signature outcomes, documents and results in
// one transaction; see store.ChunkCommitter. Nothing is written when it
// fails.
func (s *Store) CommitChunk(ctx context.Context, jobID string, w store.ChunkWrites) (store.Progress, error) {
	if err := store.CheckID("job", jobID); err != nil {
		return store.Progress{}, fmt.Errorf("sqlitestore: commit chunk: %w", err)
	}
	if err := store.CheckSigs(w.SigKeys, w.SigValid); err != nil {
		return store.Progress{}, fmt.Errorf("sqlitestore: commit chunk of job %s: %w", jobID, err)
	}
	if err := store.CheckDocuments(w.Documents); err != nil {
		return store.Progress{}, fmt.Errorf("sqlitestore: commit chunk of job %s: %w", jobID, err)
	}
	bodies := make([][]byte, len(w.Results))
	for i, r := range w.Results {
		b, err := store.AppendStoredResult(nil, &r)
		if err != nil {
			return store.Progress{}, fmt.Errorf("sqlitestore: commit chunk of job %s: %w", jobID, err)
		}
		bodies[i] = b
	}
	var p store.Progress
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if len(w.SigKeys) > 0 {
			if err := putSigsTx(ctx, tx, w.SigKeys, w.SigValid, s.nowNano()+s.opts.sigTTL.Nanoseconds()); err != nil {
				return err
			}
		}
		if len(w.Documents) > 0 {
			if err := putDocumentsTx(ctx, tx, w.Documents); err != nil {
				return err
			}
		}
		var err error
		p, err = s.recordTx(ctx, tx, jobID, w.Results, bodies)
		return err
	})
	if err != nil {
		return store.Progress{}, fmt.Errorf("sqlitestore: commit chunk of job %s: %w", jobID, err)
	}
	return p, nil
}

// Results returns a page of results; see store.Jobs.
func (s *Store) Results(ctx context.Context, jobID string, offset, limit int) ([]store.Result, int, error) {
	if err := store.CheckID("job", jobID); err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: results: %w", err)
	}
	if err := store.CheckPage(offset, limit); err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: results of job %s: %w", jobID, err)
	}
	var out []store.Result
	var total int
	err := func() error {
		// One read transaction: the job and its results from one snapshot.
		tx, err := s.r.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		err = tx.QueryRowContext(ctx, `SELECT total FROM jobs WHERE id = ? AND expires_at > ?`, jobID, s.nowNano()).Scan(&total)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT idx, body FROM results WHERE job_id = ? AND idx >= ? AND idx < ? ORDER BY idx`,
			jobID, offset, offset+limit)
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
			r, err := store.DecodeStoredResult(body)
			if err != nil {
				return fmt.Errorf("index %d: %w", idx, err)
			}
			out = append(out, r)
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: results of job %s: %w", jobID, err)
	}
	return out, store.NextOffset(offset, limit, total), nil
}
