package canon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
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

func mustParse(t *testing.T, s string) any {
	t.Helper()
	v, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return v
}

func TestNumbers(t *testing.T) {
	point1 := 0.1 // a variable, so that 0.1 + 0.2 is computed in float64
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{-1, "-1"},
		{100.0, "100"},
		{2.5, "2.5"},
		{-123.456, "-123.456"},
		{1e21, "1e+21"},
		{-1e21, "-1e+21"},
		{1e20, "100000000000000000000"},
		{999999999999999900000, "999999999999999900000"},
		{123456789012345680000, "123456789012345680000"},
		{12345678901234567890, "12345678901234567000"},
		{1e-7, "1e-7"},
		{1.5e-7, "1.5e-7"},
		{1e-6, "0.000001"},
		{0.000001234, "0.000001234"},
		{5e-324, "5e-324"},
		{-5e-324, "-5e-324"},
		{point1 + 0.2, "0.30000000000000004"},
		{0.1, "0.1"},
		{1.5e300, "1.5e+300"},
		{1e100, "1e+100"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{1 << 53, "9007199254740992"},
		{1<<53 + 2, "9007199254740994"},
		{1 << 63, "9223372036854776000"},
		{math.Inf(1), "null"},
		{math.Inf(-1), "null"},
		{math.NaN(), "null"},
	}
	for _, tt := range tests {
		if got := string(AppendNumber(nil, tt.in)); got != tt.want {
			t.Errorf("AppendNumber(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if got := numberLen(tt.in); got != len(tt.want) {
			t.Errorf("numberLen(%v) = %d, want %d", tt.in, got, len(tt.want))
		}
	}
}

func TestNumberLiterals(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"},
		{"-0", "0"},
		{"-0.0", "0"},
		{"1.0", "1"},
		{"100.0", "100"},
		{"2.50", "2.5"},
		{"1e21", "1e+21"},
		{"1E21", "1e+21"},
		{"1e+21", "1e+21"},
		{"1e-7", "1e-7"},
		{"0.000001", "0.000001"},
		{"12345678901234567890", "12345678901234567000"},
		{"123456789012345680000", "123456789012345680000"},
		{"5e-324", "5e-324"},
		{"2e-324", "0"},
		{"1e400", "null"},
		{"-1e400", "null"},
		{"1e-400", "0"},
		{"9007199254740993", "9007199254740992"},
		{"1.7976931348623159e308", "null"},
		{"0.1e1", "1"},
		{"123456789012345", "123456789012345"},
		{"-999999999999999", "-999999999999999"},
		{"1234567890123456", "1234567890123456"},
	}
	for _, tt := range tests {
		v := mustParse(t, tt.in)
		if got := string(Canonical(v)); got != tt.want {
			t.Errorf("Canonical(Parse(%s)) = %s, want %s", tt.in, got, tt.want)
		}
	}
	// -0 is kept as -0 by Parse (it is only written as 0).
	if f := mustParse(t, "-0").(float64); !math.Signbit(f) {
		t.Errorf("Parse(-0) lost the sign")
	}
	if f := mustParse(t, "1e400").(float64); !math.IsInf(f, 1) {
		t.Errorf("Parse(1e400) = %v, want +Inf", f)
	}
}

