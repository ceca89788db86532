// Package fxa verifies the OAuth access tokens Firefox Accounts (FxA) issues,
// so the tokenserver can trade one for storage credentials. JWT access tokens are checked
// locally against the OAuth server's published keys; anything else — and a
// JWT whose kid none of those keys has, even after fetching them again
// (at most once a second) — is asked of the OAuth server's /v1/verify
// endpoint, as PyFxA does for the legacy tokenserver.
//
// Every failure is one of three kinds, matched with errors.Is: ErrRejected
// (FxA or the signature says no: the client must sign in again),
// ErrUnavailable (FxA could not be asked: the client should come back later,
// because an FxA outage must not sign users out), and ErrInvalidGeneration.
// The package imports only the standard library.
package fxa

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Sentinel errors of Verify, Resolve and Discover. Each error returned
// matches exactly one of them.
var (
	// ErrRejected: the token is not acceptable (bad signature, expired,
	// wrong scope or type, or the OAuth server answered 4xx).
	ErrRejected = errors.New("fxa: token rejected")
	// ErrUnavailable: FxA could not say (network failure, timeout, 5xx or
	// 429, an answer that is not what the protocol promises, or discovery
	// not done yet). Nothing is known about the token.
	ErrUnavailable = errors.New("fxa: accounts server unavailable")
	// ErrInvalidGeneration: the token is genuine but its fxa-generation is
	// not an integer; the tokenserver answers invalid-generation.
	ErrInvalidGeneration = errors.New("fxa: fxa-generation is not an integer")
)

// Mozilla's production accounts, used when no identity provider is
// configured, so that a default server needs no network call to start.
const (
	// OldSyncScope is the scope an access token must grant for Sync 1.5.
	OldSyncScope = "https://identity.mozilla.com/apps/oldsync"
	// DefaultIdentityProvider is Mozilla's accounts server root.
	DefaultIdentityProvider = "https://accounts.firefox.com"
	// DefaultOAuthURL is Mozilla's OAuth server, already normalised.
	DefaultOAuthURL = "https://oauth.accounts.firefox.com/v1"
	// DefaultIssuer is the email domain of Mozilla's accounts: the host of
	// its auth server, which existing syncserver databases key users by.
	DefaultIssuer = "api.accounts.firefox.com"
)

// Defaults of Config's tunables.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultCacheTTL      = time.Minute
	DefaultJWTCacheTTL   = time.Hour
	DefaultCacheSize     = 10000
	DefaultCacheBytes    = 1 << 20
	DefaultKeysMaxAge    = time.Hour
	DefaultRetryInterval = 10 * time.Second
	// DefaultKeysFetchInterval is the least time between two fetches of
	// the OAuth server's keys, whatever clients send.
	DefaultKeysFetchInterval = time.Second
)

// Token is what a verified access token says.
type Token struct {
	// UID is the FxA user id (JWT sub, /v1/verify user).
	UID      string
	ClientID string
	Scope    []string
	// Generation is FxA's fxa-generation in milliseconds, 0 when absent.
	Generation int64
	// Issuer is the email domain of the user: the tokenserver keys users by
	// UID@Issuer.
	Issuer string
	// Expires is the JWT's exp; zero for an opaque token.
	Expires time.Time
}

// Config configures a Verifier. The zero value verifies tokens of Mozilla's
// production accounts.
type Config struct {
	// IdentityProvider is the FxA root (legacy identity_provider, such as
	// https://accounts.firefox.com). When it is not Mozilla's, the OAuth
	// server and the issuer are discovered from its
	// /.well-known/fxa-client-configuration on first use.
	IdentityProvider string
	// OAuthURL overrides the OAuth server (legacy oauth_verifier). It is
	// normalised: trailing "/" removed and "/v1" appended if missing.
	OAuthURL string
	// Issuer overrides the email domain ([oauth] default_issuer).
	Issuer string
	// JWKS is a static JSON key set ({"keys":[…]}) for offline operation:
	// when set, the OAuth server's /v1/jwks is never fetched.
	JWKS string
	// Scopes are the scopes a token must imply one of; default
	// OldSyncScope alone. Other clients of Sync 1.5 (Thunderbird) ask FxA
	// for scopes of their own.
	Scopes []string
	// Timeout bounds each request to FxA; default DefaultTimeout.
	Timeout time.Duration
	// HTTPClient makes the requests; default a client of its own, which
	// goes through the proxy that HTTPS_PROXY (HTTP_PROXY for http URLs)
	// names unless NO_PROXY lists the host, as servers that may reach the
	// internet only through a proxy need.
	HTTPClient *http.Client
	// Logger receives key fetches and discovery results (never tokens).
	Logger *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// CacheTTL is how long a verification by the OAuth server
	// (/v1/verify) is remembered; negative disables the cache, for JWTs
	// too.
	CacheTTL time.Duration
	// JWTCacheTTL is how long a JWT verified locally is remembered, never
	// past its exp; negative disables it. Firefox presents the same
	// access token for every storage token of its lifetime, and
	// remembering a JWT tells nothing that checking it again would not:
	// a JWT cannot be revoked. The default, DefaultJWTCacheTTL, is
	// DefaultKeysMaxAge, so that a key FxA withdraws stops being honoured
	// within the same time as without the cache.
	JWTCacheTTL time.Duration
	// CacheSize bounds the number of remembered verifications.
	CacheSize int
	// CacheBytes bounds their memory (an estimate of each entry's bytes);
	// default DefaultCacheBytes.
	CacheBytes int64
	// KeysMaxAge is how long fetched keys are used before being fetched
	// again, so that a key FxA withdraws stops being accepted.
	KeysMaxAge time.Duration
	// RetryInterval is the least time between two failed discovery
	// attempts.
	RetryInterval time.Duration
	// KeysFetchInterval is the least time between two fetches of the keys
	// (for an unknown kid, or because KeysMaxAge passed), so that a flood
	// of tokens naming bogus kids cannot hammer FxA: those go to
	// /v1/verify instead, as tokens that are not JWTs always do.
	KeysFetchInterval time.Duration
}

