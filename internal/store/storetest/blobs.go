package storetest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/store"
)

// testBlobs: staged blobs read back by ID in order (nil where absent), are
// replaced by a later put, are refused when malformed, and stay apart from
// the registry: no document of that ID, nothing listed.
func testBlobs(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	a := store.Blob{ID: strings.Repeat("a", 64), Data: bytes.Repeat([]byte("x"), 700<<10)}
	b := store.Blob{ID: strings.Repeat("b", 64), Data: []byte(`{"claims":"to be a covenant"}`)}
	if err := s.PutBlobs(ctx(t), []store.Blob{a, b}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBlobs(ctx(t), []string{b.ID, "missing", a.ID, b.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || !bytes.Equal(got[0], b.Data) || got[1] != nil || !bytes.Equal(got[2], a.Data) || !bytes.Equal(got[3], b.Data) {
		t.Fatalf("GetBlobs = %d values (lengths %v), want b, nil, a, b", len(got), lens(got))
	}
	if got, err := s.GetBlobs(ctx(t), nil); err != nil || len(got) != 0 {
		t.Errorf("GetBlobs of nothing = %v, %v", got, err)
	}

	b2 := store.Blob{ID: b.ID, Data: []byte(`{"second":true}`)}
	if err := s.PutBlobs(ctx(t), []store.Blob{b2}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetBlobs(ctx(t), []string{b.ID}); !bytes.Equal(got[0], b2.Data) {
		t.Errorf("after a second put: %q, want %q", got[0], b2.Data)
	}

	for name, bad := range map[string][]store.Blob{
		"empty ID":   {{ID: "", Data: []byte("x")}},
		"empty data": {{ID: strings.Repeat("c", 64)}},
		"one of two": {{ID: strings.Repeat("d", 64), Data: []byte("x")}, {ID: "", Data: []byte("y")}},
	} {
		if err := s.PutBlobs(ctx(t), bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutBlobs with %s: %v, want ErrInvalid", name, err)
		}
	}
	if got, _ := s.GetBlobs(ctx(t), []string{strings.Repeat("d", 64)}); got[0] != nil {
		t.Error("a refused PutBlobs wrote its valid blob")
	}

	for _, id := range []string{a.ID, b.ID} {
		if _, err := s.GetDocument(ctx(t), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetDocument(%s…) of a blob: %v, want ErrNotFound", id[:8], err)
		}
	}
	page, err := s.ListDocuments(ctx(t), store.DocumentQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Documents) != 0 {
		t.Errorf("the listing shows %d documents after staging blobs only", len(page.Documents))
	}
}

// testBlobTTL: a blob expires the job TTL after it was put.
func testBlobTTL(t *testing.T, newStore NewStore) {
	t.Parallel()
	s := newStore(t, Config{JobTTL: ttl, SigTTL: time.Hour})
	blob := store.Blob{ID: strings.Repeat("e", 64), Data: []byte("staged")}
	if err := s.PutBlobs(ctx(t), []store.Blob{blob}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetBlobs(ctx(t), []string{blob.ID}); got[0] == nil {
		t.Fatal("a blob just put is missing")
	}
	deadline := time.Now().Add(3 * ttl)
	for {
		got, err := s.GetBlobs(ctx(t), []string{blob.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got[0] == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the blob never expired")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lens(bs [][]byte) []int {
	out := make([]int, len(bs))
	for i, b := range bs {
		out[i] = len(b)
	}
	return out
}
