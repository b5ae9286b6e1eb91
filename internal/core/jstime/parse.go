package jstime

import (
	"strings"
	"time"
)

// Parse returns the instant, at millisecond precision and in UTC, that
// JavaScript's new Date(s) gives for s, or ok=false where it gives an
// invalid Date (NaN, for which every comparison is false).
//
// Accepted, following V8's ECMAScript date-time format parser:
//
//	YYYY | ±YYYYYY                      year; "-000000" is invalid
//	  [-MM [-DD]]                       month 01–12, day 01–31
//	  [T HH:mm [:ss [.f…]] [tz]]        'T' or 't'
//	tz = Z | z | ±hh:mm | ±hhmm         offset hours 00–23, minutes 00–59
//
// A missing month or day is 01, and a string without a time is UTC
// midnight. Hours run 00–24; 24 means the next day's 00:00 and needs zero
// minutes, seconds and fractional digits. Minutes and seconds run 00–59.
// The fraction has at least one digit and is truncated to milliseconds
// (beyond nine digits, V8 first drops its leading zeros, and so does Parse).
// As in V8, a day up to 31 is accepted in any month and rolls over
// ("2025-02-30" is March 2). A date-time without tz is UTC: this is our
// decision; JavaScript uses the process's local time zone.
//
// Also accepted, as V8's legacy parser reads it, a single space in place of
// the 'T':
//
//	date HH:mm [:ss [.f…]] [Z | z | ±hh:mm | ±hhmm | ±hh]
//
// where date is any of the date forms above. Here, as in V8, the offset's
// hours (and, in ±hhmm, its minutes) are not range checked, an hour of 24
// needs only the truncated milliseconds to be zero, a year 0001–0031 makes
// the fields month-day-year ("0005-06-07 00:00Z" is 6 May 2007, "0005
// 00:00Z" is 1 May 2001), and years 0–99 are moved into 1950–2049.
//
// Everything else is invalid: empty strings, other separators or extra
// whitespace, one-digit fields, legacy forms such as "Jan 1 2025" or
// "2025/01/01", and instants beyond ±8.64e15 ms. As in V8, input ends at the
// first NUL character. Parse does not allocate and runs in time linear in
// len(s).
func Parse(s string) (t time.Time, ok bool) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	p := parser{s: s}
	f, ok := p.parse()
	if !ok {
		return time.Time{}, false
	}
	return f.instant()
}

// fields are the components of a parsed date string.
type fields struct {
	year, month, day     int
	hour, minute, second int
	millis               int
	offset               int // seconds east of UTC
}

func (f fields) instant() (time.Time, bool) {
	// time.Date normalises overflowing days and hour 24 exactly as
	// ECMAScript's MakeDay and MakeTime do.
	t := time.Date(f.year, time.Month(f.month), f.day, f.hour, f.minute, f.second,
		f.millis*int(time.Millisecond), time.UTC)
	t = t.Add(-time.Duration(f.offset) * time.Second)
	if ms := t.UnixMilli(); ms < -MaxMillis || ms > MaxMillis {
		return time.Time{}, false
	}
	return t, true
}

type parser struct {
	s string
	i int
}

func (p *parser) end() bool { return p.i >= len(p.s) }

func (p *parser) peek() byte {
	if p.end() {
		return 0
	}
	return p.s[p.i]
}

