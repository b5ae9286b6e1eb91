package keys

import "errors"

// Sentinel errors; test for them with errors.Is. The reference's error codes
// are noted for mapping at API boundaries.
var (
	// ErrInvalidHex reports a string that is not valid hex: odd length or a
	// character outside [0-9a-fA-F]. Reference code STELE_E900.
	ErrInvalidHex = errors.New("keys: invalid hex")
	// ErrKeySize reports key material of the wrong length. Reference code
	// STELE_E901.
	ErrKeySize = errors.New("keys: invalid key size")
	// ErrKeyMismatch reports a 64-byte private key whose public half is not
	// the public key of its seed half.
	ErrKeyMismatch = errors.New("keys: public half of private key does not match its seed")
	// ErrRandom reports a failure of the system's random number generator
	// or an invalid request for random bytes.
	ErrRandom = errors.New("keys: random generation failed")
)
