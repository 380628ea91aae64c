package ticket

import "errors"

// Verdicts. Parse and Verify wrap these with detail; test with errors.Is.
var (
	// ErrMalformed: the text is not a canonical kido ticket (wrong length,
	// a character that is not a digit, an out-of-range value).
	ErrMalformed = errors.New("ticket: malformed")
	// ErrUnsupportedVersion: the text names a format version this code
	// does not know.
	ErrUnsupportedVersion = errors.New("ticket: unsupported format version")
	// ErrUnknownKey: no trusted key has the ticket's key id (for its event).
	ErrUnknownKey = errors.New("ticket: unknown signing key")
	// ErrKeyRevoked: the signing key was revoked, so none of its tickets
	// is valid.
	ErrKeyRevoked = errors.New("ticket: signing key revoked")
	// ErrKeyNotValid: the signing key is outside its validity window at the
	// time of verification.
	ErrKeyNotValid = errors.New("ticket: signing key not valid at this time")
	// ErrBadSignature: the signature does not match the ticket's contents.
	ErrBadSignature = errors.New("ticket: bad signature")
)
