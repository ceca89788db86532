// Package accounts is the built-in accounts service: the FxA-compatible
// HTTP API that an unmodified Firefox signs in to (discovery, login, keys,
// OAuth codes and tokens, devices, profile), and the sign-in page of
// accounts/page served with its security headers.
//
// The server never sees the password, kB or the Sync key: the page
// stretches the password, unwraps kB and seals the oldsync key to
// Firefox's ephemeral key; this package stores only a verifier and wrapped
// key material (accounts/onepw does the crypto, db.AccountsStore the
// storage). It speaks handlers.Request/Response so that both front-ends
// serve it unchanged; cmd/syncserver mounts it ahead of the storage and
// token routes on the accounts origin.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/accounts/page"
	"syncserver/db"
	"syncserver/handlers"
	"syncserver/hawk"
)

// Options configure a Service.
type Options struct {
	Store db.AccountsStore
	// Origin is scheme://host[:port] of the accounts origin, without a
	// path: Firefox needs the service at the root of an origin.
	Origin string
	// TokenServerURL is the tokenserver base URL Firefox is told about
	// (public_url + "token"), and the audience of oldsync access tokens.
	TokenServerURL string
	// Secret keys the fake client salts of unknown emails, so that they
	// are stable across restarts and processes.
	Secret []byte
	// OpenSignup lets the page create accounts without an invitation.
	OpenSignup bool
	// AccessTokenTTL caps access tokens; 0 or more than 6 hours means 6
	// hours.
	AccessTokenTTL time.Duration
	Logger         *slog.Logger
	// Now is the clock, time.Now when nil (tests move it).
	Now func() time.Time
	// LoginsPerAccount and LoginsPerAddress bound the password attempts
	// (login, create, password change) per account and per client address
	// in 15 minutes; 0 takes the defaults (10 and 30).
	LoginsPerAccount, LoginsPerAddress int
	// Assets serves the page's files; nil uses accounts/page.
	Assets func(path string) (body []byte, contentType string, ok bool)
	// Metrics receives the service's counts; nil counts nothing.
	Metrics Metrics
	// RemoveSyncData deletes the Sync data of the account uid (its
	// tokenserver records and their storage) when its owner deletes the
	// account; nil deletes only the account.
	RemoveSyncData func(ctx context.Context, uid string) error
}

// Metrics is what the service counts for the operator's monitoring
// (cmd/syncserver passes its Prometheus exporter).
type Metrics interface {
	// SignIn counts a password sign-in (account/login): ok, or refused
	// (wrong password, unknown email, disabled account, too many tries).
	SignIn(ok bool)
}

type noMetrics struct{}

func (noMetrics) SignIn(bool) {}

// Defaults of Options.
const (
	DefaultLoginsPerAccount = 10
	DefaultLoginsPerAddress = 30
	maxAccessTokenTTL       = 6 * time.Hour
)

// Lifetimes of what the service hands out.
const (
	keyFetchTTL   = 5 * time.Minute
	codeTTL       = 10 * time.Minute
	hawkSkew      = 600 * time.Second
	rateWindow    = 15 * time.Minute
	nonceEntries  = 100000
	maxBodyBytes  = 256 << 10
	touchInterval = 5 * time.Minute
	// A device command (a sent tab) waits 30 days for its device, as on
	// Mozilla's servers: without push a device only fetches its commands
	// when it polls (Sync Now, a device-list refresh, a daily scheduled
	// sync), so a laptop left closed over a holiday still gets the tab.
	commandTTL    = 30 * 24 * time.Hour
	maxCommandTTL = 30 * 24 * time.Hour
	// A device's queue holds at most maxQueuedCommands unexpired
	// commands of at most maxCommandPayload bytes each: a sender that
	// floods a device that never polls (or was abandoned without signing
	// out) gets an error instead of filling the database.
	maxQueuedCommands = 500
	maxCommandPayload = 64 << 10
	maxCommandsOut    = 100
)

