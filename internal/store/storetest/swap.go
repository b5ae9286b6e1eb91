package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stele-go/stele/internal/store"
)

// testCreateOnly: a CreateOnly document is written only when its ID is not
// stored, by PutDocuments and by CommitChunk alike.
func testCreateOnly(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	d := doc(t, 0)
	if err := s.PutDocuments(ctx(t), []store.Document{d}); err != nil {
		t.Fatal(err)
	}
	other := d
	other.JSON, other.CreateOnly = []byte(`{"other":true}`), true
	fresh := doc(t, 1)
	fresh.CreateOnly = true
	if err := s.PutDocuments(ctx(t), []store.Document{other, fresh}); err != nil {
		t.Fatal(err)
	}
	job := newID(t, "job")
	if err := s.CreateJob(ctx(t), store.Job{ID: job, Kind: store.KindVerify, Total: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitChunk(ctx(t), job, store.ChunkWrites{Documents: []store.Document{other}, Results: []store.Result{{Index: 0, Valid: true}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDocuments(ctx(t), []string{d.ID, fresh.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0], d.JSON) {
		t.Errorf("a create-only write replaced the stored document: %s", got[0])
	}
	if !bytes.Equal(got[1], fresh.JSON) {
		t.Errorf("a create-only document with a new ID was not stored: %s", got[1])
	}
}

// testSwapDocument: a swap applies only over the expected bytes; many
// read-modify-write loops through two handles (two processes) each adding
// their own mark lose none of them.
func testSwapDocument(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	twin := newStore(t, Config{Twin: s})
	d := doc(t, 0)
	if err := s.PutDocuments(ctx(t), []store.Document{d}); err != nil {
		t.Fatal(err)
	}
	next := []byte(`{"v":1}`)
	if err := s.SwapDocument(ctx(t), d.ID, []byte(`{"other":true}`), next); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("swap over other bytes: %v, want ErrConflict", err)
	}
	if got, _ := s.GetDocument(ctx(t), d.ID); string(got) != string(d.JSON) {
		t.Fatalf("a failed swap wrote %s", got)
	}
	if err := s.SwapDocument(ctx(t), newID(t, "doc"), d.JSON, next); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("swap of an absent document: %v, want ErrNotFound", err)
	}
	for _, bad := range []struct {
		id         string
		prev, next []byte
	}{{"", d.JSON, next}, {d.ID, nil, next}, {d.ID, d.JSON, nil}} {
		if err := s.SwapDocument(ctx(t), bad.id, bad.prev, bad.next); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("SwapDocument(%q, %q, %q): %v, want ErrInvalid", bad.id, bad.prev, bad.next, err)
		}
	}
	if err := s.SwapDocument(ctx(t), d.ID, d.JSON, next); err != nil {
		t.Fatalf("swap: %v", err)
	}
	if got, _ := twin.GetDocument(ctx(t), d.ID); string(got) != string(next) {
		t.Fatalf("after the swap the other handle reads %s", got)
	}

	// Concurrent appends of marks: JSON arrays of the marks added so far.
	if err := s.SwapDocument(ctx(t), d.ID, next, []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	const workers, each = 6, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		h := s
		if w%2 == 1 {
			h = twin
		}
		wg.Go(func() {
			for i := range each {
				for {
					cur, err := h.GetDocument(ctx(t), d.ID)
					if err != nil {
						errs <- err
						return
					}
					mark := fmt.Sprintf(`"%d-%d"`, w, i)
					upd := append([]byte(nil), cur[:len(cur)-1]...)
					if len(cur) > 2 {
						upd = append(upd, ',')
					}
					upd = append(append(upd, mark...), ']')
					err = h.SwapDocument(ctx(t), d.ID, cur, upd)
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.GetDocument(ctx(t), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	for w := range workers {
		for i := range each {
			if mark := fmt.Sprintf(`"%d-%d"`, w, i); !bytes.Contains(got, []byte(mark)) {
				t.Fatalf("mark %s lost: %s", mark, got)
			}
		}
	}
}
