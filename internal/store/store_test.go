package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewJob(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	created := time.Date(2026, 2, 3, 4, 5, 6, 7, time.FixedZone("X", -3600))
	for _, tc := range []struct {
		name string
		in   Job
		want Job
		err  error
	}{
		{
			name: "queued, counters dropped",
			in:   Job{ID: "j", Kind: KindVerify, Total: 3, Done: 2, Status: StatusCompleted, CreatedAt: created},
			want: Job{ID: "j", Kind: KindVerify, Status: StatusQueued, Total: 3, CreatedAt: created.UTC()},
		},
		{
			name: "zero CreatedAt is now",
			in:   Job{ID: "j", Kind: KindSign, Total: 1},
			want: Job{ID: "j", Kind: KindSign, Status: StatusQueued, Total: 1, CreatedAt: now},
		},
		{
			name: "empty job is completed",
			in:   Job{ID: "j", Kind: KindVerify, CreatedAt: created},
			want: Job{ID: "j", Kind: KindVerify, Status: StatusCompleted, CreatedAt: created.UTC(), CompletedAt: created.UTC()},
		},
		{name: "empty ID", in: Job{Kind: KindVerify}, err: ErrInvalid},
		{name: "long ID", in: Job{ID: strings.Repeat("a", MaxIDLen+1), Kind: KindVerify}, err: ErrInvalid},
		{name: "no kind", in: Job{ID: "j"}, err: ErrInvalid},
		{name: "negative total", in: Job{ID: "j", Kind: KindVerify, Total: -2}, err: ErrInvalid},
	} {
		got, err := NewJob(tc.in, now)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want Outcome
	}{
		{Result{Valid: true}, OutcomeValid},
		{Result{}, OutcomeInvalid},
		{Result{Error: "x"}, OutcomeFailed},
		{Result{Valid: true, Error: "x"}, OutcomeFailed},
	} {
		if got := tc.r.Outcome(); got != tc.want {
			t.Errorf("%+v.Outcome() = %d, want %d", tc.r, got, tc.want)
		}
	}
}

func TestPages(t *testing.T) {
	for _, tc := range []struct{ offset, limit, total, next int }{
		{0, 10, 25, 10}, {10, 10, 25, 20}, {20, 10, 25, -1}, {15, 10, 25, -1}, {0, 5, 5, -1}, {30, 5, 25, -1},
	} {
		if got := NextOffset(tc.offset, tc.limit, tc.total); got != tc.next {
			t.Errorf("NextOffset(%d, %d, %d) = %d, want %d", tc.offset, tc.limit, tc.total, got, tc.next)
		}
	}
	for _, bad := range [][2]int{{-1, 1}, {0, 0}, {0, MaxPageSize + 1}} {
		if err := CheckPage(bad[0], bad[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckPage(%d, %d) = %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}
	if err := CheckPage(0, MaxPageSize); err != nil {
		t.Errorf("CheckPage(0, MaxPageSize) = %v", err)
	}
}

func TestEncodeResult(t *testing.T) {
	b, err := EncodeResult(Result{Index: 3, Ref: "r", Checks: []Check{{Name: "n", Passed: true, Message: "m"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"index":3,"ref":"r","valid":false,"checks":[{"name":"n","passed":true,"message":"m"}]}`; string(b) != want {
		t.Errorf("EncodeResult = %s, want %s", b, want)
	}
	if _, err := EncodeResult(Result{Index: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative index: err = %v", err)
	}
	if _, err := EncodeResult(Result{Error: strings.Repeat("x", MaxResultSize)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized result: err = %v", err)
	}
}

func TestCheckDocumentsAndSigs(t *testing.T) {
	if err := CheckDocuments([]Document{{ID: "a", JSON: []byte("{}")}}); err != nil {
		t.Error(err)
	}
	for _, d := range []Document{{JSON: []byte("{}")}, {ID: "a"}, {ID: strings.Repeat("a", MaxIDLen+1), JSON: []byte("{}")}} {
		if err := CheckDocuments([]Document{d}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckDocuments(%+v) = %v, want ErrInvalid", d, err)
		}
	}
	if err := CheckSigs(make([][32]byte, 2), make([]bool, 1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckSigs with mismatched lengths = %v", err)
	}
}
