package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"syncserver/db"
)

// retryBodyBuffer is the Retry-After of a request refused because the
// memory for request bodies stayed full: uploads take seconds, not minutes.
const retryBodyBuffer = 10

// errBodyBufferFull is the cause of a 503 for want of room in the body
// budget: the server sheds load as configured, it has not failed.
var errBodyBufferFull = errors.New("request bodies in memory at max_body_buffer_bytes")

// bodyStep is the first reservation for a body of unknown length; each
// later one doubles what the body holds, up to max_request_bytes.
const bodyStep = 64 << 10

// readBody reads the body of an authenticated request of uid. It reserves
// room in the body budget before it reads (the declared length at once, a
// body of unknown length as it grows), so no body is held in memory that
// the budget has not counted; the reservation lasts until the response is
// done. A body must be exactly as long as its Content-Length says and, when
// chunked, end with its last chunk: anything else means the client went
// away or is broken, and the request is refused with nothing written.
func (s *Server) readBody(ctx context.Context, c *call, uid db.UID) ([]byte, error) {
	limit := s.opts.Limits.MaxRequestBytes
	switch n := c.req.ContentLength; {
	case n > limit:
		return nil, errTooLarge
	case n >= 0:
		return s.readDeclared(ctx, c, uid, n)
	default:
		return s.readUnknown(ctx, c, uid, limit)
	}
}

// readDeclared reads a body of n declared bytes into a buffer of exactly
// that size.
func (s *Server) readDeclared(ctx context.Context, c *call, uid db.UID, n int64) ([]byte, error) {
	if err := s.reserveBody(ctx, c, uid, n); err != nil {
		return nil, err
	}
	body := make([]byte, n)
	got, err := io.ReadFull(c.req.Body, body)
	if err != nil {
		return nil, bodyReadError(err, int64(got), n)
	}
	// Nothing may follow: under FastCGI the web server's stream of the body
	// is not bounded by CONTENT_LENGTH.
	var one [1]byte
	k, err := io.ReadFull(c.req.Body, one[:])
	switch {
	case k > 0:
		return nil, weaveError(http.StatusBadRequest, codeIllegal, "body longer than its Content-Length of %d bytes", n)
	case err != io.EOF:
		return nil, bodyReadError(err, n, n)
	}
	return body, nil
}

// readUnknown reads a body whose length was not declared (chunked, or a
// FastCGI stream without CONTENT_LENGTH), reserving as it grows.
func (s *Server) readUnknown(ctx context.Context, c *call, uid db.UID, limit int64) ([]byte, error) {
	var body []byte
	for {
		if len(body) == cap(body) {
			grown := min(max(2*int64(cap(body)), bodyStep), limit+1)
			if err := s.reserveBody(ctx, c, uid, grown-int64(cap(body))); err != nil {
				return nil, err
			}
			// The old buffer is garbage from here on; the budget counts
			// the new one, which the old one is at most half of.
			body = append(make([]byte, 0, grown), body...)
		}
		k, err := c.req.Body.Read(body[len(body):cap(body)])
		body = body[:len(body)+k]
		if int64(len(body)) > limit {
			return nil, errTooLarge
		}
		switch {
		case err == io.EOF:
			return body, nil
		case err != nil:
			return nil, bodyReadError(err, int64(len(body)), -1)
		}
	}
}

// reserveBody reserves n more bytes of the body budget for c, waiting
// BodyBufferWait at most.
func (s *Server) reserveBody(ctx context.Context, c *call, uid db.UID, n int64) error {
	// What one user may hold bounds a single request too: a budget smaller
	// than max_request_bytes still lets the largest request in, alone.
	n = min(n, s.budget.perUser-c.bodyReserved)
	if n <= 0 {
		return nil
	}
	got, ok := s.budget.acquire(ctx, uid, n, s.opts.BodyBufferWait)
	if !ok {
		return (&apiError{
			status: http.StatusServiceUnavailable, code: codeUnknown,
			msg:   "waited " + s.opts.BodyBufferWait.String(),
			cause: errBodyBufferFull,
		}).withHeader("Retry-After", strconv.Itoa(retryBodyBuffer))
	}
	c.bodyUID = uid
	c.bodyReserved += got
	return nil
}

// releaseBody gives back what c reserved.
func (s *Server) releaseBody(c *call) {
	s.budget.release(c.bodyUID, c.bodyReserved)
	c.bodyReserved = 0
}

// bodyReadError is the 400 for a body that could not be read whole: got of
// want bytes arrived (want -1: length not declared).
func bodyReadError(err error, got, want int64) error {
	if want >= 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return weaveError(http.StatusBadRequest, codeIllegal, "body ended after %d of its %d bytes", got, want)
	}
	return weaveError(http.StatusBadRequest, codeIllegal, "reading body after %d bytes: %v", got, err)
}
