package ccl

// Merge returns the effective policy of child under parent, as the
// reference's merge (PROTOCOL.md §4.9): a union whose statements are, in
// order, parent denies, child denies, child permits, parent permits, parent
// obligations, child obligations, then one limit per action pattern (parent
// limits first, then child limits; a later limit replaces an earlier one for
// the same pattern only when its count is strictly smaller, and keeps the
// earlier one's position).
//
// Because it is a union, the result can permit more than parent: a child's
// more specific permit overrides a parent's broader deny. ValidateNarrowing
// is what detects a child that broadens its parent.
//
// The statements are shared with parent and child, not copied; nil documents
// count as empty.
func Merge(parent, child *Document) *Document {
	if parent == nil {
		parent = &Document{}
	}
	if child == nil {
		child = &Document{}
	}
	n := len(parent.Denies) + len(child.Denies) + len(child.Permits) + len(parent.Permits) +
		len(parent.Obligations) + len(child.Obligations)
	stmts := make([]*Statement, 0, n+len(parent.Limits)+len(child.Limits))
	stmts = append(stmts, parent.Denies...)
	stmts = append(stmts, child.Denies...)
	stmts = append(stmts, child.Permits...)
	stmts = append(stmts, parent.Permits...)
	stmts = append(stmts, parent.Obligations...)
	stmts = append(stmts, child.Obligations...)

	index := make(map[string]int) // action pattern -> position in stmts
	for _, list := range [2][]*Statement{parent.Limits, child.Limits} {
		for _, l := range list {
			if i, ok := index[l.Action]; ok {
				if l.Count < stmts[i].Count {
					stmts[i] = l
				}
				continue
			}
			index[l.Action] = len(stmts)
			stmts = append(stmts, l)
		}
	}
	return newDocument(stmts)
}
