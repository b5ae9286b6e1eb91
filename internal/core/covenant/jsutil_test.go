package covenant

import (
	"math"
	"testing"

	"github.com/stele-go/stele/internal/core/canon"
)

const loneHigh = "\xed\xa0\xbd" // WTF-8 of U+D83D

func TestUTF16(t *testing.T) {
	for _, tc := range []struct {
		s string
		n int
	}{
		{"", 0}, {"abc", 3}, {"é", 1}, {"😀", 2}, {"a😀b", 4}, {loneHigh, 1}, {"\xff", 1}, {"日本", 2},
	} {
		if got := utf16Len(tc.s); got != tc.n {
			t.Errorf("utf16Len(%q) = %d, want %d", tc.s, got, tc.n)
		}
	}
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abcdef", 3, "abc"}, {"ab", 5, "ab"}, {"a😀b", 2, "a" + loneHigh}, {"a😀b", 3, "a😀"},
		{"😀😀", 1, loneHigh}, {"éé", 1, "é"}, {"", 4, ""}, {loneHigh + "x", 1, loneHigh},
	} {
		if got := utf16Prefix(tc.s, tc.n); got != tc.want {
			t.Errorf("utf16Prefix(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestIsBlank(t *testing.T) {
	for _, s := range []string{"", " ", "\t\n\v\f\r", "\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"} {
		if !isBlank(s) {
			t.Errorf("%q is blank in JavaScript", s)
		}
	}
	for _, s := range []string{"x", "\u0085", "\u200b", "\u180e", loneHigh, "\xff", " a "} {
		if isBlank(s) {
			t.Errorf("%q is not blank in JavaScript", s)
		}
	}
}

func TestJSToNumber(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		v    any
		want float64
	}{
		{nil, 0}, {true, 1}, {false, 0}, {2.5, 2.5}, {"", 0}, {"  42 ", 42}, {"\u00a01e3\n", 1000},
		{"0x1F", 31}, {"0b101", 5}, {"0o17", 15}, {"-0x10", nan}, {"Infinity", math.Inf(1)}, {"-Infinity", math.Inf(-1)},
		{"inf", nan}, {"1_000", nan}, {"1e", nan}, {"e5", nan}, {".5", 0.5}, {"5.", 5}, {"+.5e1", 5}, {"1.2.3", nan},
		{"abc", nan}, {"1e400", math.Inf(1)}, {[]any{}, 0}, {[]any{"7"}, 7}, {[]any{1.0, 2.0}, nan},
		{canon.NewObject(0), nan},
	} {
		got := jsToNumber(tc.v)
		if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("Number(%#v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestTruthy(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want bool
	}{
		{nil, false}, {false, false}, {true, true}, {0.0, false}, {math.Copysign(0, -1), false}, {math.NaN(), false},
		{1.0, true}, {"", false}, {"0", true}, {[]any{}, true}, {canon.NewObject(0), true}, {(*canon.Object)(nil), false},
	} {
		if got := truthy(tc.v); got != tc.want {
			t.Errorf("truthy(%#v) = %v", tc.v, got)
		}
	}
}
