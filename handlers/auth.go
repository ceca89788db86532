package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"syncserver/db"
	"syncserver/hawk"
)

// unauthorized is every Hawk failure: 401 with body 0 and the challenge
// header, as the legacy server answered. Firefox reacts to any storage 401 by fetching a new token, so the
// reason only goes to the debug log; it never names the token or its key.
func unauthorized(cause error, format string, args ...any) error {
	e := weaveError(http.StatusUnauthorized, codeUnknown, "hawk: "+format, args...)
	e.cause = cause
	return e.withHeader("WWW-Authenticate", "Hawk")
}

// authenticate checks the Hawk credentials of a storage request for the
// user uid of its path, except the payload hash and the nonce, which need
// the body (see checkPayloadAndReplay). expiredOK admits a token up to the
// configured grace past its expiry, for GET info/collections only.
//
// The MAC is computed over public_url's scheme, host and port and the
// client-visible request-target, never over the Host header: the web server
// in front may drop the port (Debian's nginx does) or strip the public_url
// path prefix, and the client signed what it sent, not what we received.
func (s *Server) authenticate(c *call, uid db.UID, expiredOK bool) (hawk.Auth, error) {
	st := s.storage
	h := c.req.Header.Get("Authorization")
	if h == "" {
		s.warnNoAuthorization(c)
		return hawk.Auth{}, unauthorized(nil, "no Authorization header")
	}
	a, err := hawk.ParseHeader(h)
	if errors.Is(err, hawk.ErrNotHawk) {
		return hawk.Auth{}, unauthorized(nil, "Authorization scheme %s is not Hawk", schemeName(h))
	}
	if err != nil {
		return hawk.Auth{}, unauthorized(err, "unreadable Authorization header")
	}
	if st.tokens == nil {
		return hawk.Auth{}, unauthorized(nil, "no token secrets configured")
	}
	p, key, err := st.tokens.Parse(a.ID)
	if err != nil {
		return hawk.Auth{}, unauthorized(err, "token not accepted")
	}
	pu := s.opts.PublicURL
	if node := strings.TrimSuffix(p.Node, "/"); node != st.node {
		return hawk.Auth{}, unauthorized(nil, "token is for node %q but public_url is %q", node, st.node)
	}
	if p.UID != int64(uid) {
		return hawk.Auth{}, unauthorized(nil, "token is for uid %d, path has uid %d", p.UID, uid)
	}
	if now := c.start.Unix(); p.Expires <= now {
		switch {
		case !expiredOK:
			return hawk.Auth{}, unauthorized(nil, "token expired %ds ago", now-p.Expires)
		case st.expiredGrace < 0 || now-p.Expires >= st.expiredGrace:
			return hawk.Auth{}, unauthorized(nil, "token expired %ds ago, more than the %ds info/collections allows", now-p.Expires, st.expiredGrace)
		}
	}
	r := hawk.Request{
		Method:   c.req.Method,
		Host:     pu.Host,
		Port:     pu.Port,
		Resource: c.clientResource(pu.Prefix),
	}
	if err := hawk.Verify([]byte(key), a, r); err != nil {
		s.explainSignedWithoutPrefix(c, key, a, r)
		return hawk.Auth{}, unauthorized(err, "MAC does not match %s %s on %s:%d (check public_url)", r.Method, r.Resource, r.Host, r.Port)
	}
	return a, nil
}

// checkPayloadAndReplay finishes authentication once the body is read: the
// payload hash when the client signed one (Firefox does not), then the
// nonce, last so that only requests that passed every other check use up
// room in the nonce cache.
func (s *Server) checkPayloadAndReplay(c *call, a hawk.Auth, body []byte) error {
	if err := hawk.VerifyPayload(a, c.req.Header.Get("Content-Type"), body); err != nil {
		return unauthorized(err, "body does not match the signed payload hash")
	}
	// The nonces are partitioned by user, so the uid comes from the token
	// again (a cache hit: authenticate parsed it). A replay can succeed
	// only while the token is accepted, so the nonce is kept no longer.
	st := s.storage
	p, _, err := st.tokens.Parse(a.ID)
	if err != nil {
		return unauthorized(err, "token not accepted")
	}
	until := p.Expires
	if c.route == storageRoutes[routeInfoCollections].name && c.req.Method == http.MethodGet {
		until += max(st.expiredGrace, 0) // the one request an expired token may make
	}
	err = st.nonces.Check(p.UID, a.ID, a.Nonce, a.TS, until, c.start)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hawk.ErrFull):
		// Not the client's fault, and no reason to sign it out.
		e := weaveError(http.StatusServiceUnavailable, codeUnknown, "hawk: nonce cache full of other users' nonces")
		e.cause = err
		return e.withHeader("Retry-After", strconv.Itoa(retryUnavailable))
	}
	return unauthorized(err, "%s (ts %d, server time %d)", replayReason(err), a.TS, c.start.Unix())
}

func replayReason(err error) string {
	switch {
	case errors.Is(err, hawk.ErrReplay):
		return "nonce already used with this token"
	case errors.Is(err, hawk.ErrStaleTimestamp):
		return "timestamp outside the allowed window"
	case errors.Is(err, hawk.ErrForgotten):
		return "timestamp not after a nonce forgotten after a flood of this user's requests"
	}
	return fmt.Sprint(err)
}

// schemeName names the scheme of an Authorization header for the log
// without echoing what may be a credential sent without a scheme.
func schemeName(h string) string {
	scheme, _, _ := strings.Cut(strings.TrimSpace(h), " ")
	for _, known := range []string{"Hawk", "Bearer", "BrowserID", "Basic", "Digest"} {
		if strings.EqualFold(scheme, known) {
			return strconv.Quote(scheme)
		}
	}
	return "(unrecognised)"
}
