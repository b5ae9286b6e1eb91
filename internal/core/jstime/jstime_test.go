package jstime

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2025, 6, 15, 8, 30, 0, 123_000_000, time.UTC), "2025-06-15T08:30:00.123Z"},
		{time.Date(2025, 6, 15, 8, 30, 0, 123_999_999, time.UTC), "2025-06-15T08:30:00.123Z"},
		{time.Date(2025, 6, 15, 10, 30, 0, 0, time.FixedZone("CEST", 2*3600)), "2025-06-15T08:30:00.000Z"},
		{time.Unix(0, 0), "1970-01-01T00:00:00.000Z"},
		{time.UnixMilli(-1), "1969-12-31T23:59:59.999Z"},
		{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), "0000-01-01T00:00:00.000Z"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC), "9999-12-31T23:59:59.999Z"},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "+010000-01-01T00:00:00.000Z"},
		{time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), "-000001-01-01T00:00:00.000Z"},
		{time.UnixMilli(MaxMillis), "+275760-09-13T00:00:00.000Z"},
		{time.UnixMilli(-MaxMillis), "-271821-04-20T00:00:00.000Z"},
	} {
		if got := Format(tc.in); got != tc.want {
			t.Errorf("Format(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	valid := []struct{ in, want string }{
		// RFC 3339 / ECMAScript date-time format.
		{"2025-01-01T00:00:00Z", "2025-01-01T00:00:00.000Z"},
		{"2025-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000Z"},
		{"2025-06-15T08:30:00.123Z", "2025-06-15T08:30:00.123Z"},
		{"2025-01-01T00:00:00+02:00", "2024-12-31T22:00:00.000Z"},
		{"2025-01-01T00:00:00-05:30", "2025-01-01T05:30:00.000Z"},
		{"2025-01-01T00:00:00+0200", "2024-12-31T22:00:00.000Z"},
		{"2025-01-01T00:00:00-0000", "2025-01-01T00:00:00.000Z"},
		{"2025-01-01T00:00:00+23:59", "2024-12-31T00:01:00.000Z"},
		{"2025-01-01t00:00:00z", "2025-01-01T00:00:00.000Z"},
		// Fractions of any length, truncated to milliseconds.
		{"2025-01-01T00:00:00.1Z", "2025-01-01T00:00:00.100Z"},
		{"2025-01-01T00:00:00.12Z", "2025-01-01T00:00:00.120Z"},
		{"2025-01-01T00:00:00.123456Z", "2025-01-01T00:00:00.123Z"},
		{"2025-01-01T00:00:00.999999999999999Z", "2025-01-01T00:00:00.999Z"},
		{"2025-01-01T00:00:00.0009Z", "2025-01-01T00:00:00.000Z"},
		{"2025-01-01T00:00:00.000000009Z", "2025-01-01T00:00:00.000Z"},
		// Beyond nine digits V8 skips the leading zeros before truncating.
		{"2025-01-01T00:00:00.0938149915Z", "2025-01-01T00:00:00.938Z"},
		{"2025-01-01T00:00:00.000576839152+00:00", "2025-01-01T00:00:00.576Z"},
		{"2025-01-01T00:00:00.0000000001Z", "2025-01-01T00:00:00.000Z"},
		{"2025-01-01T00:00:00.5+01:00", "2024-12-31T23:00:00.500Z"},
		// Without seconds, and without an offset (UTC by our decision).
		{"2025-01-01T10:30Z", "2025-01-01T10:30:00.000Z"},
		{"2025-01-01T10:30", "2025-01-01T10:30:00.000Z"},
		{"2025-01-01T10:30:15", "2025-01-01T10:30:15.000Z"},
		{"2025-01-01T10:30:15.25", "2025-01-01T10:30:15.250Z"},
		// Dates only: UTC midnight; missing month and day are 01.
		{"2025-01-01", "2025-01-01T00:00:00.000Z"},
		{"2025-06", "2025-06-01T00:00:00.000Z"},
		{"2025", "2025-01-01T00:00:00.000Z"},
		{"2025T10:00Z", "2025-01-01T10:00:00.000Z"},
		{"2025-06T10:00Z", "2025-06-01T10:00:00.000Z"},
		{"0000-01-01", "0000-01-01T00:00:00.000Z"},
		// Hour 24 is midnight at the end of the day.
		{"2025-01-01T24:00:00Z", "2025-01-02T00:00:00.000Z"},
		{"2025-01-01T24:00Z", "2025-01-02T00:00:00.000Z"},
		{"2025-12-31T24:00:00.000Z", "2026-01-01T00:00:00.000Z"},
		{"2025-01-01T24:00:00.0000000000Z", "2025-01-02T00:00:00.000Z"},
		// V8 accepts days up to 31 in every month and rolls over.
		{"2025-02-29", "2025-03-01T00:00:00.000Z"},
		{"2025-02-30T00:00:00Z", "2025-03-02T00:00:00.000Z"},
		{"2025-04-31", "2025-05-01T00:00:00.000Z"},
		{"2024-02-29", "2024-02-29T00:00:00.000Z"},
		// Six-digit years, to the limits of a JavaScript Date.
		{"+002025-01-01T00:00:00Z", "2025-01-01T00:00:00.000Z"},
		{"-000001-01-01T00:00:00Z", "-000001-01-01T00:00:00.000Z"},
		{"+275760-09-13T00:00:00Z", "+275760-09-13T00:00:00.000Z"},
		{"+275760-09-13T00:00:00.000Z", "+275760-09-13T00:00:00.000Z"},
		{"-271821-04-20T00:00:00Z", "-271821-04-20T00:00:00.000Z"},
		{"-271821-04-19T23:00:00-01:00", "-271821-04-20T00:00:00.000Z"},
		// The space-separated form, read by V8's legacy parser.
		{"2025-01-01 00:00:00Z", "2025-01-01T00:00:00.000Z"},
		{"2025-01-01 10:30Z", "2025-01-01T10:30:00.000Z"},
		{"2025-01-01 10:30", "2025-01-01T10:30:00.000Z"},
		{"2025-01-01 10:30:15", "2025-01-01T10:30:15.000Z"},
		{"2025-01-01 10:30:15.123456z", "2025-01-01T10:30:15.123Z"},
		{"2025-01-01 00:00:00+02:00", "2024-12-31T22:00:00.000Z"},
		{"2025-01-01 00:00:00+0200", "2024-12-31T22:00:00.000Z"},
		{"2025-01-01 00:00:00-02", "2025-01-01T02:00:00.000Z"},
		{"2025-01-01 00:00+0299", "2024-12-31T20:21:00.000Z"}, // minutes unchecked: 2h99m
		{"2025-01-01 00:00+3000", "2024-12-30T18:00:00.000Z"}, // hours unchecked
		{"2025-01-01 24:00Z", "2025-01-02T00:00:00.000Z"},
		{"2025-01-01 24:00:00.0001Z", "2025-01-02T00:00:00.000Z"}, // truncated ms is 0
		{"2025-02-30 00:00Z", "2025-03-02T00:00:00.000Z"},
		{"0050-01-02 00:00Z", "1950-01-02T00:00:00.000Z"},
		{"0000-01-02 00:00Z", "2000-01-02T00:00:00.000Z"},
		{"0005-06-07 00:00Z", "2007-05-06T00:00:00.000Z"}, // month/day/year
		{"0100-01-02 00:00Z", "0100-01-02T00:00:00.000Z"},
		{"+002025-01-01 00:00Z", "2025-01-01T00:00:00.000Z"},
		{"2025 10:30Z", "2025-01-01T10:30:00.000Z"},
		{"2025-06 10:30:15+01:00", "2025-06-01T09:30:15.000Z"},
		{"0005 00:00Z", "2001-05-01T00:00:00.000Z"},
		{"+148747 07:01:52-13:22", "+148747-01-01T20:23:52.000Z"},
		{"2025-01-01 00:00:00.0938149915Z", "2025-01-01T00:00:00.938Z"}, // V8 drops leading zeros
		// Input ends at the first NUL, as in V8.
		{"2025-01-01\x00garbage", "2025-01-01T00:00:00.000Z"},
	}
	for _, tc := range valid {
		got, ok := Parse(tc.in)
		if !ok {
			t.Errorf("Parse(%q) invalid, want %s", tc.in, tc.want)
			continue
		}
		if got.Location() != time.UTC {
			t.Errorf("Parse(%q) location %v, want UTC", tc.in, got.Location())
		}
		if got.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("Parse(%q) = %v has sub-millisecond digits", tc.in, got)
		}
		if s := Format(got); s != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, s, tc.want)
		}
	}

	invalid := []string{
		"", " ", "\x00", "garbage", "Z", "T", "now",
		// Legacy forms that V8 alone understands.
		"Jan 1 2025", "January 1, 2025", "1 Jan 2025 00:00:00 GMT", "2025/01/01", "01/02/2025",
		"Wed, 01 Jan 2025 00:00:00 GMT", "2025-1-1", "2025-01-1", "+2025-01-01",
		"2025-01-01Z", "2025-01-01 ", " 2025-01-01", "2025-01-01  00:00Z", "2025-01-01\t00:00Z",
		"2025-01-01 0:00Z", "2025-01-01 00:00 Z",
		"2025-01-01 00:00:00 GMT", "2025-01-01 00:00:00 UTC", "2025-01-01 00:00+5", "2025-01-01 00:00+05:",
		// Out of range fields.
		"2025-13-01T00:00:00Z", "2025-00-01", "2025-01-00", "2025-01-32", "2025-01-32T00:00Z",
		"2025-01-01T25:00:00Z", "2025-01-01T23:60:00Z", "2025-01-01T23:59:60Z",
		"2025-01-01T24:01:00Z", "2025-01-01T24:00:01Z", "2025-01-01T24:00:00.001Z", "2025-01-01T24:00:00.5Z",
		"2025-01-01T24:00:00.0000000001Z", // Node 20 checks every digit
		"2025-01-01 25:00Z", "2025-01-01 24:00:00.001Z", "2025-01-01 24:01Z", "2025-01-01 10:60Z", "2025-01-01 10:00:60Z",
		"2025-01-01T00:00:00+24:00", "2025-01-01T00:00:00+2400", "2025-01-01T00:00:00+05:60", "2025-01-01 00:00+05:60",
		"0031-01-13 00:00Z", // month/day/year with month 31
		// Malformed ISO strings.
		"2025-01-01T", "2025-01-01T10", "2025-01-01T10Z", "2025-01-01T1:00Z", "2025-01-01T10:0Z",
		"2025-01-01T10:00:0Z", "2025-01-01T10:00:00.Z", "2025-01-01T10:00:00,5Z", "2025-01-01T10:00.5Z",
		"2025-01-01T10:00:00ZZ", "2025-01-01T10:00:00Z ", "2025-01-01T10:00:00 Z", "2025-01-01T10:00:00+02",
		"2025-01-01T10:00:00+2:00", "2025-01-01T10:00:00+02:0", "2025-01-01T10:00:00+020", "2025-01-01T10:00:00+02:00:00",
		"2025-01-01T10:00:00UTC", "2025-01-01T10:00:00GMT", "2025-01-01Tx10:00Z", "2025-01-01T10:00:00Zulu",
		"20250101", "20250101T000000Z", "025-01-01", "20250-01-01", "2025-001-01", "2025-01-001",
		"-000000-01-01T00:00:00Z", "+02025-01-01", "+0020250-01-01", "2025--01",
		"２０２５-01-01", // full-width digits
		// Beyond the range of a JavaScript Date.
		"+275760-09-13T00:00:00.001Z", "-271821-04-19T23:59:59.999Z", "+999999-12-31T23:59:59Z",
		"-271821-04-20T00:00:00+00:01",
	}
	for _, in := range invalid {
		if got, ok := Parse(in); ok {
			t.Errorf("Parse(%q) = %s, want invalid", in, Format(got))
		} else if !got.IsZero() {
			t.Errorf("Parse(%q) invalid but returned %v", in, got)
		}
	}
}

