package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/store"
)

// testQueueLeases checks who may acquire, renew, release and claim a queue
// lease, and that a lease runs out after its TTL.
func testQueueLeases(t *testing.T, newStore NewStore) {
	s := newStore(t, Config{})
	c := ctx(t)
	job1, job2 := newID(t, "job"), newID(t, "job")
	want := func(what string, err, target error) {
		t.Helper()
		if target == nil && err != nil || target != nil && !errors.Is(err, target) {
			t.Fatalf("%s: %v, want %v", what, err, target)
		}
	}
	want("A acquires job1", s.AcquireQueueLease(c, job1, "A", time.Hour), nil)
	want("B acquires job1", s.AcquireQueueLease(c, job1, "B", time.Hour), store.ErrConflict)
	want("A acquires job1 again", s.AcquireQueueLease(c, job1, "A", time.Hour), nil)
	want("A renews job1", s.RenewQueueLease(c, job1, "A", time.Hour), nil)
	want("B renews job1", s.RenewQueueLease(c, job1, "B", time.Hour), store.ErrConflict)
	want("B renews a job nobody holds", s.RenewQueueLease(c, job2, "B", time.Hour), store.ErrConflict)
	want("B releases job1", s.ReleaseQueueLease(c, job1, "B"), store.ErrConflict)
	want("B acquires job1 after its refused release", s.AcquireQueueLease(c, job1, "B", time.Hour), store.ErrConflict)

	if ids, err := s.ClaimQueueLeases(c, "C", time.Hour, 10); err != nil || len(ids) != 0 {
		t.Fatalf("claim with no lease run out = %q, %v", ids, err)
	}
	want("A acquires job2 briefly", s.AcquireQueueLease(c, job2, "A", 50*time.Millisecond), nil)
	time.Sleep(200 * time.Millisecond)
	ids, err := s.ClaimQueueLeases(c, "C", time.Hour, 10)
	if err != nil || !slices.Equal(ids, []string{job2}) {
		t.Fatalf("claim after job2's lease ran out = %q, %v; want [%s]", ids, err, job2)
	}
	if ids, err := s.ClaimQueueLeases(c, "D", time.Hour, 10); err != nil || len(ids) != 0 {
		t.Fatalf("second claim = %q, %v; want none (C holds job2)", ids, err)
	}
	want("A renews job2 after C claimed it", s.RenewQueueLease(c, job2, "A", time.Hour), store.ErrConflict)
	want("A releases job2 it no longer holds", s.ReleaseQueueLease(c, job2, "A"), store.ErrConflict)
	want("C renews job2", s.RenewQueueLease(c, job2, "C", time.Hour), nil)
	want("C releases job2", s.ReleaseQueueLease(c, job2, "C"), nil)
	want("C releases job2 again", s.ReleaseQueueLease(c, job2, "C"), store.ErrConflict)
	want("C renews job2 after releasing it", s.RenewQueueLease(c, job2, "C", time.Hour), store.ErrConflict)
	want("A acquires the free job2", s.AcquireQueueLease(c, job2, "A", time.Hour), nil)

	want("A releases job1", s.ReleaseQueueLease(c, job1, "A"), nil)
	want("B acquires the free job1", s.AcquireQueueLease(c, job1, "B", time.Hour), nil)

	// Claims take at most max, oldest deadline first.
	var short []string
	for range 3 {
		id := newID(t, "job")
		want("E acquires "+id, s.AcquireQueueLease(c, id, "E", time.Millisecond), nil)
		short = append(short, id)
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	ids, err = s.ClaimQueueLeases(c, "F", time.Hour, 2)
	if err != nil || !slices.Equal(ids, short[:2]) {
		t.Fatalf("claim of 2 = %q, %v; want %q", ids, err, short[:2])
	}
	ids, err = s.ClaimQueueLeases(c, "F", time.Hour, 2)
	if err != nil || !slices.Equal(ids, short[2:]) {
		t.Fatalf("claim of the rest = %q, %v; want %q", ids, err, short[2:])
	}

	want("empty job ID", s.AcquireQueueLease(c, "", "A", time.Hour), store.ErrInvalid)
	want("empty owner", s.AcquireQueueLease(c, job1, "", time.Hour), store.ErrInvalid)
	want("zero TTL", s.RenewQueueLease(c, job1, "B", 0), store.ErrInvalid)
	want("empty owner on release", s.ReleaseQueueLease(c, job1, ""), store.ErrInvalid)
	if _, err := s.ClaimQueueLeases(c, "F", time.Hour, 0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("claim of 0: %v, want ErrInvalid", err)
	}
	if _, err := s.ClaimQueueLeases(c, "", time.Hour, 1); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("claim by an empty owner: %v, want ErrInvalid", err)
	}
}
