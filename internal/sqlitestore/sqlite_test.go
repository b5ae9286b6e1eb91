package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/store"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func count(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "stele.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	job := store.Job{ID: "job-1", Kind: store.KindVerify, Total: 3, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	if err := s.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	results := []store.Result{
		{Index: 0, Ref: "a", DocumentID: "d0", Valid: true, Checks: []store.Check{{Name: "id_match", Passed: true, Message: "ok"}}},
		{Index: 2, Ref: "c", Error: "malformed"},
	}
	before, err := s.RecordResults(ctx, job.ID, results)
	if err != nil {
		t.Fatal(err)
	}
	doc := store.Document{ID: "d0", JSON: []byte(`{"id":"d0"}`), IssuerID: "i", BeneficiaryID: "b", CreatedAt: "2026-01-01T00:00:00.000Z", Tags: []string{"x"}}
	if err := s.PutDocuments(ctx, []store.Document{doc}); err != nil {
		t.Fatal(err)
	}
	key := [32]byte{1, 2, 3}
	if err := s.PutSigs(ctx, [][32]byte{key}, []bool{true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path)
	got, err := s.GetJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before.Job, got); d != "" {
		t.Errorf("job after reopening (-before +after):\n%s", d)
	}
	rs, _, err := s.Results(ctx, job.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(results, rs); d != "" {
		t.Errorf("results after reopening (-before +after):\n%s", d)
	}
	b, err := s.GetDocument(ctx, doc.ID)
	if err != nil || string(b) != string(doc.JSON) {
		t.Errorf("document after reopening = %s, %v", b, err)
	}
	sigs, err := s.GetSigs(ctx, [][32]byte{key})
	if err != nil || sigs[0] != store.SigValid {
		t.Errorf("signature cache after reopening = %v, %v", sigs, err)
	}
	// Progress goes on where it stopped.
	p, err := s.RecordResults(ctx, job.ID, []store.Result{{Index: 1, Ref: "b"}})
	if err != nil || !p.Completed || p.Job.Done != 3 || p.Job.Invalid != 1 {
		t.Errorf("completing after reopening = %+v, %v", p, err)
	}
}

func TestDocumentIndexColumns(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "stele.db"))
	doc := store.Document{ID: "d1", JSON: []byte(`{}`), IssuerID: "iss", BeneficiaryID: "ben",
		CreatedAt: "2026-02-19T01:38:56.342Z", HasChain: true, Tags: []string{"a", "b", "a"}}
	if err := s.PutDocuments(ctx, []store.Document{doc}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM documents WHERE issuer_id = 'iss' AND beneficiary_id = 'ben' AND has_chain = 1 AND created_at = ?
AND created_ms = 1771465136342`, doc.CreatedAt); n != 1 {
		t.Errorf("indexed columns match %d rows, want 1", n)
	}
	if n := count(t, s, `SELECT count(*) FROM document_tags WHERE doc_id = 'd1' AND created_ms = 1771465136342`); n != 2 {
		t.Errorf("%d tag rows with created_ms, want 2", n)
	}
	if n := count(t, s, `SELECT count(*) FROM document_tags WHERE doc_id = 'd1'`); n != 2 {
		t.Errorf("%d tag rows, want 2", n)
	}
	// Overwriting replaces the tags.
	doc.Tags = []string{"c"}
	if err := s.PutDocuments(ctx, []store.Document{doc}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM document_tags WHERE doc_id = 'd1' AND tag = 'c'`); n != 1 {
		t.Errorf("tag c: %d rows, want 1", n)
	}
	if n := count(t, s, `SELECT count(*) FROM document_tags WHERE doc_id = 'd1'`); n != 1 {
		t.Errorf("%d tag rows after overwrite, want 1", n)
	}
	// The listing queries use the indexes rather than scanning.
	var plan string
	rows, err := s.r.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT id FROM documents WHERE issuer_id = ? ORDER BY created_ms, id`, "iss")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan += detail + "\n"
	}
	rows.Close()
	if want := "SEARCH documents USING COVERING INDEX documents_issuer (issuer_id=?)\n"; plan != want {
		t.Errorf("query plan = %q, want %q", plan, want)
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stele.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(ctx, path)
	if !errors.Is(err, ErrSchema) {
		t.Fatalf("Open of a newer schema: err = %v, want ErrSchema", err)
	}
}

func TestSchemaVersion(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "stele.db"))
	if v := count(t, s, `PRAGMA user_version`); v != len(migrations) {
		t.Errorf("user_version = %d, want %d", v, len(migrations))
	}
	var mode string
	if err := s.r.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestPurge(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
	s := openTest(t, filepath.Join(t.TempDir(), "stele.db"),
		WithClock(clock.Now), WithJobTTL(time.Hour), WithSigTTL(2*time.Hour), WithJanitorInterval(0))
	for _, id := range []string{"old", "fresh"} {
		if err := s.CreateJob(ctx, store.Job{ID: id, Kind: store.KindVerify, Total: 4}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordResults(ctx, id, []store.Result{{Index: 0, Valid: true}, {Index: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutSigs(ctx, [][32]byte{{1}, {2}}, []bool{true, false}); err != nil {
		t.Fatal(err)
	}

	clock.Advance(50 * time.Minute)
	if _, err := s.RecordResults(ctx, "fresh", []store.Result{{Index: 2, Valid: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSigs(ctx, [][32]byte{{2}}, []bool{false}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(11 * time.Minute)
	// "old" expired but is still on disk until purged.
	if _, err := s.GetJob(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetJob(old) after its TTL: err = %v, want ErrNotFound", err)
	}
	if n := count(t, s, `SELECT count(*) FROM results WHERE job_id = 'old'`); n != 2 {
		t.Fatalf("expired results on disk before purge: %d, want 2", n)
	}
	jobs, sigs, err := s.Purge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jobs != 1 || sigs != 0 {
		t.Errorf("Purge = %d jobs, %d sigs; want 1, 0", jobs, sigs)
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM jobs WHERE id = 'old'`:          0,
		`SELECT count(*) FROM results WHERE job_id = 'old'`:   0,
		`SELECT count(*) FROM jobs WHERE id = 'fresh'`:        1,
		`SELECT count(*) FROM results WHERE job_id = 'fresh'`: 3,
		`SELECT count(*) FROM sigs`:                           2,
	} {
		if n := count(t, s, q); n != want {
			t.Errorf("after purge, %s = %d, want %d", q, n, want)
		}
	}

	clock.Advance(70 * time.Minute) // sig {1} (written at 0) expired, {2} (at 50m) not
	jobs, sigs, err = s.Purge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jobs != 1 || sigs != 1 {
		t.Errorf("second Purge = %d jobs, %d sigs; want 1, 1", jobs, sigs)
	}
	got, err := s.GetSigs(ctx, [][32]byte{{1}, {2}})
	if err != nil || !cmp.Equal(got, []byte{store.SigUnknown, store.SigInvalid}) {
		t.Errorf("GetSigs after purge = %v, %v", got, err)
	}
	if n := count(t, s, `SELECT count(*) FROM results`); n != 0 {
		t.Errorf("%d results left, want 0", n)
	}
}