// Service answers the accounts routes. It is safe for concurrent use.
type Service struct {
	store    db.AccountsStore
	opts     Options
	origin   string // scheme://host[:port], no trailing slash
	issuer   string // host[:port] of the origin: tokenserver identities are <uid>@<issuer>
	https    bool
	hawkHost string
	hawkPort int
	// signer is replaced when another process sharing the database
	// created or rotated a key (keys.go).
	signer   atomic.Pointer[onepw.Signer]
	reloadMu sync.Mutex
	reloaded time.Time
	nonces   *hawk.NonceCache
	limits   *limiter
	log      *slog.Logger
	now      func() time.Time
	assets   func(string) ([]byte, string, bool)
}

// New builds the service; it loads the JWT signing keys from the store, or
// creates and stores one at first start.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("accounts: no store")
	}
	a, err := parseOrigin(o.Origin)
	if err != nil {
		return nil, err
	}
	s := &Service{
		store:  o.Store,
		opts:   o,
		https:  a.scheme == "https",
		log:    o.Logger,
		now:    o.Now,
		assets: o.Assets,
		nonces: hawk.NewNonceCache(hawkSkew, nonceEntries),
	}
	s.hawkHost, s.hawkPort = a.host, a.port
	s.issuer = a.authority()
	// The origin is written the same way, so that the default port never
	// makes two spellings of one origin (the tokens' iss compares it).
	s.origin = a.scheme + "://" + s.issuer
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.assets == nil {
		s.assets = page.Asset
	}
	if s.opts.Metrics == nil {
		s.opts.Metrics = noMetrics{}
	}
	if s.opts.AccessTokenTTL <= 0 || s.opts.AccessTokenTTL > maxAccessTokenTTL {
		s.opts.AccessTokenTTL = maxAccessTokenTTL
	}
	if s.opts.LoginsPerAccount <= 0 {
		s.opts.LoginsPerAccount = DefaultLoginsPerAccount
	}
	if s.opts.LoginsPerAddress <= 0 {
		s.opts.LoginsPerAddress = DefaultLoginsPerAddress
	}
	s.limits = newLimiter(rateWindow)
	signer, err := loadSigner(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	s.signer.Store(signer)
	return s, nil
}

// origin is a parsed accounts origin.
type origin struct {
	scheme, host string // host lower-case, without brackets
	port         int
}

func parseOrigin(o string) (origin, error) {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return origin{}, fmt.Errorf("accounts: origin %q is not scheme://host[:port]", o)
	}
	a := origin{scheme: u.Scheme, host: strings.ToLower(u.Hostname()), port: defaultPort(u.Scheme)}
	if p := u.Port(); p != "" {
		if a.port, err = strconv.Atoi(p); err != nil {
			return origin{}, fmt.Errorf("accounts: origin %q: bad port", o)
		}
	}
	return a, nil
}

// authority is the origin's host[:port] written one way: an IPv6 address
// in brackets, the port only when it is not the scheme's default.
func (a origin) authority() string {
	if a.port != defaultPort(a.scheme) {
		return net.JoinHostPort(a.host, strconv.Itoa(a.port))
	}
	if strings.Contains(a.host, ":") {
		return "[" + a.host + "]"
	}
	return a.host
}

