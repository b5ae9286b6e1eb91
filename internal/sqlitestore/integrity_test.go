package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/damage"
)

// TestCheckIntegrity: a sound database passes; one with a page overwritten
// on disk fails with ErrCorrupt, and Ping fails with it from then on.
func TestCheckIntegrity(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stele.db")
	s := openTest(t, path)
	var docs []store.Document
	for i := range 2000 {
		docs = append(docs, store.Document{ID: fmt.Sprintf("doc-%04d", i), JSON: []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", 200))),
			IssuerID: "i", BeneficiaryID: "b", CreatedAt: "2026-01-01T00:00:00Z", Tags: []string{"t"}})
	}
	if err := s.PutDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckIntegrity(ctx); err != nil {
		t.Fatalf("sound database: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Overwrite a page in the middle of the file (not the header and
	// schema on page 1, which Open itself would refuse).
	damage.MiddlePage(t, path)

	s = openTest(t, path)
	err := s.CheckIntegrity(ctx)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged database: %v, want ErrCorrupt", err)
	}
	if perr := s.Ping(ctx); !errors.Is(perr, ErrCorrupt) {
		t.Fatalf("Ping after the check: %v, want ErrCorrupt", perr)
	}
	t.Logf("found: %v", err)
}
