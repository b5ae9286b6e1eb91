package covenant

import "github.com/stele-go/stele/internal/core/canon"

// built holds the members Build assembles from its options, as the objects
// the document holds (made only when some typed member has Extra: see
// buildArena.object). Build writes the canonical form from the options
// directly (appendCanonical) rather than by sorting and quoting the finished
// object's members: the keys are known, so their canonical order and their
// quoted form are constants. A typed value with Extra members is written from
// its object instead (appendValue), since Extra may add or replace members.
type built struct {
	// scratch receives the canonical form of the values that canon writes,
	// which is then copied to the output: canon's writer keeps any buffer it
	// is given on the heap, and the output is best kept on the caller's
	// stack.
	scratch []byte
	// proto: a "__proto__" member was left out of the canonical form;
	// viaCanon: a caller's value was written by canon. In both cases the
	// canonical form's length does not give the document's size.
	proto, viaCanon bool

	nonce       string
	createdAt   string
	issuer      *canon.Object
	beneficiary *canon.Object
	obligations []any // of *canon.Object
	chain       *canon.Object
	enforcement *canon.Object
	proof       *canon.Object
	revocation  *canon.Object
	metadata    *canon.Object
}

// appendCanonical appends the canonical form of the document b and opts
// describe: byte for byte canon.AppendCanonicalExcept(o, "id", "signature",
// "countersignatures") of the object Build makes (TestBuildCanonicalForm).
// The top-level members, in canonical order, are activatesAt, beneficiary,
// chain, constraints, createdAt, enforcement, expiresAt, issuer, metadata,
// nonce, obligations, proof, revocation, version.
func (b *built) appendCanonical(dst []byte, opts *BuildOptions) []byte {
	if opts.ActivatesAt != "" {
		dst = append(dst, `{"activatesAt":`...)
		dst = canon.AppendQuote(dst, opts.ActivatesAt)
		dst = append(dst, `,"beneficiary":`...)
	} else {
		dst = append(dst, `{"beneficiary":`...)
	}
	dst = b.appendPartyCanonical(dst, &opts.Beneficiary, b.beneficiary)
	if c := opts.Chain; c != nil {
		dst = append(dst, `,"chain":`...)
		if c.Extra.Len() > 0 {
			dst = b.appendValue(dst, b.chain)
		} else {
			dst = append(dst, `{"depth":`...)
			dst = canon.AppendNumber(dst, c.Depth)
			dst = append(dst, `,"parentId":`...)
			dst = canon.AppendQuote(dst, c.ParentID)
			dst = append(dst, `,"relation":`...)
			dst = canon.AppendQuote(dst, c.Relation)
			dst = append(dst, '}')
		}
	}
	dst = append(dst, `,"constraints":`...)
	dst = canon.AppendQuote(dst, opts.Constraints)
	dst = append(dst, `,"createdAt":"`...)
	dst = append(dst, b.createdAt...) // digits and punctuation: nothing to escape
	dst = append(dst, '"')
	if e := opts.Enforcement; e != nil {
		dst = append(dst, `,"enforcement":`...)
		dst = b.appendTypedCanonical(dst, e.Type, e.Config, e.Description, e.Extra, b.enforcement)
	}
	if opts.ExpiresAt != "" {
		dst = append(dst, `,"expiresAt":`...)
		dst = canon.AppendQuote(dst, opts.ExpiresAt)
	}
	dst = append(dst, `,"issuer":`...)
	dst = b.appendPartyCanonical(dst, &opts.Issuer, b.issuer)
	if m := opts.Metadata; m != nil {
		dst = append(dst, `,"metadata":`...)
		dst = b.appendMetadataCanonical(dst, m, b.metadata)
	}
	dst = append(dst, `,"nonce":"`...)
	dst = append(dst, b.nonce...) // hex digits: nothing to escape
	dst = append(dst, '"')
	if len(opts.Obligations) > 0 {
		dst = append(dst, `,"obligations":[`...)
		for i := range opts.Obligations {
			if i > 0 {
				dst = append(dst, ',')
			}
			var o any // made only when some member has Extra
			if i < len(b.obligations) {
				o = b.obligations[i]
			}
			dst = b.appendObligationCanonical(dst, &opts.Obligations[i], o)
		}
		dst = append(dst, ']')
	}
	if p := opts.Proof; p != nil {
		dst = append(dst, `,"proof":`...)
		dst = b.appendTypedCanonical(dst, p.Type, p.Config, p.Description, p.Extra, b.proof)
	}
	if r := opts.Revocation; r != nil {
		dst = append(dst, `,"revocation":`...)
		dst = b.appendRevocationCanonical(dst, r, b.revocation)
	}
	return append(dst, `,"version":"`+ProtocolVersion+`"}`...)
}

