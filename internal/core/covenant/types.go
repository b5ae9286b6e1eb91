package covenant

import (
	"math"

	"github.com/stele-go/stele/internal/core/canon"
)

// Party is a participant named in a covenant: the issuer, the beneficiary or
// (in countersignatures, by key only) a third party.
//
// As JSON it is {id, publicKey, role, name?, metadata?} followed by the
// members of Extra in their order. The same holds for the other typed values
// below: optional members are omitted when empty (or nil), and a member of
// Extra named like a typed field replaces that field, in its place. That is
// how the accessors of Document report a member the typed field cannot hold
// (an empty optional string, or a value of another type), so that building
// from what an accessor returned reproduces the member exactly.
type Party struct {
	ID        string
	PublicKey string // hex Ed25519 public key
	Role      string
	Name      string        // omitted when empty
	Metadata  *canon.Object // omitted when nil
	Extra     *canon.Object // further members, written last
}

// ChainRef links a covenant to its parent: {parentId, relation, depth}.
type ChainRef struct {
	ParentID string
	Relation string  // delegates, restricts or extends (not checked)
	Depth    float64 // 1 for a direct child of a root
	Extra    *canon.Object
}

// Obligation is {id, description, action, deadline?}.
type Obligation struct {
	ID          string
	Description string
	Action      string
	Deadline    string // omitted when empty
	Extra       *canon.Object
}

// Enforcement is {type, config, description?}; Type must satisfy
// ValidEnforcementType. Config is omitted when nil.
type Enforcement struct {
	Type        string
	Config      *canon.Object
	Description string
	Extra       *canon.Object
}

// Proof is {type, config, description?}; Type must satisfy ValidProofType.
// Config is omitted when nil.
type Proof struct {
	Type        string
	Config      *canon.Object
	Description string
	Extra       *canon.Object
}

// Revocation is {method, endpoint?, config?}; nothing in it is checked.
type Revocation struct {
	Method   string
	Endpoint string
	Config   *canon.Object
	Extra    *canon.Object
}

// Metadata is {name?, description?, tags?, version?, custom?}. Tags is
// written when non-nil (an empty non-nil slice gives "tags":[]).
type Metadata struct {
	Name        string
	Description string
	Tags        []string
	Version     string
	Custom      *canon.Object
	Extra       *canon.Object
}

// Countersignature is {signerPublicKey, signerRole, signature, timestamp}.
type Countersignature struct {
	SignerPublicKey string
	SignerRole      string
	Signature       string
	Timestamp       string
}

// objWriter assembles an object in insertion order. A member of x (the
// Extra of the typed value) named like a typed field takes that field's place
// and value; the other members of x follow the typed fields.
type objWriter struct {
	o *canon.Object
	x *canon.Object
}

// newObj starts writing an object with room for n typed members into in, a
// zero Object (nil: a new one). Build passes objects of one allocation.
func newObj(in *canon.Object, n int, extra *canon.Object) objWriter {
	if in == nil {
		in = new(canon.Object)
	}
	*in = *canon.NewObject(n + extra.Len())
	return objWriter{o: in, x: extra}
}

// count returns how many of bs are true.
func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// set writes k: Extra's value when Extra has k, else v when write is set.
func (w objWriter) set(k string, v any, write bool) {
	if xv, ok := w.x.Get(k); ok {
		w.o.Set(k, xv)
	} else if write {
		w.o.Set(k, v)
	}
}

func (w objWriter) req(k string, v any) { w.set(k, v, true) }

func (w objWriter) str(k, v string) { w.set(k, v, v != "") }

func (w objWriter) obj(k string, v *canon.Object) { w.set(k, v, v != nil) }

// done appends the remaining Extra members and returns the object.
func (w objWriter) done() *canon.Object {
	if w.x.Len() > smallExtra {
		if o, ok := w.appendLarge(); ok {
			return o
		}
	}
	for _, m := range w.x.Members() {
		if !w.o.Has(m.Key) {
			w.o.Set(m.Key, m.Value)
		}
	}
	return w.o
}

// smallExtra is the Extra size up to which members are appended one by one
// (canon.Object.Set scans the members, so that is quadratic).
const smallExtra = 32

