package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/jsonscan"
	"github.com/stele-go/stele/internal/store"
)

// This file decodes chunk messages without encoding/json's reflection: a
// chunk is mostly documents, which only need their extent found (they are
// parsed by the covenant package afterwards), and encoding/json scans each
// of them twice and copies it. Here every document is scanned once, validated
// with the JSON grammar, and handed over as a sub-slice of the message.
//
// The accepted language is JSON (RFC 8259) as encoding/json's scanner
// accepts it: bytes >= 0x20 inside strings are not checked for UTF-8 (string
// members with invalid UTF-8 are decoded with U+FFFD replacement, as
// encoding/json does). Member names match exactly; unknown members are
// skipped; a repeated member keeps its last value; null leaves a member
// unset except a raw member (document, sign), which keeps the literal null.

// maxNesting bounds the nesting depth of a chunk, as encoding/json does.
const maxNesting = 10000

var errSyntax = errors.New("invalid JSON")

// pathError names where in a chunk a value did not decode
// ("items[3].index"), so that whoever reads the dead letter's reason knows
// which member to fix.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// within prefixes err's path with seg (a member name, ".name" or "[i]").
func within(seg string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pathError
	if errors.As(err, &pe) {
		return &pathError{path: seg + pe.path, err: pe.err}
	}
	return &pathError{path: seg, err: err}
}

// memberSeg is a member name as a path segment: quoted unless it is a
// plain name, cut to 64 bytes.
func memberSeg(name []byte) string {
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return strconv.Quote(truncate(string(name), 64))
		}
	}
	if len(name) == 0 {
		return `""`
	}
	return truncate(string(name), 64)
}

type decoder struct {
	data  []byte
	i     int
	depth int
	// noIndex is the position of the first item of the chunk's items
	// with no index (the member left out or null, or a null item), -1
	// when every item has one. encoding/json reads such an item as
	// index 0; DecodeChunk refuses it.
	noIndex int
}

func (d *decoder) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", errSyntax, what, d.i)
}

func (d *decoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// atEnd reports whether only space is left.
func (d *decoder) atEnd() bool {
	d.ws()
	return d.i >= len(d.data)
}

// peek returns the next non-space byte, 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.i >= len(d.data) {
		return 0
	}
	return d.data[d.i]
}

func (d *decoder) expect(c byte) error {
	if d.peek() != c {
		return d.fail(fmt.Sprintf("expected %q", c))
	}
	d.i++
	return nil
}

// skip validates one value (jsonscan.SkipValue, within what is left of the
// nesting bound) and returns its bytes.
func (d *decoder) skip() ([]byte, error) {
	d.ws()
	start := d.i
	end, err := jsonscan.SkipValue(d.data, d.i, maxNesting-d.depth)
	if err != nil {
		d.i = err.Off
		return nil, d.fail(err.Msg)
	}
	d.i = end
	return d.data[start:end], nil
}

func (d *decoder) literal(lit string) error {
	if !bytes.HasPrefix(d.data[d.i:], []byte(lit)) {
		return d.fail("invalid literal")
	}
	d.i += len(lit)
	return nil
}

// number validates a number and returns its text.
func (d *decoder) number() ([]byte, error) {
	start := d.i
	b := d.data
	if d.i < len(b) && b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(b) && b[d.i] == '0':
		d.i++
	case d.i < len(b) && b[d.i] >= '1' && b[d.i] <= '9':
		for d.i < len(b) && b[d.i] >= '0' && b[d.i] <= '9' {
			d.i++
		}
	default:
		return nil, d.fail("invalid number")
	}
	if d.i < len(b) && b[d.i] == '.' {
		d.i++
		n := d.i
		for d.i < len(b) && b[d.i] >= '0' && b[d.i] <= '9' {
			d.i++
		}
		if d.i == n {
			return nil, d.fail("invalid number")
		}
	}
	if d.i < len(b) && (b[d.i] == 'e' || b[d.i] == 'E') {
		d.i++
		if d.i < len(b) && (b[d.i] == '+' || b[d.i] == '-') {
			d.i++
		}
		n := d.i
		for d.i < len(b) && b[d.i] >= '0' && b[d.i] <= '9' {
			d.i++
		}
		if d.i == n {
			return nil, d.fail("invalid number")
		}
	}
	return b[start:d.i], nil
}

