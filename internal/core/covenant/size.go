package covenant

import "github.com/stele-go/stele/internal/core/canon"

// documentSize returns canon.JSONSize(o), the document_size measure, given
// the length of o's canonical form. The canonical form writes every member
// except the excluded top-level ones and members named "__proto__", with the
// same escaping and number spelling as plain JSON; member order does not
// change the length. So, when no "__proto__" member exists, the size is the
// canonical length plus the excluded members — which saves a second pass
// over every string of the document.
func documentSize(o *canon.Object, canonicalLen int) int {
	if canonicalLen <= 2 || hasProtoMember(o) {
		return canon.JSONSize(o)
	}
	n := canonicalLen
	for _, m := range o.Members() {
		switch m.Key {
		case "id", "signature", "countersignatures":
			n += len(m.Key) + 3 + canon.JSONSize(m.Value) + 1 // "key":value, (the keys need no escapes)
		}
	}
	return n
}

// hasProtoMember reports whether any object within v has a member named
// "__proto__".
func hasProtoMember(v any) bool {
	switch x := v.(type) {
	case *canon.Object:
		for _, m := range x.Members() {
			if m.Key == "__proto__" || hasProtoMember(m.Value) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasProtoMember(e) {
				return true
			}
		}
	}
	return false
}