// appendLarge appends many Extra members in linear time by going through
// JSON text, which canon's parser turns into an object without quadratic
// scans. The text round trip is exact for the value model except that
// non-finite numbers become null, which is how JSON writes them anyway.
func (w objWriter) appendLarge() (*canon.Object, bool) {
	typed := w.o.Members()
	buf := make([]byte, 0, canon.JSONSize(w.x)+canon.JSONSize(w.o)+2)
	buf = append(buf, '{')
	for i, m := range typed {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = canon.AppendQuote(buf, m.Key)
		buf = append(buf, ':')
		buf = canon.AppendJSON(buf, m.Value)
	}
	first := len(typed) == 0
	for _, m := range w.x.Members() {
		if w.o.Has(m.Key) { // w.o holds only the few typed members
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = canon.AppendQuote(buf, m.Key)
		buf = append(buf, ':')
		buf = canon.AppendJSON(buf, m.Value)
	}
	buf = append(buf, '}')
	v, err := canon.ParseLimits(buf, canon.Limits{MaxBytes: len(buf)})
	if err != nil {
		return nil, false // e.g. nesting deeper than the parser allows
	}
	o, ok := v.(*canon.Object)
	return o, ok
}

// The object methods return a typed value as the object a document holds,
// written into in, a zero Object (nil: a new one).

func (p Party) object(in *canon.Object) *canon.Object {
	w := newObj(in, 3+count(p.Name != "", p.Metadata != nil), p.Extra)
	w.req("id", p.ID)
	w.req("publicKey", p.PublicKey)
	w.req("role", vocabulary(p.Role))
	w.str("name", p.Name)
	w.obj("metadata", p.Metadata)
	return w.done()
}

func (c ChainRef) object(in *canon.Object) *canon.Object {
	w := newObj(in, 3, c.Extra)
	w.req("parentId", c.ParentID)
	w.req("relation", vocabulary(c.Relation))
	w.req("depth", number(c.Depth))
	return w.done()
}

func (b Obligation) object(in *canon.Object) *canon.Object {
	w := newObj(in, 3+count(b.Deadline != ""), b.Extra)
	w.req("id", b.ID)
	w.req("description", b.Description)
	w.req("action", b.Action)
	w.str("deadline", b.Deadline)
	return w.done()
}

func (e Enforcement) object(in *canon.Object) *canon.Object {
	w := newObj(in, 1+count(e.Config != nil, e.Description != ""), e.Extra)
	w.req("type", vocabulary(e.Type))
	w.obj("config", e.Config)
	w.str("description", e.Description)
	return w.done()
}

func (p Proof) object(in *canon.Object) *canon.Object {
	w := newObj(in, 1+count(p.Config != nil, p.Description != ""), p.Extra)
	w.req("type", vocabulary(p.Type))
	w.obj("config", p.Config)
	w.str("description", p.Description)
	return w.done()
}

func (r Revocation) object(in *canon.Object) *canon.Object {
	w := newObj(in, 1+count(r.Endpoint != "", r.Config != nil), r.Extra)
	w.req("method", r.Method)
	w.str("endpoint", r.Endpoint)
	w.obj("config", r.Config)
	return w.done()
}

func (m Metadata) object(in *canon.Object) *canon.Object {
	w := newObj(in, count(m.Name != "", m.Description != "", m.Tags != nil, m.Version != "", m.Custom != nil), m.Extra)
	w.str("name", m.Name)
	w.str("description", m.Description)
	var tags []any
	if m.Tags != nil {
		tags = make([]any, len(m.Tags))
		for i, t := range m.Tags {
			tags[i] = t
		}
	}
	w.set("tags", tags, m.Tags != nil)
	w.str("version", m.Version)
	w.obj("custom", m.Custom)
	return w.done()
}

func (c Countersignature) object() *canon.Object {
	o := canon.NewObject(4)
	o.Set("signerPublicKey", c.SignerPublicKey)
	o.Set("signerRole", c.SignerRole)
	o.Set("signature", c.Signature)
	o.Set("timestamp", c.Timestamp)
	return o
}

// objReader splits an object into typed members and the rest.
type objReader struct {
	o     *canon.Object
	extra *canon.Object
}

// str returns the string member k, or "" when absent or not a string.
func (r *objReader) str(k string) string {
	v, ok := r.o.Get(k)
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func (r *objReader) obj(k string) *canon.Object {
	o, _ := r.o.Object(k)
	return o
}

// rest collects the members that taken does not claim for a typed field
// (unknown names, and known names holding a type the field cannot hold), in
// their order. It runs in time linear in the size of the object, however many
// members it has: it copies the object and deletes the few claimed members.
func (r *objReader) rest(taken func(k string, v any) bool) *canon.Object {
	var claimed [8]string
	n := 0
	for _, m := range r.o.Members() {
		if taken(m.Key, m.Value) && n < len(claimed) {
			claimed[n] = m.Key
			n++
		}
	}
	if n == r.o.Len() {
		return nil
	}
	x := canon.CloneObject(r.o)
	for _, k := range claimed[:n] {
		x.Delete(k)
	}
	return x
}

func isStr(v any) bool { _, ok := v.(string); return ok }

// isNonEmptyStr is the test for optional string fields, which are omitted
// when empty: an empty one is kept in Extra so that it is written back.
func isNonEmptyStr(v any) bool { s, ok := v.(string); return ok && s != "" }

func isObj(v any) bool { o, ok := v.(*canon.Object); return ok && o != nil }

func partyFrom(o *canon.Object) Party {
	r := objReader{o: o}
	p := Party{ID: r.str("id"), PublicKey: r.str("publicKey"), Role: r.str("role"), Name: r.str("name"), Metadata: r.obj("metadata")}
	p.Extra = r.rest(func(k string, v any) bool {
		switch k {
		case "id", "publicKey", "role":
			return isStr(v)
		case "name":
			return isNonEmptyStr(v)
		case "metadata":
			return isObj(v)
		}
		return false
	})
	return p
}

func chainFrom(o *canon.Object) ChainRef {
	r := objReader{o: o}
	c := ChainRef{ParentID: r.str("parentId"), Relation: r.str("relation")}
	if d, ok := o.Get("depth"); ok {
		c.Depth, _ = d.(float64)
	}
	c.Extra = r.rest(func(k string, v any) bool {
		switch k {
		case "parentId", "relation":
			return isStr(v)
		case "depth":
			_, ok := v.(float64)
			return ok
		}
		return false
	})
	return c
}

func obligationFrom(o *canon.Object) Obligation {
	r := objReader{o: o}
	b := Obligation{ID: r.str("id"), Description: r.str("description"), Action: r.str("action"), Deadline: r.str("deadline")}
	b.Extra = r.rest(func(k string, v any) bool {
		switch k {
		case "id", "description", "action":
			return isStr(v)
		case "deadline":
			return isNonEmptyStr(v)
		}
		return false
	})
	return b
}

func typedConfigFrom(o *canon.Object) (typ string, config *canon.Object, desc string, extra *canon.Object) {
	r := objReader{o: o}
	typ, config, desc = r.str("type"), r.obj("config"), r.str("description")
	extra = r.rest(func(k string, v any) bool {
		switch k {
		case "type":
			return isStr(v)
		case "description":
			return isNonEmptyStr(v)
		case "config":
			return isObj(v)
		}
		return false
	})
	return
}

func revocationFrom(o *canon.Object) Revocation {
	r := objReader{o: o}
	rv := Revocation{Method: r.str("method"), Endpoint: r.str("endpoint"), Config: r.obj("config")}
	rv.Extra = r.rest(func(k string, v any) bool {
		switch k {
		case "method":
			return isStr(v)
		case "endpoint":
			return isNonEmptyStr(v)
		case "config":
			return isObj(v)
		}
		return false
	})
	return rv
}

func stringList(v any) ([]string, bool) {
	a, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(a))
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func metadataFrom(o *canon.Object) Metadata {
	r := objReader{o: o}
	m := Metadata{Name: r.str("name"), Description: r.str("description"), Version: r.str("version"), Custom: r.obj("custom")}
	if v, ok := o.Get("tags"); ok {
		m.Tags, _ = stringList(v)
	}
	m.Extra = r.rest(func(k string, v any) bool {
		switch k {
		case "name", "description", "version":
			return isNonEmptyStr(v)
		case "custom":
			return isObj(v)
		case "tags":
			_, ok := stringList(v)
			return ok
		}
		return false
	})
	return m
}

// vocabulary returns s as an interface value; a word of the protocol's
// vocabulary (a role, relation, enforcement or proof type) comes from a
// constant, which costs no allocation, unlike a string read at run time.
func vocabulary(s string) any {
	switch s {
	case RoleIssuer:
		return RoleIssuer
	case RoleBeneficiary:
		return RoleBeneficiary
	case RoleAuditor:
		return RoleAuditor
	case RoleOperator:
		return RoleOperator
	case RoleRegulator:
		return RoleRegulator
	case "delegates":
		return "delegates"
	case "restricts":
		return "restricts"
	case "extends":
		return "extends"
	case "capability":
		return "capability"
	case "monitor":
		return "monitor"
	case "audit":
		return "audit"
	case "bond":
		return "bond"
	case "composite":
		return "composite"
	case "tee":
		return "tee"
	case "capability_manifest":
		return "capability_manifest"
	case "audit_log":
		return "audit_log"
	case "bond_reference":
		return "bond_reference"
	case "zkp":
		return "zkp"
	}
	return s
}

// smallIntegers holds the numbers 0–16 as interface values, so that a chain
// depth costs no allocation.
var smallIntegers = [...]any{0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0}

// number returns f as an interface value, from smallIntegers when it is one
// of them (but not -0, which must stay -0).
func number(f float64) any {
	if i := int(f); float64(i) == f && i >= 0 && i < len(smallIntegers) && (i != 0 || !math.Signbit(f)) {
		return smallIntegers[i]
	}
	return f
}
