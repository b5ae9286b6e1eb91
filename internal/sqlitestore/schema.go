package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] takes the schema from user_version i to i+1. Append only:
// never edit a migration that has shipped.
var migrations = []string{
	// 1: documents with listing indexes, jobs, results, signature cache.
	`
CREATE TABLE documents (
	id             TEXT PRIMARY KEY,
	doc            BLOB NOT NULL,
	issuer_id      TEXT NOT NULL,
	beneficiary_id TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	has_chain      INTEGER NOT NULL
);
CREATE INDEX documents_issuer ON documents (issuer_id, created_at);
CREATE INDEX documents_beneficiary ON documents (beneficiary_id, created_at);
CREATE INDEX documents_created ON documents (created_at);
CREATE INDEX documents_chain ON documents (has_chain, created_at);
CREATE TABLE document_tags (
	tag    TEXT NOT NULL,
	doc_id TEXT NOT NULL,
	PRIMARY KEY (tag, doc_id)
) WITHOUT ROWID;
CREATE INDEX document_tags_doc ON document_tags (doc_id);

CREATE TABLE jobs (
	id           TEXT PRIMARY KEY,
	kind         TEXT NOT NULL,
	status       TEXT NOT NULL,
	total        INTEGER NOT NULL,
	done         INTEGER NOT NULL DEFAULT 0,
	valid        INTEGER NOT NULL DEFAULT 0,
	invalid      INTEGER NOT NULL DEFAULT 0,
	failed       INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL, -- Unix ns
	completed_at INTEGER,          -- Unix ns, NULL until completed
	expires_at   INTEGER NOT NULL  -- Unix ns
);
CREATE INDEX jobs_expires ON jobs (expires_at);

CREATE TABLE results (
	job_id  TEXT NOT NULL,
	idx     INTEGER NOT NULL,
	outcome INTEGER NOT NULL, -- store.Outcome
	body    BLOB NOT NULL,    -- the result's JSON
	PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;

CREATE TABLE sigs (
	key        BLOB PRIMARY KEY, -- 32 bytes
	outcome    INTEGER NOT NULL, -- store.SigValid or store.SigInvalid
	expires_at INTEGER NOT NULL  -- Unix ns
) WITHOUT ROWID;
CREATE INDEX sigs_expires ON sigs (expires_at);
`,
	// 2: revocations and the signing-key directory (schema_registry.go).
	schemaRegistry,
	// 3: audit logs and rate-limit windows (schema_audit.go).
	schemaAudit,
	// 4: staged blobs (blobs.go).
	schemaBlobs,
	// 5: staged documents of earlier versions move to the blobs (blobs.go).
	schemaLegacyBlobs,
	// 6: results.body may hold the compact stored form of a result
	// (store.AppendStoredResult) instead of its JSON. No table changes; the
	// version keeps earlier programs, which read only JSON, from opening
	// the database.
	`SELECT 1`,
	// 7: queue leases (leases.go).
	schemaLeases,
	// 8: the outbox of deferred completion announcements (announce.go).
	schemaAnnouncements,
}

// afterMigration[v], when set, runs in the transaction of migration v+1 after
// its SQL: data changes that SQL cannot express.
var afterMigration = map[int]func(context.Context, *sql.Tx) error{
	1: backfillCreatedMs, // schema_registry.go
}

// migrate brings the schema of db up to len(migrations), one transaction per
// step, and refuses a database from a newer version.
func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d, this program knows up to %d: %w", version, len(migrations), ErrSchema)
	}
	for v := version; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
		if fn := afterMigration[v]; fn != nil {
			if err := fn(ctx, tx); err != nil {
				tx.Rollback()
				return fmt.Errorf("migrate to schema %d: %w", v+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
	}
	return nil
}
