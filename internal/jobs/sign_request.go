package jobs

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/keyring"
)

// signRequest is a SignRequest decoded for signing.
type signRequest struct {
	keyID string

	// build
	issuerID, issuerName, issuerKey                string
	beneficiaryID, beneficiaryKey, beneficiaryName string
	constraints                                    string
	expiresAt, activatesAt                         string
	metadata                                       *canon.Object
	obligations                                    []covenant.Obligation
	parentID, relation                             string
	nonce                                          [32]byte
	hasNonce                                       bool

	// countersign
	countersign, role string

	// createdAt of a build, timestamp of a countersignature
	createdAt        time.Time
	derivedCreatedAt bool
}

// storedID is the stored covenant the request needs: the one to countersign
// or the parent.
func (r *signRequest) storedID() string {
	if r.countersign != "" {
		return r.countersign
	}
	return r.parentID
}

// fill derives what the request left out: the nonce from the job ID and the
// item index, createdAt (or the countersignature's timestamp) from the
// message's stream timestamp.
func (r *signRequest) fill(jobID string, index int, msgTime time.Time) {
	if r.countersign == "" && !r.hasNonce {
		r.nonce = derivedNonce(jobID, index)
		r.hasNonce = true
	}
	if r.createdAt.IsZero() {
		r.createdAt = msgTime
		r.derivedCreatedAt = true
	}
	if r.role == "" {
		r.role = covenant.RoleAuditor
	}
	if r.relation == "" {
		r.relation = "delegates"
	}
}

// requestReader reads the members of a sign request object, keeping the
// first type error, which names the member.
type requestReader struct {
	o   *canon.Object
	pre string // member path prefix ("beneficiary.")
	err error
}

func (rr *requestReader) fail(name, format string, args ...any) {
	if rr.err == nil {
		rr.err = signErr(SignErrInvalidRequest, rr.pre+name+": "+fmt.Sprintf(format, args...))
	}
}

// str returns the string member name ("" when absent or null).
func (rr *requestReader) str(name string) string {
	v, ok := rr.o.Get(name)
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		rr.fail(name, "want a string, got %s", jsonType(v))
	}
	return s
}

// obj returns the object member name (nil when absent or null).
func (rr *requestReader) obj(name string) *canon.Object {
	v, ok := rr.o.Get(name)
	if !ok || v == nil {
		return nil
	}
	o, ok := v.(*canon.Object)
	if !ok {
		rr.fail(name, "want an object, got %s", jsonType(v))
	}
	return o
}

// arr returns the array member name (nil when absent or null).
func (rr *requestReader) arr(name string) []any {
	v, ok := rr.o.Get(name)
	if !ok || v == nil {
		return nil
	}
	a, ok := v.([]any)
	if !ok {
		rr.fail(name, "want an array, got %s", jsonType(v))
	}
	return a
}

// only fails on the first member of the object that is not one of names:
// a misspelt member ("expires" for "expiresAt") must not sign a covenant
// without what it meant, as the HTTP API refuses it too.
func (rr *requestReader) only(names ...string) {
	for _, m := range rr.o.Members() {
		if !slices.Contains(names, m.Key) {
			rr.fail(truncate(m.Key, 64), "unknown member (known: %s)", strings.Join(names, ", "))
			return
		}
	}
}