// stringToken validates a string at d.i and returns its contents (without
// quotes) and whether it holds escapes or non-ASCII bytes.
func (d *decoder) stringToken() ([]byte, bool, error) {
	b := d.data
	d.i++ // opening quote
	start := d.i
	special := false
	for d.i < len(b) {
		// Skip the run of plain bytes (most of any string): ASCII eight
		// bytes at a time, then with a table.
		i, seen := canon.PlainASCII(b, d.i), byte(0)
		for i < len(b) && strPlain[b[i]] != 0 {
			seen |= strPlain[b[i]]
			i++
		}
		if seen&2 != 0 {
			special = true // non-ASCII
		}
		d.i = i
		if i >= len(b) {
			break
		}
		c := b[d.i]
		switch {
		case c == '"':
			s := b[start:d.i]
			d.i++
			return s, special, nil
		case c < 0x20:
			return nil, false, d.fail("control character in string")
		case c == '\\':
			special = true
			d.i++
			if d.i >= len(b) {
				return nil, false, d.fail("unexpected end")
			}
			switch b[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				d.i++
				if d.i+4 > len(b) {
					return nil, false, d.fail("unexpected end")
				}
				for _, h := range b[d.i : d.i+4] {
					if !isHex(h) {
						return nil, false, d.fail("invalid \\u escape")
					}
				}
				d.i += 4
			default:
				return nil, false, d.fail("invalid escape")
			}
		default:
			if c >= utf8.RuneSelf {
				special = true
			}
			d.i++
		}
	}
	return nil, false, d.fail("unterminated string")
}

// strPlain marks the bytes a string may hold unescaped, everything from 0x20
// up but '"' and '\\': 1 for ASCII, 2 for the bytes of non-ASCII characters.
// It is a constant table.
var strPlain = func() (t [256]byte) {
	for c := 0x20; c < 256; c++ {
		switch {
		case c == '"' || c == '\\':
		case c >= utf8.RuneSelf:
			t[c] = 2
		default:
			t[c] = 1
		}
	}
	return t
}()

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// str decodes a string value (or null, which leaves *dst unchanged).
func (d *decoder) str(dst *string) error {
	switch d.peek() {
	case 'n':
		return d.literal("null")
	case '"':
	default:
		return d.fail("expected a string")
	}
	start := d.i
	s, special, err := d.stringToken()
	if err != nil {
		return err
	}
	if !special || utf8.Valid(s) && bytes.IndexByte(s, '\\') < 0 {
		*dst = string(s)
		return nil
	}
	// Escapes or invalid UTF-8: rare; use encoding/json's rules.
	return json.Unmarshal(d.data[start:d.i], dst)
}

// integer decodes an integer value (or null).
func (d *decoder) integer(dst *int) error {
	switch c := d.peek(); {
	case c == 'n':
		return d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
	default:
		return d.fail("expected a number")
	}
	tok, err := d.number()
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(string(tok), 10, strconv.IntSize)
	if err != nil {
		return d.fail("expected an integer")
	}
	*dst = int(n)
	return nil
}

// boolean decodes true, false (or null).
func (d *decoder) boolean(dst *bool) error {
	switch d.peek() {
	case 't':
		*dst = true
		return d.literal("true")
	case 'f':
		*dst = false
		return d.literal("false")
	case 'n':
		return d.literal("null")
	}
	return d.fail("expected a boolean")
}

// raw keeps any value as raw JSON.
func (d *decoder) raw(dst *json.RawMessage) error {
	b, err := d.skip()
	if err != nil {
		return err
	}
	*dst = b
	return nil
}

// object walks an object at d.i, calling member for each member with the
// decoded member name and d positioned before the value.
func (d *decoder) object(member func(name []byte) error) error {
	d.depth++
	if d.depth > maxNesting {
		return d.fail("nesting too deep")
	}
	defer func() { d.depth-- }()
	d.i++ // '{'
	if d.peek() == '}' {
		d.i++
		return nil
	}
	var nameBuf string
	for {
		if d.peek() != '"' {
			return d.fail("expected a member name")
		}
		start := d.i
		name, special, err := d.stringToken()
		if err != nil {
			return err
		}
		if special {
			if err := json.Unmarshal(d.data[start:d.i], &nameBuf); err != nil {
				return d.fail("invalid member name")
			}
			name = []byte(nameBuf)
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.fail("expected ',' or '}'")
		}
	}
}

