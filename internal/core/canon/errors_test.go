package canon

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		msg    string
	}{
		{``, 0, "unexpected end of input, expected a JSON value"},
		{`   `, 3, "unexpected end of input, expected a JSON value"},
		{`{"a":1,}`, 7, "expected string member name after ',', found '}'"},
		{`[1,2,]`, 5, "expected a JSON value, found ']'"},
		{`{"a" 1}`, 5, "expected ':' after member name, found '1'"},
		{`{"a":1 "b":2}`, 7, "expected ',' or '}' after object member, found '\"'"},
		{`[1 2]`, 3, "expected ',' or ']' after array element, found '2'"},
		{`{a:1}`, 1, "expected string member name or '}', found 'a'"},
		{`{'a':1}`, 1, "expected string member name or '}', found '''"},
		{`01`, 1, "leading zeros are not allowed in numbers"},
		{`-01`, 2, "leading zeros are not allowed in numbers"},
		{`-`, 1, "expected digit after '-', found end of input"},
		{`-a`, 1, "expected digit after '-', found 'a'"},
		{`1.`, 2, "expected digit after decimal point, found end of input"},
		{`1.e5`, 2, "expected digit after decimal point, found 'e'"},
		{`.5`, 0, "expected a JSON value, found '.'"},
		{`+1`, 0, "expected a JSON value, found '+'"},
		{`1e`, 2, "expected digit in exponent, found end of input"},
		{`1e+`, 3, "expected digit in exponent, found end of input"},
		{`NaN`, 0, "expected a JSON value, found 'N'"},
		{`Infinity`, 0, "expected a JSON value, found 'I'"},
		{`tru`, 3, `invalid literal, expected "true", found end of input`},
		{`nul1`, 3, `invalid literal, expected "null", found '1'`},
		{`falsy`, 4, `invalid literal, expected "false", found 'y'`},
		{`true false`, 5, "unexpected 'f' after the JSON value"},
		{`{}}`, 2, "unexpected '}' after the JSON value"},
		{"1\u2028", 1, "unexpected character U+2028 after the JSON value"},
		{"\ufeff{}", 0, "expected a JSON value, found character U+FEFF"},
		{"\f1", 0, "expected a JSON value, found control character U+000C"},
		{"\xff", 0, "expected a JSON value, found invalid UTF-8 byte 0xFF"},
		{`"abc`, 4, "unexpected end of input in string starting at byte 0"},
		{`["a\n`, 5, "unexpected end of input in string starting at byte 1"},
		{`"a\`, 3, "unexpected end of input in string starting at byte 0"},
		{"\"a\nb\"", 2, "control character U+000A must be escaped in string"},
		{"\"\\n\x01\"", 3, "control character U+0001 must be escaped in string"},
		{`"\x41"`, 1, `invalid escape sequence '\x' in string`},
		{`"\'"`, 1, `invalid escape sequence '\'' in string`},
		{`"\u12"`, 1, `expected four hex digits after \u in string`},
		{`"\u12g4"`, 1, `expected four hex digits after \u in string`},
		{`"\U0041"`, 1, `invalid escape sequence '\U' in string`},
		{`[1,{"a":[true,nul]}]`, 17, `invalid literal, expected "null", found ']'`},
	}
	for _, tt := range tests {
		v, err := Parse([]byte(tt.in))
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error", tt.in, v)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error %T %v: want a *SyntaxError wrapping ErrSyntax", tt.in, err, err)
			continue
		}
		if se.Offset != tt.offset || se.Msg != tt.msg {
			t.Errorf("Parse(%q): offset %d %q, want offset %d %q", tt.in, se.Offset, se.Msg, tt.offset, tt.msg)
		}
		if want := "canon: invalid JSON at byte "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Parse(%q) error text %q does not start with %q", tt.in, err.Error(), want)
		}
	}
}

func TestLimits(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	nestObj := func(n int) []byte {
		return []byte(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n))
	}

	if _, err := ParseLimits(nest(5), Limits{MaxDepth: 5}); err != nil {
		t.Errorf("depth 5 with MaxDepth 5: %v", err)
	}
	for _, tt := range []struct {
		in     []byte
		offset int
	}{{nest(6), 5}, {nestObj(6), 25}} {
		_, err := ParseLimits(tt.in, Limits{MaxDepth: 5})
		var se *SyntaxError
		if !errors.Is(err, ErrTooDeep) || errors.Is(err, ErrSyntax) || !errors.As(err, &se) || se.Offset != tt.offset {
			t.Errorf("depth 6 with MaxDepth 5: %v, want ErrTooDeep at %d", err, tt.offset)
		}
	}
	if _, err := Parse(nest(DefaultMaxDepth)); err != nil {
		t.Errorf("default depth limit: %v", err)
	}
	// Far deeper than the limit: refused at the limit, without recursing further.
	if _, err := Parse(nest(1 << 20)); !errors.Is(err, ErrTooDeep) {
		t.Errorf("nesting 2^20: %v, want ErrTooDeep", err)
	}

	// An excessive MaxDepth is capped, so the recursion stays bounded.
	_, err := ParseLimits(nest(MaxDepthLimit+1), Limits{MaxDepth: 1 << 40})
	if !errors.Is(err, ErrTooDeep) {
		t.Errorf("nesting MaxDepthLimit+1 with MaxDepth 2^40: %v, want ErrTooDeep", err)
	}
	if _, err := ParseLimits(nest(MaxDepthLimit), Limits{MaxDepth: 1 << 40}); err != nil {
		t.Errorf("nesting MaxDepthLimit: %v", err)
	}

	in := []byte(`"` + strings.Repeat("x", 98) + `"`)
	if _, err := ParseLimits(in, Limits{MaxBytes: 100}); err != nil {
		t.Errorf("100 bytes with MaxBytes 100: %v", err)
	}
	_, err = ParseLimits(append(in, ' '), Limits{MaxBytes: 100})
	var se *SyntaxError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &se) || se.Offset != 100 {
		t.Errorf("101 bytes with MaxBytes 100: %v, want ErrTooLarge at 100", err)
	}
	if _, err := Parse(make([]byte, DefaultMaxBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("DefaultMaxBytes+1: %v, want ErrTooLarge", err)
	}
}

// TestLargeInputsLinear parses inputs shaped to defeat naive algorithms
// (many members in one object, many duplicate keys, long number literals);
// the test's time limit is the assertion that none of them is quadratic.
func TestLargeInputsLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 200000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(`":1`)
	}
	b.WriteString("}")
	v, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n := v.(*Object).Len(); n != 7*26 {
		t.Errorf("Len = %d, want %d distinct keys", n, 7*26)
	}

	digits := "1" + strings.Repeat("0", 1<<20) + "e-1048576"
	v, err = Parse([]byte(digits))
	if err != nil || v != 1.0 {
		t.Errorf("long literal = %v, %v; want 1", v, err)
	}
}

