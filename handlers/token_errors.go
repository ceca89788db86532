package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"syncserver/db"
)

// The tokenserver's rows of the error table (the legacy tokenserver's
// answers): a status, the cornice-style status string and one error
// description. Values shared here are never modified; because copies them
// to attach a cause for the log.
var (
	errUnsupportedApplication = &tokenError{status: http.StatusNotFound, Status: "error",
		Location: "url", Name: "application", Description: "Unsupported application"}
	errInvalidClientStateValue = &tokenError{status: http.StatusBadRequest, Status: "error",
		Location: "header", Name: "X-Client-State", Description: "Invalid client state value"}
	// errNoCredentials: no Authorization header, or no credential after
	// the scheme.
	errNoCredentials = unauthorizedToken("error")
	// errUnsupportedScheme: neither Bearer nor BrowserID. The legacy
	// tokenserver challenged with BrowserID here, and only here.
	errUnsupportedScheme = &tokenError{status: http.StatusUnauthorized, Status: "error",
		Location: "body", Description: "Unsupported",
		header: http.Header{"Www-Authenticate": {"BrowserID"}}}
	// errUnsupported: a scheme the legacy server knew but this one does
	// not verify (BrowserID, or Bearer with no verifier configured).
	errUnsupported = &tokenError{status: http.StatusUnauthorized, Status: "error",
		Location: "body", Description: "Unsupported"}
	// errTokenUnavailable: FxA, the database or the configuration cannot
	// serve the request now; the client comes back after Retry-After
	// instead of signing its user out.
	errTokenUnavailable = &tokenError{status: http.StatusServiceUnavailable, Status: "error",
		Location: "body", Description: "Resource is not available",
		header: http.Header{"Retry-After": {strconv.Itoa(retryUnavailable)}}}
	errInvalidCredentials = unauthorizedToken("invalid-credentials")
	errInvalidGeneration  = unauthorizedToken("invalid-generation")
	errInvalidKCA         = unauthorizedToken("invalid-keysChangedAt")
	errNewUsersDisabled   = unauthorizedToken("new-users-disabled")
	// errClientStateMismatch: X-Client-State differs from X-KeyID's.
	errClientStateMismatch = unauthorizedToken("invalid-client-state")
)

// unauthorizedToken is the legacy _unauthorized(status): 401 with location
// body, an empty name and "Unauthorized".
func unauthorizedToken(status string) *tokenError {
	return &tokenError{status: http.StatusUnauthorized, Status: status, Location: "body", Description: "Unauthorized"}
}

// errUnsupportedVersion names the version itself, as the legacy server did.
func errUnsupportedVersion(version string) *tokenError {
	return &tokenError{status: http.StatusNotFound, Status: "error",
		Location: "url", Name: version, Description: "Unsupported application version"}
}

// errUnacceptableClientState is a refused change of client state (the
// client-state rule of tokenUser); reason is the legacy text ("stale value", …).
func errUnacceptableClientState(reason string) *tokenError {
	return &tokenError{status: http.StatusUnauthorized, Status: "invalid-client-state",
		Location: "header", Name: "X-Client-State", Description: "Unacceptable client-state value " + reason}
}

// because returns a copy of e that carries cause for the log.
func (e *tokenError) because(cause error) *tokenError {
	c := *e
	c.cause = cause
	return &c
}

// tokenDBError is a database failure on the tokenserver path: 503 with the
// tokenserver's JSON body (not the storage's bare 0), and the short
// Retry-After of a conflict when a concurrent writer won.
func tokenDBError(err error) error {
	e := errTokenUnavailable.because(err)
	if errors.Is(err, db.ErrConflict) {
		e.header = http.Header{"Retry-After": {strconv.Itoa(retryConflict)}}
	}
	return e
}
