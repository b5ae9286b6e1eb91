package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrCorrupt reports a database file SQLite's own integrity check finds
// damaged (a disk fault, a copy taken while it was written, a file
// truncated or edited by hand).
var ErrCorrupt = errors.New("sqlitestore: database file is corrupt")

// maxIntegrityErrors bounds the problems CheckIntegrity reports.
const maxIntegrityErrors = 5

// CheckIntegrity runs SQLite's quick check (every page and record is
// well-formed; it reads the whole file, so it takes about a second per GiB)
// and returns an error wrapping ErrCorrupt that names the first problems it
// finds. Once it has found one, Ping fails with it too, so that the
// process reports itself not ready. Other errors (ctx ending) are returned
// as they are.
func (s *Store) CheckIntegrity(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, fmt.Sprintf("PRAGMA quick_check(%d)", maxIntegrityErrors))
	var problems []string
	if err == nil {
		for rows.Next() {
			var line string
			if err = rows.Scan(&line); err != nil {
				break
			}
			if line != "ok" {
				problems = append(problems, line)
			}
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = rows.Err()
		}
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("sqlitestore: integrity check: %w", ctx.Err())
	case err != nil && isCorrupt(err):
		problems = append(problems, err.Error())
	case err != nil:
		return fmt.Errorf("sqlitestore: integrity check: %w", err)
	}
	if len(problems) == 0 {
		return nil
	}
	cerr := fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(problems, "; "))
	s.corrupt.Store(&cerr)
	return cerr
}

// isCorrupt reports whether err is SQLite's SQLITE_CORRUPT or SQLITE_NOTADB.
func isCorrupt(err error) bool {
	var serr *sqlite.Error
	if !errors.As(err, &serr) {
		return false
	}
	code := serr.Code() & 0xff // the primary code of an extended one
	return code == sqlite3.SQLITE_CORRUPT || code == sqlite3.SQLITE_NOTADB
}
