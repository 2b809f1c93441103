package hookgate

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in ErrorStatus.
const (
	ENotFound        = "not_found"
	EWrongType       = "wrong_connection_type"
	EDisabled        = "webhooks_disabled"
	EMethod          = "method_not_allowed"
	ETooLarge        = "payload_too_large"
	EUnauthorized    = "unauthorized"
	EReplay          = "replay_rejected"
	EInvalid         = "invalid_request"
	EMalformed       = "malformed_payload"
	EConflict        = "conflict"
	EUnavailable     = "storage_unavailable"
	EInternal        = "internal"
	EForbidden       = "forbidden"
	EReadOnly        = "read_only"
	EAdminAuth       = "admin_unauthorized"
	EUnsupportedType = "unsupported_media_type"
	// EOverloaded: a shared ingress limit (bodies in flight, open
	// connections) is reached; the sender should retry later.
	EOverloaded = "overloaded"
	// EValidation: the body fails the JSON Schema of a route that
	// validates synchronously (SPEC §2 check 9).
	EValidation = "validation_failed"
)

// Error is hookgate's one error type: a machine code and a human message that
// is safe to show to a caller (it never contains a secret).
type Error struct {
	Code    string
	Message string
	Err     error // wrapped cause, never shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EInternal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the caller-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorStatus maps an error to its HTTP status code. This is the only place
// where error codes become status codes.
func ErrorStatus(err error) int {
	switch ErrorCode(err) {
	case ENotFound:
		return 404
	case EWrongType, EInvalid, EMalformed, EValidation:
		return 400
	case EUnauthorized, EAdminAuth:
		return 401
	case EForbidden, EReadOnly:
		return 403
	case EMethod:
		return 405
	case EReplay, EConflict:
		return 409
	case ETooLarge:
		return 413
	case EUnsupportedType:
		return 415
	case EDisabled, EUnavailable, EOverloaded:
		return 503
	}
	return 500
}

// ErrNotFound is returned by stores when a record does not exist.
var ErrNotFound = &Error{Code: ENotFound, Message: "not found"}
