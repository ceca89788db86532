package accounts

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// apiError is every failure a route answers: FxA's envelope
// {"code","errno","error","message"}. Firefox and the mobile library read
// errno, so the numbers follow FxA's tables (auth server for /v1/account…,
// OAuth server for the OAuth routes); message is for people.
type apiError struct {
	status  int
	errno   int
	reason  string // the "error" field: the HTTP reason phrase, as FxA sends
	message string
	// retryAfter (seconds) is sent as a body field on page-only routes
	// only: Firefox freezes every FxA call when it sees one.
	retryAfter int
	// cause is logged, never sent.
	cause error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d/%d %s: %v", e.status, e.errno, e.message, e.cause)
	}
	return fmt.Sprintf("%d/%d %s", e.status, e.errno, e.message)
}

func (e *apiError) Unwrap() error { return e.cause }

func newError(status, errno int, message string) *apiError {
	return &apiError{status: status, errno: errno, reason: http.StatusText(status), message: message}
}

// Account-route errors (FxA auth server errnos).
const (
	errnoAccountExists    = 101
	errnoUnknownAccount   = 102
	errnoIncorrectPW      = 103
	errnoInvalidJSON      = 106
	errnoInvalidParameter = 107
	errnoMissingParameter = 108
	errnoInvalidSignature = 109
	errnoInvalidToken     = 110
	errnoInvalidTimestamp = 111
	errnoTooManyRequests  = 114
	errnoInvalidNonce     = 115
	errnoUnknownDevice    = 123
	errnoDeviceConflict   = 124
	errnoRequestBlocked   = 125
	errnoServerError      = 999
)

// OAuth-route errors (FxA OAuth server errnos, all HTTP 400).
const (
	oauthUnknownClient    = 101
	oauthUnknownCode      = 105
	oauthMismatchedCode   = 106
	oauthExpiredCode      = 107
	oauthInvalidToken     = 108
	oauthInvalidParameter = 109
	oauthInvalidScopes    = 114
	oauthPKCEMismatch     = 117
	oauthPKCEMissing      = 118
)

func errInvalidJSON() *apiError {
	return newError(http.StatusBadRequest, errnoInvalidJSON, "Invalid JSON in request body")
}

func errInvalidParam(name string) *apiError {
	return newError(http.StatusBadRequest, errnoInvalidParameter, "Invalid parameter in request body: "+name)
}

func errMissingParam(name string) *apiError {
	return newError(http.StatusBadRequest, errnoMissingParameter, "Missing parameter in request body: "+name)
}

// errIncorrectPassword answers a wrong password and an unknown email alike,
// so that the page cannot be used to enumerate accounts.
func errIncorrectPassword() *apiError {
	return newError(http.StatusBadRequest, errnoIncorrectPW, "Incorrect email or password")
}

// errInvalidToken is only for dead or unknown tokens: Firefox moves to
// "reconnect" on it.
func errInvalidToken(cause error) *apiError {
	e := newError(http.StatusUnauthorized, errnoInvalidToken, "The authentication token could not be found")
	e.cause = cause
	return e
}

func errOAuth(errno int, message string) *apiError {
	return newError(http.StatusBadRequest, errno, message)
}

func errServer(cause error) *apiError {
	e := newError(http.StatusInternalServerError, errnoServerError, "Unspecified error")
	e.cause = cause
	return e
}

// asAPIError turns any handler error into the envelope: an *apiError as is,
// anything else a 500/999 whose cause is only logged.
func asAPIError(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	return errServer(err)
}

// body is the JSON envelope of e.
func (e *apiError) body() []byte {
	m := map[string]any{"code": e.status, "errno": e.errno, "error": e.reason, "message": e.message}
	if e.retryAfter > 0 {
		m["retryAfter"] = e.retryAfter
	}
	b, _ := json.Marshal(m)
	return b
}
