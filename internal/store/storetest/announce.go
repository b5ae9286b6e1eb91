package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/stele-go/stele/internal/store"
)

// testAnnouncements checks the outbox of deferred completion announcements:
// first-added order, idempotent adds and drops, the bounds of a listing.
func testAnnouncements(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	c := ctx(t)
	if ids, err := s.DeferredAnnouncements(c, 10); err != nil || len(ids) != 0 {
		t.Fatalf("empty outbox = %q, %v", ids, err)
	}
	a, b, d := newID(t, "job"), newID(t, "job"), newID(t, "job")
	for _, id := range []string{a, b, a, d} {
		if err := s.DeferAnnouncement(c, id); err != nil {
			t.Fatalf("defer %s: %v", id, err)
		}
	}
	list := func(max int) []string {
		t.Helper()
		ids, err := s.DeferredAnnouncements(c, max)
		if err != nil {
			t.Fatalf("list %d: %v", max, err)
		}
		return ids
	}
	if got := list(10); !slices.Equal(got, []string{a, b, d}) {
		t.Fatalf("outbox = %q, want %q (first-added order, no repeat)", got, []string{a, b, d})
	}
	if got := list(2); !slices.Equal(got, []string{a, b}) {
		t.Errorf("first 2 = %q, want %q", got, []string{a, b})
	}
	for _, id := range []string{a, a, newID(t, "job")} {
		if err := s.DropAnnouncement(c, id); err != nil {
			t.Fatalf("drop %s: %v", id, err)
		}
	}
	if err := s.DeferAnnouncement(c, a); err != nil {
		t.Fatal(err)
	}
	if got := list(store.MaxPageSize); !slices.Equal(got, []string{b, d, a}) {
		t.Errorf("after dropping and adding %s again: %q, want %q", a, got, []string{b, d, a})
	}
	for _, max := range []int{0, -1, store.MaxPageSize + 1} {
		if _, err := s.DeferredAnnouncements(c, max); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("list %d: %v, want ErrInvalid", max, err)
		}
	}
	for _, bad := range []string{"", string(make([]byte, store.MaxIDLen+1))} {
		if err := s.DeferAnnouncement(c, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("defer %q: %v, want ErrInvalid", bad, err)
		}
		if err := s.DropAnnouncement(c, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("drop %q: %v, want ErrInvalid", bad, err)
		}
	}
}
