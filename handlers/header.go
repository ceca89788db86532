package handlers

import (
	"net/http"
	"strings"
)

// CleanHeader removes from a request's headers what is not a fact about the
// request itself: the hop-by-hop headers of RFC 9110 §7.6.1, which describe
// the client's connection to the front-end, Content-Length (it is
// Request.ContentLength) and Host (it is Request.Host). It also drops an
// empty Authorization: Apache's SetEnvIf/ProxyFCGISetEnvIf workarounds and
// some proxies send one for a client that sent none. Both adapters call it,
// so both front-ends hand the core the same Header.
func CleanHeader(h http.Header) {
	for _, k := range [...]string{
		"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Content-Length", "Host",
	} {
		delete(h, k)
	}
	if vs, ok := h["Authorization"]; ok {
		kept := vs[:0]
		for _, v := range vs {
			if strings.TrimSpace(v) != "" {
				kept = append(kept, v)
			}
		}
		if len(kept) == 0 {
			delete(h, "Authorization")
		} else {
			h["Authorization"] = kept
		}
	}
}

// SetSecurityHeaders adds the headers every response carries whatever it
// is: X-Content-Type-Options: nosniff, so that a browser never reads a
// JSON or plain-text answer (which may echo what a client sent) as HTML or
// script. The core adds them to each of its responses; the adapters call it
// for the few answers they make themselves (a request the core never saw,
// a last-resort 500).
func SetSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
}
