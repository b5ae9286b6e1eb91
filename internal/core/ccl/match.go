package ccl

import "strings"

// Pattern matching (PROTOCOL.md §4.4) and specificity (§4.5).
//
// A pattern is a sequence of segments separated by '.' (actions) or '/'
// (resources). A segment "*" matches exactly one segment, "**" matches zero or
// more, anything else matches itself exactly (case-sensitive, no globbing
// inside a segment). The reference decides this by recursive backtracking,
// exponential in the number of "**"; this is the same relation decided by the
// greedy wildcard algorithm (remember the last "**" and let it absorb one more
// segment on a mismatch), which takes at most pattern × input segment
// comparisons and allocates nothing.

type segKind uint8

const (
	segLiteral segKind = iota
	segStar            // "*"
	segAny             // "**"
)

// segment is one pre-split pattern segment.
type segment struct {
	kind segKind
	lit  string // the literal, for segLiteral
}

func kindOf(s string) segKind {
	switch s {
	case "*":
		return segStar
	case "**":
		return segAny
	}
	return segLiteral
}

// weight is a segment's contribution to specificity.
func (k segKind) weight() int {
	switch k {
	case segStar:
		return 1
	case segAny:
		return 0
	}
	return 2
}

// segEnd returns the end offset of the segment of s that starts at off.
func segEnd(s string, off int, sep byte) int {
	if i := strings.IndexByte(s[off:], sep); i >= 0 {
		return off + i
	}
	return len(s)
}

// trimSlashes removes every leading and trailing '/'.
func trimSlashes(s string) string { return strings.Trim(s, "/") }

// MatchAction reports whether action matches the dot-separated pattern, as the
// reference's matchAction. It allocates nothing.
func MatchAction(pattern, action string) bool {
	return matchString(pattern, action, '.')
}

// MatchResource reports whether resource matches the slash-separated pattern,
// as the reference's matchResource: leading and trailing slashes of both are
// ignored, interior empty segments are kept. It allocates nothing.
func MatchResource(pattern, resource string) bool {
	return matchString(trimSlashes(pattern), trimSlashes(resource), '/')
}

// Specificity scores a rule for conflict resolution: 2 per literal segment,
// 1 per "*", 0 per "**", over the action's dot-segments and the resource's
// slash-segments (ignoring leading and trailing slashes; an empty resource
// adds nothing). Examples: ("file.read", "/data/users") is 8, ("**", "**") 0.
func Specificity(actionPattern, resourcePattern string) int {
	n := 0
	for off := 0; off <= len(actionPattern); {
		e := segEnd(actionPattern, off, '.')
		n += kindOf(actionPattern[off:e]).weight()
		off = e + 1
	}
	res := trimSlashes(resourcePattern)
	if res == "" {
		return n
	}
	for off := 0; off <= len(res); {
		e := segEnd(res, off, '/')
		n += kindOf(res[off:e]).weight()
		off = e + 1
	}
	return n
}

