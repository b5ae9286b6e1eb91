package covenant

import (
	"math"
	"regexp"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/jstime"
)

// SchemaError is one structural problem: Path is the dotted member path
// ("" for the document itself), Value the offending value (nil when absent).
type SchemaError struct {
	Path    string
	Message string
	Value   any
}

// SchemaResult lists every structural problem found; Valid when none.
type SchemaResult struct {
	Valid  bool
	Errors []SchemaError
}

// These patterns are constant; Go's \d, like JavaScript's, is ASCII only.
var (
	versionPattern = regexp.MustCompile(`^\d+\.\d+$`)
	iso8601Pattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})$`)
)

func isNonEmptyString(v any) bool { s, ok := v.(string); return ok && s != "" }

func isHex64(v any) bool { s, ok := v.(string); return ok && len(s) == 64 && isHex(s) }

func isISO8601(v any) bool {
	s, ok := v.(string)
	if !ok || !iso8601Pattern.MatchString(s) {
		return false
	}
	_, ok = jstime.Parse(s)
	return ok
}

// ValidateSchema checks the structure of a covenant given as a decoded JSON
// value (typically doc.Object(), or canon.Parse output before Parse is
// attempted) and returns every problem, as the reference's
// validateDocumentSchema does (§3.10). It checks no signature or hash.
func ValidateSchema(v any) SchemaResult {
	doc, ok := v.(*canon.Object)
	if !ok || doc == nil {
		return SchemaResult{Errors: []SchemaError{{Path: "", Message: "document must be an object", Value: v}}}
	}
	var errs []SchemaError
	get := func(k string) any { x, _ := doc.Get(k); return x }

	if id := get("id"); !isNonEmptyString(id) {
		errs = append(errs, SchemaError{"id", "must be a non-empty string", id})
	}
	switch ver := get("version").(type) {
	case string:
		if !versionPattern.MatchString(ver) {
			errs = append(errs, SchemaError{"version", `must match pattern "X.Y" (e.g. "1.0")`, ver})
		}
	default:
		errs = append(errs, SchemaError{"version", "must be a string", ver})
	}
	errs = append(errs, ValidatePartySchema(get("issuer"), "issuer")...)
	errs = append(errs, ValidatePartySchema(get("beneficiary"), "beneficiary")...)
	errs = append(errs, ValidateConstraintsSchema(get("constraints"))...)
	if n := get("nonce"); !isHex64(n) {
		errs = append(errs, SchemaError{"nonce", "must be a 64-character hex string", n})
	}
	if c := get("createdAt"); !isISO8601(c) {
		errs = append(errs, SchemaError{"createdAt", "must be a valid ISO 8601 datetime string", c})
	}
	if s := get("signature"); !isNonEmptyString(s) || !isHex(s.(string)) {
		errs = append(errs, SchemaError{"signature", "must be a non-empty hex string", s})
	}
	if c, ok := doc.Get("chain"); ok {
		errs = append(errs, ValidateChainSchema(c)...)
	}
	for _, k := range [...]string{"expiresAt", "activatesAt"} {
		if t, ok := doc.Get(k); ok && !isISO8601(t) {
			errs = append(errs, SchemaError{k, "must be a valid ISO 8601 datetime string", t})
		}
	}
	if m, ok := doc.Get("metadata"); ok {
		if o, isObj := m.(*canon.Object); !isObj || o == nil {
			errs = append(errs, SchemaError{"metadata", "must be an object", m})
		}
	}
	if cs, ok := doc.Get("countersignatures"); ok {
		if _, isArr := cs.([]any); !isArr {
			errs = append(errs, SchemaError{"countersignatures", "must be an array", cs})
		}
	}
	return SchemaResult{Valid: len(errs) == 0, Errors: errs}
}

// ValidateSchema is ValidateSchema(d.Object()).
func (d *Document) ValidateSchema() SchemaResult { return ValidateSchema(d.object()) }

// ValidatePartySchema checks a party: an object with a non-empty string id,
// a 64-digit hex publicKey and a non-empty string role (any role). path
// prefixes the error paths.
func ValidatePartySchema(v any, path string) []SchemaError {
	p, ok := v.(*canon.Object)
	if !ok || p == nil {
		return []SchemaError{{path, "must be an object", v}}
	}
	var errs []SchemaError
	get := func(k string) any { x, _ := p.Get(k); return x }
	if id := get("id"); !isNonEmptyString(id) {
		errs = append(errs, SchemaError{path + ".id", "must be a non-empty string", id})
	}
	if k := get("publicKey"); !isHex64(k) {
		errs = append(errs, SchemaError{path + ".publicKey", "must be a 64-character hex string", k})
	}
	if r := get("role"); !isNonEmptyString(r) {
		errs = append(errs, SchemaError{path + ".role", "must be a non-empty string", r})
	}
	return errs
}

// ValidateConstraintsSchema checks that constraints is a string that is not
// blank (JavaScript trim).
func ValidateConstraintsSchema(v any) []SchemaError {
	s, ok := v.(string)
	switch {
	case !ok:
		return []SchemaError{{"constraints", "must be a string", v}}
	case isBlank(s):
		return []SchemaError{{"constraints", "must be a non-empty string", v}}
	}
	return nil
}

// ValidateChainSchema checks a chain reference: an object with non-empty
// string parentId and relation and an integer depth of at least 1.
func ValidateChainSchema(v any) []SchemaError {
	c, ok := v.(*canon.Object)
	if !ok || c == nil {
		return []SchemaError{{"chain", "must be an object", v}}
	}
	var errs []SchemaError
	get := func(k string) any { x, _ := c.Get(k); return x }
	if p := get("parentId"); !isNonEmptyString(p) {
		errs = append(errs, SchemaError{"chain.parentId", "must be a non-empty string", p})
	}
	if r := get("relation"); !isNonEmptyString(r) {
		errs = append(errs, SchemaError{"chain.relation", "must be a non-empty string", r})
	}
	d, isNum := get("depth").(float64)
	if !isNum || math.IsInf(d, 0) || d != math.Trunc(d) || d < 1 {
		errs = append(errs, SchemaError{"chain.depth", "must be a positive integer", get("depth")})
	}
	return errs
}
