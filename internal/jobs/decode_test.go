package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stele-go/stele/internal/store"
)

// These tests check the hand-written decoder and encoder against
// encoding/json.

var jsonSeeds = []string{
	`{"v":1,"jobId":"j","kind":"verify","chunk":3,"at":"2026-01-01T00:00:00Z","chain":true,"items":[{"index":0,"ref":"a\u00e9\"\\","document":{"x":[1,-2.5e+3,true,null,"s"]}},{"index":1,"documentId":"ab","blob":"cd","error":"e","sign":[]}]}`,
	` { "v" : 1 , "items" : [ null , { } ] , "extra" : {"deep":[[[{}]]]} } `,
	`{"v":1,"items":null,"kind":null,"chunk":null,"chain":null}`,
	`{"ref":"\ud800"}`, "{\"a\":\"\xff\xfe\"}", `[1,2`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `"\u12"`, `tru`, `{"a" 1}`, `{,}`, `[1,]`,
	`{"v":1e3}`, `{"v":1.0}`, `{"v":99999999999999999999}`, `{"chain":"yes"}`, `{"items":[1]}`, `{"items":{}}`,
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := validJSON(data), json.Valid(data); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json says %v", data, got, want)
		}
	})
}

func FuzzDecodeChunkJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got Chunk
		err := decodeChunkJSON(data, &got)
		if err == nil && !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var want Chunk
		werr := json.Unmarshal(data, &want)
		if !exactNames(data) {
			return // encoding/json also matches names case-insensitively
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("decode %q: error %v, encoding/json: %v", data, err, werr)
		}
		if err == nil {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("decode %q (-encoding/json +ours):\n%s", data, diff)
			}
		}
	})
}

// FuzzChunkRoundTrip encodes chunks built from fuzzed fields with the
// publisher's encoder and decodes them with DecodeChunk and encoding/json.
func FuzzChunkRoundTrip(f *testing.F) {
	f.Add("job-1", 7, "r\x00é\xff\"<>&\u2028", []byte(`{"a":[1,{"b":null}]}`), "ab", "", "line 3: bad")
	f.Add("x", 0, "", []byte(` "s" `), "", "00ff", "")
	f.Fuzz(func(t *testing.T, jobID string, index int, ref string, doc []byte, docID, blob, errMsg string) {
		if !ValidJobID(jobID) || index < 0 || index >= MaxTotal {
			return
		}
		it := Item{Index: index, Ref: ref, DocumentID: docID, Blob: blob, Error: errMsg}
		if json.Valid(doc) {
			it.Document = doc
		}
		w := &ChunkWriter{job: Job{ID: jobID, Kind: store.KindVerify}}
		enc, err := w.encodeItem(it)
		if err != nil {
			t.Fatal(err)
		}
		data := []byte(`{"v":1,"jobId":"` + jobID + `","kind":"verify","chunk":0,"items":[` + string(enc) + `]}`)
		c, err := DecodeChunk(data)
		if err != nil {
			t.Fatalf("DecodeChunk(%s): %v", data, err)
		}
		var ref2 Chunk
		if err := json.Unmarshal(data, &ref2); err != nil {
			t.Fatalf("encoding/json on %s: %v", data, err)
		}
		for i := range ref2.Items {
			boundItem(&ref2.Items[i]) // as DecodeChunk does
		}
		if diff := cmp.Diff(ref2, *c); diff != "" {
			t.Fatalf("(-encoding/json +ours):\n%s", diff)
		}
		// Strings come back as encoding/json would have sent them.
		var want Item
		b, _ := json.Marshal(it)
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		boundItem(&want)
		got := c.Items[0]
		if got.Ref != want.Ref || got.Error != want.Error || got.DocumentID != want.DocumentID || got.Blob != want.Blob || got.Index != index {
			t.Fatalf("item %+v came back as %+v", want, got)
		}
		if it.Document != nil && want.Document != nil && string(got.Document) != string(bytes.TrimSpace(doc)) {
			t.Fatalf("document %q came back as %q", doc, got.Document)
		}
	})
}

