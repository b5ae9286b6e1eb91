package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/store"
)

// TestListQueryPlans checks that every shape of listing query walks an index
// in (created_ms, id) order: no table scan and no sort of the matches.
func TestListQueryPlans(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "plans.db"))
	ctx := context.Background()
	yes, no := true, false
	after := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cursor := store.EncodeCursor(after.UnixMilli(), "doc-x")
	for _, q := range []store.DocumentQuery{
		{},
		{Cursor: cursor},
		{CreatedAfter: after, CreatedBefore: after.Add(time.Hour)},
		{Issuer: "i", Cursor: cursor},
		{Beneficiary: "b", CreatedAfter: after},
		{Tag: "t", Cursor: cursor},
		{HasChain: &yes, Cursor: cursor},
		{HasChain: &no},
		{Issuer: "i", Beneficiary: "b", HasChain: &yes, CreatedBefore: after},
		{Issuer: "i", Tag: "t", CreatedAfter: after, Cursor: cursor},
	} {
		b, err := store.CheckDocumentQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		query, args := listQuery(q, b)
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		for _, bad := range []string{"TEMP B-TREE", "SCAN d\n", "SCAN t\n", "SCAN documents", "SCAN document_tags"} {
			if strings.Contains(text+"\n", bad) {
				t.Errorf("%+v: plan has %q:\n%s", q, strings.TrimSpace(bad), text)
			}
		}
		if !strings.Contains(text, "USING INDEX documents_") && !strings.Contains(text, "USING COVERING INDEX document_tags_created") &&
			!strings.Contains(text, "USING INDEX document_tags_created") && !strings.Contains(text, "USING PRIMARY KEY") {
			t.Errorf("%+v: plan names no listing index:\n%s", q, text)
		}
	}
}

// TestMigrateCreatedMs opens a database of schema 1 holding documents and
// checks that migration 2 gives them their listing position.
func TestMigrateCreatedMs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", dsn(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, migrations[0]+";PRAGMA user_version = 1"); err != nil {
		t.Fatal(err)
	}
	docs := []store.Document{
		{ID: "c", JSON: []byte(`{}`), IssuerID: "i", BeneficiaryID: "b", CreatedAt: "2026-02-19T01:38:56.342Z", Tags: []string{"x"}},
		{ID: "a", JSON: []byte(`{}`), IssuerID: "i", BeneficiaryID: "b", CreatedAt: "2026-02-19T02:38:56.342+01:00", Tags: []string{"x", "y"}},
		{ID: "b", JSON: []byte(`{}`), IssuerID: "i", BeneficiaryID: "b", CreatedAt: "2026-02-19T01:38:56.3429Z", HasChain: true},
		{ID: "d", JSON: []byte(`{}`), IssuerID: "j", BeneficiaryID: "b", CreatedAt: "garbage", Tags: []string{"x"}},
		{ID: "e", JSON: []byte(`{}`), IssuerID: "j", BeneficiaryID: "b", CreatedAt: "2025-01-01T00:00:00Z"},
	}
	for _, d := range docs {
		if _, err := db.ExecContext(ctx, `INSERT INTO documents (id, doc, issuer_id, beneficiary_id, created_at, has_chain) VALUES (?, ?, ?, ?, ?, ?)`,
			d.ID, d.JSON, d.IssuerID, d.BeneficiaryID, d.CreatedAt, d.HasChain); err != nil {
			t.Fatal(err)
		}
		for _, tag := range d.Tags {
			if _, err := db.ExecContext(ctx, `INSERT INTO document_tags (tag, doc_id) VALUES (?, ?)`, tag, d.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()

	s := openTest(t, path)
	ids := func(q store.DocumentQuery) []string {
		t.Helper()
		page, err := s.ListDocuments(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range page.Documents {
			out = append(out, d.ID)
		}
		return out
	}
	// d (the epoch), e (2025), then a, b, c at one millisecond, by ID.
	if d := cmp.Diff([]string{"d", "e", "a", "b", "c"}, ids(store.DocumentQuery{})); d != "" {
		t.Errorf("listing after migration (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"d", "a", "c"}, ids(store.DocumentQuery{Tag: "x"})); d != "" {
		t.Errorf("tag listing after migration (-want +got):\n%s", d)
	}
	after := time.Date(2026, 2, 19, 1, 38, 56, 341e6, time.UTC)
	if d := cmp.Diff([]string{"a", "c"}, ids(store.DocumentQuery{Tag: "x", CreatedAfter: after})); d != "" {
		t.Errorf("tag listing by time after migration (-want +got):\n%s", d)
	}
	var version int
	if err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
		t.Errorf("user_version = %d, %v; want %d", version, err, len(migrations))
	}
}

// TestMigrateLegacyBlobs: documents staged by earlier versions as registry
// documents "blob:<sha256>" move to the blobs table and leave the registry
// (migration 5), so that chunks still queued find them there.
func TestMigrateLegacyBlobs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v4.db")
	s := openTest(t, path)
	h := strings.Repeat("ab", 32)
	legacy := store.Document{ID: "blob:" + h, JSON: []byte(`{"staged":true}`), Tags: []string{"t"}}
	kept := store.Document{ID: "kept", JSON: []byte(`{}`), IssuerID: "i", BeneficiaryID: "b", CreatedAt: "2026-01-01T00:00:00Z"}
	if err := s.PutDocuments(ctx, []store.Document{legacy, kept}); err != nil {
		t.Fatal(err)
	}
	// As a database of version 4 holding a legacy staged document (without
	// the tables of later migrations).
	if _, err := s.w.ExecContext(ctx, "DROP TABLE queue_leases; DROP TABLE deferred_announcements; PRAGMA user_version = 4"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openTest(t, path)
	if _, err := s.GetDocument(ctx, legacy.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("legacy staged document after migration: %v, want ErrNotFound", err)
	}
	got, err := s.GetBlobs(ctx, []string{h})
	if err != nil || string(got[0]) != string(legacy.JSON) {
		t.Errorf("its blob: %q, %v; want %q", got[0], err, legacy.JSON)
	}
	page, err := s.ListDocuments(ctx, store.DocumentQuery{Limit: 10})
	if err != nil || len(page.Documents) != 1 || page.Documents[0].ID != "kept" {
		t.Errorf("listing after migration: %+v, %v; want only the registry document", page.Documents, err)
	}
	if page, _ := s.ListDocuments(ctx, store.DocumentQuery{Tag: "t", Limit: 10}); len(page.Documents) != 0 {
		t.Errorf("the legacy document's tag still lists %d documents", len(page.Documents))
	}
	var version int
	if err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
		t.Errorf("user_version = %d, %v; want %d", version, err, len(migrations))
	}
}