// matchString matches target against pattern, both split on sep, walking both
// by byte offsets. A segment starting at offset len(s)+1 means "exhausted".
func matchString(p, t string, sep byte) bool {
	pEnd, tEnd := len(p)+1, len(t)+1
	pi, ti := 0, 0
	starP, starT := -1, 0 // pattern offset just after the last "**", and where it started in t
	for ti < tEnd {
		if pi < pEnd {
			pe := segEnd(p, pi, sep)
			ps := p[pi:pe]
			if ps == "**" {
				starP, starT = pe+1, ti
				pi = pe + 1
				continue
			}
			te := segEnd(t, ti, sep)
			if ps == "*" || ps == t[ti:te] {
				pi, ti = pe+1, te+1
				continue
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last "**" absorb one more target segment and retry.
		starT = segEnd(t, starT, sep) + 1
		pi, ti = starP, starT
	}
	for pi < pEnd {
		pe := segEnd(p, pi, sep)
		if p[pi:pe] != "**" {
			return false
		}
		pi = pe + 1
	}
	return true
}

// matchSegments is matchString for a pre-split pattern.
func matchSegments(p []segment, t string, sep byte) bool {
	tEnd := len(t) + 1
	pi, ti := 0, 0
	starP, starT := -1, 0
	for ti < tEnd {
		if pi < len(p) {
			switch p[pi].kind {
			case segAny:
				starP, starT = pi+1, ti
				pi++
				continue
			case segStar:
				pi++
				ti = segEnd(t, ti, sep) + 1
				continue
			default:
				// A literal holds no separator: it matches when it is a
				// prefix of the rest that ends at a separator or the end.
				lit := p[pi].lit
				if e := ti + len(lit); e <= len(t) && t[ti:e] == lit && (e == len(t) || t[e] == sep) {
					pi, ti = pi+1, e+1
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starT = segEnd(t, starT, sep) + 1
		pi, ti = starP, starT
	}
	for pi < len(p) && p[pi].kind == segAny {
		pi++
	}
	return pi == len(p)
}

// countSegments returns the number of sep-separated segments of s.
func countSegments(s string, sep byte) int {
	n := 1
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			n++
		}
	}
	return n
}

// appendSegments appends the segments of s to dst and returns dst and the sum
// of their weights.
func appendSegments(dst []segment, s string, sep byte) ([]segment, int) {
	w := 0
	for off := 0; off <= len(s); {
		e := segEnd(s, off, sep)
		k := kindOf(s[off:e])
		seg := segment{kind: k}
		if k == segLiteral {
			seg.lit = s[off:e]
		}
		dst = append(dst, seg)
		w += k.weight()
		off = e + 1
	}
	return dst, w
}

// precompile derives, for every statement, its split patterns, specificity
// and decision reason, sharing one allocation for all segments and one for
// all reasons.
func precompile(stmts []*Statement) {
	nseg, nreason := 0, 0
	for _, s := range stmts {
		nseg += countSegments(s.Action, '.')
		if s.Type != Limit {
			nseg += countSegments(trimSlashes(s.Resource), '/')
			nreason += reasonLen(s)
		}
	}
	segs := make([]segment, 0, nseg)
	var buf strings.Builder
	buf.Grow(nreason)
	for _, s := range stmts {
		pre := &s.pre
		pre.typ, pre.action, pre.resource = s.Type, s.Action, s.Resource
		from := len(segs)
		segs, pre.spec = appendSegments(segs, s.Action, '.')
		pre.act = segs[from:len(segs):len(segs)]
		if s.Type != Limit {
			res := trimSlashes(s.Resource)
			from = len(segs)
			var w int
			segs, w = appendSegments(segs, res, '/')
			pre.res = segs[from:len(segs):len(segs)]
			if res != "" {
				pre.spec += w
			}
			writeReason(&buf, s)
		}
		pre.ok = true
	}
	// Cut the reasons out of one string, in the order they were appended.
	reasons, off := buf.String(), 0
	for _, s := range stmts {
		if s.Type != Limit {
			n := reasonLen(s)
			s.pre.reason = reasons[off : off+n]
			off += n
		}
	}
}

func reasonLen(s *Statement) int {
	return len(reasonPrefix) + len(s.Type) + len(" rule for ") + len(s.Action) + len(" on ") + len(s.Resource)
}

const reasonPrefix = "Matched "

// writeReason writes the reference's reason text for a winning statement.
func writeReason(b *strings.Builder, s *Statement) {
	b.WriteString(reasonPrefix)
	b.WriteString(string(s.Type))
	b.WriteString(" rule for ")
	b.WriteString(s.Action)
	b.WriteString(" on ")
	b.WriteString(s.Resource)
}

// reason returns the reason text of a winning statement.
func reason(s *Statement) string {
	if s.fresh() {
		return s.pre.reason
	}
	var b strings.Builder
	writeReason(&b, s)
	return b.String()
}
