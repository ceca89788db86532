package accounts

import (
	"net/http"

	"syncserver/handlers"
)

// pageCSP allows the page's own script, style and images and nothing
// else: no inline script, no framing, no form posts (spec §6.2).
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// servePage serves a file of the sign-in page. The query (state,
// code_challenge, keys_jwk) stays in the browser: no-referrer, and it is
// never logged.
func (s *Service) servePage(c *call) *handlers.Response {
	if c.req.Method != http.MethodGet && c.req.Method != http.MethodHead {
		r := s.errorResponse(c, newError(http.StatusMethodNotAllowed, errnoInvalidParameter, "Method not allowed"))
		r.Header.Set("Allow", "GET, HEAD")
		return r
	}
	body, ct, ok := s.assets(c.path)
	if !ok {
		return s.errorResponse(c, newError(http.StatusNotFound, errnoInvalidParameter, "Not found"))
	}
	r := &handlers.Response{Status: http.StatusOK, Header: make(http.Header), Body: body}
	s.commonHeaders(r.Header, c.start)
	r.Header.Set("Content-Type", ct)
	r.Header.Set("Content-Security-Policy", pageCSP)
	r.Header.Set("X-Frame-Options", "DENY")
	r.Header.Set("Referrer-Policy", "no-referrer")
	if c.req.Method == http.MethodHead {
		r.Body = nil
	}
	return r
}
