package store

import (
	"strconv"
	"unicode/utf8"
)

// appendResult appends the JSON of r exactly as json.Marshal writes it
// (member order, omitempty, HTML-safe string escaping, U+FFFD for invalid
// UTF-8), without reflection: results are encoded once per item on the
// workers' hot path.
func appendResult(b []byte, r *Result) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(r.Index), 10)
	if r.Ref != "" {
		b = append(b, `,"ref":`...)
		b = AppendJSONString(b, r.Ref)
	}
	if r.DocumentID != "" {
		b = append(b, `,"documentId":`...)
		b = AppendJSONString(b, r.DocumentID)
	}
	b = append(b, `,"valid":`...)
	b = strconv.AppendBool(b, r.Valid)
	if len(r.Checks) > 0 {
		b = append(b, `,"checks":[`...)
		for i := range r.Checks {
			c := &r.Checks[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = AppendJSONString(b, c.Name)
			b = append(b, `,"passed":`...)
			b = strconv.AppendBool(b, c.Passed)
			b = append(b, `,"message":`...)
			b = AppendJSONString(b, c.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = AppendJSONString(b, r.Error)
	}
	return append(b, '}')
}

// AppendJSONString appends s as a JSON string exactly as encoding/json
// writes it with HTML escaping on (invalid UTF-8 becomes U+FFFD; <, >, &,
// U+2028 and U+2029 are escaped), without reflection. It is shared by the
// encoders of store results and job messages.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