// Verifier verifies FxA access tokens. It is safe for concurrent use.
type Verifier struct {
	cfg   Config
	fetch fetcher
	log   *slog.Logger
	now   func() time.Time
	keys  *keySet
	cache *resultCache

	resMu       sync.Mutex
	resolved    bool
	ep          Endpoints
	lastAttempt time.Time
	lastErr     error
}

// New checks cfg and builds a Verifier. It makes no network call: what must
// be discovered is discovered by the first Verify (or an explicit Resolve),
// and a failure there is retried later instead of stopping the server.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{OldSyncScope}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: proxyTransport()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.JWTCacheTTL == 0 {
		cfg.JWTCacheTTL = DefaultJWTCacheTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.KeysMaxAge <= 0 {
		cfg.KeysMaxAge = DefaultKeysMaxAge
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.KeysFetchInterval <= 0 {
		cfg.KeysFetchInterval = DefaultKeysFetchInterval
	}
	if cfg.IdentityProvider != "" {
		if _, err := originOf(cfg.IdentityProvider); err != nil {
			return nil, fmt.Errorf("fxa: identity provider: %w", err)
		}
	}
	if cfg.OAuthURL != "" {
		u, err := NormalizeOAuthURL(cfg.OAuthURL)
		if err != nil {
			return nil, err
		}
		cfg.OAuthURL = u
	}
	v := &Verifier{
		cfg:   cfg,
		fetch: fetcher{client: cfg.HTTPClient, timeout: cfg.Timeout},
		log:   cfg.Logger,
		now:   cfg.Now,
	}
	v.keys = &keySet{v: v, mono: time.Now}
	if cfg.JWKS != "" {
		keys, err := parseJWKS([]byte(cfg.JWKS))
		if err != nil {
			return nil, fmt.Errorf("fxa: static JWKS: %w", err)
		}
		v.keys.static = true
		v.keys.keys = keys
	}
	if cfg.CacheTTL > 0 {
		v.cache = newResultCache(cfg.CacheSize, cfg.CacheBytes)
	}
	if ep, ok := v.staticEndpoints(); ok {
		v.ep, v.resolved = ep, true
	}
	return v, nil
}

// NormalizeOAuthURL returns the OAuth server URL the way the legacy
// tokenserver used it: no trailing "/", and ending in "/v1".
func NormalizeOAuthURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("fxa: OAuth server URL %q is not an http(s) URL", raw)
	}
	s := strings.TrimRight(u.String(), "/")
	if !strings.HasSuffix(s, "/v1") {
		s += "/v1"
	}
	return s, nil
}

// Verify checks an access token and returns what it grants. The token must
// imply the configured scope. Errors match ErrRejected, ErrUnavailable or
// ErrInvalidGeneration; their text never contains the token.
func (v *Verifier) Verify(ctx context.Context, accessToken string) (Token, error) {
	if accessToken == "" {
		return Token{}, fmt.Errorf("%w: empty token", ErrRejected)
	}
	now := v.now()
	key := sha256.Sum256([]byte(accessToken))
	if v.cache != nil {
		if t, ok := v.cache.get(key, now); ok {
			return t, nil
		}
	}
	ep, err := v.Resolve(ctx)
	if err != nil {
		return Token{}, err
	}
	var c claims
	if looksLikeJWT(accessToken) {
		c, err = v.verifyJWT(ctx, ep, accessToken, now)
		var uk *unknownKidError
		if errors.As(err, &uk) {
			c, err = v.verifyUnknownKid(ctx, ep, accessToken, uk)
		}
	} else {
		c, err = v.verifyRemote(ctx, ep, accessToken)
	}
	if err != nil {
		return Token{}, err
	}
	if !v.scopeAccepted(c.scope) {
		return Token{}, fmt.Errorf("%w: scope %q grants none of %s", ErrRejected, strings.Join(c.scope, " "), strings.Join(v.cfg.Scopes, ", "))
	}
	gen, err := parseGeneration(c.generation)
	if err != nil {
		return Token{}, err
	}
	t := Token{UID: c.uid, ClientID: c.clientID, Scope: c.scope, Generation: gen, Issuer: ep.Issuer, Expires: c.expires}
	if v.cache != nil {
		ttl := v.cfg.CacheTTL
		if !t.Expires.IsZero() {
			ttl = v.cfg.JWTCacheTTL // only JWTs have an expiry
		}
		until := now.Add(ttl)
		if !t.Expires.IsZero() && t.Expires.Before(until) {
			until = t.Expires
		}
		v.cache.put(key, t, until, now)
	}
	return t, nil
}

// scopeAccepted tells whether the granted scopes imply one of those
// configured.
func (v *Verifier) scopeAccepted(granted []string) bool {
	for _, want := range v.cfg.Scopes {
		if ScopeSetImplies(granted, want) {
			return true
		}
	}
	return false
}

// claims is what either verification path learned, before the common
// checks.
type claims struct {
	uid        string
	clientID   string
	scope      []string
	generation []byte // raw JSON, nil when absent
	expires    time.Time
}
