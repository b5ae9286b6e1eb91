package store

import (
	"encoding/json"
	"testing"
)

// encodeCases are results whose strings exercise every escaping rule.
var encodeCases = []Result{
	{},
	{Index: 7, Valid: true},
	{Index: 1, Ref: "r", DocumentID: "ab", Checks: []Check{}},
	{Index: 2, Ref: "line 9", Error: "malformed document: Missing or invalid required field: nonce"},
	{Index: 3, Ref: "<a href=\"x\">&amp;</a>", DocumentID: "\u2028\u2029\u00e9\U0001F600",
		Checks: []Check{{Name: "id_match", Passed: true, Message: "tab\there\nnl\rcr\bbs\fff\x00\x01\x1f\x7f"}, {Name: "n", Message: "\\ \" /"}}},
	{Index: 1 << 40, Error: "bad utf-8: \xff\xfe \xc3( \xed\xa0\x80 end\xe2\x82"},
	{Index: 4, Ref: "\xf4\x90\x80\x80 beyond U+10FFFF", Valid: true, Checks: []Check{{Passed: true}}},
}

func TestAppendResultMatchesEncodingJSON(t *testing.T) {
	for _, r := range encodeCases {
		checkEncoding(t, r)
	}
}

func checkEncoding(t *testing.T, r Result) {
	t.Helper()
	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendResult(nil, &r); string(got) != string(want) {
		t.Errorf("appendResult(%#v)\n = %s\nwant %s", r, got, want)
	}
}

func FuzzAppendResult(f *testing.F) {
	for _, r := range encodeCases {
		f.Add(r.Index, r.Ref, r.DocumentID, r.Valid, r.Error, "name", true, r.Ref+r.Error)
	}
	f.Fuzz(func(t *testing.T, index int, ref, docID string, valid bool, errMsg, name string, passed bool, msg string) {
		r := Result{Index: index, Ref: ref, DocumentID: docID, Valid: valid, Error: errMsg}
		if name != "" || msg != "" {
			r.Checks = []Check{{Name: name, Passed: passed, Message: msg}, {Name: msg, Message: name}}
		}
		checkEncoding(t, r)
	})
}
