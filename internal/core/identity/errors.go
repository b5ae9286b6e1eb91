package identity

import "errors"

// ErrInvalid reports an identity, option set or serialised document that is
// not acceptable (reference code STELE_E600, IDENTITY_INVALID). Every error
// returned by Create, Evolve and Deserialize wraps it, except key errors from
// the keys package, which are wrapped as they are.
var ErrInvalid = errors.New("identity: invalid (STELE_E600)")
