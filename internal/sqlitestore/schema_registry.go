package sqlitestore

// schemaRegistry is migration 2: the revocation list and the directory of
// signing keys.
const schemaRegistry = `
-- filled in with the registry tables
SELECT 1;
`
