// Package handlers is the protocol core of syncserver: routing, authentication,
// limits, error formatting and the tokenserver and SyncStorage endpoints. It
// knows nothing about the transport; the fcgi and httpd adapters copy request
// facts into a Request and copy the Response back, so both front-ends behave
// the same by construction.
package handlers

import (
	"context"
	"io"
	"net/http"
)

// Request is everything the core needs to know about one HTTP request, as the
// front-end received it. Adapters fill it; nothing in it is interpreted yet.
type Request struct {
	// Method is the request method, upper case.
	Method string
	// Scheme is "https" when the front-end knows the client used TLS (a TLS
	// connection, the FastCGI HTTPS/REQUEST_SCHEME parameters, or a trusted
	// X-Forwarded-Proto on the standalone server), else "http".
	Scheme string
	// Host is the Host header as received (may lack the port, may be empty).
	Host string
	// RequestURI is the raw request-target: the escaped path exactly as the
	// client sent it, plus "?" and the raw query when there is one. Hawk signs
	// these bytes, so adapters must not decode or normalise them.
	RequestURI string
	// Header holds the request headers with canonical keys.
	Header http.Header
	// RemoteAddr is the peer address as the front-end reports it.
	RemoteAddr string
	// ContentLength is the declared body length, or -1 when unknown.
	ContentLength int64
	// Body is the request body; never nil (use http.NoBody).
	Body io.Reader
	// ForwardedProto is the X-Forwarded-Proto value when the adapter trusts
	// the peer that sent it, else "". Set only by the standalone HTTP server.
	ForwardedProto string
	// UntrustedForwardedProto is an X-Forwarded-Proto value the adapter saw
	// but did not trust; the core only logs it to explain a mismatch.
	UntrustedForwardedProto string
	// FastCGI is true when the request came over FastCGI. RequestURI is
	// then the web server's REQUEST_URI: the target the client sent, never
	// one with a location's prefix stripped, so a path that lacks
	// public_url's prefix is one the client used.
	FastCGI bool
	// ServerSoftware is the web server in front as FastCGI's SERVER_SOFTWARE
	// names it ("nginx/1.22.1", "Apache/2.4.62 (Debian)"); "" on the
	// standalone HTTP server, where a proxy in front is invisible. The core
	// only uses it to give advice that fits the web server in its logs.
	ServerSoftware string
}

// Response is what the core answers. Adapters copy it out verbatim.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// newResponse makes an empty response with the given status.
func newResponse(status int) *Response {
	return &Response{Status: status, Header: make(http.Header)}
}

// jsonResponse makes a response with a JSON body that is already encoded.
func jsonResponse(status int, body []byte) *Response {
	r := newResponse(status)
	r.Header.Set("Content-Type", "application/json")
	r.Body = body
	return r
}

// textResponse makes a plain-text response.
func textResponse(status int, body string) *Response {
	r := newResponse(status)
	r.Header.Set("Content-Type", "text/plain; charset=utf-8")
	r.Body = []byte(body)
	return r
}

// Handler answers protocol-neutral requests. *Server implements it; the
// adapters take any Handler so their tests can use small fakes.
type Handler interface {
	Serve(ctx context.Context, r *Request) *Response
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *Request) *Response

// Serve calls f.
func (f HandlerFunc) Serve(ctx context.Context, r *Request) *Response { return f(ctx, r) }
