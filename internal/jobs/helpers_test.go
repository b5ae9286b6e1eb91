package jobs_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/sqlitestore"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/natstest"
	"github.com/stele-go/stele/internal/testutil/redistest"
	"github.com/stele-go/stele/internal/testutil/vectors"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// connect returns a JetStream handle on url, closed at cleanup.
func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return natstest.Connect(t, url)
}

// setup starts a JetStream server, creates the streams and returns a handle.
func setup(t testing.TB) (string, jetstream.JetStream) {
	t.Helper()
	url := natstest.Start(t)
	_, js := connect(t, url)
	ctx := testContext(t)
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	return url, js
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// corpusDoc is one document of the reference corpus with its expected
// verdict.
type corpusDoc struct {
	Name   string
	JSON   []byte
	ID     string // manifest ID ("" for tampered copies)
	Valid  bool
	Failed []string
}

type verdict struct {
	Valid  bool     `json:"valid"`
	Failed []string `json:"failed"`
}

// loadCorpus returns the 60 reference documents and the 16 tampered copies
// with the reference's verdicts, and the instant they hold at.
func loadCorpus(t testing.TB) ([]corpusDoc, time.Time) {
	t.Helper()
	dir := filepath.Join(vectors.Dir(t), "reference-corpus")
	var manifest []struct {
		File     string  `json:"file"`
		ID       string  `json:"id"`
		Expected verdict `json:"expected"`
	}
	readJSON(t, filepath.Join(dir, "manifest.json"), &manifest)
	var notes []struct {
		File            string  `json:"file"`
		ReferenceResult verdict `json:"referenceResult"`
	}
	readJSON(t, filepath.Join(dir, "tampered", "notes.json"), &notes)
	var docs []corpusDoc
	for _, m := range manifest {
		docs = append(docs, corpusDoc{Name: m.File, JSON: readFile(t, filepath.Join(dir, m.File)), ID: m.ID,
			Valid: m.Expected.Valid, Failed: sorted(m.Expected.Failed)})
	}
	for _, n := range notes {
		docs = append(docs, corpusDoc{Name: "tampered/" + n.File, JSON: readFile(t, filepath.Join(dir, "tampered", n.File)),
			Valid: n.ReferenceResult.Valid, Failed: sorted(n.ReferenceResult.Failed)})
	}
	if len(manifest) != 60 || len(notes) != 16 {
		t.Fatalf("corpus has %d documents and %d tampered copies, want 60 and 16", len(manifest), len(notes))
	}
	at, err := time.Parse(time.RFC3339Nano, string(trimSpace(readFile(t, filepath.Join(dir, "GENERATED_AT")))))
	if err != nil {
		t.Fatalf("GENERATED_AT: %v", err)
	}
	return docs, at
}

func sorted(s []string) []string {
	s = append([]string{}, s...)
	sort.Strings(s)
	return s
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(readFile(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// streamChunks reads every message of STELE_JOBS (by sequence) and decodes
// the chunks, returning them with their Nats-Msg-Id and payload sizes.
func streamChunks(t testing.TB, js jetstream.JetStream) ([]*jobs.Chunk, []string, []int) {
	t.Helper()
	ctx := testContext(t)
	s, err := js.Stream(ctx, jobs.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []*jobs.Chunk
	var ids []string
	var sizes []int
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get msg %d: %v", seq, err)
		}
		c, err := jobs.DecodeChunk(m.Data)
		if err != nil {
			t.Fatalf("msg %d: %v", seq, err)
		}
		chunks = append(chunks, c)
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
		sizes = append(sizes, len(m.Data))
	}
	return chunks, ids, sizes
}

// newStore returns a real store on a fresh redis-server child (or on
// STELE_TEST_REDIS_URL, under a unique key prefix), closed at cleanup.
func newStore(t testing.TB, opts ...redisstore.Option) store.Store {
	t.Helper()
	url := redistest.Start(t)
	opts = append([]redisstore.Option{redisstore.WithKeyPrefix(redistest.KeyPrefix(t))}, opts...)
	st, err := redisstore.Open(testContext(t), url, opts...)
	if err != nil {
		t.Fatalf("redisstore: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newSQLiteStore returns a real SQLite store in a temporary directory.
func newSQLiteStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlitestore.Open(testContext(t), filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatalf("sqlitestore: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
