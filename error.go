package sluice

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in internal/api.
const (
	EINVALID      = "invalid"            // 400: the request is malformed or fails validation
	EUNAUTHORIZED = "unauthorized"       // 401: no or unknown credentials
	EFORBIDDEN    = "forbidden"          // 403: credentials lack the role for this action
	ENOTFOUND     = "not_found"          // 404: no such resource for this tenant
	ECONFLICT     = "conflict"           // 409: the resource's state forbids the change
	EGONE         = "gone"               // 410: the resource existed but its data is gone
	ETOOLARGE     = "too_large"          // 413: the request body is over the limit
	ERATELIMITED  = "rate_limited"       // 429: slow down
	EMETHOD       = "method_not_allowed" // 405: the path exists, not with this method
	ELOOP         = "loop_detected"      // 508: the event has passed through too many gateways
	EUNAVAILABLE  = "unavailable"        // 503: the database cannot answer now; the message says what became of the request
	EINTERNAL     = "internal"           // 500: anything else; the message carries no detail
)

// Error is an error a user may see: a code and a message safe to show.
// Any other error reaching a user is reported as EINTERNAL without detail.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err: the *Error's message, or
// a generic text for internal errors so no detail leaks.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "internal error"
}
