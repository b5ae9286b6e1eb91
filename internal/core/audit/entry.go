package audit

import (
	"crypto/subtle"
	"fmt"
	"math"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/keys"
)

// GenesisHash is the previousHash of the first entry of a log, and the Merkle
// root of an empty log.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Outcome is what happened to an action.
type Outcome string

// Outcomes. A Monitor records EXECUTED or DENIED; IMPOSSIBLE belongs to
// capability gates.
const (
	Executed   Outcome = "EXECUTED"
	Denied     Outcome = "DENIED"
	Impossible Outcome = "IMPOSSIBLE"
)

// Rule identifies the CCL statement that decided an action.
type Rule struct {
	Type     ccl.StatementType
	Action   string
	Resource string
	Severity string
	Line     int
}

// RuleOf summarises s; nil gives nil.
func RuleOf(s *ccl.Statement) *Rule {
	if s == nil {
		return nil
	}
	return &Rule{Type: s.Type, Action: s.Action, Resource: s.Resource, Severity: s.Severity, Line: s.Line}
}

// Result is the decision recorded in an entry. Only Permitted, Reason and
// Severity are hashed; an empty Reason or Severity is absent from the hash
// (a default deny has no severity).
type Result struct {
	Permitted   bool
	Reason      string
	Severity    string
	MatchedRule *Rule // nil on default deny; not hashed
}

// Entry is one record of a Monitor's audit log.
type Entry struct {
	Index     int
	Timestamp string // ISO-8601 with milliseconds, as the reference writes it
	Action    string
	Resource  string
	// Context is the evaluation context; nil is hashed as {}.
	Context *canon.Object
	Result  Result
	Outcome Outcome
	// Error is the message of the handler's error for an action run by
	// Execute that failed; nil when absent.
	Error        *string
	PreviousHash string
	Hash         string
}

// Clone returns a deep copy of e.
func (e Entry) Clone() Entry {
	e.Context = canon.CloneObject(e.Context)
	if e.Result.MatchedRule != nil {
		r := *e.Result.MatchedRule
		e.Result.MatchedRule = &r
	}
	if e.Error != nil {
		s := *e.Error
		e.Error = &s
	}
	return e
}

// object returns the entry as an object. With stored false it holds exactly
// the members the entry hash covers; with stored true it adds what storage
// keeps besides (result.matchedRule and hash), in storage's member order.
func (e *Entry) object(stored bool) *canon.Object {
	res := canon.NewObject(4)
	res.Set("permitted", e.Result.Permitted)
	if r := e.Result.MatchedRule; stored && r != nil {
		ro := canon.NewObject(5)
		ro.Set("type", string(r.Type))
		ro.Set("action", r.Action)
		ro.Set("resource", r.Resource)
		ro.Set("severity", r.Severity)
		ro.Set("line", float64(r.Line))
		res.Set("matchedRule", ro)
	}
	if e.Result.Reason != "" {
		res.Set("reason", e.Result.Reason)
	}
	if e.Result.Severity != "" {
		res.Set("severity", e.Result.Severity)
	}
	o := canon.NewObject(10)
	o.Set("index", float64(e.Index))
	o.Set("timestamp", e.Timestamp)
	o.Set("action", e.Action)
	o.Set("resource", e.Resource)
	o.Set("context", contextOrEmpty(e.Context))
	o.Set("result", res)
	o.Set("outcome", string(e.Outcome))
	o.Set("previousHash", e.PreviousHash)
	if stored {
		o.Set("hash", e.Hash)
	}
	if e.Error != nil {
		o.Set("error", *e.Error)
	}
	return o
}

func contextOrEmpty(c *canon.Object) *canon.Object {
	if c == nil {
		return canon.NewObject(0)
	}
	return c
}

// ComputeHash returns the hash of e (computeEntryHash, §6.2). It ignores
// e.Hash and e.Result.MatchedRule.
func (e *Entry) ComputeHash() string {
	return keys.SHA256Hex(canon.Canonical(e.object(false)))
}

// Seal sets e.Hash to e.ComputeHash() and returns e.
func (e Entry) Seal() Entry {
	e.Hash = e.ComputeHash()
	return e
}