func TestKeyOrder(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"10":1,"9":2,"a":3}`, `{"9":2,"10":1,"a":3}`},
		{`{"b":1,"a":2,"1":3,"0":4}`, `{"0":4,"1":3,"a":2,"b":1}`},
		{`{"4294967295":1,"4294967294":2,"0":3}`, `{"0":3,"4294967294":2,"4294967295":1}`},
		{`{"4294967296":1,"5":2,"10000000000":3}`, `{"5":2,"10000000000":3,"4294967296":1}`},
		{`{"01":1,"1":2,"-1":3,"1.5":4,"":5}`, `{"1":2,"":5,"-1":3,"01":1,"1.5":4}`},
		{`{"a":1,"B":2,"é":3,"Z":4}`, `{"B":2,"Z":4,"a":1,"é":3}`},
		// U+10000 is the surrogate pair D800 DC00, which sorts before U+FFFF
		// and U+E000 in UTF-16, though after them in code-point order.
		{`{"\uffff":1,"\ud800\udc00":2,"\ue000":3,"\ud7ff":4}`, "{\"\ud7ff\":4,\"\U00010000\":2,\"\ue000\":3,\"\uffff\":1}"},
		{`{"ab":1,"a":2,"abc":3}`, `{"a":2,"ab":1,"abc":3}`},
		{`{"__proto__":1,"a":{"__proto__":2,"b":3}}`, `{"a":{"b":3}}`},
	}
	for _, tt := range tests {
		if got := string(Canonical(mustParse(t, tt.in))); got != tt.want {
			t.Errorf("Canonical(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
	// A large object goes through the general sort.
	o := NewObject(100)
	for i := 99; i >= 0; i-- {
		o.Set(strconv.Itoa(i*7919%100), float64(i))
		o.Set("k"+strconv.Itoa(i), float64(i))
	}
	keys := canonicalKeys(t, Canonical(o))
	for i := 1; i < len(keys); i++ {
		if compareCanonical(keys[i-1], keys[i]) >= 0 {
			t.Fatalf("keys %q and %q out of order", keys[i-1], keys[i])
		}
	}
	if len(keys) != 200 || keys[0] != "0" || keys[99] != "99" || keys[100] != "k0" {
		t.Fatalf("unexpected key order: %q", keys)
	}
}

// canonicalKeys returns the member names of the object in a canonical text,
// in order.
func canonicalKeys(t *testing.T, text []byte) []string {
	t.Helper()
	o, ok := mustParse(t, string(text)).(*Object)
	if !ok {
		t.Fatalf("%s is not an object", text)
	}
	var keys []string
	for _, m := range o.Members() {
		keys = append(keys, m.Key)
	}
	return keys
}

func TestCompareKeys(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "a", -1},
		{"a", "b", -1},
		{"B", "a", -1},
		{"a", "é", -1},
		{"ab", "a", 1},
		{"\U00010000", "\uffff", -1},
		{"\U00010000", "\ue000", -1},
		{"\U00010000", "\ud7ff", 1},
		{"x\U0001F600", "x\uFFFD", -1},
		{"\U0001F600", "\U0001F601", -1},
		{"\xed\xa0\x80", "\U00010000", -1},            // lone D800 is a prefix of D800 DC00
		{"\xed\xa0\x80\xee\x80\x80", "\U00010000", 1}, // D800 E000 > D800 DC00
		{"\xed\xb0\x80", "\ue000", -1},                // DC00 < E000
	}
	for _, tt := range tests {
		if got := CompareKeys(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareKeys(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareKeys(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareKeys(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestArrayIndex(t *testing.T) {
	tests := []struct {
		k    string
		n    uint32
		want bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"4294967294", 4294967294, true},
		{"4294967295", 0, false}, {"9999999999", 0, false}, {"10000000000", 0, false},
		{"01", 0, false}, {"00", 0, false}, {"-1", 0, false}, {"1.5", 0, false},
		{"", 0, false}, {" 1", 0, false}, {"1a", 0, false}, {"١", 0, false},
	}
	for _, tt := range tests {
		n, ok := arrayIndex(tt.k)
		if ok != tt.want || n != tt.n {
			t.Errorf("arrayIndex(%q) = %d, %v; want %d, %v", tt.k, n, ok, tt.n, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`"\`, `"\"\\"`},
		{"\b\t\n\f\r", `"\b\t\n\f\r"`},
		{"\x00\x01\x0b\x1f", `"\u0000\u0001\u000b\u001f"`},
		{"</script>&<>", `"</script>&<>"`},
		{"\x7f", "\"\x7f\""},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"é😀\uffff\ufeff", "\"é😀\uffff\ufeff\""},
		{"\xed\xa0\x80", `"\ud800"`},                   // lone high surrogate
		{"\xed\xbf\xbf", `"\udfff"`},                   // lone low surrogate
		{"\xed\xa0\xbd\xed\xb8\x80", "\"😀\""},          // WTF-8 halves of a pair join
		{"\xed\xb8\x80\xed\xa0\xbd", `"\ude00\ud83d"`}, // reversed: both lone
		{"a\xffb", "\"a\ufffdb\""},
		{"\xe2\x82", "\"\ufffd\""},       // one maximal subpart
		{"\xe2\x82a", "\"\ufffda\""},     // one maximal subpart, then ASCII
		{"\xc0\xaf", "\"\ufffd\ufffd\""}, // C0 never starts a sequence
		{"\xf0\x9f\x98", "\"\ufffd\""},
		{"\xed\xa0", "\"\ufffd\""}, // truncated surrogate
	}
	for _, tt := range tests {
		if got := string(AppendQuote(nil, tt.in)); got != tt.want {
			t.Errorf("AppendQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := quoteLen(tt.in); got != len(tt.want) {
			t.Errorf("quoteLen(%q) = %d, want %d", tt.in, got, len(tt.want))
		}
	}
}

func TestParseStrings(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"\ud83d\ude00"`, "😀"},
		{`"\uD83D\uDE00"`, "😀"},
		{`"\ud800"`, "\xed\xa0\x80"},
		{`"\udc00"`, "\xed\xb0\x80"},
		{`"\ud800\ud800\udc00"`, "\xed\xa0\x80\U00010000"},
		{`"\udc00\ud800"`, "\xed\xb0\x80\xed\xa0\x80"},
		{`"\ud800x"`, "\xed\xa0\x80x"},
		{`"\ud800\n"`, "\xed\xa0\x80\n"},
		{`"\u0041\u00e9\u20AC"`, "Aé€"},
		{`"\/\b\f\n\r\t\"\\"`, "/\b\f\n\r\t\"\\"},
		{"\"\xed\xa0\x80\"", "\ufffd\ufffd\ufffd"}, // raw surrogate bytes are ill-formed UTF-8
		{"\"\xe2\x82A\"", "\ufffdA"},
		{"\"\xf4\x90\x80\x80\"", "\ufffd\ufffd\ufffd\ufffd"},
		{"\"\xe0\x80\x80\"", "\ufffd\ufffd\ufffd"},
		{"\"\xf0\x9f\x98\"", "\ufffd"},
		{"\"\u2028\"", "\u2028"},
	}
	for _, tt := range tests {
		v := mustParse(t, tt.in)
		if v != tt.want {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, v, tt.want)
		}
	}
	// Lone surrogates survive a round trip through every serialisation.
	v := mustParse(t, `{"s":"a\ud800b\udfffc"}`)
	for _, text := range [][]byte{Canonical(v), AppendJSON(nil, v), AppendIndent(nil, v)} {
		if w := mustParse(t, string(text)); string(Canonical(w)) != `{"s":"a\ud800b\udfffc"}` {
			t.Errorf("round trip of %s gave %s", text, Canonical(w))
		}
	}
}

