// Package fxatest is a stand-in for Firefox Accounts (FxA) in tests: an
// httptest server on loopback that publishes signing keys, mints JWT and
// opaque access tokens for the accounts a test defines, verifies them as
// FxA's OAuth server does, and answers what Firefox itself asks of FxA
// (devices, profile, attached clients). Tests can rotate its keys (or sign with a
// key it does not publish yet), forge tokens, make any endpoint fail or
// stall, and count requests. Nothing here reaches the internet.
package fxatest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// OldSyncScope is the scope of Sync 1.5 access tokens.
const OldSyncScope = "https://identity.mozilla.com/apps/oldsync"

// DefaultClientID is Firefox desktop's OAuth client id.
const DefaultClientID = "5882386c6d801776"

// Endpoint paths, for Fail, Stall and Hits.
const (
	PathDiscovery       = "/.well-known/fxa-client-configuration"
	PathJWKS            = "/v1/jwks"
	PathVerify          = "/v1/verify"
	PathOAuthToken      = "/v1/oauth/token"
	PathDevice          = "/v1/account/device"
	PathDevices         = "/v1/account/devices"
	PathDeviceCommands  = "/v1/account/device/commands"
	PathDevicesNotify   = "/v1/account/devices/notify"
	PathAttachedClients = "/v1/account/attached_clients"
	PathProfile         = "/profile/v1/profile"
	PathOAuthDestroy    = "/v1/oauth/destroy"
	PathSessionDestroy  = "/v1/session/destroy"
	PathConfig          = "/config"
)

// defaultTokenLifetime is how long access tokens live unless a test or
// Firefox's ttl says otherwise.
const defaultTokenLifetime = time.Hour

// Server is the FxA stand-in. Its methods are safe for concurrent use.
type Server struct {
	// URL is the stand-in's root (http://127.0.0.1:port): the identity
	// provider, the auth server (URL/v1) and the OAuth server at once.
	URL    string
	srv    *httptest.Server
	closed chan struct{} // closed by Close, so stalls end
	once   sync.Once

	mu             sync.Mutex
	now            func() time.Time
	accounts       map[string]*Account // by UID
	keys           []signingKey        // published; the last one signs
	staged         *signingKey         // when set, signs but is not published yet
	tokens         map[string]grant    // every access token minted
	failures       map[string]failure
	stalls         map[string]time.Duration
	hits           map[string]int
	devices        map[string][]device // by account UID
	tokenServerURL string
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

type failure struct{ status, errno int }

// New starts a stand-in on a loopback port with one signing key; it is
// closed when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		closed:   make(chan struct{}),
		now:      time.Now,
		accounts: make(map[string]*Account),
		tokens:   make(map[string]grant),
		failures: make(map[string]failure),
		stalls:   make(map[string]time.Duration),
		hits:     make(map[string]int),
		devices:  make(map[string][]device),
	}
	s.keys = []signingKey{{kid: "20260101-" + randomHex(4), priv: firstKey()}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("fxatest: listen on loopback: %v", err)
	}
	s.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(s.serveHTTP)}}
	s.srv.Start()
	s.URL = s.srv.URL
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server; requests in progress are abandoned.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// IdentityProvider is the value of identity_provider for this stand-in.
func (s *Server) IdentityProvider() string { return s.URL }

// OAuthURL is the stand-in's OAuth server, normalised (ending in /v1).
func (s *Server) OAuthURL() string { return s.URL + "/v1" }

// Issuer is the email domain of the stand-in's users: the host and port of
// its auth server, as discovery reports it.
func (s *Server) Issuer() string { return strings.TrimPrefix(s.URL, "http://") }

// SetClock replaces the clock used for tokens' iat/exp and answers.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetTokenServerURL sets sync_tokenserver_base_url in the discovery
// document.
func (s *Server) SetTokenServerURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenServerURL = u
}

// SetAccount adds an account or replaces the one with the same UID: set a
// higher Generation for a password change, a new KB and higher
// KeysChangedAt for a reset. Tokens minted before keep what they said.
func (s *Server) SetAccount(a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.KB = append([]byte(nil), a.KB...)
	s.accounts[a.UID] = &a
}

// Account returns the account with this UID.
func (s *Server) Account(uid string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[uid]
	if !ok {
		return Account{}, false
	}
	return *a, true
}

// firstKey is the initial signing key of every stand-in of the test
// binary (each under its own kid): generating a 2048-bit RSA key costs a
// tenth of a second, more under the race detector, and most tests start
// several stand-ins. RotateKey always makes a fresh one.
var firstKey = sync.OnceValue(func() *rsa.PrivateKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("fxatest: " + err.Error())
	}
	return priv
})