// array walks an array at d.i, calling elem for each element.
func (d *decoder) array(elem func() error) error {
	d.depth++
	if d.depth > maxNesting {
		return d.fail("nesting too deep")
	}
	defer func() { d.depth-- }()
	d.i++ // '['
	if d.peek() == ']' {
		d.i++
		return nil
	}
	for {
		d.ws()
		if err := elem(); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		default:
			return d.fail("expected ',' or ']'")
		}
	}
}

// decodeChunkJSON decodes the JSON of a chunk into c.
func decodeChunkJSON(data []byte, c *Chunk) error {
	_, err := decodeChunkFields(data, c)
	return err
}

// decodeChunkFields decodes the JSON of a chunk into c, and also returns
// the position of its first item without an index (-1 when none lacks
// one).
func decodeChunkFields(data []byte, c *Chunk) (noIndex int, err error) {
	d := &decoder{data: data, noIndex: -1}
	err = d.chunk(c)
	return d.noIndex, err
}

func (d *decoder) chunk(c *Chunk) error {
	switch d.peek() {
	case '{':
	case 'n': // null: nothing set, as encoding/json does
		if err := d.literal("null"); err != nil {
			return err
		}
		if !d.atEnd() {
			return d.fail("trailing data")
		}
		return nil
	default:
		return d.fail("expected an object")
	}
	err := d.object(func(name []byte) error {
		if err := d.chunkMember(c, name); err != nil {
			return within(memberSeg(name), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !d.atEnd() {
		return d.fail("trailing data")
	}
	return nil
}

// chunkMember decodes the value of the chunk's member name.
func (d *decoder) chunkMember(c *Chunk, name []byte) error {
	switch string(name) {
	case "v":
		return d.integer(&c.V)
	case "jobId":
		return d.str(&c.JobID)
	case "kind":
		k := string(c.Kind)
		if err := d.str(&k); err != nil {
			return err
		}
		c.Kind = store.JobKind(k)
		return nil
	case "chunk":
		return d.integer(&c.Chunk)
	case "total":
		return d.integer(&c.Total)
	case "at":
		return d.str(&c.At)
	case "chain":
		return d.boolean(&c.Chain)
	case "items":
		return d.items(&c.Items)
	}
	_, err := d.skip()
	return err
}

func (d *decoder) items(dst *[]Item) error {
	d.noIndex = -1 // the last items member counts
	switch d.peek() {
	case 'n':
		*dst = nil
		return d.literal("null")
	case '[':
	default:
		return d.fail("expected an array")
	}
	items := []Item{}
	err := d.array(func() error {
		var it Item
		hasIndex := false
		switch d.peek() {
		case 'n':
			if err := d.literal("null"); err != nil {
				return within("["+itoa(len(items))+"]", err)
			}
		case '{':
			if err := d.object(func(name []byte) error {
				if string(name) == "index" && d.peek() != 'n' {
					hasIndex = true
				}
				if err := d.itemMember(&it, name); err != nil {
					return within("."+memberSeg(name), err)
				}
				return nil
			}); err != nil {
				return within("["+itoa(len(items))+"]", err)
			}
		default:
			return within("["+itoa(len(items))+"]", d.fail("expected an item object"))
		}
		if !hasIndex && d.noIndex < 0 {
			d.noIndex = len(items)
		}
		items = append(items, it)
		return nil
	})
	if err != nil {
		return err
	}
	*dst = items
	return nil
}

func (d *decoder) itemMember(it *Item, name []byte) error {
	switch string(name) {
	case "index":
		return d.integer(&it.Index)
	case "ref":
		return d.str(&it.Ref)
	case "document":
		return d.raw(&it.Document)
	case "documentId":
		return d.str(&it.DocumentID)
	case "blob":
		return d.str(&it.Blob)
	case "error":
		return d.str(&it.Error)
	case "sign":
		return d.raw(&it.Sign)
	}
	_, err := d.skip()
	return err
}

// validJSON reports whether b is one JSON value (with surrounding space).
func validJSON(b []byte) bool {
	d := &decoder{data: b}
	if _, err := d.skip(); err != nil {
		return false
	}
	return d.atEnd()
}