func TestDuplicateKeys(t *testing.T) {
	tests := []struct{ in, json string }{
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{`{"b":{"x":1},"a":0,"b":[2]}`, `{"b":[2],"a":0}`},
		{`{"__proto__":1,"__proto__":2}`, `{"__proto__":2}`},
	}
	for _, tt := range tests {
		if got := string(AppendJSON(nil, mustParse(t, tt.in))); got != tt.json {
			t.Errorf("AppendJSON(Parse(%s)) = %s, want %s", tt.in, got, tt.json)
		}
	}
	// Beyond dedupMapThreshold members the parser switches to a map.
	var b strings.Builder
	b.WriteString("{")
	for i := range 3 * dedupMapThreshold {
		fmt.Fprintf(&b, `"k%d":%d,`, i%(2*dedupMapThreshold), i)
	}
	b.WriteString(`"k0":"last"}`)
	o := mustParse(t, b.String()).(*Object)
	if o.Len() != 2*dedupMapThreshold {
		t.Fatalf("Len = %d, want %d", o.Len(), 2*dedupMapThreshold)
	}
	if m := o.Members()[0]; m.Key != "k0" || m.Value != "last" {
		t.Errorf("first member = %v, want k0: last", m)
	}
	if v, _ := o.Get("k1"); v != float64(2*dedupMapThreshold+1) {
		t.Errorf("k1 = %v, want %d", v, 2*dedupMapThreshold+1)
	}
}