// instant checks that the string member name is a date-time and returns it
// and its instant.
func (rr *requestReader) instant(name string) (string, time.Time) {
	s := rr.str(name)
	if s == "" {
		return "", time.Time{}
	}
	t, ok := jstime.Parse(s)
	if !ok {
		rr.fail(name, "%q is not an ISO 8601 date-time", truncate(s, 64))
	}
	return s, t
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case *canon.Object:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// parseSignRequest decodes a SignRequest strictly: members are matched
// exactly, and an unknown member (of the request, issuer or beneficiary)
// or a member of the wrong type or form fails with invalid_request naming
// it. Size and nesting are limited. A countersign request ignores the
// members of a build request (see SignRequest).
func parseSignRequest(raw []byte) (signRequest, error) {
	var r signRequest
	v, err := canon.ParseLimits(raw, canon.Limits{MaxBytes: maxSignRequestBytes, MaxDepth: MaxSignRequestDepth})
	if err != nil {
		return r, signErr(SignErrInvalidRequest, "sign request is not valid JSON: "+err.Error())
	}
	o, ok := v.(*canon.Object)
	if !ok || o == nil {
		return r, signErr(SignErrInvalidRequest, "sign request is not a JSON object")
	}
	rr := &requestReader{o: o}
	rr.only("keyId", "issuer", "beneficiary", "constraints", "expiresAt", "activatesAt", "metadata",
		"obligations", "parentId", "relation", "nonce", "createdAt", "countersign", "role", "timestamp")
	r.keyID = rr.str("keyId")
	if rr.err == nil {
		if r.keyID == "" {
			rr.fail("keyId", "required")
		} else if err := keyring.CheckID(r.keyID); err != nil {
			rr.fail("keyId", "invalid key ID %q (1 to %d characters of A-Z a-z 0-9 . _ -)", truncate(r.keyID, 80), keyring.MaxIDLen)
		}
	}

	r.countersign = rr.str("countersign")
	if r.countersign != "" {
		r.role = rr.str("role")
		_, r.createdAt = rr.instant("timestamp")
		if len(r.countersign) > 256 {
			rr.fail("countersign", "longer than 256 bytes")
		}
		return r, rr.err
	}

	if iss := rr.obj("issuer"); iss != nil {
		ir := &requestReader{o: iss, pre: "issuer."}
		ir.only("id", "name", "publicKey")
		r.issuerID = ir.str("id")
		r.issuerName = ir.str("name")
		// The issuer's key is the keyring's; a request may repeat it
		// (checked against the key when signing) but never choose it.
		r.issuerKey = strings.ToLower(ir.str("publicKey"))
		if rr.err == nil {
			rr.err = ir.err
		}
	}
	if ben := rr.obj("beneficiary"); ben != nil {
		br := &requestReader{o: ben, pre: "beneficiary."}
		br.only("id", "publicKey", "name")
		r.beneficiaryID = br.str("id")
		r.beneficiaryName = br.str("name")
		pk := br.str("publicKey")
		switch {
		case br.err != nil:
		case r.beneficiaryID == "":
			br.fail("id", "required")
		case pk == "":
			br.fail("publicKey", "required")
		default:
			if _, err := keys.ParsePublicKeyHex(pk); err != nil {
				br.fail("publicKey", "want 64 hex digits (an Ed25519 public key)")
			}
			r.beneficiaryKey = strings.ToLower(pk)
		}
		if rr.err == nil {
			rr.err = br.err
		}
	} else if rr.err == nil {
		rr.fail("beneficiary", "required")
	}
	r.constraints = rr.str("constraints")
	if rr.err == nil && ccl.IsBlank(r.constraints) {
		rr.fail("constraints", "required (CCL text, e.g. permit read on '/data/**')")
	}
	r.expiresAt, _ = rr.instant("expiresAt")
	r.activatesAt, _ = rr.instant("activatesAt")
	r.metadata = rr.obj("metadata")
	for i, e := range rr.arr("obligations") {
		eo, ok := e.(*canon.Object)
		if !ok || eo == nil {
			rr.fail(fmt.Sprintf("obligations[%d]", i), "want an object, got %s", jsonType(e))
			break
		}
		or := &requestReader{o: eo, pre: fmt.Sprintf("obligations[%d].", i)}
		ob := covenant.Obligation{ID: or.str("id"), Description: or.str("description"), Action: or.str("action"),
			Deadline: or.str("deadline"), Extra: eo}
		for _, m := range []struct{ name, val string }{{"id", ob.ID}, {"description", ob.Description}, {"action", ob.Action}} {
			if m.val == "" {
				or.fail(m.name, "required")
			}
		}
		if or.err != nil {
			if rr.err == nil {
				rr.err = or.err
			}
			break
		}
		r.obligations = append(r.obligations, ob)
	}
	r.parentID = rr.str("parentId")
	r.relation = rr.str("relation")
	if len(r.parentID) > 256 {
		rr.fail("parentId", "longer than 256 bytes")
	}
	if r.relation != "" && r.parentID == "" {
		rr.fail("relation", "given without parentId")
	}
	if nonce := rr.str("nonce"); nonce != "" {
		b, err := keys.DecodeHex(nonce)
		if err != nil || len(b) != 32 {
			rr.fail("nonce", "want 64 hex digits")
		} else {
			copy(r.nonce[:], b)
			r.hasNonce = true
		}
	}
	_, r.createdAt = rr.instant("createdAt")
	return r, rr.err
}