func (p *parser) skip(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

// number reads a maximal run of ASCII digits, returning its length and the
// value of its first nine significant digits (leading zeros skipped), as V8
// reads numbers. So a fraction longer than nine digits with leading zeros
// loses them: V8 reads ".0938149915" as 938 ms, and so does Parse.
func (p *parser) number() (value, length int) {
	start := p.i
	for !p.end() && p.s[p.i] == '0' {
		p.i++
	}
	for sig := 0; !p.end() && '0' <= p.s[p.i] && p.s[p.i] <= '9'; sig++ {
		if sig < 9 {
			value = value*10 + int(p.s[p.i]-'0')
		}
		p.i++
	}
	return value, p.i - start
}

// fixed reads a run of exactly n digits.
func (p *parser) fixed(n int) (int, bool) {
	v, l := p.number()
	return v, l == n
}

func (p *parser) parse() (fields, bool) {
	f := fields{month: 1, day: 1}
	var ok bool

	// Year: four digits, or a sign and six digits.
	switch c := p.peek(); c {
	case '+', '-':
		p.i++
		if f.year, ok = p.fixed(6); !ok || (c == '-' && f.year == 0) {
			return f, false
		}
		if c == '-' {
			f.year = -f.year
		}
	default:
		if f.year, ok = p.fixed(4); !ok {
			return f, false
		}
	}
	if p.skip('-') {
		if f.month, ok = p.fixed(2); !ok || f.month < 1 || f.month > 12 {
			return f, false
		}
		if p.skip('-') {
			if f.day, ok = p.fixed(2); !ok || f.day < 1 || f.day > 31 {
				return f, false
			}
		}
	}

	switch {
	case p.end():
		return f, true // date only: UTC midnight
	case p.peek() == 'T' || p.peek() == 't':
		p.i++
		return p.isoTime(f)
	case p.peek() == ' ':
		p.i++
		return p.legacyTime(f)
	}
	return f, false
}

// isoTime reads HH:mm[:ss[.f…]][tz] after the 'T' of an ISO date-time.
func (p *parser) isoTime(f fields) (fields, bool) {
	var ok bool
	if f.hour, ok = p.fixed(2); !ok || f.hour > 24 {
		return f, false
	}
	is24 := f.hour == 24
	if !p.skip(':') {
		return f, false
	}
	if f.minute, ok = p.fixed(2); !ok || f.minute > 59 || (is24 && f.minute != 0) {
		return f, false
	}
	if p.skip(':') {
		if f.second, ok = p.fixed(2); !ok || f.second > 59 || (is24 && f.second != 0) {
			return f, false
		}
		if p.skip('.') {
			start := p.i
			v, l := p.number()
			if l == 0 || (is24 && strings.Trim(p.s[start:p.i], "0") != "") {
				return f, false
			}
			f.millis = millis(v, l)
		}
	}

	switch c := p.peek(); c {
	case 'Z', 'z':
		p.i++
	case '+', '-':
		p.i++
		var h, m int
		v, l := p.number()
		switch l {
		case 4: // ±hhmm
			h, m = v/100, v%100
		case 2: // ±hh:mm
			h = v
			if !p.skip(':') {
				return f, false
			}
			if m, ok = p.fixed(2); !ok {
				return f, false
			}
		default:
			return f, false
		}
		if h > 23 || m > 59 {
			return f, false
		}
		f.offset = h*3600 + m*60
		if c == '-' {
			f.offset = -f.offset
		}
	}
	return f, p.end()
}

// legacyTime reads HH:mm[:ss[.f…]][tz] after the space of a space-separated
// date-time, applying the rules of V8's legacy parser to the whole string.
func (p *parser) legacyTime(f fields) (fields, bool) {
	var ok bool
	if f.hour, ok = p.fixed(2); !ok || !p.skip(':') {
		return f, false
	}
	if f.minute, ok = p.fixed(2); !ok || f.minute > 59 {
		return f, false
	}
	if p.skip(':') {
		if f.second, ok = p.fixed(2); !ok || f.second > 59 {
			return f, false
		}
		if p.skip('.') {
			v, l := p.number()
			if l == 0 {
				return f, false
			}
			f.millis = millis(v, l)
		}
	}
	if f.hour > 24 || (f.hour == 24 && (f.minute != 0 || f.second != 0 || f.millis != 0)) {
		return f, false
	}

	switch c := p.peek(); c {
	case 'Z', 'z':
		p.i++
	case '+', '-':
		p.i++
		var h, m int
		v, l := p.number()
		switch l {
		case 4: // ±hhmm, neither part range checked
			h, m = v/100, v%100
		case 2: // ±hh or ±hh:mm; the minutes must be 00–59
			h = v
			if p.skip(':') {
				if m, ok = p.fixed(2); !ok || m > 59 {
					return f, false
				}
			}
		default:
			return f, false
		}
		f.offset = h*3600 + m*60
		if c == '-' {
			f.offset = -f.offset
		}
	}
	if !p.end() {
		return f, false
	}

	// V8's legacy day composer: a first number that could be a day of the
	// month makes the order month/day/year, and two-digit years are moved
	// into 1950–2049.
	if 1 <= f.year && f.year <= 31 {
		f.year, f.month, f.day = f.day, f.year, f.month
	}
	switch {
	case 0 <= f.year && f.year <= 49:
		f.year += 2000
	case 50 <= f.year && f.year <= 99:
		f.year += 1900
	}
	if f.month < 1 || f.month > 12 || f.day < 1 || f.day > 31 {
		return f, false
	}
	return f, true
}

// millis converts a fraction whose first nine digits have value v and which
// has l digits in all to whole milliseconds, truncating.
func millis(v, l int) int {
	switch {
	case l == 1:
		return v * 100
	case l == 2:
		return v * 10
	case l == 3:
		return v
	}
	for l = min(l, 9); l > 3; l-- {
		v /= 10
	}
	return v
}
