package canon

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// protocolExample is the input of PROTOCOL.md §1.8.
const protocolExample = `{"b":1.0,"a":{"z":null,"y":[3,"x",true,{"d":1,"c":2}]},"10":0,"9":-0,"Z":1e21,"_":0.000001,
 "aa":1e-7,"big":12345678901234567890,"s":"<a href=\"x\">&amp;\t\u0001\ud83d\ude00\ud800",
 "__proto__":{"q":1},"e":2.50}`

func TestProtocolExample(t *testing.T) {
	const want = `{"9":0,"10":0,"Z":1e+21,"_":0.000001,"a":{"y":[3,"x",true,{"c":2,"d":1}],"z":null},"aa":1e-7,"b":1,"big":12345678901234567000,"e":2.5,"s":"<a href=\"x\">&amp;\t\u0001😀\ud800"}`
	const wantHash = "e01009b6a60f1b586ccb074680819987912dc036485a876896d63621d2b4d5cb"
	v, err := Parse([]byte(protocolExample))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got := Canonical(v)
	if string(got) != want {
		t.Fatalf("Canonical:\n got %s\nwant %s", got, want)
	}
	sum := sha256.Sum256(got)
	if h := hex.EncodeToString(sum[:]); h != wantHash {
		t.Fatalf("sha256 = %s, want %s", h, wantHash)
	}
}
