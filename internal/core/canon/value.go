// Package canon is Stele's JSON value model and its three serialisations:
// the canonical form that is hashed and signed, plain JSON as JavaScript's
// JSON.stringify writes it, and two-space pretty JSON.
//
// A decoded value is one of:
//
//	nil        JSON null
//	bool       true, false
//	float64    every number (JavaScript numbers are IEEE-754 doubles)
//	string     WTF-8: valid UTF-8, except that a lone UTF-16 surrogate from a
//	           \udxxx escape is kept as its 3-byte generalised UTF-8 encoding
//	[]any      an array
//	*Object    an object, members in insertion order
//
// Keeping the document as decoded, rather than as a typed struct, is what lets
// a member we do not model be signed over and re-serialised unchanged.
//
// Parse turns JSON text into this model exactly as JavaScript's JSON.parse
// would (see ParseLimits). The encoders write JavaScript's output byte for
// byte: AppendCanonical the protocol's canonical form (PROTOCOL.md §1),
// AppendJSON JSON.stringify(v), AppendIndent JSON.stringify(v, null, 2).
//
// Besides the model, the encoders (and JSString, StrictEqual) accept for the
// convenience of Go code building documents every integer type and float32,
// written as the float64 they convert to, and []string, written as an array
// of strings. A nil *Object is written as an empty object and a nil []any as
// an empty array. Any other type is a programming error and makes the encoder
// panic. Values must be acyclic.
package canon

// Member is one name/value pair of an Object.
type Member struct {
	Key   string
	Value any
}

// Object is a JSON object that remembers the order in which its members were
// inserted. Setting an existing key replaces its value in place, as a
// JavaScript object does; so does a duplicate key while parsing (the last value
// wins, at the first position).
//
// The zero Object is empty and ready to use. An Object is not safe for
// concurrent mutation.
type Object struct {
	members []Member
}

// NewObject returns an empty object with room for n members.
func NewObject(n int) *Object { return &Object{members: make([]Member, 0, n)} }

// Len reports the number of members.
func (o *Object) Len() int {
	if o == nil {
		return 0
	}
	return len(o.members)
}

// Members returns the members in insertion order. The slice is the object's
// own storage: callers must not modify it.
func (o *Object) Members() []Member {
	if o == nil {
		return nil
	}
	return o.members
}

// Get returns the value of key and whether the key is present.
func (o *Object) Get(key string) (any, bool) {
	if o == nil {
		return nil, false
	}
	for i := range o.members {
		if o.members[i].Key == key {
			return o.members[i].Value, true
		}
	}
	return nil, false
}

// Has reports whether key is present.
func (o *Object) Has(key string) bool {
	_, ok := o.Get(key)
	return ok
}

// Set sets key to v, replacing the value in place when the key exists and
// appending it otherwise.
func (o *Object) Set(key string, v any) {
	for i := range o.members {
		if o.members[i].Key == key {
			o.members[i].Value = v
			return
		}
	}
	o.members = append(o.members, Member{Key: key, Value: v})
}

// Delete removes key and reports whether it was present.
func (o *Object) Delete(key string) bool {
	for i := range o.members {
		if o.members[i].Key == key {
			o.members = append(o.members[:i], o.members[i+1:]...)
			return true
		}
	}
	return false
}

// String returns the member's value when it is a string.
func (o *Object) String(key string) (string, bool) {
	v, _ := o.Get(key)
	s, ok := v.(string)
	return s, ok
}

// Object returns the member's value when it is an object.
func (o *Object) Object(key string) (*Object, bool) {
	v, _ := o.Get(key)
	obj, ok := v.(*Object)
	return obj, ok && obj != nil
}

// Clone returns a deep copy of v.
func Clone(v any) any {
	switch x := v.(type) {
	case *Object:
		if x == nil {
			return (*Object)(nil)
		}
		c := &Object{members: make([]Member, len(x.members))}
		for i, m := range x.members {
			c.members[i] = Member{Key: m.Key, Value: Clone(m.Value)}
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = Clone(e)
		}
		return c
	default:
		return v
	}
}

// CloneObject returns a deep copy of o.
func CloneObject(o *Object) *Object {
	c, _ := Clone(o).(*Object)
	return c
}