// exactNames reports whether every member name in data (when data is
// valid JSON) is one of the chunk's names written exactly, or matches none
// of them even case-insensitively, so that encoding/json's case-insensitive
// matching cannot differ from ours.
func exactNames(data []byte) bool {
	names := []string{"v", "jobId", "kind", "chunk", "at", "chain", "items", "index", "ref", "document", "documentId", "blob", "error", "sign"}
	ok := true
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				for _, n := range names {
					if k != n && equalFoldLoose(k, n) {
						ok = false
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var v any
	if json.Unmarshal(data, &v) != nil {
		return true
	}
	walk(v)
	return ok && !duplicateNames(data)
}

// equalFoldLoose is a generous case-insensitive comparison (it also treats
// the Kelvin sign and long s as k and s, as encoding/json does).
func equalFoldLoose(a, b string) bool {
	norm := func(s string) string {
		out := []rune{}
		for _, r := range s {
			switch {
			case r == 'K' || r == '\u212a':
				r = 'k'
			case r == 'S' || r == '\u017f':
				r = 's'
			case r >= 'A' && r <= 'Z':
				r += 'a' - 'A'
			}
			out = append(out, r)
		}
		return string(out)
	}
	return norm(a) == norm(b)
}

// duplicateNames reports whether some object in data repeats a member name
// (encoding/json merges repeated object members into the same struct
// field, where we replace; the outcome can differ for nested objects).
func duplicateNames(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj   bool
		seen  map[string]bool
		inKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{obj: true, seen: map[string]bool{}, inKey: true})
				continue
			case '[':
				stack = append(stack, frame{})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].inKey {
				if stack[n-1].seen[t] {
					return true
				}
				stack[n-1].seen[t] = true
				stack[n-1].inKey = false
				continue
			}
		}
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].inKey = true
		}
	}
}

// TestDecodeChunkNamesTheMember: a chunk whose member has the wrong type is
// refused with the member's path in the error (it is the dead letter's
// reason, all a producer on NATS gets), not only a byte offset.
func TestDecodeChunkNamesTheMember(t *testing.T) {
	for _, c := range []struct{ data, path string }{
		{`{"v":1,"jobId":"j","kind":"verify","at":5,"items":[]}`, ": at: "},
		{`{"v":1,"jobId":"j","kind":"verify","total":"3","items":[]}`, ": total: "},
		{`{"v":"1","jobId":"j","kind":"verify","items":[]}`, ": v: "},
		{`{"v":1,"jobId":"j","kind":"verify","items":[{"index":0},{"index":"1"}]}`, ": items[1].index: "},
		{`{"v":1,"jobId":"j","kind":"verify","items":[{"index":0,"ref":7}]}`, ": items[0].ref: "},
		{`{"v":1,"jobId":"j","kind":"verify","items":[{"index":0},3]}`, ": items[1]: "},
		{`{"v":1,"jobId":"j","kind":"verify","items":[],"x y":[}`, `: "x y": `},
	} {
		_, err := DecodeChunk([]byte(c.data))
		if err == nil || !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: %v, want a bad message naming %q", c.data, err, c.path)
		}
	}
}

// TestDecodeChunkRequiresIndex: an item without an index (left out, null,
// or a null item) is refused, naming the item, rather than taken as index
// 0, which would repeat that index and leave the job short of its total,
// never completing and with nothing to say why.
func TestDecodeChunkRequiresIndex(t *testing.T) {
	for _, c := range []struct{ data, path string }{
		{`{"v":1,"jobId":"j","kind":"verify","total":2,"items":[{"index":0,"document":{}},{"document":{}}]}`, "item 1 has no index"},
		{`{"v":1,"jobId":"j","kind":"verify","total":2,"items":[{"index":null,"document":{}},{"index":1}]}`, "item 0 has no index"},
		{`{"v":1,"jobId":"j","kind":"verify","total":2,"items":[{"index":0},null]}`, "item 1 has no index"},
		{`{"v":1,"jobId":"j","kind":"verify","items":[{"ref":"a"}],"items":[{"index":0},{"Index":1}]}`, "item 1 has no index"},
	} {
		_, err := DecodeChunk([]byte(c.data))
		if err == nil || !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: %v, want a bad message saying %q", c.data, err, c.path)
		}
	}
	// The last of repeated items members counts.
	for _, data := range []string{
		`{"v":1,"jobId":"j","kind":"verify","items":[{"ref":"a"}],"items":[{"index":0}]}`,
		`{"v":1,"jobId":"j","kind":"verify","items":[{"ref":"a"}],"items":null}`,
	} {
		if _, err := DecodeChunk([]byte(data)); err != nil {
			t.Errorf("%s: %v", data, err)
		}
	}
}
