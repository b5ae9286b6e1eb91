package jobs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/natstest"
)

// docItems returns n items carrying corpus documents inline, cycling through
// the corpus.
func docItems(t testing.TB, n int) []jobs.Item {
	t.Helper()
	docs, _ := loadCorpus(t)
	items := make([]jobs.Item, n)
	for i := range items {
		d := docs[i%len(docs)]
		items[i] = jobs.Item{Ref: fmt.Sprintf("ref-%d", i), Document: compact(t, d.JSON)}
	}
	return items
}

func compact(t testing.TB, b []byte) json.RawMessage {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPublishChunksByCount(t *testing.T) {
	_, js := setup(t)
	ctx := testContext(t)
	p, err := jobs.NewPublisher(js, jobs.WithChunkItems(3))
	if err != nil {
		t.Fatal(err)
	}
	items := docItems(t, 10)
	job := jobs.Job{ID: "job-count", Kind: store.KindVerify, At: "2026-11-26T21:02:18Z"}
	stats, err := p.Publish(ctx, job, items)
	if err != nil {
		t.Fatal(err)
	}
	if want := (jobs.PublishStats{Items: 10, Chunks: 4}); stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	chunks, ids, _ := streamChunks(t, js)
	var sizes []int
	for _, c := range chunks {
		sizes = append(sizes, len(c.Items))
	}
	if diff := cmp.Diff([]int{3, 3, 3, 1}, sizes); diff != "" {
		t.Errorf("chunk sizes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"job-count.0", "job-count.1", "job-count.2", "job-count.3"}, ids); diff != "" {
		t.Errorf("message IDs (-want +got):\n%s", diff)
	}
	next := 0
	for i, c := range chunks {
		if c.V != jobs.SchemaVersion || c.JobID != job.ID || c.Kind != store.KindVerify || c.Chunk != i || c.At != job.At {
			t.Errorf("chunk %d envelope = v%d %q %q #%d at %q", i, c.V, c.JobID, c.Kind, c.Chunk, c.At)
		}
		for _, it := range c.Items {
			if it.Index != next {
				t.Fatalf("item index %d, want %d", it.Index, next)
			}
			if it.Ref != items[next].Ref || !bytes.Equal(it.Document, items[next].Document) {
				t.Errorf("item %d changed in transit", next)
			}
			next++
		}
	}
	if next != 10 {
		t.Errorf("%d items in the stream, want 10", next)
	}
}

func TestPublishChunksByBytes(t *testing.T) {
	_, js := setup(t)
	ctx := testContext(t)
	const limit = 8 << 10
	p, err := jobs.NewPublisher(js, jobs.WithChunkBytes(limit), jobs.WithChunkItems(1000))
	if err != nil {
		t.Fatal(err)
	}
	items := docItems(t, 100)
	total := 0
	for _, it := range items {
		total += len(it.Document)
	}
	stats, err := p.Publish(ctx, jobs.Job{ID: "job-bytes", Kind: store.KindVerify}, items)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Items != 100 || stats.Chunks < total/limit {
		t.Errorf("stats = %+v for %d document bytes under a %d-byte bound", stats, total, limit)
	}
	chunks, _, sizes := streamChunks(t, js)
	if len(chunks) != stats.Chunks {
		t.Fatalf("%d chunks in the stream, stats say %d", len(chunks), stats.Chunks)
	}
	n := 0
	for i, size := range sizes {
		if size > limit {
			t.Errorf("chunk %d is %d bytes, over the %d-byte bound", i, size, limit)
		}
		// Every chunk but the last is full: the next item would not fit.
		if i < len(sizes)-1 {
			nextItem := items[n+len(chunks[i].Items)]
			if size+len(nextItem.Document) <= limit {
				t.Errorf("chunk %d (%d bytes) flushed although item %d (%d bytes) fits", i, size, n+len(chunks[i].Items), len(nextItem.Document))
			}
		}
		n += len(chunks[i].Items)
	}
	if n != 100 {
		t.Errorf("%d items in the stream, want 100", n)
	}
}

func TestPublishKeepsDocumentBytes(t *testing.T) {
	// Documents travel byte for byte: no HTML escaping, no U+2028 escaping.
	_, js := setup(t)
	ctx := testContext(t)
	p, err := jobs.NewPublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	doc := json.RawMessage("{\"a\":\"<b>&amp;\u2028\",\"n\":1E21}")
	if _, err := p.Publish(ctx, jobs.Job{ID: "job-bytes-exact", Kind: store.KindVerify}, []jobs.Item{{Document: doc}}); err != nil {
		t.Fatal(err)
	}
	chunks, _, _ := streamChunks(t, js)
	if len(chunks) != 1 || !bytes.Equal(chunks[0].Items[0].Document, doc) {
		t.Fatalf("document in the stream = %s, want %s", chunks[0].Items[0].Document, doc)
	}
}

func TestPublishCapsChunksToMaxPayload(t *testing.T) {
	srv := natstest.StartServer(t, natstest.Options{MaxPayload: 64 << 10})
	_, js := connect(t, srv.ClientURL())
	p, err := jobs.NewPublisher(js, jobs.WithChunkBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.ChunkBytes(); got > 64<<10-1024 || got < 32<<10 {
		t.Errorf("ChunkBytes = %d with a 64 KiB max payload", got)
	}
}

func TestPublishDuplicateChunksDropped(t *testing.T) {
	_, js := setup(t)
	ctx := testContext(t)
	p, err := jobs.NewPublisher(js, jobs.WithChunkItems(4))
	if err != nil {
		t.Fatal(err)
	}
	items := docItems(t, 10)
	job := jobs.Job{ID: "job-dup", Kind: store.KindVerify}
	first, err := p.Publish(ctx, job, items)
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Publish(ctx, job, items)
	if err != nil {
		t.Fatal(err)
	}
	if first.Chunks != 3 || first.Duplicates != 0 || second.Chunks != 3 || second.Duplicates != 3 {
		t.Errorf("first %+v, second %+v; want 3 chunks, then 3 duplicates", first, second)
	}
	chunks, _, _ := streamChunks(t, js)
	if len(chunks) != 3 {
		t.Errorf("%d messages in the stream after publishing twice, want 3", len(chunks))
	}
}

func TestChunkWriterStreams(t *testing.T) {
	_, js := setup(t)
	ctx := testContext(t)
	p, err := jobs.NewPublisher(js, jobs.WithChunkItems(50), jobs.WithPublishWindow(2))
	if err != nil {
		t.Fatal(err)
	}
	w, err := p.NewChunkWriter(jobs.Job{ID: "job-stream", Kind: store.KindVerify})
	if err != nil {
		t.Fatal(err)
	}
	items := docItems(t, 1000)
	for i, it := range items {
		it.Index = 12345 // ignored: the writer numbers items
		if i%7 == 0 {
			it = jobs.Item{Ref: it.Ref, Error: "line 7: malformed JSON"}
		}
		if err := w.Add(ctx, it); err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
	}
	if w.Items() != 1000 {
		t.Errorf("Items() = %d before Close", w.Items())
	}
	stats, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Items != 1000 || stats.Chunks != 20 {
		t.Errorf("stats = %+v, want 1000 items in 20 chunks", stats)
	}
	if err := w.Add(ctx, items[0]); !errors.Is(err, jobs.ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
	if _, err := w.Close(ctx); !errors.Is(err, jobs.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	chunks, _, _ := streamChunks(t, js)
	seen := 0
	for _, c := range chunks {
		for _, it := range c.Items {
			if it.Index != seen {
				t.Fatalf("index %d, want %d", it.Index, seen)
			}
			if wantErr := seen%7 == 0; wantErr != (it.Error != "") || wantErr == (it.Document != nil) {
				t.Errorf("item %d: error %q, document %d bytes", seen, it.Error, len(it.Document))
			}
			seen++
		}
	}
	if seen != 1000 {
		t.Errorf("%d items in the stream, want 1000", seen)
	}
}

func TestPublishQueueFull(t *testing.T) {
	url := natstest.Start(t)
	_, js := connect(t, url)
	ctx := testContext(t)
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{JobsMaxMsgs: 2}); err != nil {
		t.Fatal(err)
	}
	p, err := jobs.NewPublisher(js, jobs.WithChunkItems(1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Publish(ctx, jobs.Job{ID: "job-full", Kind: store.KindVerify}, docItems(t, 5))
	if !errors.Is(err, jobs.ErrQueueFull) {
		t.Fatalf("publishing 5 chunks into a 2-message queue: %v, want ErrQueueFull", err)
	}
	chunks, _, _ := streamChunks(t, js)
	if len(chunks) != 2 {
		t.Errorf("%d messages queued, want 2", len(chunks))
	}
}

func TestPublishRejectsBadJobs(t *testing.T) {
	_, js := setup(t)
	ctx := testContext(t)
	p, err := jobs.NewPublisher(js, jobs.WithChunkBytes(4096))
	if err != nil {
		t.Fatal(err)
	}
	ok := []jobs.Item{{Document: json.RawMessage(`{}`)}}
	for name, tc := range map[string]struct {
		job   jobs.Job
		items []jobs.Item
	}{
		"empty id":      {jobs.Job{Kind: store.KindVerify}, ok},
		"dotted id":     {jobs.Job{ID: "a.b", Kind: store.KindVerify}, ok},
		"wildcard id":   {jobs.Job{ID: "a*", Kind: store.KindVerify}, ok},
		"long id":       {jobs.Job{ID: strings.Repeat("x", 129), Kind: store.KindVerify}, ok},
		"unknown kind":  {jobs.Job{ID: "j", Kind: "paint"}, ok},
		"bad at":        {jobs.Job{ID: "j", Kind: store.KindVerify, At: "yesterday"}, ok},
		"invalid JSON":  {jobs.Job{ID: "j", Kind: store.KindVerify}, []jobs.Item{{Document: json.RawMessage(`{"a":`)}}},
		"huge, no docs": {jobs.Job{ID: "j", Kind: store.KindVerify}, []jobs.Item{{Document: bigDocument(8192)}}},
		"huge ref":      {jobs.Job{ID: "j", Kind: store.KindVerify}, []jobs.Item{{Ref: strings.Repeat("r", 5000), DocumentID: "x"}}},
	} {
		if _, err := p.Publish(ctx, tc.job, tc.items); !errors.Is(err, jobs.ErrInvalidJob) {
			t.Errorf("%s: error %v, want ErrInvalidJob", name, err)
		}
	}
	if chunks, _, _ := streamChunks(t, js); len(chunks) != 0 {
		t.Errorf("%d chunks published by rejected jobs", len(chunks))
	}
}

// bigDocument returns a JSON object of about n bytes.
func bigDocument(n int) json.RawMessage {
	return json.RawMessage(`{"pad":"` + strings.Repeat("p", n) + `"}`)
}

func TestPublishStagesLargeDocuments(t *testing.T) {
	srv := natstest.StartServer(t, natstest.Options{MaxPayload: 64 << 10})
	_, js := connect(t, srv.ClientURL())
	ctx := testContext(t)
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	st := newStore(t)
	p, err := jobs.NewPublisher(js, jobs.WithStaging(st))
	if err != nil {
		t.Fatal(err)
	}
	big := bigDocument(100 << 10)
	items := append(docItems(t, 3), jobs.Item{Ref: "big", Document: big})
	items = append(items, docItems(t, 2)...)
	stats, err := p.Publish(ctx, jobs.Job{ID: "job-big", Kind: store.KindVerify}, items)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Items != 6 || stats.Staged != 1 {
		t.Errorf("stats = %+v, want 6 items with 1 staged", stats)
	}
	sum := sha256.Sum256(big)
	h := hex.EncodeToString(sum[:])
	chunks, _, _ := streamChunks(t, js)
	var got *jobs.Item
	for _, c := range chunks {
		for i := range c.Items {
			if c.Items[i].Index == 3 {
				got = &c.Items[i]
			}
		}
	}
	if got == nil || got.Blob != h || got.Document != nil || got.Ref != "big" {
		t.Fatalf("staged item = %+v, want blob %s", got, h)
	}
	stored, err := st.GetBlobs(ctx, []string{h})
	if err != nil {
		t.Fatalf("staged document: %v", err)
	}
	if !bytes.Equal(stored[0], big) {
		t.Errorf("staged %d bytes differ from the %d submitted", len(stored[0]), len(big))
	}
	// A staged document is not a document of the registry.
	if _, err := st.GetDocument(ctx, h); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDocument of the staged bytes' hash: %v, want ErrNotFound", err)
	}
}

func TestChunkWriterAddValidated(t *testing.T) {
	// Add refuses a document that is not one JSON value; AddValidated
	// trusts its caller and carries valid documents exactly like Add.
	_, js := setup(t)
	ctx := testContext(t)
	p, err := jobs.NewPublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	w, err := p.NewChunkWriter(jobs.Job{ID: "job-add-checked", Kind: store.KindVerify})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, jobs.Item{Document: json.RawMessage(`{"a":1} {"b":2}`)}); !errors.Is(err, jobs.ErrInvalidJob) {
		t.Fatalf("Add of two JSON values: %v, want ErrInvalidJob", err)
	}
	w.Abort()

	w, err = p.NewChunkWriter(jobs.Job{ID: "job-add-validated", Kind: store.KindVerify})
	if err != nil {
		t.Fatal(err)
	}
	items := docItems(t, 3)
	for i, it := range items {
		add := w.Add
		if i%2 == 0 {
			add = w.AddValidated
		}
		if err := add(ctx, it); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
	}
	if _, err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	chunks, _, _ := streamChunks(t, js)
	if len(chunks) != 1 || len(chunks[0].Items) != len(items) {
		t.Fatalf("stream holds %d chunks, want one of %d items", len(chunks), len(items))
	}
	for i, it := range chunks[0].Items {
		if it.Index != i || !bytes.Equal(it.Document, items[i].Document) {
			t.Errorf("item %d: index %d, document %s; want %s", i, it.Index, it.Document, items[i].Document)
		}
	}
}

// TestPublishWaitsForTheStream publishes while no stream takes the subject
// (JetStream answers "no responders", as while a restarted server recovers
// its streams or a cluster elects a stream leader) and creates the stream a
// second later: the chunks are retried until the stream stores them.
func TestPublishWaitsForTheStream(t *testing.T) {
	url := natstest.Start(t)
	_, js := connect(t, url)
	ctx := testContext(t)
	p, err := jobs.NewPublisher(js, jobs.WithChunkItems(2))
	if err != nil {
		t.Fatal(err)
	}
	created := make(chan error, 1)
	timer := time.AfterFunc(time.Second, func() { created <- jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}) })
	t.Cleanup(func() { timer.Stop() })
	stats, err := p.Publish(ctx, jobs.Job{ID: "job-late-stream", Kind: store.KindVerify}, docItems(t, 5))
	if err != nil {
		t.Fatalf("Publish while the stream was missing for a second: %v", err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if want := (jobs.PublishStats{Items: 5, Chunks: 3}); stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	chunks, _, _ := streamChunks(t, js)
	if len(chunks) != 3 {
		t.Errorf("stream holds %d chunks, want 3", len(chunks))
	}
}
