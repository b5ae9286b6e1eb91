package ccl

import "strings"

// Violation is one way a child policy broadens its parent. ParentRule is the
// parent deny the child permit overlaps, or, for a permit that fits no parent
// permit, the parent's first permit (as the reference reports it).
type Violation struct {
	ChildRule, ParentRule *Statement
	Reason                string
}

// NarrowingResult is ValidateNarrowing's result; Valid is len(Violations) == 0.
type NarrowingResult struct {
	Valid      bool
	Violations []Violation
}

// ValidateNarrowing checks that child only narrows parent, as the reference's
// validateNarrowing (PROTOCOL.md §4.10). For each child permit, in order: every
// parent deny whose action and resource patterns overlap it is a violation;
// and if the parent has permits, the child permit must be a subset of one of
// them. Child denies, requires and limits are not checked.
//
// The overlap test is the reference's heuristic: "*" overlaps everything, and
// staggered wildcards (child /a/*/c, parent deny /a/b/*) are not detected.
// Nil documents count as empty.
func ValidateNarrowing(parent, child *Document) NarrowingResult {
	var out []Violation
	if parent != nil && child != nil {
		for _, cp := range child.Permits {
			for _, pd := range parent.Denies {
				if patternsOverlap(cp.Action, pd.Action) && patternsOverlap(cp.Resource, pd.Resource) {
					out = append(out, Violation{ChildRule: cp, ParentRule: pd,
						Reason: "Child permits '" + cp.Action + "' on '" + cp.Resource + "' which parent denies"})
				}
			}
			if len(parent.Permits) == 0 {
				continue
			}
			fits := false
			for _, pp := range parent.Permits {
				if isSubsetPattern(cp.Action, pp.Action, '.') && isSubsetPattern(cp.Resource, pp.Resource, '/') {
					fits = true
					break
				}
			}
			if !fits {
				out = append(out, Violation{ChildRule: cp, ParentRule: parent.Permits[0],
					Reason: "Child permit '" + cp.Action + "' on '" + cp.Resource + "' is not a subset of any parent permit"})
			}
		}
	}
	return NarrowingResult{Valid: len(out) == 0, Violations: out}
}

// patternsOverlap is the reference's heuristic: two patterns overlap when
// either is "*" or "**", when they are equal, or when one matches a concrete
// string made from the other by replacing its wildcards with "x". A pattern
// containing '/' is matched as a resource, otherwise as an action.
func patternsOverlap(p1, p2 string) bool {
	if p1 == "**" || p2 == "**" || p1 == "*" || p2 == "*" || p1 == p2 {
		return true
	}
	return matchEither(p1, concrete(p2)) || matchEither(p2, concrete(p1))
}

func matchEither(pattern, s string) bool {
	if strings.Contains(pattern, "/") {
		return MatchResource(pattern, s)
	}
	return MatchAction(pattern, s)
}

func concrete(p string) string {
	return strings.ReplaceAll(strings.ReplaceAll(p, "**", "x"), "*", "x")
}

// isSubsetPattern reports whether everything child matches, parent matches
// too, by the reference's segment rules (empty segments ignored). The
// reference decides it by exponential backtracking; it is a glob match in
// which a parent "**" absorbs any run of child segments, a parent "*" takes
// one child segment other than "**", and a literal takes only itself, so the
// greedy wildcard algorithm decides it in pattern × pattern steps.
func isSubsetPattern(child, parent string, sep byte) bool {
	if parent == "**" {
		return true
	}
	if child == "**" {
		return false
	}
	c := nonEmptySegments(child, sep)
	p := nonEmptySegments(parent, sep)
	ci, pi := 0, 0
	starP, starC := -1, 0
	for ci < len(c) {
		if pi < len(p) {
			if p[pi] == "**" {
				starP, starC = pi+1, ci
				pi++
				continue
			}
			if p[pi] == "*" && c[ci] != "**" || p[pi] == c[ci] && c[ci] != "*" {
				pi, ci = pi+1, ci+1
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starC++
		pi, ci = starP, starC
	}
	for pi < len(p) && p[pi] == "**" {
		pi++
	}
	return pi == len(p)
}

func nonEmptySegments(s string, sep byte) []string {
	parts := strings.Split(s, string(sep))
	out := parts[:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
