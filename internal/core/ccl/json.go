package ccl

import "github.com/stele-go/stele/internal/core/canon"

// JSONValue returns the statement as the reference's AST serialises with
// JSON.stringify: {type, action, resource, condition?, severity, line} for
// permit, deny and require, {type, action, count, periodSeconds, severity,
// line} for limit. Encode it with canon.AppendJSON (plain) or
// canon.AppendIndent. The reference's capability manifests carry the plain
// JSON of a condition in this shape.
func (s *Statement) JSONValue() *canon.Object {
	o := canon.NewObject(7)
	o.Set("type", string(s.Type))
	o.Set("action", s.Action)
	if s.Type == Limit {
		o.Set("count", s.Count)
		o.Set("periodSeconds", s.PeriodSeconds)
	} else {
		o.Set("resource", s.Resource)
		if s.Condition != nil {
			o.Set("condition", s.Condition.JSONValue())
		}
	}
	o.Set("severity", s.Severity)
	o.Set("line", float64(s.Line))
	return o
}

// JSONValue returns the condition as the reference's AST serialises:
// {field, operator, value} for a comparison, {type, conditions} for and, or
// and not.
func (c *Condition) JSONValue() *canon.Object {
	o := canon.NewObject(3)
	if c.isCompound() {
		o.Set("type", c.Type)
		subs := make([]any, len(c.Conditions))
		for i, sc := range c.Conditions {
			subs[i] = sc.JSONValue()
		}
		o.Set("conditions", subs)
		return o
	}
	o.Set("field", c.Field)
	o.Set("operator", c.Operator)
	if arr, ok := c.Value.([]string); ok {
		vals := make([]any, len(arr))
		for i, s := range arr {
			vals[i] = s
		}
		o.Set("value", vals)
	} else {
		o.Set("value", c.Value)
	}
	return o
}