func TestJSONOrder(t *testing.T) {
	v := mustParse(t, `{"b":1,"10":2,"a":3,"2":4,"__proto__":5,"01":6,"4294967295":7,"0":8}`)
	const want = `{"0":8,"2":4,"10":2,"b":1,"a":3,"__proto__":5,"01":6,"4294967295":7}`
	if got := string(AppendJSON(nil, v)); got != want {
		t.Errorf("AppendJSON = %s, want %s", got, want)
	}
	if got := JSONSize(v); got != len(want) {
		t.Errorf("JSONSize = %d, want %d", got, len(want))
	}
	const wantIndent = "{\n  \"0\": 8,\n  \"2\": 4,\n  \"10\": 2,\n  \"b\": 1,\n  \"a\": 3,\n  \"__proto__\": 5,\n  \"01\": 6,\n  \"4294967295\": 7\n}"
	if got := string(AppendIndent(nil, v)); got != wantIndent {
		t.Errorf("AppendIndent =\n%s\nwant\n%s", got, wantIndent)
	}
	if got := string(AppendIndent(nil, mustParse(t, `{"a":[],"b":{},"c":[[1,{}]]}`))); got != "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    [\n      1,\n      {}\n    ]\n  ]\n}" {
		t.Errorf("AppendIndent of empty containers =\n%s", got)
	}
	if got := string(AppendIndent(nil, "x")); got != `"x"` {
		t.Errorf("AppendIndent(scalar) = %s", got)
	}
}

func TestCanonicalExcept(t *testing.T) {
	o := mustParse(t, `{"id":"x","b":{"id":1,"signature":2},"signature":"s","a":1,"countersignatures":[]}`).(*Object)
	got := string(AppendCanonicalExcept(nil, o, "id", "signature", "countersignatures"))
	if want := `{"a":1,"b":{"id":1,"signature":2}}`; got != want {
		t.Errorf("AppendCanonicalExcept = %s, want %s", got, want)
	}
	if got := string(AppendCanonicalExcept([]byte("x"), o)); got != "x"+string(Canonical(o)) {
		t.Errorf("AppendCanonicalExcept without names = %s", got)
	}
	if !o.Has("id") || o.Len() != 5 {
		t.Errorf("AppendCanonicalExcept modified its argument")
	}
}

// TestBuiltValues covers values built in Go rather than parsed: the
// convenience types and nil containers.
func TestBuiltValues(t *testing.T) {
	o := NewObject(0)
	o.Set("int", 3)
	o.Set("i64", int64(-1<<40))
	o.Set("u8", uint8(7))
	o.Set("f32", float32(0.5))
	o.Set("list", []string{"b", "a"})
	o.Set("nilobj", (*Object)(nil))
	o.Set("nilarr", []any(nil))
	o.Set("null", nil)
	const want = `{"f32":0.5,"i64":-1099511627776,"int":3,"list":["b","a"],"nilarr":[],"nilobj":{},"null":null,"u8":7}`
	if got := string(Canonical(o)); got != want {
		t.Errorf("Canonical = %s, want %s", got, want)
	}
	if got, want := JSONSize(o), len(AppendJSON(nil, o)); got != want {
		t.Errorf("JSONSize = %d, want %d", got, want)
	}
	if got := string(AppendIndent(nil, []any{3, []string{}})); got != "[\n  3,\n  []\n]" {
		t.Errorf("AppendIndent = %q", got)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "struct {}") {
			t.Errorf("unsupported type: recover() = %v, want a panic naming the type", r)
		}
	}()
	Canonical([]any{struct{}{}})
}

