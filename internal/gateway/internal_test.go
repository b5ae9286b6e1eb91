package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

func TestDepthExceeds(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want bool
	}{
		{`{}`, 1, false},
		{`{"a":{}}`, 1, true},
		{`{"a":[1,[2]]}`, 3, false},
		{`{"a":[1,[2]]}`, 2, true},
		{`{"a":"[[[[[[["}`, 1, false},       // brackets inside strings do not count
		{`{"a":"\"[[[[","b":{}}`, 2, false}, // nor after an escaped quote
		{`{"a":"\\","b":[[]]}`, 2, true},    // an escaped backslash ends the escape
		{strings.Repeat("[", 300), 256, true},
	}
	for _, c := range cases {
		if got := depthExceeds([]byte(c.in), c.max); got != c.want {
			t.Errorf("depthExceeds(%s, %d) = %v, want %v", c.in, c.max, got, c.want)
		}
	}
}

func TestNormaliseID(t *testing.T) {
	lower := strings.Repeat("0a", 32)
	for in, want := range map[string]string{lower: lower, strings.ToUpper(lower): lower, "Ab" + lower[2:]: "ab" + lower[2:]} {
		if got, ok := store.NormalHexID(in); !ok || got != want {
			t.Errorf("NormalHexID(%s) = %s, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", lower[:63], lower + "0", "g" + lower[1:], "blob:" + lower[5:]} {
		if _, ok := store.NormalHexID(bad); ok {
			t.Errorf("NormalHexID(%q) accepted", bad)
		}
	}
}

func TestParseWait(t *testing.T) {
	good := map[string]time.Duration{"": 0, "5s": 5 * time.Second, "250ms": 250 * time.Millisecond, "2": 2 * time.Second, "0.5": 500 * time.Millisecond, "1.50": 1500 * time.Millisecond, "1e9": time.Minute, "10m": time.Minute,
		"3000000h": time.Minute, "+9999999999999h30m": time.Minute} // beyond time.Duration: the maximum
	for in, want := range good {
		got, err := parseWait(url.Values{"wait": {in}}, time.Minute)
		if err != nil || got != want {
			t.Errorf("parseWait(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"soon", "-1s", "-2", "1e3x", "5 s", "NaN", "Inf", "-3000000h", "3000000x"} {
		_, err := parseWait(url.Values{"wait": {in}}, time.Minute)
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Field != "wait" || !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("parseWait(%q): %v", in, err)
		}
	}
}

func TestParseAt(t *testing.T) {
	for in, want := range map[string]string{
		"2026-11-26T21:02:18Z":              "2026-11-26T21:02:18.000Z",
		"2026-11-26T22:02:18.1234567+01:00": "2026-11-26T21:02:18.123Z",
		"0000-01-01T00:00:00Z":              "0000-01-01T00:00:00.000Z",
		"9999-12-31T23:59:59.9999+00:00":    "9999-12-31T23:59:59.999Z",
		// RFC 3339 lets "T" and "Z" be lower case (section 5.6).
		"2026-11-26t21:02:18z":        "2026-11-26T21:02:18.000Z",
		"2026-11-26t22:02:18.5+01:00": "2026-11-26T21:02:18.500Z",
	} {
		got, err := parseAtString("at", in)
		if err != nil || got != want {
			t.Errorf("parseAtString(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"2026-11-26", "yesterday", "2026-11-26T21:02:18", "9999-12-31T23:00:00-01:00", "0000-01-01T00:59:59+01:00", "2026-11-26x21:02:18Z", "2026-11-26T21:02:18y"} {
		if _, err := parseAtString("at", in); !errors.Is(err, ErrInvalidField) {
			t.Errorf("parseAtString(%q): %v", in, err)
		}
	}
}

// TestParseAtParamPlus: ?at=2026-11-26T22:02:18+01:00 typed as is decodes the
// offset's '+' as a space; the error says so, since the value the client
// wrote is a valid RFC 3339 date-time.
func TestParseAtParamPlus(t *testing.T) {
	_, err := parseAtParam(url.Values{"at": {"2026-11-26T22:02:18 01:00"}})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Field != "at" || !errors.Is(err, ErrInvalidParameter) || !strings.Contains(apiErr.Message, "%2B") {
		t.Fatalf("parseAtParam: %v; want an invalid ?at= saying to write '+' as %%2B", err)
	}
	_, err = parseAtParam(url.Values{"at": {"yesterday"}})
	if !errors.As(err, &apiErr) || strings.Contains(apiErr.Message, "%2B") {
		t.Errorf("parseAtParam(yesterday): %v; want no hint about '+'", err)
	}
}

func TestStatusTable(t *testing.T) {
	seen := map[string]bool{}
	for _, row := range errorTable {
		status, code := statusAndCode(&Error{Err: row.err})
		if status != row.status || code != row.code {
			t.Errorf("%v: %d %s, want %d %s", row.err, status, code, row.status, row.code)
		}
		if status < 400 || status > 599 || code == "" {
			t.Errorf("%v: bad row %d %q", row.err, status, code)
		}
		seen[code] = true
	}
	if status, code := statusAndCode(errors.New("boom")); status != 500 || code != "internal" {
		t.Errorf("unknown error: %d %s", status, code)
	}
	// Outside the table: conflicts and unreachable dependencies, wrapped as
	// the stores and handlers wrap them.
	down := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("put covenant x: %w", store.ErrConflict), 409, "conflict"},
		{fmt.Errorf("get job x: %w", context.DeadlineExceeded), 503, "unavailable"},
		{fmt.Errorf("redisstore: get job x: %w", down), 503, "unavailable"},
		{fmt.Errorf("redisstore: get job x: LOADING: %w", store.ErrUnavailable), 503, "unavailable"},
		{fmt.Errorf("publish: %w", nats.ErrNoServers), 503, "unavailable"},
		{fmt.Errorf("get job x: %w", context.Canceled), 500, "internal"},
	} {
		if status, code := statusAndCode(c.err); status != c.status || code != c.code {
			t.Errorf("%v: %d %s, want %d %s", c.err, status, code, c.status, c.code)
		}
		rec := httptest.NewRecorder()
		writeError(rec, c.err)
		if strings.Contains(rec.Body.String(), "redisstore") || strings.Contains(rec.Body.String(), "get job") {
			t.Errorf("%v: the answer names internals: %s", c.err, rec.Body)
		}
	}
}

func TestAcceptsNDJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                     false,
		"application/json":     false,
		"application/x-ndjson": true,
		"application/jsonl":    true,
		"application/json, application/x-ndjson;q=0.5": false, // prefers JSON
		"application/json;q=0.5, application/x-ndjson": true,
		"application/json, application/x-ndjson":       true, // a tie: NDJSON was named
		"application/x-ndjson;q=0.5, */*;q=0.1":        true,
		"*/*":                                          false,
		"application/*, application/x-ndjson;q=0.9":    false,
		"application/json, application/x-ndjson;q=0":   false,
		"application/x-ndjson;q=0.0":                   false,
		"application/x-ndjson;q=x":                     false,
		"text/plain, application/jsonl; q=1":           true,
	} {
		if got := acceptsNDJSON(accept); got != want {
			t.Errorf("acceptsNDJSON(%q) = %v, want %v", accept, got, want)
		}
	}
}

// recorder collects the items feedLines adds.
type recorder struct{ items []jobs.Item }

func (r *recorder) AddValidated(_ context.Context, it jobs.Item) error {
	it.Document = bytes.Clone(it.Document)
	r.items = append(r.items, it)
	return nil
}

// splitNDJSON runs both passes of an NDJSON upload on data.
func splitNDJSON(t *testing.T, lim Limits, data []byte) (int, []jobs.Item, error) {
	t.Helper()
	s := &Server{lim: lim, spoolDir: t.TempDir()}
	f, total, err := s.spool(bytes.NewReader(data))
	if f != nil {
		defer func() {
			f.Close()
			os.Remove(f.Name())
		}()
	}
	if err != nil {
		return 0, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	if err := s.feedLines(context.Background(), f, &rec); err != nil {
		t.Fatalf("feedLines: %v", err)
	}
	return total, rec.items, nil
}

func TestNDJSONItemLimit(t *testing.T) {
	lim, _ := Limits{MaxStreamItems: 3}.withDefaults()
	if _, _, err := splitNDJSON(t, lim, []byte("{}\n{}\n\n{}\n")); err != nil {
		t.Errorf("3 documents: %v", err)
	}
	for _, in := range []string{"{}\n{}\n{}\n{}", "{}\n{}\n{}\n{}\n", "{}\n{}\n{}\nx"} {
		_, _, err := splitNDJSON(t, lim, []byte(in))
		if !errors.Is(err, ErrTooManyItems) {
			t.Errorf("%q: %v, want ErrTooManyItems", in, err)
		}
	}
}

// FuzzNDJSON checks that the counting pass and the item pass of an NDJSON
// upload agree on every input, and that every item is either a document
// within the limits or a failure, with increasing line numbers as refs.
func FuzzNDJSON(f *testing.F) {
	f.Add([]byte("{}\n\n{\"a\":1}\r\n  \n[1]\nnot json"))
	f.Add([]byte("\n\n\n"))
	f.Add([]byte(`{"a":[[[[[[[[[[]]]]]]]]]]}` + "\n" + `{"b":"` + strings.Repeat("x", 300) + `"}`))
	f.Add([]byte(strings.Repeat(" ", 600) + "\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim, err := Limits{MaxDocumentBytes: 256, MaxDepth: 8}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		total, items, err := splitNDJSON(t, lim, data)
		if err != nil {
			t.Fatal(err)
		}
		if total != len(items) {
			t.Fatalf("counted %d documents, produced %d items", total, len(items))
		}
		last := 0
		for _, it := range items {
			line, err := strconv.Atoi(it.Ref)
			if err != nil || line <= last {
				t.Fatalf("ref %q after line %d", it.Ref, last)
			}
			last = line
			switch {
			case it.Error != "" && it.Document == nil:
			case it.Error == "" && it.Document != nil:
				if len(it.Document) > lim.MaxDocumentBytes || it.Document[0] != '{' || !json.Valid(it.Document) || depthExceeds(it.Document, lim.MaxDepth) {
					t.Fatalf("line %d: unusable document queued: %q", line, it.Document)
				}
			default:
				t.Fatalf("line %d: item %+v has not exactly one of document and error", line, it)
			}
		}
	})
}

// FuzzParseVerifyJSON checks that the request parser never panics and that
// an accepted request holds only well-formed items.
func FuzzParseVerifyJSON(f *testing.F) {
	f.Add([]byte(`{"items":[{"ref":"a","document":{"id":"x"}},{"documentId":"` + strings.Repeat("A", 64) + `"}],"at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"items":[{"document":{"a":[1,{"b":null}]}}]}`))
	f.Add([]byte(`{"items":[{"ref":null,"document":null,"documentId":"` + strings.Repeat("0", 64) + `"}],"at":null}`))
	f.Add([]byte(`{"items":[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim, _ := Limits{MaxItems: 20, MaxDepth: 8, MaxDocumentBytes: 512}.withDefaults()
		req, err := parseVerifyJSON(bytes.NewReader(data), lim)
		if err != nil {
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error is not an API error: %v", err)
			}
			if status, _ := statusAndCode(err); status >= 500 {
				t.Fatalf("bad input gives a server error: %v", err)
			}
			return
		}
		if len(req.Items) == 0 || len(req.Items) > lim.MaxItems {
			t.Fatalf("%d items accepted", len(req.Items))
		}
		for i, it := range req.Items {
			if (it.Document == nil) == (it.DocumentID == "") {
				t.Fatalf("item %d: not exactly one of document and documentId", i)
			}
			if it.Document != nil && (it.Document[0] != '{' || !json.Valid(it.Document) || len(it.Document) > lim.MaxDocumentBytes || depthExceeds(it.Document, lim.MaxDepth)) {
				t.Fatalf("item %d: bad document accepted: %s", i, it.Document)
			}
			if it.DocumentID != "" {
				if _, ok := store.NormalHexID(it.DocumentID); !ok || strings.ToLower(it.DocumentID) != it.DocumentID {
					t.Fatalf("item %d: bad id %q", i, it.DocumentID)
				}
			}
		}
		if req.At != "" {
			if _, err := time.Parse(time.RFC3339Nano, req.At); err != nil {
				t.Fatalf("at %q", req.At)
			}
		}
	})
}

// TestCountLines checks the line counter against a byte-by-byte count, with
// the input split at every position (as reads split an upload).
func TestCountLines(t *testing.T) {
	naive := func(b []byte) int {
		n, nonBlank := 0, false
		for _, c := range b {
			switch c {
			case '\n':
				if nonBlank {
					n++
				}
				nonBlank = false
			case ' ', '\t', '\r':
			default:
				nonBlank = true
			}
		}
		if nonBlank {
			n++
		}
		return n
	}
	for _, in := range []string{"", "\n", "{}", "{}\n", " \n\t\r\n{} \n  x\n\n", "a\nb\nc", "\n\n  \n", "x \n \ny"} {
		want := naive([]byte(in))
		for cut := 0; cut <= len(in); cut++ {
			total, nb := countLines([]byte(in[:cut]), 0, false)
			total, nb = countLines([]byte(in[cut:]), total, nb)
			if nb {
				total++
			}
			if total != want {
				t.Errorf("%q cut at %d: %d lines, want %d", in, cut, total, want)
			}
		}
	}
}

// TestLimitsBounds: limits out of range are configuration errors.
func TestLimitsBounds(t *testing.T) {
	for name, lim := range map[string]Limits{
		"negative items":  {MaxItems: -1},
		"page over store": {MaxPageSize: store.MaxPageSize + 1},
		"depth over max":  {MaxDepth: MaxMaxDepth + 1},
	} {
		if _, err := lim.withDefaults(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if l, err := (Limits{MaxDepth: MaxMaxDepth}).withDefaults(); err != nil || l.MaxDepth != MaxMaxDepth {
		t.Errorf("depth at the maximum: %+v, %v", l, err)
	}
}