// appendPartyCanonical writes {id, metadata?, name?, publicKey, role}.
func (b *built) appendPartyCanonical(dst []byte, p *Party, o *canon.Object) []byte {
	if p.Extra.Len() > 0 {
		return b.appendValue(dst, o)
	}
	dst = append(dst, `{"id":`...)
	dst = canon.AppendQuote(dst, p.ID)
	if p.Metadata != nil {
		dst = append(dst, `,"metadata":`...)
		dst = b.appendValue(dst, p.Metadata)
	}
	if p.Name != "" {
		dst = append(dst, `,"name":`...)
		dst = canon.AppendQuote(dst, p.Name)
	}
	dst = append(dst, `,"publicKey":`...)
	dst = canon.AppendQuote(dst, p.PublicKey)
	dst = append(dst, `,"role":`...)
	dst = canon.AppendQuote(dst, p.Role)
	return append(dst, '}')
}

// appendObligationCanonical writes {action, deadline?, description, id}.
func (b *built) appendObligationCanonical(dst []byte, ob *Obligation, o any) []byte {
	if ob.Extra.Len() > 0 {
		return b.appendValue(dst, o)
	}
	dst = append(dst, `{"action":`...)
	dst = canon.AppendQuote(dst, ob.Action)
	if ob.Deadline != "" {
		dst = append(dst, `,"deadline":`...)
		dst = canon.AppendQuote(dst, ob.Deadline)
	}
	dst = append(dst, `,"description":`...)
	dst = canon.AppendQuote(dst, ob.Description)
	dst = append(dst, `,"id":`...)
	dst = canon.AppendQuote(dst, ob.ID)
	return append(dst, '}')
}

// appendTypedCanonical writes an Enforcement or a Proof: {config?,
// description?, type}.
func (b *built) appendTypedCanonical(dst []byte, typ string, config *canon.Object, desc string, extra, o *canon.Object) []byte {
	if extra.Len() > 0 {
		return b.appendValue(dst, o)
	}
	sep := byte('{')
	if config != nil {
		dst = append(dst, `{"config":`...)
		dst = b.appendValue(dst, config)
		sep = ','
	}
	if desc != "" {
		dst = append(dst, sep)
		dst = append(dst, `"description":`...)
		dst = canon.AppendQuote(dst, desc)
		sep = ','
	}
	dst = append(dst, sep)
	dst = append(dst, `"type":`...)
	dst = canon.AppendQuote(dst, typ)
	return append(dst, '}')
}

// appendRevocationCanonical writes {config?, endpoint?, method}.
func (b *built) appendRevocationCanonical(dst []byte, r *Revocation, o *canon.Object) []byte {
	if r.Extra.Len() > 0 {
		return b.appendValue(dst, o)
	}
	sep := byte('{')
	if r.Config != nil {
		dst = append(dst, `{"config":`...)
		dst = b.appendValue(dst, r.Config)
		sep = ','
	}
	if r.Endpoint != "" {
		dst = append(dst, sep)
		dst = append(dst, `"endpoint":`...)
		dst = canon.AppendQuote(dst, r.Endpoint)
		sep = ','
	}
	dst = append(dst, sep)
	dst = append(dst, `"method":`...)
	dst = canon.AppendQuote(dst, r.Method)
	return append(dst, '}')
}

// appendMetadataCanonical writes {custom?, description?, name?, tags?,
// version?}.
func (b *built) appendMetadataCanonical(dst []byte, m *Metadata, o *canon.Object) []byte {
	if m.Extra.Len() > 0 {
		return b.appendValue(dst, o)
	}
	sep := byte('{')
	if m.Custom != nil {
		dst = append(dst, `{"custom":`...)
		dst = b.appendValue(dst, m.Custom)
		sep = ','
	}
	if m.Description != "" {
		dst = append(dst, sep)
		dst = append(dst, `"description":`...)
		dst = canon.AppendQuote(dst, m.Description)
		sep = ','
	}
	if m.Name != "" {
		dst = append(dst, sep)
		dst = append(dst, `"name":`...)
		dst = canon.AppendQuote(dst, m.Name)
		sep = ','
	}
	if m.Tags != nil {
		dst = append(dst, sep)
		dst = append(dst, `"tags":[`...)
		for i, t := range m.Tags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = canon.AppendQuote(dst, t)
		}
		dst = append(dst, ']')
		sep = ','
	}
	if m.Version != "" {
		dst = append(dst, sep)
		dst = append(dst, `"version":`...)
		dst = canon.AppendQuote(dst, m.Version)
		sep = ','
	}
	if sep == '{' {
		dst = append(dst, '{')
	}
	return append(dst, '}')
}

