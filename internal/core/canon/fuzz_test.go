package canon

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/stele-go/stele/internal/testutil/vectors"
)

// fuzzSeeds returns JSON texts to seed the fuzzers: the conformance vectors,
// the reference corpus and its tampered copies, the §1.8 example and the
// texts of the Node.js golden file.
func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	dir := vectors.Dir(f)
	if data, err := os.ReadFile(filepath.Join(dir, "canonical-vectors.json")); err == nil {
		seeds = append(seeds, data)
		var file struct {
			Vectors map[string][]struct {
				Input json.RawMessage `json:"input"`
			} `json:"vectors"`
		}
		if err := json.Unmarshal(data, &file); err == nil {
			for _, vs := range file.Vectors {
				for _, v := range vs {
					seeds = append(seeds, v.Input)
				}
			}
		}
	}
	for _, pattern := range []string{"reference-corpus/*.json", "reference-corpus/tampered/*.json"} {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				seeds = append(seeds, data)
			}
		}
	}
	if data, err := os.ReadFile("testdata/node-golden.json"); err == nil {
		var g nodeGolden
		if err := json.Unmarshal(data, &g); err == nil {
			// A sample keeps the fuzzer's start-up short.
			for i := 0; i < len(g.Texts); i += 5 {
				if b, err := base64.StdEncoding.DecodeString(g.Texts[i].In); err == nil && len(b) < 1024 {
					seeds = append(seeds, b)
				}
			}
		}
	}
	seeds = append(seeds, []byte(protocolExample))
	if len(seeds) < 100 {
		f.Fatalf("loaded only %d fuzz seeds", len(seeds))
	}
	return seeds
}

// FuzzParse checks that Parse never panics, that its errors carry a
// plausible offset, and that whatever it accepts serialises to valid UTF-8
// whose canonical form is a fixed point: canonical, compact and indented
// output all re-parse to a value with the identical canonical form.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseLimits(data, Limits{MaxDepth: 64})
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(data) {
				t.Fatalf("error %v: want a *SyntaxError with an offset in [0, %d]", err, len(data))
			}
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("error %v wraps neither ErrSyntax nor ErrTooDeep", err)
			}
			return
		}
		c := Canonical(v)
		if !utf8.Valid(c) {
			t.Fatalf("canonical form is not valid UTF-8: %q", c)
		}
		for _, form := range []struct {
			name string
			text []byte
		}{
			{"canonical", c},
			{"AppendJSON", AppendJSON(nil, v)},
			{"AppendIndent", AppendIndent(nil, v)},
		} {
			w, err := ParseLimits(form.text, Limits{MaxDepth: 64, MaxBytes: 1 << 30})
			if err != nil {
				t.Fatalf("%s output %q does not parse: %v", form.name, form.text, err)
			}
			if c2 := Canonical(w); string(c2) != string(c) {
				t.Fatalf("%s output changes the canonical form:\n%q\n%q", form.name, c, c2)
			}
		}
		if n, j := JSONSize(v), AppendJSON(nil, v); n != len(j) {
			t.Fatalf("JSONSize = %d, len(AppendJSON) = %d", n, len(j))
		}
	})
}

// utf16Units decodes a WTF-8 string into UTF-16 code units the slow way.
func utf16Units(s string) []rune {
	var u []rune
	for len(s) > 0 {
		r, size := decodeWTF8(s)
		s = s[size:]
		if r >= 0x10000 {
			u = append(u, 0xD800+(r-0x10000)>>10, 0xDC00+(r-0x10000)&0x3FF)
		} else {
			u = append(u, r)
		}
	}
	return u
}

// FuzzCompareKeys checks CompareKeys against a plain comparison of UTF-16
// code-unit sequences, on arbitrary bytes.
func FuzzCompareKeys(f *testing.F) {
	for _, p := range [][2]string{{"a", "b"}, {"\U00010000", "\uffff"}, {"\xed\xa0\x80", "\U00010000"}, {"x\xe2\x82", "x\xe2\x82\xac"}, {"", "\x80"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ua, ub := utf16Units(a), utf16Units(b)
		want := 0
		for i := 0; ; i++ {
			if i == len(ua) || i == len(ub) {
				want = min(max(len(ua)-len(ub), -1), 1)
				break
			}
			if ua[i] != ub[i] {
				want = 1
				if ua[i] < ub[i] {
					want = -1
				}
				break
			}
		}
		if got := CompareKeys(a, b); got != want {
			t.Fatalf("CompareKeys(%q, %q) = %d, want %d", a, b, got, want)
		}
	})
}

// FuzzQuote checks that AppendQuote writes a JSON string that parses back
// to text whose quoted form is the same, and that quoteLen agrees with it.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\x7f", "\u2028é😀", "\xed\xa0\x80", "\xed\xa0\xbd\xed\xb8\x80", "\xff\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := AppendQuote(nil, s)
		if quoteLen(s) != len(q) {
			t.Fatalf("quoteLen(%q) = %d, len(AppendQuote) = %d", s, quoteLen(s), len(q))
		}
		if !utf8.Valid(q) {
			t.Fatalf("AppendQuote(%q) = %q is not valid UTF-8", s, q)
		}
		v, err := Parse(q)
		if err != nil {
			t.Fatalf("AppendQuote(%q) = %q does not parse: %v", s, q, err)
		}
		if q2 := AppendQuote(nil, v.(string)); string(q2) != string(q) {
			t.Fatalf("AppendQuote(%q) = %q, re-quoted %q", s, q, q2)
		}
		if utf8.ValidString(s) && v.(string) != s {
			t.Fatalf("valid UTF-8 %q came back as %q", s, v)
		}
	})
}
