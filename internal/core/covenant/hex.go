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

// decodeHexInto decodes s (either case) into dst and reports success; s must
// be exactly 2*len(dst) hex digits. This is the reference's fromHex followed
// by its verifier's length check: any other input yields false.
func decodeHexInto(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// isHex reports whether s is non-empty and all hex digits (either case).
func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if _, ok := hexVal(s[i]); !ok {
			return false
		}
	}
	return true
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
