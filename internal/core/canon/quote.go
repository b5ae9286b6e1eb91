package canon

import (
	"unicode/utf8"
)

// AppendQuote appends s as JavaScript's JSON.stringify writes a string:
// between double quotes, with '"' and '\\' escaped, \b \t \n \f \r for those
// control characters, \u00xx (lowercase hex) for the other characters below
// U+0020, and \udxxx (lowercase) for a lone surrogate. Everything else is
// written literally as UTF-8, including '/', '<', '>', '&', U+007F, U+2028
// and U+2029.
//
// s is read as WTF-8 (see the package documentation): the 3-byte encoding of
// a surrogate is a lone surrogate, except that a high surrogate followed
// directly by a low one forms the character of that pair, as in a JavaScript
// string. Bytes that are not WTF-8 are written as U+FFFD, one per maximal
// subpart.
func AppendQuote(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		i = plainRun(s, i)
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if plainString[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || size != 1 {
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		r, size = decodeWTF8(s[i:])
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if lo, size2 := decodeWTF8(s[i+size:]); lo >= 0xDC00 && lo < 0xE000 {
				dst = utf8.AppendRune(dst, 0x10000+(r-0xD800)<<10+(lo-0xDC00))
				size += size2
			} else {
				dst = appendUnicodeEscape(dst, r)
			}
		case r >= 0xDC00 && r < 0xE000:
			dst = appendUnicodeEscape(dst, r)
		default:
			dst = append(dst, "\uFFFD"...)
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const lowerHex = "0123456789abcdef"

// plainRun returns the index of the first byte at or after i that is not a
// plainString byte (or len(s)), testing eight bytes at a time.
func plainRun(s string, i int) int {
	i = PlainASCII(s, i)
	for i < len(s) && plainString[s[i]] {
		i++
	}
	return i
}

// PlainASCII returns an index j ≥ i such that every byte of s[i:j] is
// ASCII from 0x20 up other than '"' and '\\' (a run that needs no attention
// inside a JSON string), testing eight bytes at a time. It may stop up to
// seven bytes before the end of such a run; the caller goes on byte by
// byte from j. JSON scanners use it to skip the bulk of string contents.
func PlainASCII[T string | []byte](s T, i int) int {
	const (
		lo = 0x0101010101010101
		hi = 0x8080808080808080
	)
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// A byte below 0x20, equal to '"' or '\\', or with its high bit set.
		// The classic zero-byte tests may flag extra bytes only above a real
		// match, so "any flagged" is exact.
		q := x ^ ('"' * lo)
		b := x ^ ('\\' * lo)
		if ((x-0x20*lo)&^x|(q-lo)&^q|(b-lo)&^b|x)&hi != 0 {
			break
		}
	}
	return i
}

// appendEscape appends the escape of an ASCII byte that is not plainString.
func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\b':
		return append(dst, '\\', 'b')
	case '\t':
		return append(dst, '\\', 't')
	case '\n':
		return append(dst, '\\', 'n')
	case '\f':
		return append(dst, '\\', 'f')
	case '\r':
		return append(dst, '\\', 'r')
	}
	return append(dst, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xF])
}

func appendUnicodeEscape(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', lowerHex[r>>12&0xF], lowerHex[r>>8&0xF], lowerHex[r>>4&0xF], lowerHex[r&0xF])
}

// escapeLen is the length of the escape appendEscape writes for c.
func escapeLen(c byte) int {
	switch c {
	case '"', '\\', '\b', '\t', '\n', '\f', '\r':
		return 2
	}
	return 6
}

// quoteLen returns len(AppendQuote(nil, s)).
func quoteLen(s string) int {
	n := 2 + len(s)
	for i := 0; i < len(s); {
		i = plainRun(s, i)
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if !plainString[c] {
				n += escapeLen(c) - 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || size != 1 {
			i += size
			continue
		}
		r, size = decodeWTF8(s[i:])
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if lo, size2 := decodeWTF8(s[i+size:]); lo >= 0xDC00 && lo < 0xE000 {
				n += 4 - (size + size2) // two 3-byte halves become one 4-byte character
				size += size2
			} else {
				n += 6 - size
			}
		case r >= 0xDC00 && r < 0xE000:
			n += 6 - size
		default:
			n += 3 - size // U+FFFD
		}
		i += size
	}
	return n
}

