// Package jstime formats timestamps as the reference does and parses date
// strings as JavaScript's Date does where it matters to verification.
//
// The reference writes timestamps with new Date().toISOString() ([Format])
// and compares times through new Date(s), whose parser (V8's, for Node) is
// more lenient than RFC 3339. [Parse] accepts the ISO-like strings V8
// accepts, with the same results, under one decision of this implementation
// (PROTOCOL.md, "Decisions"): a date-time without an offset is read as UTC,
// where JavaScript would use the local time zone of the process. Strings
// that only V8's legacy, implementation-specific parser understands (such as
// "Jan 1 2025") are invalid here, with one exception, the space-separated
// date-time.
package jstime

import (
	"fmt"
	"time"
)

// MaxMillis bounds the instants a JavaScript Date can hold: ±8.64e15 ms
// (±100,000,000 days) from the Unix epoch.
const MaxMillis = 8_640_000_000_000_000

// Format returns t as JavaScript's Date.prototype.toISOString does: UTC,
// exactly three fractional digits (truncated), and a literal "Z", as in
// "2025-06-15T08:30:00.123Z". Years outside 0000–9999 are written with a
// sign and six digits ("+010000-01-01T00:00:00.000Z",
// "-000001-01-01T00:00:00.000Z"), as JavaScript writes them.
func Format(t time.Time) string {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		sign := byte('+')
		if y < 0 {
			sign, y = '-', -y
		}
		return fmt.Sprintf("%c%06d", sign, y) + t.Format("-01-02T15:04:05.000Z")
	}
	return t.Format("2006-01-02T15:04:05.000Z")
}
