// Package sqlitestore implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, no cgo) for a single machine: the all-in-one process
// keeps its jobs, results, documents and signature cache in one file that
// survives restarts.
//
// # Concurrency and durability
//
// The database runs in WAL mode. Every write goes through one dedicated
// connection (SQLite admits one writer at a time, so a pool of writers would
// only queue on its lock), in BEGIN IMMEDIATE transactions; reads use a
// separate pool of read-only connections, which WAL lets run alongside the
// writer. synchronous=FULL by default, so a RecordResults that returned has
// its results on disk.
//
// # Expiry
//
// Jobs carry an expires_at (their last change plus the job TTL) and
// signature entries their own; every read compares it with the clock, so an
// expired row is invisible at once. A janitor goroutine, started by Open and
// stopped by Close, deletes expired rows every minute (WithJanitorInterval);
// Purge does the same on demand.
//
// # Schema
//
// The schema is versioned with PRAGMA user_version and migrated forward by
// Open; a database written by a newer version is refused. Documents have
// issuer_id, beneficiary_id, has_chain and created_ms (createdAt in Unix ms)
// columns and a document_tags table, indexed by (…, created_ms, id) for
// filtered listing in cursor order. A result's body is its stored form
// (store.AppendStoredResult: about 90 bytes for a typical verify result,
// where its JSON takes about 1,000, which in a WITHOUT ROWID table spilled
// every row to an overflow page); bodies written as JSON by earlier versions
// read the same (store.DecodeStoredResult).
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/stele-go/stele/internal/store"
)

// ErrSchema reports a database this version cannot use (written by a newer
// version).
var ErrSchema = errors.New("sqlitestore: unsupported schema version")

// Store is a store.Store in a SQLite file. It is safe for concurrent use.
type Store struct {
	w    *sql.DB // one connection: every write
	r    *sql.DB // read-only pool
	opts options

	audit auditLogs

	corrupt atomic.Pointer[error] // set by CheckIntegrity when it finds damage

	janitorCtx  context.Context // canceled by Close
	stopJanitor context.CancelFunc
	janitorWG   sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, migrates its schema
// and starts the janitor. Close releases it.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("sqlitestore: %w", err)
		}
	}
	if path == "" {
		return nil, fmt.Errorf("sqlitestore: empty path: %w", store.ErrInvalidOption)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: path %q: %w", path, err)
	}
	s := &Store{opts: o}

	writeDSN := dsn(abs, url.Values{
		"_busy_timeout": {"10000"},
		"_journal_mode": {"WAL"},
		"_synchronous":  {o.synchronous},
		"_foreign_keys": {"1"},
		"_txlock":       {"immediate"},
	})
	s.w, err = sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", abs, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, s.w); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlitestore: %s: %w", abs, err)
	}

	readDSN := dsn(abs, url.Values{
		"_busy_timeout": {"10000"},
		"_query_only":   {"1"},
	})
	s.r, err = sql.Open("sqlite", readDSN)
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", abs, err)
	}
	s.r.SetMaxOpenConns(o.readConns)
	s.r.SetMaxIdleConns(o.readConns)
	if err := s.r.PingContext(ctx); err != nil {
		s.w.Close()
		s.r.Close()
		return nil, fmt.Errorf("sqlitestore: %s: %w", abs, err)
	}

	s.janitorCtx, s.stopJanitor = context.WithCancel(context.Background())
	if o.janitor > 0 {
		s.janitorWG.Add(1)
		go s.runJanitor()
	}
	return s, nil
}

// dsn builds a file: URI for path, escaping the characters that URI syntax
// would otherwise take for delimiters.
func dsn(path string, q url.Values) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + esc.Replace(filepath.ToSlash(path)) + "?" + q.Encode()
}

// Ping checks that both connection pools work, and fails with the damage
// CheckIntegrity found, if it did.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.corrupt.Load(); err != nil {
		return *err
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlitestore: ping: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlitestore: ping: %w", err)
	}
	return nil
}

// Close stops the janitor (waiting for a purge in progress) and closes the
// database; a second call is harmless.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		s.audit.close()
		s.stopJanitor()
		s.janitorWG.Wait()
		s.closeErr = errors.Join(s.r.Close(), s.w.Close())
	})
	return s.closeErr
}

// nowNano is the store's clock in Unix nanoseconds, the unit of every stored
// time.
func (s *Store) nowNano() int64 { return s.opts.now().UnixNano() }

// inTx runs fn in a write transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// placeholders returns "(?,?,…),(…)…": rows groups of cols parameters.
func placeholders(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}

func fromNano(n int64) time.Time { return time.Unix(0, n).UTC() }
