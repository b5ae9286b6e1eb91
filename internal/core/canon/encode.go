package canon

import (
	"fmt"
	"slices"
)

// AppendCanonical appends the canonical form of v: the reference's
// canonicalizeJson, which is JSON.stringify of v rebuilt with every object's
// members inserted in sorted order. No whitespace is written; strings are
// quoted as by AppendQuote and numbers written as by AppendNumber; arrays keep
// their order. Members of every object are written in canonical order:
//
//   - a member named "__proto__" is left out, at every level;
//   - members whose names are array indices ("0", or a decimal number without
//     leading zero up to 4294967294) come first, in numeric order;
//   - the other members follow, in UTF-16 code-unit order of their names
//     (see CompareKeys).
func AppendCanonical(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		if x {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case float64:
		return AppendNumber(dst, x)
	case string:
		return AppendQuote(dst, x)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendCanonical(dst, e)
		}
		return append(dst, ']')
	case *Object:
		return appendCanonicalObject(dst, x, nil)
	}
	return AppendCanonical(dst, convert(v))
}

// AppendCanonicalExcept appends the canonical form of o without its top-level
// members named in exclude (a covenant's canonical form leaves out id,
// signature and countersignatures). Nested objects are not affected by
// exclude.
func AppendCanonicalExcept(dst []byte, o *Object, exclude ...string) []byte {
	return appendCanonicalObject(dst, o, exclude)
}

// Canonical returns the canonical form of v (see AppendCanonical).
func Canonical(v any) []byte { return AppendCanonical(nil, v) }

// sortStackSize is the member count up to which the member order of an
// object is computed without allocating.
const sortStackSize = 24

// sortEntry is one member being put in canonical order.
type sortEntry struct {
	key     string
	pos     int32  // position in the object
	index   uint32 // value of key when isIndex
	isIndex bool   // key is an array index
}

func canonicalLess(a, b *sortEntry) bool {
	if a.isIndex || b.isIndex {
		if a.isIndex && b.isIndex {
			return a.index < b.index
		}
		return a.isIndex
	}
	return CompareKeys(a.key, b.key) < 0
}

func appendCanonicalObject(dst []byte, o *Object, exclude []string) []byte {
	members := o.Members()
	var stack [sortStackSize]sortEntry
	ents := stack[:0]
	if len(members) > len(stack) {
		ents = make([]sortEntry, 0, len(members))
	}
	for i := range members {
		k := members[i].Key
		if k == "__proto__" || (len(exclude) > 0 && slices.Contains(exclude, k)) {
			continue
		}
		n, ok := arrayIndex(k)
		ents = append(ents, sortEntry{key: k, pos: int32(i), index: n, isIndex: ok})
	}
	if len(ents) <= 16 {
		for i := 1; i < len(ents); i++ {
			for j := i; j > 0 && canonicalLess(&ents[j], &ents[j-1]); j-- {
				ents[j-1], ents[j] = ents[j], ents[j-1]
			}
		}
	} else {
		slices.SortFunc(ents, func(a, b sortEntry) int {
			switch {
			case canonicalLess(&a, &b):
				return -1
			case canonicalLess(&b, &a):
				return 1
			}
			return 0
		})
	}
	dst = append(dst, '{')
	for j := range ents {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = AppendQuote(dst, ents[j].key)
		dst = append(dst, ':')
		dst = AppendCanonical(dst, members[ents[j].pos].Value)
	}
	return append(dst, '}')
}

// compareCanonical orders member names canonically: array indices first, by
// value, then the rest by UTF-16 code units.
func compareCanonical(a, b string) int {
	ia, aIndex := arrayIndex(a)
	ib, bIndex := arrayIndex(b)
	switch {
	case aIndex && bIndex:
		switch {
		case ia < ib:
			return -1
		case ia > ib:
			return 1
		}
		return 0
	case aIndex:
		return -1
	case bIndex:
		return 1
	}
	return CompareKeys(a, b)
}

// maxArrayIndex is the largest array index, 2^32 - 2.
const maxArrayIndex = 1<<32 - 2

// arrayIndex reports whether k is the canonical decimal form of an array
// index ("0", or no leading zero and a value up to 2^32 - 2) and its value.
// JavaScript lists such property names first, in numeric order.
func arrayIndex(k string) (uint32, bool) {
	if len(k) == 0 || len(k) > 10 || k[0] < '0' || k[0] > '9' {
		return 0, false
	}
	if k[0] == '0' {
		return 0, len(k) == 1
	}
	var n uint64
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > maxArrayIndex {
		return 0, false
	}
	return uint32(n), true
}

