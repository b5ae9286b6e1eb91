// Package jstime formats timestamps as the reference does and parses date
// strings with the leniency of JavaScript's Date where it matters to
// verification, under the decisions in PROTOCOL.md (offset-less date-times are UTC).
package jstime

// API CONTRACT (stubs; replaced by the implementer).

import "time"

// Format returns t as new Date().toISOString(): UTC, milliseconds, "Z".
func Format(t time.Time) string { panic("unimplemented") }

// Parse returns the instant (millisecond precision) a date string denotes, or
// ok=false where JavaScript would give an invalid Date.
func Parse(s string) (t time.Time, ok bool) { panic("unimplemented") }