// TestParseFormatRoundTrip checks that Parse(Format(t)) gives t back, to
// the millisecond, over the whole range of a JavaScript Date.
func TestParseFormatRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, uint64(time.Now().UnixNano())))
	ms := []int64{0, -1, 1, MaxMillis, -MaxMillis, 253402300799999, 253402300800000, -62167219200000, -62167219200001}
	for range 2000 {
		ms = append(ms, rng.Int64N(2*MaxMillis+1)-MaxMillis)
	}
	for range 2000 {
		ms = append(ms, rng.Int64N(5_000_000_000_000)) // 1970–2128
	}
	for _, m := range ms {
		in := time.UnixMilli(m).Add(time.Duration(rng.IntN(int(time.Millisecond))))
		s := Format(in)
		got, ok := Parse(s)
		if !ok {
			t.Fatalf("Parse(Format(%d ms)) = Parse(%q) invalid", m, s)
		}
		if got.UnixMilli() != m {
			t.Fatalf("Parse(%q) = %d ms, want %d", s, got.UnixMilli(), m)
		}
	}
}

// FuzzParse checks that Parse never panics, that what it accepts lies in
// the range of a JavaScript Date at millisecond precision, and that
// formatting an accepted instant and parsing it again is stable.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"2025-01-01T00:00:00Z", "2025-01-01T24:00:00.000+05:30", "2025-01-01 10:30:15.123456z",
		"+275760-09-13T00:00:00Z", "0005-06-07 00:00-0230", "2025", "Jan 1 2025", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Parse(s)
		if !ok {
			return
		}
		if m := got.UnixMilli(); m < -MaxMillis || m > MaxMillis {
			t.Fatalf("Parse(%q) = %d ms, out of range", s, m)
		}
		if got.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("Parse(%q) has sub-millisecond digits", s)
		}
		again, ok := Parse(Format(got))
		if !ok || !again.Equal(got) {
			t.Fatalf("Parse(Format(Parse(%q))) = %v, %v; want %v", s, again, ok, got)
		}
		if strings.IndexByte(s, 0) < 0 && len(s) < 10 && !strings.ContainsAny(s, "0123456789") {
			t.Fatalf("Parse(%q) accepted a string without digits", s)
		}
	})
}
