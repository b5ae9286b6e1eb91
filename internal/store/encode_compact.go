package store

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The compact stored form of a Result.
//
// A store that keeps results as opaque values may keep this form instead of
// the JSON of EncodeResult: a typical verify result takes about 90 bytes
// instead of about 1,000, which is most of what a store spends per result.
// DecodeStoredResult reads both forms (JSON starts with '{', the compact form
// with compactVersion), and what it returns for the compact form of r is
// exactly what json.Unmarshal returns for the JSON of r, so the API serves
// the same JSON whichever form was stored.
//
// Layout (integers are unsigned varints, strings a length then the bytes):
//
//	compactVersion
//	flags          bit 0 valid, 1 ref, 2 documentId, 3 documentId as 32 raw
//	               bytes (it was 64 lowercase hex digits), 4 error, 5 checks
//	index
//	ref, documentId, error   when flagged
//	count of checks, then per check:
//	  name code      0: a string follows; k: knownCheckNames[k-1]
//	  message code   bit 7 passed; low bits 0: a string follows; k: the
//	                 message is knownMessages[k-1].prefix + a string that
//	                 follows + knownMessages[k-1].suffix
//
// The tables below are part of the stored format: entries may be appended,
// never changed, removed or reordered. Any table entry round-trips any
// string it matches, so the tables only decide how small the form is.
//
// A result with a string that is not valid UTF-8 is stored as JSON: JSON
// replaces invalid bytes with U+FFFD, which the compact form would not.
const compactVersion = 0x01

const (
	cfValid = 1 << iota
	cfRef
	cfDocID
	cfDocIDHex
	cfError
	cfChecks
)

var knownCheckNames = [...]string{
	"id_match", "signature_valid", "not_expired", "active", "ccl_parses", "enforcement_valid",
	"proof_valid", "chain_depth", "document_size", "countersignatures", "nonce_present",
	"key_not_revoked", "chain_resolved", "chain_narrowing",
}

var knownMessages = [...]struct{ prefix, suffix string }{
	{"Document ID matches canonical hash", ""},
	{"Issuer signature is valid", ""},
	{"Issuer signature verification failed", ""},
	{"Document has not expired", ""},
	{"No expiry set", ""},
	{"Document is active", ""},
	{"No activation time set", ""},
	{"No enforcement config present", ""},
	{"No proof config present", ""},
	{"No chain reference present", ""},
	{"No countersignatures present", ""},
	{"Nonce is present and valid (64-char hex)", ""},
	{"Nonce is missing or empty", ""},
	{"CCL parsed successfully (", " statement(s))"},
	{"Document size ", " bytes is within limit"},
	{"Chain depth ", " is within limit"},
	{"All ", " countersignature(s) are valid"},
	{"Enforcement type '", "' is valid"},
	{"Proof type '", "' is valid"},
	{"Document expired at ", ""},
	{"Document activates at ", ""},
	{"ID mismatch: expected ", ""},
	{"CCL parse error: ", ""},
	{"Invalid countersignature(s) from: ", ""},
	{"Document size ", ""},
	{"Chain depth ", ""},
	{"Nonce is malformed: expected 64-char hex string, got ", ""},
}

// messagesByFirstByte lists, per first byte, the knownMessages entries whose
// prefix starts with it, in table order.
var messagesByFirstByte = func() (t [256][]uint8) {
	for k, e := range knownMessages {
		c := e.prefix[0]
		t[c] = append(t[c], uint8(k))
	}
	return t
}()

