package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stele-go/stele/internal/store/storetest"
)

// TestAuditTamper edits and deletes entries in the database directly.
func TestAuditTamper(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "stele.db"))
	storetest.AuditTamper(t, s, func(ctx context.Context, id string, index int, edit func([]byte) []byte) error {
		var body []byte
		if err := s.w.QueryRowContext(ctx, `SELECT body FROM audit_entries WHERE covenant_id = ? AND idx = ?`, id, index).
			Scan(&body); err != nil {
			return err
		}
		if nb := edit(body); nb != nil {
			_, err := s.w.ExecContext(ctx, `UPDATE audit_entries SET body = ? WHERE covenant_id = ? AND idx = ?`, nb, id, index)
			return err
		}
		_, err := s.w.ExecContext(ctx, `DELETE FROM audit_entries WHERE covenant_id = ? AND idx = ?`, id, index)
		return err
	})
}

func BenchmarkAppendAudit(b *testing.B) {
	b.SetParallelism(8)
	storetest.BenchAppendAudit(b, benchStore(b))
}
