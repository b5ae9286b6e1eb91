package covenant

import (
	"encoding/hex"
	"testing"
)

func TestHexHelpers(t *testing.T) {
	for c := 0; c < 256; c++ {
		s := string([]byte{'a', byte(c)})
		_, err := hex.DecodeString(s)
		var dst [1]byte
		if got := decodeHexInto(dst[:], s); got != (err == nil) {
			t.Errorf("decodeHexInto(%q) = %v", s, got)
		}
		if got := isHex(s); got != (err == nil) {
			t.Errorf("isHex(%q) = %v", s, got)
		}
	}
	var dst [4]byte
	if !decodeHexInto(dst[:], "DeadBeef") || dst != [4]byte{0xde, 0xad, 0xbe, 0xef} {
		t.Errorf("DeadBeef -> %x", dst)
	}
	if decodeHexInto(dst[:], "deadbee") || decodeHexInto(dst[:], "deadbeef00") || isHex("") {
		t.Error("wrong lengths accepted")
	}
	var out [8]byte
	hexEncode(out[:], []byte{0x01, 0xab, 0xff, 0x10})
	if string(out[:]) != "01abff10" {
		t.Errorf("hexEncode: %s", out)
	}
	want := [64]byte{}
	copy(want[:], "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if !equalHexConstantTime(string(want[:]), &want) || equalHexConstantTime(string(want[:63]), &want) ||
		equalHexConstantTime("1"+string(want[1:]), &want) {
		t.Error("equalHexConstantTime")
	}
}
