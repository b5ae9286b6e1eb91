package ccl

import (
	"testing"
)

func TestSerializeRoundTrip(t *testing.T) {
	tests := []struct{ src, want string }{
		{"permit read on '/data/**' when role = 'admin'", "permit read on '/data/**' when role = 'admin'"},
		{"limit api.call 100 per 1 hours", "limit api.call 100 per 1 hours"},
		{"permit read on /data/**", "permit read on '/data/**'"},
		{"PERMIT Read ON ident SEVERITY LOW", "permit Read on 'ident' severity low"},
		{"deny ** on * severity high", "deny ** on '*'"},
		{"require audit on '/s' severity critical", "require audit on '/s' severity critical"},
		{"limit a 1 per 120 seconds", "limit a 1 per 2 minutes"},
		{"limit a 1 per 90 seconds", "limit a 1 per 90 seconds"},
		{"limit a 1 per 86400 seconds", "limit a 1 per 1 days"},
		{"limit a 1 per 24 hours", "limit a 1 per 1 days"},
		{"limit a 1 per 0 days", "limit a 1 per 0 seconds"},
		{"limit a 5 per 1 minute severity critical", "limit a 5 per 1 minutes severity critical"},
		{"permit a on '/b' when x in [1, true, y] and n >= 007 and b = true", "permit a on '/b' when x in ['1', 'true', 'y'] and n >= 7 and b = true"},
		{"permit a on '/b' when x = 1 and (y = 2 or z = 3)", "permit a on '/b' when x = 1 and (y = 2 or z = 3)"},
		{"permit a on '/b' when (x = 1 and y = 2) or z = 3", "permit a on '/b' when (x = 1 and y = 2) or z = 3"},
		{"permit a on '/b' when x = 1 and (y = 2 and z = 3)", "permit a on '/b' when x = 1 and y = 2 and z = 3"},
		{"permit a on '/b' when not x = 1 and y = 2", "permit a on '/b' when (not x = 1) and y = 2"},
		{"permit a on '/b' when not not x = 1", "permit a on '/b' when not not x = 1"},
		// Our decision: the parentheses under "not" are kept.
		{"permit a on '/b' when not (x = 1 and y = 2)", "permit a on '/b' when not (x = 1 and y = 2)"},
		{"permit a on '/b' when not (x = 1 or y = 2) or z = 3", "permit a on '/b' when (not (x = 1 or y = 2)) or z = 3"},
		{"permit a on '/b' when x = 123456789012345678901234", "permit a on '/b' when x = 1.2345678901234569e+23"},
		{"# only\n# comments", ""},
		{"permit a on '/b'\n\n# c\ndeny c on '/d'", "permit a on '/b'\ndeny c on '/d'"},
	}
	for _, tt := range tests {
		doc := mustParse(t, tt.src)
		got := Serialize(doc)
		if got != tt.want {
			t.Errorf("Serialize(%q) = %q, want %q", tt.src, got, tt.want)
		}
		if got == "" {
			continue
		}
		// Serialized text that parses gives the same text again.
		again, err := Parse(got)
		if err != nil {
			if tt.want == "permit a on '/b' when x = 1.2345678901234569e+23" {
				continue // numbers past 1e21 are written with an exponent CCL cannot read
			}
			t.Errorf("re-parse %q: %v", got, err)
			continue
		}
		if s := Serialize(again); s != got {
			t.Errorf("round trip of %q: %q", got, s)
		}
	}
	if Serialize(nil) != "" {
		t.Error("Serialize(nil)")
	}
}

func TestNotSerializationKeepsMeaning(t *testing.T) {
	src := "permit a on '/b' when not (x = 1 and y = 2)"
	doc := mustParse(t, src)
	re := mustParse(t, Serialize(doc))
	for _, ctx := range []string{`{"x":1,"y":2}`, `{"x":1,"y":3}`, `{"x":0,"y":3}`, `{}`} {
		a := Evaluate(doc, "a", "/b", obj(t, ctx)).Permitted
		b := Evaluate(re, "a", "/b", obj(t, ctx)).Permitted
		if a != b {
			t.Errorf("%s: original %v, re-parsed %v", ctx, a, b)
		}
	}
}

