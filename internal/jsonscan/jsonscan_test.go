package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzSkipValue checks the fast scanner against encoding/json: both accept
// exactly the same texts, and the depth limit is exact.
func FuzzSkipValue(f *testing.F) {
	for _, s := range []string{`{}`, `[1,2.5e-3,-0,"a\u00e9\n"]`, `{"a":{"b":[true,false,null]}}`, `01`, `1.`, `"\x"`, "\"\x01\"", `[1,]`, `{"a" 1}`, `-`, `1e+`, `"\ud800"`, "\"\xff\"", ` {} `, `[[[]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, err := SkipValue(b, 0, 10000)
		ours := err == nil && SkipWS(b, end) == len(b)
		if want := json.Valid(b); ours != want {
			t.Fatalf("SkipValue accepts %q: %v (err %v), encoding/json: %v", b, ours, err, want)
		}
		if !ours {
			return
		}
		if depth := maxNesting(b); depth > 0 {
			if _, err := SkipValue(b, 0, depth); err != nil {
				t.Fatalf("%q: depth %d refused at limit %d: %v", b, depth, depth, err)
			}
			if _, err := SkipValue(b, 0, depth-1); err == nil || !err.TooDeep {
				t.Fatalf("%q: depth %d accepted at limit %d: %v", b, depth, depth-1, err)
			}
		}
	})
}

// maxNesting returns how deeply valid JSON text nests arrays and objects.
func maxNesting(b []byte) int {
	depth, deepest := 0, 0
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

func BenchmarkCheckDocument(b *testing.B) {
	doc := []byte(`{"id":"eab0f0ea72bf1458e43ca6f17d55bda38b780b97a956bd68f3c85b1c02e4a6fc","version":"1.0","issuer":{"id":"did:stele:issuer0","publicKey":"0be8a3044eda54e3823d6054667ac951605979bbf95145526bef02ded1c5b10b","role":"issuer"},"beneficiary":{"id":"agent-beneficiary0","publicKey":"ec29c5cabb5240aef17500531ff7a0cbd2f5e2a2ea855e3332e6775c63329bbb","role":"beneficiary"},"constraints":"permit read on '/data/**'","nonce":"9984a86229aba29da9d2e271b8a5de2059b316d3f7cf0bef4ce98dbdc7648345","createdAt":"2026-11-26T21:02:18.163Z","signature":"1c41726d3da04223c9aa3f0330a843eccf2cdc7833a93042a489774ed338e5d91ec7d10468bb7f9bc4e7822efca4fc13f4e20c7914b6ade553eba655c57b4a0b","enforcement":{"type":"audit","config":{"threshold":0.95,"mode":"strict","list":[1,2,3]},"description":"Enforced by monitor \u2713"},"metadata":{"custom":{"padding":"` + strings.Repeat("x", 1000) + `"}}}`)
	b.Run("SkipValue", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if err := CheckDocument(doc, 256); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if !json.Valid(doc) || maxNesting(doc) > 256 {
				b.Fatal("invalid")
			}
		}
	})
}

func TestCheckDocument(t *testing.T) {
	for _, tc := range []struct {
		in        string
		ok        bool
		notObject bool
		tooDeep   bool
	}{
		{` {"a":[1,{"b":null}]} `, true, false, false},
		{`[1]`, false, true, false},
		{`"s"`, false, true, false},
		{`{"a":1} x`, false, false, false},
		{`{"a":[[[1]]]}`, false, false, true},
		{`{"a":"\u00e9\u2713","b":-0.5e3}`, true, false, false},
		{"{\"a\":\"\x01\"}", false, false, false},
	} {
		err := CheckDocument([]byte(tc.in), 3)
		if (err == nil) != tc.ok || (err != nil && (err.NotObject != tc.notObject || err.TooDeep != tc.tooDeep)) {
			t.Errorf("CheckDocument(%q) = %v, want ok %v, not object %v, too deep %v", tc.in, err, tc.ok, tc.notObject, tc.tooDeep)
		}
	}
	if k := Kind(nil); k != "nothing" {
		t.Errorf("Kind(nil) = %q", k)
	}
}