// AppendJSON appends JSON.stringify(v): no whitespace, strings and numbers as
// in the canonical form, members in JavaScript property order (array-index
// names ascending, then the other names in insertion order). Unlike the
// canonical form it keeps a "__proto__" member, as JSON.stringify does for an
// object JSON.parse produced. Accepted values are those of AppendCanonical.
func AppendJSON(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		if x {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case float64:
		return AppendNumber(dst, x)
	case string:
		return AppendQuote(dst, x)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSON(dst, e)
		}
		return append(dst, ']')
	case *Object:
		members := x.Members()
		var stack [sortStackSize]int32
		order := jsOrder(members, stack[:0])
		dst = append(dst, '{')
		for j := range members {
			i := j
			if order != nil {
				i = int(order[j])
			}
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = AppendQuote(dst, members[i].Key)
			dst = append(dst, ':')
			dst = AppendJSON(dst, members[i].Value)
		}
		return append(dst, '}')
	}
	return AppendJSON(dst, convert(v))
}

// jsOrder returns the positions of members in JavaScript property order, or
// nil when that is insertion order (no member name is an array index). buf
// is used when large enough.
func jsOrder(members []Member, buf []int32) []int32 {
	first := -1
	for i := range members {
		if _, ok := arrayIndex(members[i].Key); ok {
			first = i
			break
		}
	}
	if first < 0 {
		return nil
	}
	order := buf[:0]
	if cap(order) < len(members) {
		order = make([]int32, 0, len(members))
	}
	for i := first; i < len(members); i++ {
		if _, ok := arrayIndex(members[i].Key); ok {
			order = append(order, int32(i))
		}
	}
	slices.SortFunc(order, func(x, y int32) int {
		a, _ := arrayIndex(members[x].Key)
		b, _ := arrayIndex(members[y].Key)
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	})
	for i := range members {
		if _, ok := arrayIndex(members[i].Key); !ok {
			order = append(order, int32(i))
		}
	}
	return order
}

// AppendIndent appends JSON.stringify(v, null, 2): the text of AppendJSON
// with each member and element on its own line, indented by two spaces per
// level, a space after each colon, "{}" and "[]" for empty containers and no
// trailing newline.
func AppendIndent(dst []byte, v any) []byte { return appendIndent(dst, v, 0) }

func appendIndent(dst []byte, v any, level int) []byte {
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return append(dst, "[]"...)
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = newline(dst, level+1)
			dst = appendIndent(dst, e, level+1)
		}
		dst = newline(dst, level)
		return append(dst, ']')
	case *Object:
		members := x.Members()
		if len(members) == 0 {
			return append(dst, "{}"...)
		}
		var stack [sortStackSize]int32
		order := jsOrder(members, stack[:0])
		dst = append(dst, '{')
		for j := range members {
			i := j
			if order != nil {
				i = int(order[j])
			}
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = newline(dst, level+1)
			dst = AppendQuote(dst, members[i].Key)
			dst = append(dst, ':', ' ')
			dst = appendIndent(dst, members[i].Value, level+1)
		}
		dst = newline(dst, level)
		return append(dst, '}')
	case nil, bool, float64, string:
		return AppendJSON(dst, v)
	}
	return appendIndent(dst, convert(v), level)
}

func newline(dst []byte, level int) []byte {
	dst = append(dst, '\n')
	for range level {
		dst = append(dst, ' ', ' ')
	}
	return dst
}

// JSONSize returns len(AppendJSON(nil, v)), the size in bytes of v as
// compact JSON, without building the text and without allocating.
func JSONSize(v any) int {
	switch x := v.(type) {
	case nil:
		return 4
	case bool:
		if x {
			return 4
		}
		return 5
	case float64:
		return numberLen(x)
	case string:
		return quoteLen(x)
	case []any:
		n := 2 + max(len(x)-1, 0)
		for _, e := range x {
			n += JSONSize(e)
		}
		return n
	case *Object:
		members := x.Members()
		n := 2 + max(len(members)-1, 0) + len(members) // braces, commas, colons
		for i := range members {
			n += quoteLen(members[i].Key) + JSONSize(members[i].Value)
		}
		return n
	}
	return JSONSize(convert(v))
}

// convert maps the convenience types the encoders accept onto the value
// model, and panics on anything else.
func convert(v any) any {
	switch x := v.(type) {
	case *Object, []any, nil, bool, float64, string:
		return x
	case int:
		return float64(x)
	case int8:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case []string:
		a := make([]any, len(x))
		for i, s := range x {
			a[i] = s
		}
		return a
	}
	panic(fmt.Sprintf("canon: cannot encode a value of type %T", v))
}