func TestJanitor(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
	s := openTest(t, filepath.Join(t.TempDir(), "stele.db"),
		WithClock(clock.Now), WithJobTTL(time.Minute), WithJanitorInterval(10*time.Millisecond))
	if err := s.CreateJob(ctx, store.Job{ID: "j", Kind: store.KindVerify, Total: 1}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for count(t, s, `SELECT count(*) FROM jobs`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("janitor did not purge the expired job")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Close stops the janitor (goleak in TestMain checks it is gone).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stele.db")
	for name, opt := range map[string]Option{
		"job TTL":    WithJobTTL(0),
		"sig TTL":    WithSigTTL(-time.Second),
		"clock":      WithClock(nil),
		"janitor":    WithJanitorInterval(-1),
		"logger":     WithLogger(nil),
		"sync":       WithSynchronous("OFF"),
		"read conns": WithReadConns(0),
	} {
		if _, err := Open(context.Background(), path, opt); !errors.Is(err, store.ErrInvalidOption) {
			t.Errorf("Open with a bad %s option: err = %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := Open(context.Background(), ""); !errors.Is(err, store.ErrInvalidOption) {
		t.Errorf("Open with an empty path: err = %v, want ErrInvalidOption", err)
	}
	s := openTest(t, path, WithSynchronous("normal"), WithReadConns(1))
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPathWithURIDelimiters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "stele.db")
	s := openTest(t, path)
	if err := s.CreateJob(context.Background(), store.Job{ID: "j", Kind: store.KindVerify, Total: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

// Results are kept in the compact stored form (a verify result of eleven
// passing checks in about a hundred bytes, not its kilobyte of JSON), and
// results written as JSON by earlier versions read the same.
func TestResultBodies(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateJob(ctx, store.Job{ID: "bodies", Kind: store.KindVerify, Total: 2}); err != nil {
		t.Fatal(err)
	}
	checks := []store.Check{
		{Name: "id_match", Passed: true, Message: "Document ID matches canonical hash"},
		{Name: "signature_valid", Passed: true, Message: "Issuer signature is valid"},
		{Name: "not_expired", Passed: true, Message: "Document has not expired"},
	}
	for len(checks) < 11 {
		checks = append(checks, checks[len(checks)%3])
	}
	compact := store.Result{Index: 0, Ref: "r0", DocumentID: "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4", Valid: true, Checks: checks}
	if _, err := s.RecordResults(ctx, "bodies", []store.Result{compact}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT length(body) FROM results WHERE job_id = 'bodies' AND idx = 0`); n > 200 {
		t.Errorf("a verify result takes %d bytes, want the compact form", n)
	}
	legacy := store.Result{Index: 1, Ref: "r1", Valid: false, Error: "no document"}
	body, err := store.EncodeResult(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO results (job_id, idx, outcome, body) VALUES ('bodies', 1, ?, ?)`, int(store.OutcomeFailed), body); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Results(ctx, "bodies", 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Result{compact, legacy}, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