// RotateKey makes a new signing key, publishes it next to the old ones and
// signs with it from now on. It returns the new kid.
func (s *Server) RotateKey() string {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("fxatest: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kid := "20260101-" + randomHex(4)
	s.staged = nil
	s.keys = append(s.keys, signingKey{kid: kid, priv: priv})
	return kid
}

// StageKey makes a new signing key and signs with it from now on, but
// leaves it out of /v1/jwks until PublishKeys: what a verifier sees when
// FxA's key set reaches it later than tokens signed with the new key (a
// cache in between). /v1/verify knows those tokens. It returns the kid.
func (s *Server) StageKey() string {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("fxatest: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staged = &signingKey{kid: "20260101-" + randomHex(4), priv: priv}
	return s.staged.kid
}

// PublishKeys publishes the key StageKey made, next to the others.
func (s *Server) PublishKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.staged != nil {
		s.keys = append(s.keys, *s.staged)
		s.staged = nil
	}
}

// signingKeyLocked is the key that signs new tokens.
func (s *Server) signingKeyLocked() signingKey {
	if s.staged != nil {
		return *s.staged
	}
	return s.keys[len(s.keys)-1]
}

// RetireOldKeys stops publishing every key but the current one, as FxA does
// some time after a rotation.
func (s *Server) RetireOldKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = s.keys[len(s.keys)-1:]
}

// KID is the kid of the current signing key.
func (s *Server) KID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signingKeyLocked().kid
}

// JWKS is the published key set as JSON, for configuring a verifier
// statically (offline).
func (s *Server) JWKS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(s.jwksLocked())
	return string(b)
}

// Fail makes every request to path answer status with an FxA error body
// carrying errno (0 picks one that fits the status). Status 0 clears it.
func (s *Server) Fail(path string, status, errno int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.failures, path)
		return
	}
	s.failures[path] = failure{status: status, errno: errno}
}

// Stall delays every answer on path by d (0 clears it), or until the
// client gives up, to test timeouts.
func (s *Server) Stall(path string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.stalls, path)
		return
	}
	s.stalls[path] = d
}

// Hits is how many requests reached path (query excluded), failed and
// stalled ones included.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// serveHTTP counts, applies the stall and failure a test set, then routes.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	s.mu.Lock()
	s.hits[path]++
	stall, fail := s.stalls[path], s.failures[path]
	s.mu.Unlock()
	if stall > 0 {
		t := time.NewTimer(stall)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.closed:
			t.Stop()
			return
		}
	}
	if fail.status != 0 {
		writeError(w, fail.status, fail.errno, "failure set by the test")
		return
	}
	switch {
	case path == PathDiscovery && r.Method == http.MethodGet:
		s.serveDiscovery(w)
	case path == PathConfig && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"browserid": map[string]any{"issuer": s.Issuer()}})
	case path == PathJWKS && r.Method == http.MethodGet:
		s.mu.Lock()
		set := s.jwksLocked()
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, set)
	case path == PathVerify && r.Method == http.MethodPost:
		s.serveVerify(w, r)
	case path == PathOAuthToken && r.Method == http.MethodPost:
		s.serveOAuthToken(w, r)
	case path == PathDevice && r.Method == http.MethodPost:
		s.serveDeviceRegister(w, r)
	case path == PathDevices && r.Method == http.MethodGet:
		s.serveDevices(w, r)
	case path == PathDeviceCommands && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"index": 0, "last": true, "messages": []any{}})
	case path == PathDevicesNotify && r.Method == http.MethodPost:
		writeJSON(w, http.StatusOK, map[string]any{})
	case path == PathAttachedClients && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, []any{})
	case path == PathProfile && r.Method == http.MethodGet:
		s.serveProfile(w, r)
	case (path == PathOAuthDestroy || path == PathSessionDestroy) && r.Method == http.MethodPost:
		// Firefox drops its cached access token after a tokenserver 401,
		// and its session when it signs in again; nothing to forget here.
		writeJSON(w, http.StatusOK, map[string]any{})
	default:
		writeError(w, http.StatusNotFound, 0, "unknown endpoint")
	}
}

func (s *Server) serveDiscovery(w http.ResponseWriter) {
	s.mu.Lock()
	ts := s.tokenServerURL
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"auth_server_base_url":      s.URL,
		"oauth_server_base_url":     s.URL,
		"profile_server_base_url":   s.URL + "/profile",
		"sync_tokenserver_base_url": ts,
		"pairing_server_base_uri":   "",
	})
}

// errnos FxA uses for the statuses a test is likely to set.
func defaultErrno(status int) int {
	switch status {
	case http.StatusBadRequest:
		return 108 // invalid token
	case http.StatusUnauthorized:
		return 110 // invalid authentication token
	case http.StatusNotFound:
		return 116 // endpoint not supported
	case http.StatusTooManyRequests:
		return 114 // client has sent too many requests
	case http.StatusServiceUnavailable:
		return 201 // service unavailable
	}
	return 999 // unexpected error
}

// writeError writes FxA's error body.
func writeError(w http.ResponseWriter, status, errno int, msg string) {
	if errno == 0 {
		errno = defaultErrno(status)
	}
	writeJSON(w, status, map[string]any{
		"code":    status,
		"errno":   errno,
		"error":   http.StatusText(status),
		"message": msg,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":500,"errno":999}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}