// decodeWTF8 decodes the first code point of s as WTF-8: a well-formed UTF-8
// character, or a surrogate in its 3-byte generalised encoding. Otherwise it
// returns utf8.RuneError and the length of the maximal ill-formed subpart. An
// empty s gives (utf8.RuneError, 0).
func decodeWTF8(s string) (rune, int) {
	r, size := utf8.DecodeRuneInString(s)
	if r != utf8.RuneError || size != 1 {
		return r, size
	}
	if len(s) >= 3 && s[0] == 0xED && s[1] >= 0xA0 && s[1] <= 0xBF && s[2] >= 0x80 && s[2] <= 0xBF {
		return 0xD000 | rune(s[1]&0x3F)<<6 | rune(s[2]&0x3F), 3
	}
	return utf8.RuneError, illFormedLen(s, true)
}

// CompareKeys orders strings as JavaScript's default Array.prototype.sort
// does: lexicographically by UTF-16 code unit, a proper prefix first. It
// returns -1, 0 or +1. The strings are read as WTF-8 (see AppendQuote). It
// does not apply the array-index rule of the canonical member order.
//
// UTF-16 order differs from byte order only where a character at or above
// U+10000 meets one in U+E000..U+FFFF (or a lone surrogate); ASCII keys are
// compared bytewise.
func CompareKeys(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		// One is a prefix of the other, bytewise. Unless the longer one goes
		// on with a continuation byte (which would complete, in it alone, a
		// sequence the shorter one leaves truncated), the shorter sorts first.
		switch {
		case len(a) == len(b):
			return 0
		case len(a) < len(b) && !isContinuation(b[n]):
			return -1
		case len(a) > len(b) && !isContinuation(a[n]):
			return 1
		}
	} else if ca, cb := a[i], b[i]; (ca < utf8.RuneSelf || ca >= 0xC0) && (cb < utf8.RuneSelf || cb >= 0xC0) && (ca < utf8.RuneSelf || cb < utf8.RuneSelf) {
		// Both bytes start a new unit; at least one is ASCII and so smaller
		// than any unit the other could start, or both are and compare as
		// they are.
		if ca < cb {
			return -1
		}
		return 1
	}
	// Decode from the last ASCII byte of the common prefix, where decoding of
	// both strings is in step, and compare UTF-16 code units.
	k := i
	for k > 0 && a[k-1] >= utf8.RuneSelf {
		k--
	}
	return compareUTF16(a[k:], b[k:])
}

func isContinuation(c byte) bool { return c >= 0x80 && c < 0xC0 }

// compareUTF16 compares two WTF-8 strings code unit by code unit.
func compareUTF16(a, b string) int {
	var pa, pb rune = -1, -1 // pending low surrogate of a split supplementary character
	for {
		var ua, ub rune
		switch {
		case pa >= 0:
			ua, pa = pa, -1
		case len(a) == 0:
			ua = -1
		default:
			r, size := decodeWTF8(a)
			a = a[size:]
			ua = r
			if r >= 0x10000 {
				ua, pa = 0xD800+(r-0x10000)>>10, 0xDC00+(r-0x10000)&0x3FF
			}
		}
		switch {
		case pb >= 0:
			ub, pb = pb, -1
		case len(b) == 0:
			ub = -1
		default:
			r, size := decodeWTF8(b)
			b = b[size:]
			ub = r
			if r >= 0x10000 {
				ub, pb = 0xD800+(r-0x10000)>>10, 0xDC00+(r-0x10000)&0x3FF
			}
		}
		switch {
		case ua < ub:
			return -1
		case ua > ub:
			return 1
		case ua < 0:
			return 0
		}
	}
}