// AppendStoredResult appends the form a store keeps for r to b: the compact
// form, or the JSON of EncodeResult when r has a string that is not valid
// UTF-8. It applies EncodeResult's checks (index not negative, JSON within
// MaxResultSize).
func AppendStoredResult(b []byte, r *Result) ([]byte, error) {
	if r.Index < 0 {
		return nil, fmt.Errorf("result index %d is negative: %w", r.Index, ErrInvalid)
	}
	if jsonSizeBound(r) <= MaxResultSize {
		start := len(b)
		e := compactEncoder{b: b}
		e.result(r)
		if !e.invalid {
			return e.b, nil
		}
		b = e.b[:start]
	}
	j, err := EncodeResult(*r)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// compactEncoder appends the compact form; invalid is set when a string it
// wrote is not valid UTF-8 (the form is then unusable). The tables' strings
// are ASCII, so checking the strings written out checks the whole result.
type compactEncoder struct {
	b       []byte
	invalid bool
}

func (e *compactEncoder) result(r *Result) {
	e.b = append(e.b, compactVersion)
	flagAt := len(e.b)
	e.b = append(e.b, 0)
	var flags byte
	if r.Valid {
		flags |= cfValid
	}
	e.b = binary.AppendUvarint(e.b, uint64(r.Index))
	if r.Ref != "" {
		flags |= cfRef
		e.string(r.Ref)
	}
	if r.DocumentID != "" {
		flags |= cfDocID
		if isLowerHex64(r.DocumentID) {
			flags |= cfDocIDHex
			e.b, _ = hex.AppendDecode(e.b, []byte(r.DocumentID)) // isLowerHex64: cannot fail
		} else {
			e.string(r.DocumentID)
		}
	}
	if r.Error != "" {
		flags |= cfError
		e.string(r.Error)
	}
	if len(r.Checks) > 0 {
		flags |= cfChecks
		e.b = binary.AppendUvarint(e.b, uint64(len(r.Checks)))
		for i := range r.Checks {
			e.check(&r.Checks[i])
		}
	}
	e.b[flagAt] = flags
}

func (e *compactEncoder) check(c *Check) {
	code := 0
	for k, n := range knownCheckNames {
		if n == c.Name {
			code = k + 1
			break
		}
	}
	e.b = append(e.b, byte(code))
	if code == 0 {
		e.string(c.Name)
	}
	var passed byte
	if c.Passed {
		passed = 0x80
	}
	m := c.Message
	if m != "" {
		for _, k := range messagesByFirstByte[m[0]] {
			p := &knownMessages[k]
			if len(m) >= len(p.prefix)+len(p.suffix) && strings.HasPrefix(m, p.prefix) && strings.HasSuffix(m, p.suffix) {
				e.b = append(e.b, passed|(k+1))
				e.string(m[len(p.prefix) : len(m)-len(p.suffix)])
				return
			}
		}
	}
	e.b = append(e.b, passed)
	e.string(m)
}

func (e *compactEncoder) string(s string) {
	if !utf8.ValidString(s) {
		e.invalid = true
	}
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

// DecodeStoredResult reads a result that AppendStoredResult or EncodeResult
// wrote.
func DecodeStoredResult(b []byte) (Result, error) {
	var r Result
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &r); err != nil {
			return Result{}, fmt.Errorf("stored result: %w", err)
		}
		return r, nil
	}
	d := compactDecoder{b: b}
	if d.byte() != compactVersion {
		return Result{}, fmt.Errorf("stored result: unknown form: %w", ErrInvalid)
	}
	flags := d.byte()
	if flags >= cfChecks<<1 || (flags&cfDocIDHex != 0 && flags&cfDocID == 0) {
		d.fail()
	}
	r.Valid = flags&cfValid != 0
	idx := d.uvarint()
	if idx > uint64(maxInt) {
		d.fail()
	}
	r.Index = int(idx)
	if flags&cfRef != 0 {
		r.Ref = d.string()
	}
	if flags&cfDocID != 0 {
		if flags&cfDocIDHex != 0 {
			r.DocumentID = hex.EncodeToString(d.bytes(32))
		} else {
			r.DocumentID = d.string()
		}
	}
	if flags&cfError != 0 {
		r.Error = d.string()
	}
	if flags&cfChecks != 0 {
		n := d.uvarint()
		if n == 0 || n > uint64(len(d.b)) { // every check takes at least two bytes
			d.fail()
		} else {
			r.Checks = make([]Check, n)
			for i := range r.Checks {
				c := &r.Checks[i]
				switch code := int(d.byte()); {
				case code == 0:
					c.Name = d.string()
				case code <= len(knownCheckNames):
					c.Name = knownCheckNames[code-1]
				default:
					d.fail()
				}
				mc := d.byte()
				c.Passed = mc&0x80 != 0
				switch k := int(mc & 0x7f); {
				case k == 0:
					c.Message = d.string()
				case k <= len(knownMessages):
					e := knownMessages[k-1]
					c.Message = e.prefix + d.string() + e.suffix
				default:
					d.fail()
				}
			}
		}
	}
	if d.err || len(d.b) != 0 {
		return Result{}, fmt.Errorf("stored result: corrupt compact form: %w", ErrInvalid)
	}
	return r, nil
}

const maxInt = int(^uint(0) >> 1)

// compactDecoder reads the compact form; after the first error every read
// returns zero values and err stays set.
type compactDecoder struct {
	b   []byte
	err bool
}

func (d *compactDecoder) fail() { d.err, d.b = true, nil }

func (d *compactDecoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *compactDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *compactDecoder) bytes(n int) []byte {
	if len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// string reads a string, which the encoder only writes in valid UTF-8.
func (d *compactDecoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	b := d.bytes(int(n))
	if !utf8.Valid(b) {
		d.fail()
		return ""
	}
	return string(b)
}

// jsonSizeBound is an upper bound of the length of r's JSON: no byte of a
// string takes more than six bytes escaped.
func jsonSizeBound(r *Result) int {
	n := 128 + 6*(len(r.Ref)+len(r.DocumentID)+len(r.Error))
	for i := range r.Checks {
		n += 48 + 6*(len(r.Checks[i].Name)+len(r.Checks[i].Message))
	}
	return n
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
