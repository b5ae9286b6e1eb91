package sqlitestore

// schemaAudit is migration 3: audit logs (entries, hashes, checkpoints) and
// rate-limit windows.
//
// audit_entries keeps every entry's hash; body is the entry's JSON
// (audit.Entry.AppendJSON), NULL once trimmed. audit_heads holds each log's
// head (len entries, the last one's hash) and checkpoint (ckpt_len trimmed
// entries, the last trimmed one's hash); hashes are 32 raw bytes, NULL for
// an empty log or no checkpoint. rate_windows holds one rate-limit window
// per scope and action pattern, seq giving the creation order.
const schemaAudit = `
CREATE TABLE audit_entries (
	covenant_id TEXT NOT NULL,
	idx         INTEGER NOT NULL,
	hash        BLOB NOT NULL,
	body        BLOB,
	PRIMARY KEY (covenant_id, idx)
) WITHOUT ROWID;

CREATE TABLE audit_heads (
	covenant_id TEXT PRIMARY KEY,
	len         INTEGER NOT NULL,
	hash        BLOB,
	ckpt_len    INTEGER NOT NULL DEFAULT 0,
	ckpt_hash   BLOB
) WITHOUT ROWID;

CREATE TABLE rate_windows (
	scope    TEXT NOT NULL,
	action   TEXT NOT NULL,
	seq      INTEGER NOT NULL,
	count    INTEGER NOT NULL,
	start_ms INTEGER NOT NULL,
	period   REAL NOT NULL,
	lim      REAL NOT NULL,
	PRIMARY KEY (scope, action)
) WITHOUT ROWID;
`
