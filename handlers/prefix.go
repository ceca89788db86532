package handlers

import (
	"strings"

	"syncserver/hawk"
)

// A path prefix that public_url and the web server disagree on fails
// silently from the client's side: every request, heartbeat included, gets
// 404 with body 0 (a prefix public_url lacks), or every signature fails
// (a prefix the client did not use). The two checks below explain each
// distinct cause once in the log, naming public_url, the path seen and the
// setting that fixes it.

// explainUnknownPrefix is called for a request no route matched. When the
// path is a route after segments public_url does not have, e.g.
// /ff-sync/__heartbeat__ with public_url "https://host/", the web server
// passes requests under a location public_url lacks: say which public_url
// would match.
func (s *Server) explainUnknownPrefix(c *call, rawPath string) {
	if c.route != "unknown" {
		return // a route matched; its own 404 (no such record…) is not a path problem
	}
	segs := strings.Split(strings.Trim(c.path, "/"), "/")
	for i := 1; i < len(segs); i++ {
		if !isRoute(segs[i:]) {
			continue
		}
		pu := s.opts.PublicURL
		// The prefix the client used: public_url's, when the path had it,
		// then the segments before the route.
		under := "/" + strings.Join(segs[:i], "/")
		if len(c.path) != len(rawPath) {
			under = pu.Prefix + under
		}
		want := pu.Origin() + under + "/"
		if !s.firstReport("unknown-prefix " + under) {
			return
		}
		s.log.Warn("request path "+rawPath+" got 404: it is a syncserver route under "+under+"/, a path public_url "+pu.String()+"/ does not have (the web server passes requests under that location); "+
			"fix: set public_url = \""+want+"\" (the URL clients use, path included)",
			"public_url", pu.String()+"/", logPath, rawPath, "suggested_public_url", want)
		return
	}
}

// explainMissingPrefix is called for a tokenserver or storage request whose
// path lacks public_url's prefix. Under FastCGI the path is the one the
// client sent (REQUEST_URI is never stripped), so the client used another
// URL than public_url: Hawk signatures over that path fail with 401, and
// tokens send Firefox to public_url. Behind a proxy to the standalone
// server the proxy may have stripped the prefix legitimately, so only
// FastCGI requests are reported.
func (s *Server) explainMissingPrefix(c *call, rawPath string) {
	pu := s.opts.PublicURL
	if pu.Prefix == "" || len(c.path) != len(rawPath) || !c.req.FastCGI || (c.route != "token" && !strings.HasPrefix(c.route, "storage")) {
		return
	}
	if !s.firstReport("missing-prefix") {
		return
	}
	s.log.Warn("request path "+rawPath+" lacks the path "+pu.Prefix+"/ of public_url "+pu.String()+"/, and under FastCGI the web server passes the path the client used: "+
		"clients reach syncserver at another URL than public_url, so Hawk-signed requests get 401; "+
		"fix: if syncserver is served at the root of the host, set public_url = \""+pu.Origin()+"/\"; otherwise point Firefox at "+pu.String()+"/token/1.0/sync/1.5",
		"public_url", pu.String()+"/", logPath, rawPath)
}

// explainSignedWithoutPrefix is called when a storage request's MAC does
// not match over public_url's path. Whatever the front-end, a MAC that
// matches over the path without public_url's prefix proves the client
// signed the URL it used without that prefix: the same cause as
// explainMissingPrefix, found where the path alone cannot tell (a proxy
// may have stripped the prefix). It costs one more HMAC, on failures only.
func (s *Server) explainSignedWithoutPrefix(c *call, key string, a hawk.Auth, r hawk.Request) {
	pu := s.opts.PublicURL
	if pu.Prefix == "" {
		return
	}
	r.Resource = c.clientResource("")
	if hawk.Verify([]byte(key), a, r) != nil || !s.firstReport("missing-prefix") {
		return
	}
	s.log.Warn("storage request signed for path "+c.path+", without the path "+pu.Prefix+"/ of public_url "+pu.String()+"/: "+
		"clients reach syncserver at another URL than public_url, so Hawk-signed requests get 401; "+
		"fix: if syncserver is served at the root of the host, set public_url = \""+pu.Origin()+"/\"; otherwise point Firefox at "+pu.String()+"/token/1.0/sync/1.5",
		"public_url", pu.String()+"/", logPath, c.path)
}

// firstReport reports whether a log explanation keyed by key is due: once
// per key, for at most 64 keys, so that no client can flood the log.
func (s *Server) firstReport(key string) bool {
	s.mismatchMu.Lock()
	defer s.mismatchMu.Unlock()
	if s.mismatchSeen[key] || len(s.mismatchSeen) >= 64 {
		return false
	}
	s.mismatchSeen[key] = true
	return true
}

// isRoute reports whether segs, the path's segments, name an endpoint that
// only syncserver has: a service endpoint, the tokenserver, or storage
// with a numeric uid. It mirrors Server.route's patterns but leaves out "/"
// and the bare /token and /storage, which any web site may have.
func isRoute(segs []string) bool {
	if len(segs) == 2 && (segs[0] == "token" || segs[0] == "storage") && strings.HasPrefix(segs[1], "__") {
		segs = segs[1:]
	}
	switch {
	case len(segs) == 1:
		return segs[0] == "__heartbeat__" || segs[0] == "__lbheartbeat__" || segs[0] == "__version__"
	case len(segs) == 4 && segs[0] == "token" && segs[1] == "1.0":
		return true
	case len(segs) == 3 && segs[0] == "1.0" && segs[1] == "sync":
		return true
	case len(segs) >= 3 && segs[0] == "storage" && segs[1] == "1.5":
		_, ok := parseUIDSegment(segs[2])
		return ok
	case len(segs) >= 2 && segs[0] == "1.5":
		_, ok := parseUIDSegment(segs[1])
		return ok
	}
	return false
}