func TestJSString(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, "null"},
		{true, "true"},
		{false, "false"},
		{"s", "s"},
		{1.5, "1.5"},
		{5.0, "5"},
		{math.Copysign(0, -1), "0"},
		{1e21, "1e+21"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
		{[]any{}, ""},
		{[]any{nil}, ""},
		{[]any{1.0, nil, "a", []any{2.0, 3.0}, true}, "1,,a,2,3,true"},
		{NewObject(0), "[object Object]"},
		{[]any{NewObject(0)}, "[object Object]"},
		{7, "7"},
		{[]string{"x", "y"}, "x,y"},
	}
	for _, tt := range tests {
		if got := JSString(tt.in); got != tt.want {
			t.Errorf("JSString(%#v) = %q, want %q", tt.in, got, tt.want)
		}
		if got, err := ToString(tt.in); got != tt.want || err != nil {
			t.Errorf("ToString(%#v) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{`{"toString":1}`, `[1,{"toString":null}]`} {
		if _, err := ToString(mustParse(t, in)); !errors.Is(err, ErrNoPrimitive) {
			t.Errorf("ToString(%s) error = %v, want ErrNoPrimitive", in, err)
		}
	}
	if s, err := ToString(mustParse(t, `{"valueOf":1}`)); err != nil || s != "[object Object]" {
		t.Errorf(`ToString({"valueOf":1}) = %q, %v`, s, err)
	}
}

func TestStrictEqual(t *testing.T) {
	o := NewObject(0)
	arr := []any{}
	tests := []struct {
		a, b any
		want bool
	}{
		{nil, nil, true},
		{true, true, true},
		{true, false, false},
		{1.0, 1.0, true},
		{0.0, math.Copysign(0, -1), true},
		{math.NaN(), math.NaN(), false},
		{1000.0, 1000, true},
		{"a", "a", true},
		{"1", 1.0, false},
		{nil, false, false},
		{nil, "null", false},
		{o, o, false},
		{arr, arr, false},
		{(*Object)(nil), nil, false},
	}
	for _, tt := range tests {
		if got := StrictEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("StrictEqual(%#v, %#v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := StrictEqual(tt.b, tt.a); got != tt.want {
			t.Errorf("StrictEqual(%#v, %#v) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

// TestAgreesWithEncodingJSON compares AppendJSON with encoding/json (HTML
// escaping off) on values where the two must agree: no U+2028/U+2029, no
// control characters but \t \n \r, no invalid UTF-8, no -0, numbers in plain
// notation, objects without array-index keys (encoding/json sorts map keys,
// so the objects are written in sorted insertion order).
func TestAgreesWithEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, 0.0, 1.0, -17.0, 2.5, 0.1, 123456.789, 1e20, 1e-6,
		"", "plain", `quote " backslash \`, "tab\tnl\ncr\r", "<html>&amp;</html>", "é 中文 😀 \x7f",
		[]any{}, []any{1.0, "a", nil, []any{true}},
	}
	o := NewObject(0)
	for _, k := range []string{"A", "B", "a", "b", "z z", "é"} {
		o.Set(k, []any{k, 1.5})
	}
	values = append(values, o, []any{o, NewObject(0)})
	for _, v := range values {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(toStd(v)); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(buf.String(), "\n")
		if got := string(AppendJSON(nil, v)); got != want {
			t.Errorf("AppendJSON = %s, encoding/json = %s", got, want)
		}
		if got := string(Canonical(v)); got != want {
			t.Errorf("Canonical = %s, encoding/json = %s", got, want)
		}
	}
}

// toStd converts a value to what encoding/json marshals the same way.
func toStd(v any) any {
	switch x := v.(type) {
	case *Object:
		m := make(map[string]any, x.Len())
		for _, mem := range x.Members() {
			m[mem.Key] = toStd(mem.Value)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = toStd(e)
		}
		return a
	}
	return v
}

func TestPlainASCII(t *testing.T) {
	// Every stop byte at every offset of a run, for both input types: the
	// scan must never pass it, and must get within seven bytes of it.
	plain := "abcdefghijklmnopqrstuvwxyz0123456789 ~!#$%&'()*+,-./:;<=>?@[]^_`{|}\x7f"
	for _, stop := range []byte{'"', '\\', 0x00, 0x1f, '\n', 0x80, 0xc3, 0xff} {
		for at := 0; at < len(plain); at++ {
			s := plain[:at] + string([]byte{stop}) + plain[at:]
			for from := 0; from <= at; from++ {
				j := PlainASCII(s, from)
				if jb := PlainASCII([]byte(s), from); jb != j {
					t.Fatalf("stop %#x at %d from %d: string %d, []byte %d", stop, at, from, j, jb)
				}
				if j < from || j > at || at-j >= 8 {
					t.Fatalf("stop %#x at %d from %d: PlainASCII = %d", stop, at, from, j)
				}
			}
		}
	}
	if j := PlainASCII(plain, 0); len(plain)-j >= 8 {
		t.Errorf("PlainASCII of a plain run of %d stopped at %d", len(plain), j)
	}
}
