package jobs_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/jobs"
)

func TestDecodeChunk(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`{"v":1,"jobId":"j-1","kind":"verify","chunk":2,"items":[{"index":4,"document":{"a":1}}]}`, nil},
		{`{"v":1,"jobId":"j","kind":"verify","chunk":0,"items":[]} {}`, jobs.ErrBadMessage},
		{`{"v":2,"jobId":"j","kind":"verify","chunk":0,"items":[]}`, jobs.ErrUnsupportedVersion},
		{`{"jobId":"j","kind":"verify","chunk":0,"items":[]}`, jobs.ErrBadMessage},
		{`{"v":1,"jobId":"","kind":"verify","chunk":0}`, jobs.ErrBadMessage},
		{`{"v":1,"jobId":"a>","kind":"verify","chunk":0}`, jobs.ErrBadMessage},
		{`{"v":1,"jobId":"j","kind":"verify","chunk":-1}`, jobs.ErrBadMessage},
		{`{"v":1,"jobId":"j","kind":"verify","chunk":0,"items":[{"index":-3}]}`, jobs.ErrBadMessage},
		{`{"v":1,"jobId":"j","kind":"verify","chunk":0,"items":{}}`, jobs.ErrBadMessage},
		{``, jobs.ErrBadMessage},
	} {
		c, err := jobs.DecodeChunk([]byte(tc.in))
		if tc.want == nil {
			if err != nil || c.JobID != "j-1" || c.Chunk != 2 || len(c.Items) != 1 || c.Items[0].Index != 4 {
				t.Errorf("DecodeChunk(%s) = %+v, %v", tc.in, c, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("DecodeChunk(%s) error %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestValidJobID(t *testing.T) {
	for id, want := range map[string]bool{
		"01HZX3J8Q4":             true,
		"a_b-C9":                 true,
		"":                       false,
		"a.b":                    false,
		"a b":                    false,
		"é":                      false,
		strings.Repeat("x", 128): true,
		strings.Repeat("x", 129): false,
	} {
		if got := jobs.ValidJobID(id); got != want {
			t.Errorf("ValidJobID(%q) = %v, want %v", id, got, want)
		}
	}
}

func FuzzDecodeChunk(f *testing.F) {
	seeds := []string{
		`{"v":1,"jobId":"j-1","kind":"verify","chunk":2,"at":"2026-01-01T00:00:00Z","items":[{"index":4,"ref":"r","document":{"a":[1,"x"]}},{"index":5,"documentId":"ab"},{"index":6,"error":"bad"},{"index":7,"blob":"00"}]}`,
		`{"v":1,"jobId":"x","kind":"sign","chunk":0,"items":[]}`,
		`{"v":3}`,
		`[]`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := jobs.DecodeChunk(data)
		if err != nil {
			if !errors.Is(err, jobs.ErrBadMessage) && !errors.Is(err, jobs.ErrUnsupportedVersion) {
				t.Fatalf("error %v matches neither sentinel", err)
			}
			return
		}
		if c.V < 1 || c.V > jobs.SchemaVersion || !jobs.ValidJobID(c.JobID) || c.Chunk < 0 {
			t.Fatalf("accepted an invalid chunk: %+v", c)
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		c2, err := jobs.DecodeChunk(again)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", again, err)
		}
		if c2.JobID != c.JobID || c2.Chunk != c.Chunk || len(c2.Items) != len(c.Items) {
			t.Fatalf("round trip changed the chunk: %+v vs %+v", c, c2)
		}
	})
}

func TestParseAt(t *testing.T) {
	want := time.Date(2026, 11, 26, 21, 2, 18, 500_000_000, time.UTC)
	for _, in := range []string{
		"2026-11-26T21:02:18.5Z",
		"2026-11-26T22:02:18.5+01:00",
		// RFC 3339 lets "T" and "Z" be lower case (section 5.6).
		"2026-11-26t21:02:18.5z",
		"2026-11-26t22:02:18.5+01:00",
	} {
		if got, err := jobs.ParseAt(in); err != nil || !got.Equal(want) {
			t.Errorf("ParseAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2026-11-26", "2026-11-26T21:02:18", "2026-11-26 21:02:18Z", "2026-11-26x21:02:18Z"} {
		if _, err := jobs.ParseAt(in); err == nil {
			t.Errorf("ParseAt(%q) accepted", in)
		}
	}
}
