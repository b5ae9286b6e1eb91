package keys

import (
	"encoding/hex"
	"fmt"
)

// EncodeHex returns the lowercase hex encoding of b (the reference's toHex).
func EncodeHex(b []byte) string { return hex.EncodeToString(b) }

// DecodeHex decodes s with the reference's fromHex rules: digits of either
// case are accepted, "" decodes to zero bytes, and an odd length or any
// character outside [0-9a-fA-F] fails with an error wrapping [ErrInvalidHex].
func DecodeHex(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("%w: odd length %d", ErrInvalidHex, len(s))
	}
	b := make([]byte, len(s)/2)
	if err := decodeHexInto(b, s); err != nil {
		return nil, err
	}
	return b, nil
}

// decodeHexInto decodes s into dst, which must be exactly len(s)/2 bytes long.
func decodeHexInto(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%w: got %d hex digits, want %d", ErrInvalidHex, len(s), 2*len(dst))
	}
	for i := range dst {
		hi, ok1 := fromHexDigit(s[2*i])
		lo, ok2 := fromHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: non-hex character near offset %d", ErrInvalidHex, 2*i)
		}
		dst[i] = hi<<4 | lo
	}
	return nil
}

func fromHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
