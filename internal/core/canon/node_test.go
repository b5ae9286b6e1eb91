package canon

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"
)

// nodeGolden is testdata/node-golden.json, written by testdata/node/golden.mjs
// from what Node.js does with the same inputs.
type nodeGolden struct {
	Node  string `json:"node"`
	Texts []struct {
		In        string  `json:"in"`
		OK        bool    `json:"ok"`
		Canonical string  `json:"canonical"`
		JSON      string  `json:"json"`
		Indent    string  `json:"indent"`
		String    *string `json:"string"`
	} `json:"texts"`
	Numbers []struct {
		Bits   string `json:"bits"`
		String string `json:"string"`
		JSON   string `json:"json"`
	} `json:"numbers"`
	Keys []struct {
		A   string `json:"a"`
		B   string `json:"b"`
		Cmp int    `json:"cmp"`
	} `json:"keys"`
}

func loadNodeGolden(t *testing.T) *nodeGolden {
	t.Helper()
	data, err := os.ReadFile("testdata/node-golden.json")
	if err != nil {
		t.Fatalf("read golden file: %v", err)
	}
	var g nodeGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("decode golden file: %v", err)
	}
	if len(g.Texts) == 0 || len(g.Numbers) == 0 || len(g.Keys) == 0 {
		t.Fatalf("golden file has %d texts, %d numbers, %d keys", len(g.Texts), len(g.Numbers), len(g.Keys))
	}
	return &g
}

func unb64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("golden base64 %q: %v", s, err)
	}
	return string(b)
}

// TestNodeTexts compares Parse, Canonical, AppendJSON, AppendIndent, JSONSize
// and ToString with JSON.parse, the protocol's canonicalizeJson,
// JSON.stringify and String in Node.js, on hand-written and generated texts
// (valid and invalid, with escapes, surrogates, ill-formed UTF-8, duplicate
// and array-index keys, and number literals of every shape).
func TestNodeTexts(t *testing.T) {
	g := loadNodeGolden(t)
	var valid, invalid int
	for i, c := range g.Texts {
		in := unb64(t, c.In)
		v, err := Parse([]byte(in))
		if !c.OK {
			invalid++
			if err == nil {
				t.Errorf("text %d %q: JSON.parse throws, Parse accepted it as %s", i, in, Canonical(v))
			} else if !errors.Is(err, ErrSyntax) {
				t.Errorf("text %d %q: error %v does not wrap ErrSyntax", i, in, err)
			}
			continue
		}
		valid++
		if err != nil {
			t.Errorf("text %d %q: JSON.parse accepts it, Parse: %v", i, in, err)
			continue
		}
		if got, want := string(Canonical(v)), unb64(t, c.Canonical); got != want {
			t.Errorf("text %d %q: Canonical\n got %q\nwant %q", i, in, got, want)
		}
		want := unb64(t, c.JSON)
		if got := string(AppendJSON(nil, v)); got != want {
			t.Errorf("text %d %q: AppendJSON\n got %q\nwant %q", i, in, got, want)
		}
		if got := JSONSize(v); got != len(want) {
			t.Errorf("text %d %q: JSONSize = %d, want %d", i, in, got, len(want))
		}
		if got, want := string(AppendIndent(nil, v)), unb64(t, c.Indent); got != want {
			t.Errorf("text %d %q: AppendIndent\n got %q\nwant %q", i, in, got, want)
		}
		s, err := ToString(v)
		switch {
		case c.String == nil && !errors.Is(err, ErrNoPrimitive):
			t.Errorf("text %d %q: String() throws in JS, ToString = %q, %v", i, in, s, err)
		case c.String != nil && (err != nil || s != unb64(t, *c.String)):
			t.Errorf("text %d %q: ToString = %q, %v, want %q", i, in, s, err, unb64(t, *c.String))
		}
	}
	if valid < 100 || invalid < 100 {
		t.Fatalf("golden file too small: %d valid and %d invalid texts", valid, invalid)
	}
}

// TestNodeNumbers compares AppendNumber (JSON.stringify of a number) and
// JSString (String of a number) with Node.js on special values and a few
// thousand random doubles.
func TestNodeNumbers(t *testing.T) {
	g := loadNodeGolden(t)
	for _, c := range g.Numbers {
		b, err := hex.DecodeString(c.Bits)
		if err != nil || len(b) != 8 {
			t.Fatalf("golden bits %q: %v", c.Bits, err)
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(b))
		if got := string(AppendNumber(nil, f)); got != c.JSON {
			t.Errorf("AppendNumber(%v) [%s] = %q, want %q", f, c.Bits, got, c.JSON)
		}
		if got := JSString(f); got != c.String {
			t.Errorf("JSString(%v) [%s] = %q, want %q", f, c.Bits, got, c.String)
		}
		if got := numberLen(f); got != len(c.JSON) {
			t.Errorf("numberLen(%v) = %d, want %d", f, got, len(c.JSON))
		}
	}
}

// TestNodeKeyOrder compares CompareKeys with JavaScript's string comparison
// (UTF-16 code units) on keys mixing ASCII, BMP characters above and below
// the surrogate range, supplementary characters and lone surrogates.
func TestNodeKeyOrder(t *testing.T) {
	g := loadNodeGolden(t)
	for _, c := range g.Keys {
		a, b := unb64(t, c.A), unb64(t, c.B)
		if got := CompareKeys(a, b); got != c.Cmp {
			t.Errorf("CompareKeys(%q, %q) = %d, want %d", a, b, got, c.Cmp)
		}
		if got := CompareKeys(b, a); got != -c.Cmp {
			t.Errorf("CompareKeys(%q, %q) = %d, want %d", b, a, got, -c.Cmp)
		}
	}
}
