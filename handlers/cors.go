package handlers

import (
	"net/http"
	"strings"
)

// CORS headers, as the current upstream (syncstorage-rs) answers them.
const (
	corsMethods = "GET, POST, PUT, DELETE, OPTIONS"
	corsHeaders = "Authorization, Content-Type, Accept, X-If-Modified-Since, X-If-Unmodified-Since, " +
		"X-Weave-Records, X-Weave-Bytes, X-Weave-Total-Records, X-Weave-Total-Bytes, X-KeyID, X-Client-State, X-Confirm-Delete"
	corsExpose = "X-Weave-Timestamp, X-Last-Modified, X-Weave-Records, X-Weave-Next-Offset, " +
		"X-Weave-Quota-Remaining, X-Weave-Backoff, X-Backoff, Retry-After, X-Timestamp"
	corsMaxAge = "1728000"
)

// allowedOrigin returns the value for Access-Control-Allow-Origin, or "".
func (s *Server) allowedOrigin(origin string) string {
	if origin == "" {
		return ""
	}
	list := s.opts.CORSAllowedOrigins
	if len(list) == 0 {
		return origin
	}
	for _, o := range list {
		if o == "*" || strings.EqualFold(o, origin) {
			return origin
		}
	}
	return ""
}

// preflight answers a CORS preflight on any route, without authentication.
func (s *Server) preflight(c *call) *Response {
	resp := newResponse(http.StatusNoContent)
	if o := s.allowedOrigin(c.req.Header.Get("Origin")); o != "" {
		resp.Header.Set("Access-Control-Allow-Methods", corsMethods)
		resp.Header.Set("Access-Control-Allow-Headers", corsHeaders)
		resp.Header.Set("Access-Control-Max-Age", corsMaxAge)
	}
	return resp
}

// addCORS marks responses to allowed cross-origin requests.
func (s *Server) addCORS(c *call, resp *Response) {
	o := s.allowedOrigin(c.req.Header.Get("Origin"))
	if o == "" {
		return
	}
	resp.Header.Set("Access-Control-Allow-Origin", o)
	resp.Header.Add("Vary", "Origin")
	if c.req.Method != http.MethodOptions {
		resp.Header.Set("Access-Control-Expose-Headers", corsExpose)
	}
}