// TestParseDecimal checks the normal form of number literals against
// strconv.ParseFloat on short literals, where ParseFloat is exact.
func TestParseDecimal(t *testing.T) {
	lits := []string{
		"0", "-0", "0.0", "1", "-1", "10", "100.0", "0.001", "1e5", "1E+5", "1e-5", "-2.50e-3",
		"123456789012345678901234567890", "0.000000000000000000000000000001234", "1.7976931348623157e308",
		"1.7976931348623159e308", "4.9e-324", "2.4703282292062328e-324", "2.4703282292062327e-324",
		"9007199254740993", "0.1e-330", "1e-331", "0.9e310", "1e309", "1e310", "0e5", "-0.000e-99",
	}
	for _, lit := range lits {
		want, _ := strconv.ParseFloat(lit, 64)
		d, f, done := parseDecimal(lit)
		if !done {
			var err error
			if f, err = strconv.ParseFloat(d.String(), 64); err != nil && !errors.Is(err, strconv.ErrRange) {
				t.Errorf("parseDecimal(%s) = %s: %v", lit, d, err)
				continue
			}
		}
		if math.Float64bits(f) != math.Float64bits(want) {
			t.Errorf("parseDecimal(%s) = %s, %v, %v; gives %v, want %v", lit, d, f, done, f, want)
		}
	}
}

// TestSubnormals compares the exact computation of subnormal values with
// strconv.ParseFloat, which is exact but slow there, on every power of two
// and neighbourhood of the subnormal range and on random literals.
func TestSubnormals(t *testing.T) {
	var lits []string
	for e := 1; e <= 52; e++ {
		x := math.Float64frombits(1<<e - 1)
		lits = append(lits,
			strconv.FormatFloat(x, 'e', -1, 64),
			strconv.FormatFloat(x, 'e', 25, 64),
			strconv.FormatFloat(math.Float64frombits(1<<e), 'e', 16, 64))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		x := math.Float64frombits(rng.Uint64N(1<<52 + 10))
		lits = append(lits, strconv.FormatFloat(x, 'e', rng.IntN(30), 64), "-"+strconv.FormatFloat(x, 'g', -1, 64))
	}
	// Exact midpoints between adjacent subnormals (ties go to the even
	// neighbour), and the same plus or minus a tiny amount.
	pow := new(big.Int).Exp(big.NewInt(5), big.NewInt(1075), nil)
	for _, m := range []int64{0, 1, 2, 3, 1000, 1001, 1<<52 - 2, 1<<52 - 1, int64(rng.Uint64N(1 << 52)), int64(rng.Uint64N(1 << 52))} {
		mid := new(big.Int).Mul(big.NewInt(2*m+1), pow).String()
		lits = append(lits, mid+"e-1075", mid+"00000000000000000000001e-1097", "-"+mid+"e-1075")
		below := new(big.Int).Sub(new(big.Int).Mul(big.NewInt(2*m+1), pow), big.NewInt(1)).String()
		lits = append(lits, below+"e-1075")
	}
	lits = append(lits, "2.2250738585072011e-308", "2.2250738585072014e-308", "1e-307", "0.00000001e-300", "1e-330", "3e-324", "2.5e-324")
	for _, lit := range lits {
		want, _ := strconv.ParseFloat(lit, 64)
		v, err := Parse([]byte(lit))
		if err != nil {
			t.Fatalf("Parse(%s): %v", lit, err)
		}
		if got := v.(float64); math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("Parse(%s) = %v, want %v", lit, got, want)
		}
	}
}

// TestManySubnormals checks that a document made of subnormal numbers, the
// slowest case of strconv.ParseFloat, parses in linear time.
func TestManySubnormals(t *testing.T) {
	in := []byte("[" + strings.Repeat("5e-324,1.5e-320,", 50000) + "0]")
	v, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if a := v.([]any); len(a) != 100001 || a[0] != 5e-324 || a[1] != 1.5e-320 {
		t.Fatalf("unexpected result: %d elements, %v, %v", len(a), a[0], a[1])
	}
}
