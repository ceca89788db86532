package httpd

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"

	"syncserver/handlers"
)

// trustList is the parsed Options.ForwardedAllowIPs.
type trustList struct {
	any      bool
	prefixes []netip.Prefix
}

// parseTrustList accepts IPs, CIDRs and "*", like gunicorn's
// forwarded_allow_ips (entries may also be comma-separated).
func parseTrustList(entries []string) (trustList, error) {
	var t trustList
	for _, e := range entries {
		for _, f := range strings.Split(e, ",") {
			f = strings.TrimSpace(f)
			switch {
			case f == "":
			case f == "*":
				t.any = true
			case strings.Contains(f, "/"):
				p, err := netip.ParsePrefix(f)
				if err != nil {
					return t, fmt.Errorf("httpd: forwarded_allow_ips entry %q: %w", f, err)
				}
				t.prefixes = append(t.prefixes, p.Masked())
			default:
				a, err := netip.ParseAddr(f)
				if err != nil {
					return t, fmt.Errorf("httpd: forwarded_allow_ips entry %q: %w", f, err)
				}
				a = a.Unmap()
				t.prefixes = append(t.prefixes, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	return t, nil
}

// trusts reports whether the peer at addr may tell us the client's scheme.
// A unix-socket peer is a local proxy and always trusted, as under gunicorn.
func (t trustList) trusts(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		_, unix := addr.(*net.UnixAddr)
		return unix
	}
	if t.any {
		return true
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// buildRequest copies the facts of ctx into a handlers.Request. The body is
// read by the core while the handler runs, at most maxBytes+1 bytes of it.
func buildRequest(ctx *fasthttp.RequestCtx, trust trustList, maxBytes int64) *handlers.Request {
	rh := &ctx.Request.Header
	// One backing array for the values, and the names Firefox sends
	// without a copy: a poll's request costs a few allocations, not two
	// per header.
	n := rh.Len()
	h := make(http.Header, n)
	vals := make([]string, 0, n)
	for k, v := range rh.All() {
		key := headerKey(k)
		vals = append(vals, string(v))
		if old, ok := h[key]; ok {
			h[key] = append(old, vals[len(vals)-1])
		} else {
			h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
	handlers.CleanHeader(h)

	req := &handlers.Request{
		Method:     string(rh.Method()),
		Scheme:     "http",
		Host:       string(rh.Host()),
		RequestURI: string(rh.RequestURI()), // raw; ctx.URI() would normalise
		Header:     h,
		RemoteAddr: ctx.RemoteAddr().String(),
	}
	// An absolute-form target ("GET http://host/path") names the host itself
	// (RFC 9112 §3.2.2); the core, like FastCGI's REQUEST_URI, gets origin-form.
	if host, rest, ok := cutAbsoluteForm(req.RequestURI); ok {
		req.Host, req.RequestURI = host, rest
	}
	if ctx.IsTLS() {
		req.Scheme = "https"
	}
	if xfp := h.Get("X-Forwarded-Proto"); xfp != "" {
		proto := strings.ToLower(strings.TrimSpace(strings.Split(xfp, ",")[0]))
		if trust.trusts(ctx.RemoteAddr()) && (proto == "https" || proto == "http") {
			req.ForwardedProto = proto
			if !ctx.IsTLS() {
				req.Scheme = proto
			}
		} else {
			req.UntrustedForwardedProto = xfp
		}
	}

	switch n := rh.ContentLength(); {
	case n >= 0:
		req.ContentLength = int64(n)
	case n == -1: // chunked: the length is not known before reading
		req.ContentLength = -1
	default: // -2: no body at all
		req.ContentLength = 0
	}
	req.Body = requestBody(ctx, maxBytes)
	return req
}

// headerKey is the canonical form of a header name. The names of a
// Firefox request are constants here: converting the bytes in a switch
// allocates nothing.
func headerKey(k []byte) string {
	switch string(k) {
	case "Authorization":
		return "Authorization"
	case "Host":
		return "Host"
	case "User-Agent":
		return "User-Agent"
	case "Accept":
		return "Accept"
	case "Accept-Encoding":
		return "Accept-Encoding"
	case "Accept-Language":
		return "Accept-Language"
	case "Connection":
		return "Connection"
	case "Content-Type":
		return "Content-Type"
	case "Content-Length":
		return "Content-Length"
	case "X-If-Modified-Since":
		return "X-If-Modified-Since"
	case "X-If-Unmodified-Since":
		return "X-If-Unmodified-Since"
	case "Origin":
		return "Origin"
	}
	return http.CanonicalHeaderKey(string(k))
}

// requestBody returns the body limited to maxBytes+1 bytes. The server runs
// with StreamRequestBody, so a body is read from the connection only as the
// core reads it: a client that sends 1 GB gets the core's 413 after
// maxBytes+1 bytes, and fasthttp then drains or closes the connection.
func requestBody(ctx *fasthttp.RequestCtx, maxBytes int64) io.Reader {
	if s := ctx.RequestBodyStream(); s != nil {
		return io.LimitReader(s, maxBytes+1)
	}
	b := ctx.Request.Body()
	if len(b) == 0 {
		return http.NoBody
	}
	return io.LimitReader(bytes.NewReader(b), maxBytes+1)
}

// cutAbsoluteForm splits "scheme://authority/path?q" into authority and
// origin-form target.
func cutAbsoluteForm(target string) (host, rest string, ok bool) {
	i := strings.Index(target, "://")
	if i <= 0 || strings.ContainsAny(target[:i], "/?#") {
		return "", "", false
	}
	scheme := strings.ToLower(target[:i])
	if scheme != "http" && scheme != "https" {
		return "", "", false
	}
	hostAndRest := target[i+3:]
	j := strings.IndexAny(hostAndRest, "/?#")
	if j < 0 {
		return hostAndRest, "/", true
	}
	rest = hostAndRest[j:]
	if rest[0] != '/' {
		rest = "/" + rest
	}
	return hostAndRest[:j], rest, true
}

// writeResponse copies resp into ctx: status, headers (every value of every
// key), body. A nil response or an impossible status is a bug in the core; it
// becomes a bare 500.
func writeResponse(ctx *fasthttp.RequestCtx, resp *handlers.Response) {
	if resp == nil || resp.Status < 100 || resp.Status > 999 {
		resp = &handlers.Response{Status: http.StatusInternalServerError, Header: make(http.Header)}
		handlers.SetSecurityHeaders(resp.Header)
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(resp.Status)
	for k, vs := range resp.Header {
		if transportHeader(k) {
			continue
		}
		// A 304 has no body to describe; net/http/fcgi drops Content-Type
		// there too, so both front-ends answer alike.
		if resp.Status == http.StatusNotModified && http.CanonicalHeaderKey(k) == "Content-Type" {
			continue
		}
		for _, v := range vs {
			ctx.Response.Header.Add(k, v)
		}
	}
	// SetBodyRaw does not copy: the core does not touch the slice again.
	ctx.Response.SetBodyRaw(resp.Body)
}

// transportHeader reports response headers that belong to the transport:
// fasthttp computes the framing from the body and manages the connection.
func transportHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive":
		return true
	}
	return false
}
