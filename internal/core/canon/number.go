package canon

import (
	"math"
	"strconv"
)

// AppendNumber appends f as JSON.stringify writes a number: for a finite f
// that is JavaScript's Number.prototype.toString (shortest round-trip digits;
// plain notation for 1e-6 <= |f| < 1e21, otherwise exponent form such as
// 1e+21, 1.5e-7 or 5e-324; -0 is written 0). JSON has no NaN or infinities:
// those are written null. Use JSString for JavaScript's String(f), which
// writes NaN, Infinity and -Infinity.
func AppendNumber(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0') // also -0
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	// Integers below 2^53 are exact: the usual case, and the fastest.
	if f == math.Trunc(f) && f > -(1<<53) && f < 1<<53 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
	// Go writes at least two exponent digits ("e-07"); JavaScript writes the
	// exponent without leading zeros ("e-7").
	n := len(dst)
	for e := n - 1; e > start; e-- {
		if dst[e] == 'e' {
			if n-e == 4 && dst[e+2] == '0' { // e±0d
				dst[e+2] = dst[e+3]
				dst = dst[:n-1]
			}
			break
		}
	}
	return dst
}

// numberLen returns len(AppendNumber(nil, f)).
func numberLen(f float64) int {
	if f == math.Trunc(f) && f > -(1<<53) && f < 1<<53 {
		n := 1
		if f < 0 {
			n++
			f = -f
		}
		for u := uint64(f); u >= 10; u /= 10 {
			n++
		}
		return n
	}
	var buf [32]byte
	return len(AppendNumber(buf[:0], f))
}