// appendValue appends the canonical form of v, an object the caller
// supplied. It is written by appendCanonicalValue, which keeps dst where it
// is (on Build's stack) and notes a "__proto__" member it leaves out; a value
// that appendCanonicalValue does not handle is written by canon (through
// scratch, since canon's writer keeps its buffer on the heap), and then
// viaCanon is set: the document size must be measured on the object.
func (b *built) appendValue(dst []byte, v any) []byte {
	start := len(dst)
	dst, ok := appendCanonicalValue(dst, v, 0, &b.proto)
	if ok {
		return dst
	}
	b.viaCanon = true
	b.scratch = canon.AppendCanonical(b.scratch[:0], v)
	return append(dst[:start], b.scratch...)
}

// Limits of appendCanonicalValue; beyond them it leaves the value to canon.
const (
	leanMaxDepth   = 32
	leanMaxMembers = 16
)

// appendCanonicalValue appends the canonical form of v exactly as
// canon.AppendCanonical does (FuzzCanonicalValue) for the value model (nil,
// bool, float64, string, []any, *canon.Object) nested at most leanMaxDepth
// deep, with objects of at most leanMaxMembers members; for anything else it
// reports false and dst must be discarded from where the value began. It sets
// *proto when it leaves out a member named "__proto__".
//
// Members are ordered as canon orders them: names that are array indices
// first, by value, then the others by canon.CompareKeys.
func appendCanonicalValue(dst []byte, v any, depth int, proto *bool) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case bool:
		if x {
			return append(dst, "true"...), true
		}
		return append(dst, "false"...), true
	case float64:
		return canon.AppendNumber(dst, x), true
	case string:
		return canon.AppendQuote(dst, x), true
	case []any:
		if depth >= leanMaxDepth {
			return dst, false
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendCanonicalValue(dst, e, depth+1, proto); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case *canon.Object:
		members := x.Members()
		if depth >= leanMaxDepth || len(members) > leanMaxMembers {
			return dst, false
		}
		// Sort positions of members by canonical order (insertion sort).
		var order [leanMaxMembers]uint8
		n := 0
		for i := range members {
			if members[i].Key == "__proto__" {
				*proto = true
				continue
			}
			j := n
			for j > 0 && canonicalKeyLess(members[i].Key, members[order[j-1]].Key) {
				order[j] = order[j-1]
				j--
			}
			order[j] = uint8(i)
			n++
		}
		dst = append(dst, '{')
		for j := range n {
			if j > 0 {
				dst = append(dst, ',')
			}
			m := &members[order[j]]
			dst = canon.AppendQuote(dst, m.Key)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = appendCanonicalValue(dst, m.Value, depth+1, proto); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	}
	return dst, false
}

// canonicalKeyLess orders member names canonically: array indices ("0", or
// digits without a leading zero up to 2^32-2) first, by value, then the other
// names by canon.CompareKeys.
func canonicalKeyLess(a, b string) bool {
	ia, aIndex := arrayIndexKey(a)
	ib, bIndex := arrayIndexKey(b)
	switch {
	case aIndex && bIndex:
		return ia < ib
	case aIndex != bIndex:
		return aIndex
	}
	return canon.CompareKeys(a, b) < 0
}

// arrayIndexKey reports whether k names an array index, and which.
func arrayIndexKey(k string) (uint64, bool) {
	if k == "" || len(k) > 10 || k[0] < '0' || k[0] > '9' || k[0] == '0' && len(k) > 1 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n <= 1<<32-2
}

// hasProto reports whether any object the caller supplied in opts (a metadata,
// config, custom or Extra object) has a member named "__proto__" at any
// depth. The typed members have fixed names, so only those objects can.
func hasProto(opts *BuildOptions) bool {
	objs := [...]*canon.Object{
		opts.Issuer.Metadata, opts.Issuer.Extra, opts.Beneficiary.Metadata, opts.Beneficiary.Extra,
	}
	for _, o := range objs {
		if o != nil && hasProtoMember(o) {
			return true
		}
	}
	for i := range opts.Obligations {
		if x := opts.Obligations[i].Extra; x != nil && hasProtoMember(x) {
			return true
		}
	}
	var more [9]*canon.Object
	if c := opts.Chain; c != nil {
		more[0] = c.Extra
	}
	if e := opts.Enforcement; e != nil {
		more[1], more[2] = e.Config, e.Extra
	}
	if p := opts.Proof; p != nil {
		more[3], more[4] = p.Config, p.Extra
	}
	if r := opts.Revocation; r != nil {
		more[5], more[6] = r.Config, r.Extra
	}
	if m := opts.Metadata; m != nil {
		more[7], more[8] = m.Custom, m.Extra
	}
	for _, o := range more {
		if o != nil && hasProtoMember(o) {
			return true
		}
	}
	return false
}
