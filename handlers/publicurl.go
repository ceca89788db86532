package handlers

import (
	"net"
	"strconv"
	"strings"
)

// stripPrefix removes the public_url path prefix from a raw path when the
// web server did not strip it, so routes match either way.
func (s *Server) stripPrefix(rawPath string) string {
	p := s.opts.PublicURL.Prefix
	if p == "" {
		return rawPath
	}
	if rawPath == p {
		return "/"
	}
	if strings.HasPrefix(rawPath, p+"/") {
		return rawPath[len(p):]
	}
	return rawPath
}

// clientResource is the request-target as the client sent it, with the
// public_url prefix put back when the web server stripped it: what Hawk
// signed.
func (c *call) clientResource(prefix string) string {
	r := prefix + c.path
	if c.rawQuery != "" || strings.HasSuffix(c.req.RequestURI, "?") {
		r += "?" + c.rawQuery
	}
	return r
}

// requestScheme is the scheme the client used as far as the front-end can
// tell: TLS, FastCGI's HTTPS flag, or a trusted X-Forwarded-Proto.
func requestScheme(r *Request) string {
	if r.ForwardedProto != "" {
		return strings.ToLower(r.ForwardedProto)
	}
	if r.Scheme == "" {
		return "http"
	}
	return r.Scheme
}

// checkOrigin compares the scheme and host a request arrived with to
// public_url. Authentication always uses public_url's; a difference is
// reported once per distinct value, naming both and the fix, because it
// usually means the web server or proxy in front is set up differently
// from what public_url says and clients will get 401s.
func (s *Server) checkOrigin(c *call) {
	if s.opts.ForceWSGIEnviron {
		return
	}
	pu := s.opts.PublicURL
	scheme := requestScheme(c.req)
	host, port := splitHostPort(c.req.Host)
	var problem, fix string
	switch {
	case scheme != pu.Scheme:
		problem = "scheme " + scheme + " but public_url says " + pu.Scheme
		if c.req.UntrustedForwardedProto != "" {
			fix = "the request carried X-Forwarded-Proto: " + c.req.UntrustedForwardedProto +
				" from a peer not in forwarded_allow_ips; add the proxy's address to [server:main] forwarded_allow_ips (standalone HTTP), or pass the HTTPS flag (FastCGI: nginx fastcgi_param HTTPS, Apache sets it under mod_ssl)"
		} else {
			fix = "set public_url to the URL clients use, or have the proxy send X-Forwarded-Proto (standalone HTTP, from an address in forwarded_allow_ips) or the FastCGI HTTPS parameter"
		}
	case host != "" && !strings.EqualFold(host, pu.Host):
		problem = "host " + host + " but public_url says " + pu.Host
		fix = "set public_url to the URL clients use, or make the proxy forward the client's Host header"
	case port != 0 && port != pu.Port:
		problem = "port " + strconv.Itoa(port) + " but public_url says " + strconv.Itoa(pu.Port)
		fix = "set public_url to the URL clients use (including its port)"
	default:
		return
	}
	key := scheme + "://" + c.req.Host
	s.mismatchMu.Lock()
	seen := s.mismatchSeen[key]
	if !seen && len(s.mismatchSeen) < 64 {
		s.mismatchSeen[key] = true
	}
	s.mismatchMu.Unlock()
	if seen {
		return
	}
	s.log.Warn("request does not match public_url: "+problem+"; Hawk authentication uses public_url "+pu.String()+", so clients that used another URL will get 401; fix: "+fix,
		"public_url", pu.String(), "request_scheme", scheme, "request_host", c.req.Host)
}

// splitHostPort splits a Host header; port is 0 when absent.
func splitHostPort(hostport string) (string, int) {
	if hostport == "" {
		return "", 0
	}
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return strings.Trim(hostport, "[]"), 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// warnNoAuthorization explains a request that came without an
// Authorization header. Firefox always sends one, so when a Sync client's
// request lacks it, the web server in front dropped it: Apache withholds it
// from FastCGI programs unless "CGIPassAuth On". That advice is given only
// where it can be right, for a FastCGI request from Apache; elsewhere the
// warning says only that something in front drops the header. A request
// made by hand (curl on the README's check step) is expected to get 401: it
// gets one info line, without advice. Each is logged once per process.
func (s *Server) warnNoAuthorization(c *call) {
	if !fromSyncClient(c.req) {
		s.noAuthPlainOnce.Do(func() {
			s.log.Info("request without an Authorization header ("+c.req.Method+" "+c.path+") answered 401, as expected for a request without credentials (a check with curl); Firefox always sends one",
				logRoute, c.route, logRemote, c.req.RemoteAddr)
		})
		return
	}
	s.noAuthOnce.Do(func() {
		msg := "request from a Sync client without an Authorization header (" + c.req.Method + " " + c.path + "): Firefox always sends one, so the web server or proxy in front drops it"
		if c.req.FastCGI && strings.Contains(strings.ToLower(c.req.ServerSoftware), "apache") {
			msg += "; fix: Apache needs \"CGIPassAuth On\" in the <Location> that passes requests to syncserver over FastCGI (mod_proxy_fcgi, mod_fcgid)"
		}
		s.log.Warn(msg, logRoute, c.route, logRemote, c.req.RemoteAddr, "server_software", c.req.ServerSoftware)
	})
}

// fromSyncClient reports whether r looks like a Sync client's request, which
// always carries an Authorization header: a token request with the key
// headers Firefox sends, or a Firefox Sync User-Agent ("… FxSync/…",
// "Firefox-iOS-Sync/…", "Mobile-Android-Sync/… (Firefox…)").
func fromSyncClient(r *Request) bool {
	if r.Header.Get(headerKeyID) != "" || r.Header.Get(headerClientState) != "" {
		return true
	}
	ua := r.Header.Get("User-Agent")
	return strings.Contains(ua, "FxSync") || strings.Contains(ua, "Firefox")
}
