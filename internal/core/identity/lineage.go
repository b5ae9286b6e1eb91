package identity

// GetLineage returns a copy of the lineage of id, oldest entry first
// (getLineage). Modifying the copy does not affect id.
func GetLineage(id *Identity) []LineageEntry {
	if id == nil {
		return nil
	}
	l := make([]LineageEntry, len(id.Lineage))
	for i := range id.Lineage {
		l[i] = id.Lineage[i].clone()
	}
	return l
}

// ShareAncestor reports whether some lineage entry of a and some lineage entry
// of b have the same identityHash (shareAncestor). Identities evolved from a
// common identity share at least the entries they inherited.
func ShareAncestor(a, b *Identity) bool {
	if a == nil || b == nil {
		return false
	}
	seen := make(map[string]struct{}, len(a.Lineage))
	for i := range a.Lineage {
		seen[a.Lineage[i].IdentityHash] = struct{}{}
	}
	for i := range b.Lineage {
		if _, ok := seen[b.Lineage[i].IdentityHash]; ok {
			return true
		}
	}
	return false
}