// IssuerOf is the issuer of the accounts served at origin: the domain of
// their tokenserver identities (<uid>@<issuer>), as Service.Issuer gives
// it. The admin commands use it to find an account's Sync data without
// starting the service.
func IssuerOf(origin string) (string, error) {
	a, err := parseOrigin(origin)
	if err != nil {
		return "", err
	}
	return a.authority(), nil
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// Origin returns the accounts origin, scheme://host[:port].
func (s *Service) Origin() string { return s.origin }

// Issuer returns the host[:port] of the accounts origin: the domain of our
// accounts' tokenserver identities (<uid>@<issuer>).
func (s *Service) Issuer() string { return s.issuer }

// call is one request being served.
type call struct {
	req   *handlers.Request
	path  string
	query url.Values
	start time.Time
	body  []byte
}

// Serve answers r when its path is one of the accounts routes or page
// assets, and reports false otherwise so that the caller can hand the
// request on (to the storage and token routes of a shared origin).
func (s *Service) Serve(ctx context.Context, r *handlers.Request) (resp *handlers.Response, ours bool) {
	path, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	rt, pageAsset := s.route(path)
	if rt == nil && !pageAsset {
		return nil, false
	}
	c := &call{req: r, path: path, start: s.now()}
	c.query, _ = url.ParseQuery(rawQuery)
	defer func() {
		if p := recover(); p != nil {
			// Nothing a client sends may take the process down.
			s.log.Error("accounts: panic serving a request", "path", path, "panic", fmt.Sprint(p))
			resp = s.errorResponse(c, errServer(fmt.Errorf("panic: %v", p)))
			ours = true
		}
		s.accessLog(c, resp)
	}()
	if pageAsset {
		return s.servePage(c), true
	}
	if rt.method != r.Method && !(rt.method == http.MethodGet && r.Method == http.MethodHead) {
		e := newError(http.StatusMethodNotAllowed, errnoInvalidParameter, "Method not allowed")
		resp := s.errorResponse(c, e)
		resp.Header.Set("Allow", rt.method)
		return resp, true
	}
	if err := s.readBody(c); err != nil {
		return s.errorResponse(c, err), true
	}
	out, err := rt.handle(s, ctx, c)
	if err != nil {
		return s.errorResponse(c, err), true
	}
	return out, true
}

// accessLog writes the one line per request, with the keys of the
// storage routes' line. Never the query or the body: they carry state,
// codes, tokens and authPW.
func (s *Service) accessLog(c *call, resp *handlers.Response) {
	if resp == nil {
		return
	}
	attrs := []any{
		"method", c.req.Method,
		"path", c.path,
		"route", "accounts",
		"status", resp.Status,
		"duration_ms", float64(s.now().Sub(c.start).Microseconds()) / 1000,
		"bytes", len(resp.Body),
		"remote", c.req.RemoteAddr,
	}
	if ua := c.req.Header.Get("User-Agent"); ua != "" {
		attrs = append(attrs, "agent", ua)
	}
	s.log.Info("request", attrs...)
}

// readBody reads a bounded request body; the routes take small JSON.
func (s *Service) readBody(c *call) error {
	if c.req.Body == nil {
		return nil
	}
	if c.req.ContentLength > maxBodyBytes {
		return newError(http.StatusRequestEntityTooLarge, 113, "Request body too large")
	}
	b, err := io.ReadAll(io.LimitReader(c.req.Body, maxBodyBytes+1))
	if err != nil {
		return newError(http.StatusBadRequest, errnoInvalidJSON, "Could not read the request body")
	}
	if len(b) > maxBodyBytes {
		return newError(http.StatusRequestEntityTooLarge, 113, "Request body too large")
	}
	c.body = b
	return nil
}

// commonHeaders are on every answer (spec §3.1): Firefox re-syncs its
// clock from Date, and nothing of an accounts answer may be cached.
func (s *Service) commonHeaders(h http.Header, now time.Time) {
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if s.https {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

func (s *Service) errorResponse(c *call, err error) *handlers.Response {
	e := asAPIError(err)
	if e.status >= 500 {
		// Path only: query strings and bodies of these routes carry
		// secrets (state, codes, tokens, authPW).
		s.log.Error("accounts: request failed", "method", c.req.Method, "path", c.path, "error", e.Error())
	} else if e.cause != nil {
		s.log.Debug("accounts: request refused", "method", c.req.Method, "path", c.path, "errno", e.errno, "error", e.cause.Error())
	}
	r := &handlers.Response{Status: e.status, Header: make(http.Header), Body: e.body()}
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	s.commonHeaders(r.Header, c.start)
	return r
}
