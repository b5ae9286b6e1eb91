package ccl

import (
	"math"
	"strings"

	"github.com/stele-go/stele/internal/core/canon"
)

// Serialize writes doc back to CCL text as the reference's serialize
// (PROTOCOL.md §4.11): one line per statement, joined with "\n" (no trailing
// newline). Resources and string values are written in single quotes (which
// CCL cannot escape, so a resource containing "'" does not survive the round
// trip), severity only when it is not "high", a limit period in the largest
// whole unit among days, hours and minutes, else seconds.
//
// One decision differs from the reference: a "not" over an "and" or "or" is
// written "not (…)", so the text parses back to the same condition (the
// reference drops those parentheses and changes the meaning).
func Serialize(doc *Document) string {
	if doc == nil {
		return ""
	}
	var b strings.Builder
	for i, s := range doc.Statements {
		if i > 0 {
			b.WriteByte('\n')
		}
		writeStatement(&b, s)
	}
	return b.String()
}

func writeStatement(b *strings.Builder, s *Statement) {
	if s.Type == Limit {
		v, unit := bestTimeUnit(s.PeriodSeconds)
		b.WriteString("limit ")
		b.WriteString(s.Action)
		b.WriteByte(' ')
		writeNumber(b, s.Count)
		b.WriteString(" per ")
		writeNumber(b, v)
		b.WriteByte(' ')
		b.WriteString(unit)
	} else {
		b.WriteString(string(s.Type))
		b.WriteByte(' ')
		b.WriteString(s.Action)
		b.WriteString(" on '")
		b.WriteString(s.Resource)
		b.WriteByte('\'')
		if s.Condition != nil {
			b.WriteString(" when ")
			writeCondition(b, s.Condition)
		}
	}
	if s.Severity != SeverityHigh {
		b.WriteString(" severity ")
		b.WriteString(s.Severity)
	}
}

// bestTimeUnit expresses seconds in the largest of days, hours and minutes
// that divides it with a value of at least 1, else in seconds.
func bestTimeUnit(sec float64) (float64, string) {
	switch {
	case sec >= 86400 && math.Mod(sec, 86400) == 0:
		return sec / 86400, "days"
	case sec >= 3600 && math.Mod(sec, 3600) == 0:
		return sec / 3600, "hours"
	case sec >= 60 && math.Mod(sec, 60) == 0:
		return sec / 60, "minutes"
	}
	return sec, "seconds"
}

// writeNumber writes JavaScript's String(f).
func writeNumber(b *strings.Builder, f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		b.WriteString(canon.JSString(f))
		return
	}
	var buf [32]byte
	b.Write(canon.AppendNumber(buf[:0], f))
}

func writeCondition(b *strings.Builder, c *Condition) {
	switch c.Type {
	case "not":
		b.WriteString("not ")
		if len(c.Conditions) == 0 {
			return
		}
		sub := c.Conditions[0]
		if sub.Type == "and" || sub.Type == "or" {
			b.WriteByte('(')
			writeCondition(b, sub)
			b.WriteByte(')')
		} else {
			writeCondition(b, sub)
		}
	case "and", "or":
		for i, sub := range c.Conditions {
			if i > 0 {
				b.WriteByte(' ')
				b.WriteString(c.Type)
				b.WriteByte(' ')
			}
			if sub.isCompound() && sub.Type != c.Type {
				b.WriteByte('(')
				writeCondition(b, sub)
				b.WriteByte(')')
			} else {
				writeCondition(b, sub)
			}
		}
	default:
		b.WriteString(c.Field)
		b.WriteByte(' ')
		b.WriteString(c.Operator)
		b.WriteByte(' ')
		writeValue(b, c.Value)
	}
}

func writeValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case string:
		b.WriteByte('\'')
		b.WriteString(x)
		b.WriteByte('\'')
	case []string:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('\'')
			b.WriteString(e)
			b.WriteByte('\'')
		}
		b.WriteByte(']')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('\'')
			b.WriteString(canon.JSString(e))
			b.WriteByte('\'')
		}
		b.WriteByte(']')
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	default:
		if f, ok := toNumber(v); ok {
			writeNumber(b, f)
			return
		}
		b.WriteString(canon.JSString(v))
	}
}
