package handlers

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// clientStateRE is the legacy X-Client-State format.
var clientStateRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,32}$`)

// Canonical names of the tokenserver's request headers. Firefox sends
// "X-KeyId"; header names are case-insensitive.
var (
	headerKeyID       = http.CanonicalHeaderKey("X-KeyID")
	headerClientState = http.CanonicalHeaderKey("X-Client-State")
)

// tokenCredentials are the request's credentials once their format is
// checked: the access token, and the client state headers to be checked
// once the token is verified.
type tokenCredentials struct {
	accessToken    string
	clientState    string // X-Client-State, "" when absent
	hasClientState bool
	keyID          string
	hasKeyID       bool
}

// tokenRequestCredentials checks X-Client-State's format, then the
// Authorization header, in the legacy validators' order.
func (s *Server) tokenRequestCredentials(c *call) (tokenCredentials, error) {
	h := c.req.Header
	var cred tokenCredentials
	if v, ok := h[headerClientState]; ok && len(v) > 0 {
		cred.clientState, cred.hasClientState = v[0], true
		if cred.clientState != "" && !clientStateRE.MatchString(cred.clientState) {
			return cred, errInvalidClientStateValue.because(fmt.Errorf("X-Client-State %.40q", cred.clientState))
		}
	}
	if v, ok := h[headerKeyID]; ok && len(v) > 0 {
		cred.keyID, cred.hasKeyID = v[0], true
	}
	authz := h.Get("Authorization")
	if authz == "" {
		s.warnNoAuthorization(c)
	}
	scheme, credential, ok := splitAuthorization(authz)
	if !ok {
		return cred, errNoCredentials
	}
	switch strings.ToLower(scheme) {
	case "bearer":
		cred.accessToken = credential
		return cred, nil
	case "browserid":
		s.log.Warn("tokenserver: refused a BrowserID assertion: the client is too old; BrowserID is retired (Mozilla stopped signing certificates in 2024) and Firefox 88 and later sign in with OAuth, so the client must be updated",
			logAgent, c.req.Header.Get("User-Agent"), logRemote, c.req.RemoteAddr)
		return cred, errUnsupported.because(errors.New("BrowserID is retired"))
	}
	return cred, errUnsupportedScheme.because(fmt.Errorf("authorization scheme %.20q", scheme))
}

// splitAuthorization splits "<scheme> <credential>" at the first run of
// whitespace, as Python's str.split(None, 1) did; ok is false when either
// part is missing.
func splitAuthorization(h string) (scheme, credential string, ok bool) {
	h = strings.TrimSpace(h)
	i := strings.IndexAny(h, " \t")
	if i < 0 {
		return "", "", false
	}
	scheme, credential = h[:i], strings.TrimLeft(h[i:], " \t")
	return scheme, credential, scheme != "" && credential != ""
}

// keyState returns the client state and keys_changed_at the request
// claims: from X-KeyID ("<keys_changed_at>-<client state, base64url>") when present, cross-checked with
// X-Client-State; otherwise X-Client-State (or "") and 0. The client state
// must be hex, since tokens carry it decoded in fxa_kid.
func (cred tokenCredentials) keyState() (string, int64, error) {
	if !cred.hasKeyID {
		if !isHex(cred.clientState) {
			return "", 0, errInvalidClientStateValue.because(fmt.Errorf("X-Client-State %.40q is not hex", cred.clientState))
		}
		return cred.clientState, 0, nil
	}
	kca, cs, err := parseKeyID(cred.keyID)
	if err != nil {
		return "", 0, errInvalidCredentials.because(err)
	}
	if len(cs) == 0 || len(cs) > 32 {
		return "", 0, errInvalidClientStateValue.because(fmt.Errorf("X-KeyID hash of %d bytes", len(cs)/2))
	}
	if cred.hasClientState && cred.clientState != cs {
		return "", 0, errClientStateMismatch.because(errors.New("X-Client-State differs from X-KeyID"))
	}
	return cs, kca, nil
}

// parseKeyID reads "<keys_changed_at>-<base64url(client state bytes)>",
// split at the first "-", padding optional; the client state is returned
// as lower-case hex.
func parseKeyID(kid string) (int64, string, error) {
	ts, b64, ok := strings.Cut(kid, "-")
	if !ok {
		return 0, "", fmt.Errorf("X-KeyID %.60q has no '-'", kid)
	}
	kca, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("X-KeyID %.60q: keys_changed_at is not an integer", kid)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(b64, "="))
	if err != nil {
		return 0, "", fmt.Errorf("X-KeyID %.60q: client state is not base64url", kid)
	}
	return kca, hex.EncodeToString(raw), nil
}

// isHex reports whether s is whole bytes of hex ("" is: no client state).
func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