// TestMergeExample covers PROTOCOL.md §4.9.
func TestMergeExample(t *testing.T) {
	parent := mustParse(t, "deny read on '/data/**'")
	child := mustParse(t, "permit read on '/data/secret'")
	m := Merge(parent, child)
	if r := Evaluate(m, "read", "/data/secret", nil); !r.Permitted {
		t.Errorf("child's more specific permit should win: %+v", r)
	}
	if r := Evaluate(m, "read", "/data/other", nil); r.Permitted {
		t.Errorf("parent deny lost: %+v", r)
	}

	parent = mustParse(t, `permit p1 on '/a'
deny d1 on '/a'
require r1 on '/a'
limit api 10 per 1 minute
limit x 5 per 1 minute
limit api 20 per 1 minute`)
	child = mustParse(t, `limit api 10 per 1 hour
permit p2 on '/a'
limit x 3 per 1 day
deny d2 on '/a'
require r2 on '/a'
limit y 1 per 1 second`)
	m = Merge(parent, child)
	var got []string
	for _, s := range m.Statements {
		got = append(got, s.Action)
	}
	want := []string{"d1", "d2", "p2", "p1", "r1", "r2", "api", "x", "y"}
	if len(got) != len(want) {
		t.Fatalf("merged actions %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("merged actions %v, want %v", got, want)
		}
	}
	// api: parent's first (10) stays against the later 20 and the child's equal 10.
	if l := m.Limits[0]; l.Count != 10 || l.Line != 4 || l.PeriodSeconds != 60 {
		t.Errorf("api limit %+v", l)
	}
	// x: the child's smaller count replaces the parent's, in the parent's place.
	if l := m.Limits[1]; l.Count != 3 || l.PeriodSeconds != 86400 {
		t.Errorf("x limit %+v", l)
	}
	if len(m.Permits) != 2 || len(m.Denies) != 2 || len(m.Obligations) != 2 || len(m.Limits) != 3 {
		t.Errorf("views %d %d %d %d", len(m.Permits), len(m.Denies), len(m.Obligations), len(m.Limits))
	}
	if m := Merge(nil, child); len(m.Statements) != len(child.Statements) {
		t.Errorf("Merge(nil, child) has %d statements", len(m.Statements))
	}
}

// TestNarrowingExamples covers PROTOCOL.md §4.10.
func TestNarrowingExamples(t *testing.T) {
	parent := mustParse(t, "permit read on '/data/**'\ndeny write on '/data/private/**'")
	child := mustParse(t, "permit write on '/data/private/**'")
	r := ValidateNarrowing(parent, child)
	if r.Valid || len(r.Violations) != 2 {
		t.Fatalf("got %+v, want 2 violations", r)
	}
	if v := r.Violations[0]; v.Reason != "Child permits 'write' on '/data/private/**' which parent denies" || v.ParentRule.Line != 2 {
		t.Errorf("first violation %+v", v)
	}
	if v := r.Violations[1]; v.Reason != "Child permit 'write' on '/data/private/**' is not a subset of any parent permit" || v.ParentRule.Line != 1 {
		t.Errorf("second violation %+v", v)
	}

	ok := mustParse(t, "permit read on '/data/reports/*'\ndeny read on '/x'\npermit read on '/data'")
	if r := ValidateNarrowing(parent, ok); !r.Valid {
		t.Errorf("narrower child rejected: %+v", r)
	}
	// Heuristic gaps, reproduced: "*" overlaps everything; staggered
	// wildcards are not detected.
	star := mustParse(t, "deny * on '/z'")
	if r := ValidateNarrowing(star, mustParse(t, "permit anything on '/z'")); r.Valid {
		t.Error("'*' deny should overlap")
	}
	stag := mustParse(t, "deny read on '/a/b/*'")
	if r := ValidateNarrowing(stag, mustParse(t, "permit read on '/a/*/c'")); !r.Valid {
		t.Error("staggered wildcards are not detected by the reference")
	}
	// A parent without permits checks only denies.
	if r := ValidateNarrowing(mustParse(t, "deny x on '/q'"), mustParse(t, "permit y on '/q'")); !r.Valid {
		t.Errorf("%+v", r)
	}
	if r := ValidateNarrowing(nil, child); !r.Valid {
		t.Error("nil parent")
	}
}