// AppendJSON appends the entry as plain JSON, for storage: {index, timestamp,
// action, resource, context, result: {permitted, matchedRule?, reason?,
// severity?}, outcome, previousHash, hash, error?}. ParseEntry reads it back.
func (e *Entry) AppendJSON(dst []byte) []byte {
	return canon.AppendJSON(dst, e.object(true))
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (e Entry) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// UnmarshalJSON implements json.Unmarshaler with ParseEntry.
func (e *Entry) UnmarshalJSON(data []byte) error {
	v, err := ParseEntry(data)
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// ParseEntry reads an entry written by AppendJSON, within canon's default
// limits. It checks the shape of the entry, not its hash.
func ParseEntry(data []byte) (Entry, error) {
	v, err := canon.Parse(data)
	if err != nil {
		return Entry{}, fmt.Errorf("parse audit entry: %w: %w", ErrInvalidInput, err)
	}
	o, ok := v.(*canon.Object)
	if !ok || o == nil {
		return Entry{}, fmt.Errorf("parse audit entry: not a JSON object: %w", ErrInvalidInput)
	}
	return entryFromObject(o)
}

func entryFromObject(o *canon.Object) (Entry, error) {
	var e Entry
	var err error
	bad := func(name, want string) error {
		return fmt.Errorf("parse audit entry: %q must be %s: %w", name, want, ErrInvalidInput)
	}
	if e.Index, err = intMember(o, "index"); err != nil {
		return Entry{}, err
	}
	strs := []struct {
		name string
		dst  *string
	}{
		{"timestamp", &e.Timestamp}, {"action", &e.Action}, {"resource", &e.Resource},
		{"previousHash", &e.PreviousHash}, {"hash", &e.Hash},
	}
	for _, s := range strs {
		v, ok := o.String(s.name)
		if !ok {
			return Entry{}, bad(s.name, "a string")
		}
		*s.dst = v
	}
	out, ok := o.String("outcome")
	if !ok {
		return Entry{}, bad("outcome", "a string")
	}
	e.Outcome = Outcome(out)
	if e.Context, ok = o.Object("context"); !ok {
		return Entry{}, bad("context", "an object")
	}
	if v, present := o.Get("error"); present {
		s, ok := v.(string)
		if !ok {
			return Entry{}, bad("error", "a string when present")
		}
		e.Error = &s
	}
	res, ok := o.Object("result")
	if !ok {
		return Entry{}, bad("result", "an object")
	}
	p, _ := res.Get("permitted")
	if e.Result.Permitted, ok = p.(bool); !ok {
		return Entry{}, bad("result.permitted", "a boolean")
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"reason", &e.Result.Reason}, {"severity", &e.Result.Severity}} {
		if v, present := res.Get(s.name); present {
			if *s.dst, ok = v.(string); !ok {
				return Entry{}, bad("result."+s.name, "a string when present")
			}
		}
	}
	if v, present := res.Get("matchedRule"); present {
		ro, ok := v.(*canon.Object)
		if !ok || ro == nil {
			return Entry{}, bad("result.matchedRule", "an object when present")
		}
		r := &Rule{}
		var typ string
		for _, s := range []struct {
			name string
			dst  *string
		}{{"type", &typ}, {"action", &r.Action}, {"resource", &r.Resource}, {"severity", &r.Severity}} {
			if *s.dst, ok = ro.String(s.name); !ok {
				return Entry{}, bad("result.matchedRule."+s.name, "a string")
			}
		}
		r.Type = ccl.StatementType(typ)
		if r.Line, err = intMember(ro, "line"); err != nil {
			return Entry{}, err
		}
		e.Result.MatchedRule = r
	}
	return e, nil
}

// intMember reads a non-negative integral number that fits an int exactly.
func intMember(o *canon.Object, name string) (int, error) {
	v, _ := o.Get(name)
	f, ok := v.(float64)
	if !ok || f < 0 || f != math.Trunc(f) || f > 1<<53 {
		return 0, fmt.Errorf("parse audit entry: %q must be a non-negative integer: %w", name, ErrInvalidInput)
	}
	return int(f), nil
}

// equalHash compares hashes in constant time.
func equalHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
