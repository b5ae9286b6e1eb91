package covenant

import "fmt"

const hexDigits = "0123456789abcdef"

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// hexEncode writes lowercase hex of src into dst (len(dst) == 2*len(src)).
func hexEncode(dst, src []byte) {
	for i, b := range src {
		dst[2*i] = hexDigits[b>>4]
		dst[2*i+1] = hexDigits[b&0x0f]
	}
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// hexTable maps a byte to its hex digit value, or 0xff.
var hexTable = func() (t [256]byte) {
	for i := range t {
		v, ok := hexVal(byte(i))
		if !ok {
			v = 0xff
		}
		t[i] = v
	}
	return t
}()

// decodeHexInto decodes s (either case) into dst and reports success; s must
// be exactly 2*len(dst) hex digits. This is the reference's fromHex followed
// by its verifier's length check: any other input yields false.
func decodeHexInto(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	var bad byte
	for i := range dst {
		hi, lo := hexTable[s[2*i]], hexTable[s[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo&0x0f
	}
	return bad&0xf0 == 0
}

// isHex reports whether s is non-empty and all hex digits (either case).
func isHex(s string) bool {
	if s == "" {
		return false
	}
	var bad byte
	for i := 0; i < len(s); i++ {
		bad |= hexTable[s[i]]
	}
	return bad&0xf0 == 0
}

// equalHexConstantTime compares s with want in time independent of their
// contents (it depends only on len(s)).
func equalHexConstantTime(s string, want *[64]byte) bool {
	if len(s) != len(want) {
		return false
	}
	var diff byte
	for i := 0; i < len(want); i++ {
		diff |= s[i] ^ want[i]
	}
	return diff == 0
}
