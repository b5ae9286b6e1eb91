package store

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestCreatedMillis(t *testing.T) {
	for in, want := range map[string]int64{
		"2026-02-19T01:38:56.342Z":      1771465136342,
		"2026-02-19T02:38:56.342+01:00": 1771465136342,
		"2026-02-19T01:38:56.3429999Z":  1771465136342,
		"2026-02-19T01:38:56Z":          1771465136000,
		"1969-12-31T23:59:59.9999Z":     -1,
		"1970-01-01T00:00:00Z":          0,
		"2026-02-19 01:38:56Z":          0,
		"":                              0,
		"2026-02-19T01:38:56.342Zjunk":  0,
	} {
		if got := CreatedMillis(in); got != want {
			t.Errorf("CreatedMillis(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []struct {
		ms int64
		id string
	}{{0, "a"}, {-1, "doc:with:colons"}, {math.MaxInt64, "\xff\x00"}, {math.MinInt64, string(make([]byte, MaxIDLen))}} {
		cur := EncodeCursor(c.ms, c.id)
		ms, id, err := DecodeCursor(cur)
		if err != nil || ms != c.ms || id != c.id {
			t.Errorf("DecodeCursor(EncodeCursor(%d, %q)) = %d, %q, %v", c.ms, c.id, ms, id, err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(EncodeCursor(1771465136342, "doc-1"))
	f.Add("YzE6MTox")
	f.Add("!!")
	f.Add("YzE6Mzp00\n00") // a line break the base64 decoder would skip
	f.Fuzz(func(t *testing.T, s string) {
		ms, id, err := DecodeCursor(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("DecodeCursor(%q): %v, not ErrInvalid", s, err)
			}
			return
		}
		if again := EncodeCursor(ms, id); again != s {
			t.Fatalf("DecodeCursor(%q) = %d, %q, which encodes to %q", s, ms, id, again)
		}
	})
}

func TestListBoundsEmpty(t *testing.T) {
	at := time.UnixMilli(1000)
	for _, tc := range []struct {
		q     DocumentQuery
		empty bool
	}{
		{DocumentQuery{}, false},
		{DocumentQuery{CreatedAfter: at, CreatedBefore: at.Add(time.Millisecond)}, true},
		{DocumentQuery{CreatedAfter: at, CreatedBefore: at.Add(2 * time.Millisecond)}, false},
		{DocumentQuery{CreatedAfter: at, CreatedBefore: at}, true},
		{DocumentQuery{CreatedAfter: at.Add(time.Second), CreatedBefore: at}, true},
		{DocumentQuery{CreatedBefore: time.UnixMilli(math.MinInt64 / 2)}, false},
	} {
		b, err := CheckDocumentQuery(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if b.Empty() != tc.empty {
			t.Errorf("CheckDocumentQuery(%+v).Empty() = %v, want %v", tc.q, b.Empty(), tc.empty)
		}
	}
}

func TestCheckSigningKeys(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))
	pub := "ab" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	recs, err := CheckSigningKeys([]SigningKey{{KeyID: "k", PublicKey: pub}, {KeyID: "k", PublicKey: pub, Retired: true}}, now)
	if err != nil || len(recs) != 1 || !recs[0].Retired || !recs[0].SeenAt.Equal(now) || recs[0].SeenAt.Location() != time.UTC {
		t.Errorf("CheckSigningKeys with an equal duplicate = %+v, %v", recs, err)
	}
}
