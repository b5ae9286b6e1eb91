package covenant

import "github.com/stele-go/stele/internal/core/canon"

// Validity is a document's expiresAt or activatesAt member read as the
// reference's not_expired and active checks read it (§3.6): a member that is
// absent or falsy (null, "", 0, false) sets no bound; any other value is
// passed to new Date(…), so a number is milliseconds since the epoch, true is
// 1 ms, an array or object goes through String() and a string through the
// date parser (jstime.Parse). A value that is no valid date is a bound that
// is always violated.
//
// Anything that decides by a covenant's validity period (evaluation as well
// as verification) must read it through here, so that both agree on which
// covenants have expired: Document.ExpiresAt and ActivatesAt return only
// string members.
type Validity struct {
	// Set is true when the member is present and truthy.
	Set bool
	// Valid is true when the value is a valid date, at Millis (ms since the
	// Unix epoch).
	Valid  bool
	Millis int64
	value  any
}

// Raw returns the member as the check messages write it (String(value)), or
// "" when it is not set.
func (v Validity) Raw() string {
	if !v.Set {
		return ""
	}
	return canon.JSString(v.value)
}

// ExpiredAt reports whether an expiresAt bound makes the document expired at
// nowMs: not_expired passes only when nowMs < expiresAt.
func (v Validity) ExpiredAt(nowMs int64) bool {
	return v.Set && !(v.Valid && nowMs < v.Millis)
}

// PendingAt reports whether an activatesAt bound makes the document not yet
// active at nowMs: active passes only when nowMs >= activatesAt.
func (v Validity) PendingAt(nowMs int64) bool {
	return v.Set && !(v.Valid && nowMs >= v.Millis)
}

// Expiry returns the document's expiresAt bound.
func (d *Document) Expiry() Validity { return validityOf(d.object(), "expiresAt") }

// Activation returns the document's activatesAt bound.
func (d *Document) Activation() Validity { return validityOf(d.object(), "activatesAt") }

func validityOf(o *canon.Object, key string) Validity {
	v, ok := o.Get(key)
	if !ok || !truthy(v) {
		return Validity{}
	}
	ms, valid := jsDate(v)
	return Validity{Set: true, Valid: valid, Millis: ms, value: v}
}
