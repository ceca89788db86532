package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"syncserver/db"
)

// Weave error codes (Sync's "response codes") this server sends as bodies.
const (
	codeUnknown      = 0
	codeIllegal      = 1  // other parameter or header errors
	codeInvalidJSON  = 6  // unparsable JSON body
	codeInvalidBSO   = 8  // bad record or body structure
	codeOverQuota    = 14 // user over quota
	codeSizeExceeded = 17 // size limit exceeded
)

// Retry-After values, in seconds.
const (
	retryConflict    = 10
	retryUnavailable = 60
	// retryFull: space comes back only when an operator frees it, so
	// clients need not knock every minute.
	retryFull = 300
)

// apiError is an error with its row in the error table: the status and the
// Weave code sent as the body. msg and cause go to the log only.
type apiError struct {
	status int
	code   int
	header http.Header
	msg    string
	cause  error
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%d %d", e.status, e.code)
	if e.msg != "" {
		s += ": " + e.msg
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *apiError) Unwrap() error { return e.cause }

// weaveError makes a client error whose body is a bare Weave code.
func weaveError(status, code int, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// Errors shared by every endpoint.
var (
	errNotFound         = &apiError{status: http.StatusNotFound, code: codeUnknown, msg: "not found"}
	errMethodNotAllowed = &apiError{status: http.StatusMethodNotAllowed, code: codeUnknown, msg: "method not allowed"}
	errTooLarge         = &apiError{status: http.StatusRequestEntityTooLarge, code: codeSizeExceeded, msg: "request body too large"}
)

// withHeader returns a copy of e that also sets header k to v.
func (e *apiError) withHeader(k, v string) *apiError {
	c := *e
	c.header = c.header.Clone()
	if c.header == nil {
		c.header = make(http.Header)
	}
	c.header.Set(k, v)
	return &c
}

// tokenError is a tokenserver error: a JSON object with a status string and
// one error description, as the legacy tokenserver answers.
type tokenError struct {
	status      int
	Status      string
	Location    string
	Name        string
	Description string
	header      http.Header
	cause       error
}

func (e *tokenError) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.status, e.Status, e.Description)
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *tokenError) Unwrap() error { return e.cause }

// errorResponse is the one place that maps an error to what the client
// sees. Internal details never reach the body; the caller logs err.
func errorResponse(err error) *Response {
	var ae *apiError
	var te *tokenError
	switch {
	case errors.As(err, &te):
		body, _ := json.Marshal(map[string]any{
			"status": te.Status,
			"errors": []map[string]string{{
				"location":    te.Location,
				"name":        te.Name,
				"description": te.Description,
			}},
		})
		r := jsonResponse(te.status, body)
		copyHeader(r.Header, te.header)
		return r
	case errors.As(err, &ae):
		r := jsonResponse(ae.status, strconv.AppendInt(nil, int64(ae.code), 10))
		copyHeader(r.Header, ae.header)
		return r
	case errors.Is(err, db.ErrNotFound):
		return jsonResponse(http.StatusNotFound, []byte("0"))
	case errors.Is(err, db.ErrBatchNotFound):
		return jsonResponse(http.StatusBadRequest, []byte("0"))
	case errors.Is(err, db.ErrConflict):
		r := jsonResponse(http.StatusServiceUnavailable, []byte("0"))
		r.Header.Set("Retry-After", strconv.Itoa(retryConflict))
		return r
	case errors.Is(err, db.ErrFull):
		// The write was rolled back; reads still work, and writes do
		// again once the database has room.
		r := jsonResponse(http.StatusServiceUnavailable, []byte("0"))
		r.Header.Set("Retry-After", strconv.Itoa(retryFull))
		return r
	default:
		// db.ErrUnavailable, db.ErrSchemaTooNew and anything unexpected: the
		// client should come back later; the log has the detail.
		r := jsonResponse(http.StatusServiceUnavailable, []byte("0"))
		r.Header.Set("Retry-After", strconv.Itoa(retryUnavailable))
		return r
	}
}

// isClientError reports whether err is the client's fault, so it is logged
// at a lower level than server failures.
func isClientError(err error) bool {
	var ae *apiError
	var te *tokenError
	switch {
	case errors.As(err, &te):
		return te.status < 500
	case errors.As(err, &ae):
		return ae.status < 500
	case errors.Is(err, db.ErrNotFound), errors.Is(err, db.ErrBatchNotFound):
		return true
	}
	return false
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append([]string(nil), vs...)
	}
}
