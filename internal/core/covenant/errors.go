package covenant

import "errors"

// Sentinel errors, matched with errors.Is.
var (
	// ErrMalformedDocument matches every error Parse and FromObject return.
	ErrMalformedDocument = errors.New("covenant: malformed document")
	// ErrInvalidJSON: the text is not JSON (or exceeds the nesting limit).
	ErrInvalidJSON = errors.New("covenant: invalid JSON")
	// ErrNotObject: the JSON value is not an object.
	ErrNotObject = errors.New("covenant: document is not a JSON object")
	// ErrMissingField: a required member is absent or has the wrong type.
	ErrMissingField = errors.New("covenant: missing or invalid required field")
	// ErrInvalidParty: issuer or beneficiary lacks a string id or publicKey,
	// or has the wrong role.
	ErrInvalidParty = errors.New("covenant: invalid party")
	// ErrUnsupportedVersion: version is not ProtocolVersion.
	ErrUnsupportedVersion = errors.New("covenant: unsupported protocol version")
	// ErrInvalidChain: chain is not an object with string parentId and
	// relation and a numeric depth.
	ErrInvalidChain = errors.New("covenant: invalid chain reference")
	// ErrTooLarge: the document exceeds MaxDocumentSize.
	ErrTooLarge = errors.New("covenant: document too large")

	// ErrInvalidBuild matches every *BuildError.
	ErrInvalidBuild = errors.New("covenant: invalid build input")
	// ErrKeyMismatch: the signing key is not the key issuer.publicKey names.
	ErrKeyMismatch = errors.New("covenant: signing key does not match issuer.publicKey")

	// ErrInvalidInput: a nil document, a negative depth or a similar misuse.
	ErrInvalidInput = errors.New("covenant: invalid input")
	// ErrInvalidOption: an option passed to NewVerifier is invalid.
	ErrInvalidOption = errors.New("covenant: invalid option")
	// ErrNotFound is what a Resolver returns for an unknown ID.
	ErrNotFound = errors.New("covenant: document not found")
)

// ParseError is returned by Parse and FromObject. Message is the reference
// implementation's message for the same failure (for example
// "Missing or invalid required field: nonce"). It matches ErrMalformedDocument
// and Kind with errors.Is, and unwraps to the underlying cause, if any.
type ParseError struct {
	Kind    error  // one of the Err* sentinels above
	Message string // the reference's message
	Err     error  // underlying cause (for example the JSON syntax error), may be nil
}

func (e *ParseError) Error() string { return "covenant: " + e.Message }

// Is reports whether target is ErrMalformedDocument or e.Kind.
func (e *ParseError) Is(target error) bool {
	return target == ErrMalformedDocument || (e.Kind != nil && target == e.Kind)
}

func (e *ParseError) Unwrap() error { return e.Err }

// BuildError is returned by Build and SigningKey: Field names the offending
// input as the reference's CovenantBuildError does ("issuer.id",
// "constraints", "chain.depth", "privateKey", "document", …) and Message is
// its message. It matches ErrInvalidBuild (and Kind, when set) with
// errors.Is, and unwraps to the underlying cause, if any (for example a
// *ccl.SyntaxError).
type BuildError struct {
	Field   string
	Message string
	Kind    error // optional more specific sentinel, e.g. ErrKeyMismatch
	Err     error // underlying cause, may be nil
}

func (e *BuildError) Error() string { return "covenant: build: " + e.Message }

// Is reports whether target is ErrInvalidBuild or e.Kind.
func (e *BuildError) Is(target error) bool {
	return target == ErrInvalidBuild || (e.Kind != nil && target == e.Kind)
}

func (e *BuildError) Unwrap() error { return e.Err }

func buildErr(field, msg string) *BuildError { return &BuildError{Field: field, Message: msg} }
