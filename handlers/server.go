package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"syncserver/db"
)

// PublicURL is the client-visible base URL of the server (public_url),
// already normalised: lower-case scheme and host, explicit port, and a path
// prefix without trailing slash ("" or "/ff-sync").
type PublicURL struct {
	Scheme string
	Host   string
	Port   int
	Prefix string
}

// String is the URL without trailing slash, default port omitted: the form
// tokens carry as their node and api_endpoint starts with.
func (u PublicURL) String() string {
	return u.Origin() + u.Prefix
}

// Origin is scheme://host[:port] with the default port omitted.
func (u PublicURL) Origin() string {
	host := u.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if u.Port != 0 && u.Port != defaultPort(u.Scheme) {
		host += ":" + strconv.Itoa(u.Port)
	}
	return u.Scheme + "://" + host
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// Limits are the storage limits advertised in info/configuration and
// enforced on every request (SyncStorage API 1.5, info/configuration).
type Limits struct {
	MaxRequestBytes       int64
	MaxRecordPayloadBytes int64
	MaxPostRecords        int64
	MaxPostBytes          int64
	MaxTotalRecords       int64
	MaxTotalBytes         int64
}

// DefaultLimits are the legacy server's limits, what existing clients were
// already told.
var DefaultLimits = Limits{
	MaxRequestBytes:       2*1024*1024 + 4096,
	MaxRecordPayloadBytes: 2 * 1024 * 1024,
	MaxPostRecords:        100,
	MaxPostBytes:          2 * 1024 * 1024,
	MaxTotalRecords:       10000,
	MaxTotalBytes:         200 * 1024 * 1024,
}

// Options configure a Server. Store and PublicURL are required.
type Options struct {
	PublicURL PublicURL
	// ForceWSGIEnviron trusts public_url for scheme, host and prefix
	// without reporting requests that arrive otherwise (legacy meaning).
	ForceWSGIEnviron bool
	Store            db.Store
	Limits           Limits
	// BatchUploadEnabled enables batch uploads (legacy default true).
	BatchUploadEnabled bool
	// QuotaBytes is the per-user storage quota; 0 disables quotas.
	QuotaBytes int64
	// CORSAllowedOrigins lists origins allowed to call the server from a
	// browser page; "*" or an empty list allows any origin.
	CORSAllowedOrigins []string
	// Version is reported by /__version__ and /__heartbeat__.
	Version string
	Logger  *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Storage and Token hold the options of the two halves of the server.
	Storage StorageOptions
	Token   TokenOptions
	// Metrics, when set, receives the core's measurements.
	Metrics Metrics
	// BodyBufferBytes bounds the request bodies all requests together hold
	// in memory ([server:main] max_body_buffer_bytes); zero or less selects
	// DefaultBodyBufferBytes. A request that finds no room waits up to
	// BodyBufferWait (zero or less: DefaultBodyBufferWait), then gets 503
	// with Retry-After.
	BodyBufferBytes int64
	BodyBufferWait  time.Duration
	// Role says which half of the server answers: RoleAll (the default)
	// both, RoleToken the tokenserver only, RoleStorage the storage only.
	// The other half's routes answer 404, as on a server without them.
	Role Role
}

// Role is what a server process serves ([syncserver] role).
type Role string

// The roles. A token-only server hands out tokens for storage nodes it
// does not serve; a storage-only node serves the tokens minted for it
// (its public_url) and has no tokenserver endpoints.
const (
	RoleAll     Role = "all"
	RoleToken   Role = "token"
	RoleStorage Role = "storage"
)

// servesToken and servesStorage say whether the role includes each half.
func (r Role) servesToken() bool   { return r != RoleStorage }
func (r Role) servesStorage() bool { return r != RoleToken }

// Server is the protocol core. It is safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	mismatchMu   sync.Mutex
	mismatchSeen map[string]bool
	// noAuthOnce and noAuthPlainOnce explain a missing Authorization
	// header once: from a Sync client, and from anything else.
	noAuthOnce      sync.Once
	noAuthPlainOnce sync.Once

	storage *storageState
	token   *tokenState
	budget  *bodyBudget
}

// New checks opts and builds a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("handlers: no store")
	}
	if opts.PublicURL.Scheme == "" || opts.PublicURL.Host == "" {
		return nil, fmt.Errorf("handlers: no public_url")
	}
	if opts.PublicURL.Port == 0 {
		opts.PublicURL.Port = defaultPort(opts.PublicURL.Scheme)
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = noMetrics{}
	}
	switch opts.Role {
	case "":
		opts.Role = RoleAll
	case RoleAll, RoleToken, RoleStorage:
	default:
		return nil, fmt.Errorf("handlers: unknown role %q (want all, token or storage)", opts.Role)
	}
	if opts.BodyBufferBytes <= 0 {
		opts.BodyBufferBytes = DefaultBodyBufferBytes
	}
	if opts.BodyBufferWait <= 0 {
		opts.BodyBufferWait = DefaultBodyBufferWait
	}
	s := &Server{
		opts:         opts,
		log:          opts.Logger,
		now:          opts.Now,
		mismatchSeen: make(map[string]bool),
		budget:       newBodyBudget(opts.BodyBufferBytes, opts.Limits.MaxRequestBytes),
	}
	var err error
	if s.storage, err = newStorageState(s); err != nil {
		return nil, err
	}
	if s.token, err = newTokenState(s); err != nil {
		return nil, err
	}
	return s, nil
}

// call is one request on its way through the core: the request and what
// routing and middleware learned about it.
type call struct {
	req   *Request
	start time.Time
	// ts is the request time as a Sync timestamp (X-Weave-Timestamp).
	ts db.Timestamp
	// path is the raw path with the public_url prefix removed; rawQuery
	// the raw query without "?".
	path     string
	rawQuery string
	query    url.Values
	// route names the endpoint for logs and metrics.
	route string
	// uid is the authenticated user, when there is one.
	uid db.UID
	// bodyReserved bytes of the body budget are held for bodyUID until
	// the response is done.
	bodyUID      db.UID
	bodyReserved int64
	// backoff is the node's backoff in seconds, read for storage
	// requests; finish sends it as X-Backoff.
	backoff int64
}

// Log keys, shared by every log line of the core.
const (
	logMethod   = "method"
	logPath     = "path"
	logRoute    = "route"
	logStatus   = "status"
	logDuration = "duration_ms"
	logBytes    = "bytes"
	logUID      = "uid"
	logRemote   = "remote"
	logError    = "error"
	logAgent    = "agent"
)

// Serve answers one request. It never panics: a panic in a handler becomes
// a 500 with body 0, logged with its stack.
func (s *Server) Serve(ctx context.Context, req *Request) (resp *Response) {
	start := s.now()
	c := &call{req: req, start: start, ts: db.TimestampOf(start), route: "unknown"}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic serving request",
				logMethod, req.Method, logPath, c.path, logError, fmt.Sprint(p),
				"stack", string(debug.Stack()))
			resp = jsonResponse(http.StatusInternalServerError, []byte("0"))
		}
		s.releaseBody(c)
		s.finish(c, resp)
	}()
	if req.Body == nil {
		req.Body = http.NoBody
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	return s.serve(ctx, c)
}

func (s *Server) serve(ctx context.Context, c *call) *Response {
	req := c.req
	rawPath, rawQuery, _ := strings.Cut(req.RequestURI, "?")
	c.rawQuery = rawQuery
	c.path = s.stripPrefix(rawPath)
	s.checkOrigin(c)

	if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
		c.route = "cors-preflight"
		return s.preflight(c)
	}
	if req.ContentLength > s.opts.Limits.MaxRequestBytes {
		return s.fail(c, errTooLarge)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return s.fail(c, weaveError(http.StatusBadRequest, codeIllegal, "bad query string: %v", err))
	}
	c.query = q
	resp, err := s.route(ctx, c)
	s.explainMissingPrefix(c, rawPath)
	if err != nil {
		if errors.Is(err, errNotFound) {
			s.explainUnknownPrefix(c, rawPath)
		}
		return s.fail(c, err)
	}
	return resp
}

// fail turns err into its response and logs it once: client errors at
// debug level, server failures at error level.
func (s *Server) fail(c *call, err error) *Response {
	switch {
	case isClientError(err):
		s.log.Debug("request refused", logRoute, c.route, logError, err.Error())
	case errors.Is(err, errBodyBufferFull):
		s.log.Warn("upload refused for now", logRoute, c.route, logError, err.Error(),
			"max_body_buffer_bytes", s.budget.size)
	default:
		s.log.Error("request failed", logRoute, c.route, logMethod, c.req.Method, logPath, c.path, logError, err.Error())
		s.countDatabaseError(err)
	}
	return errorResponse(err)
}

// finish adds the headers every response carries and writes the access log.
func (s *Server) finish(c *call, resp *Response) {
	if resp.Header == nil {
		resp.Header = make(http.Header)
	}
	resp.Header.Set("X-Weave-Timestamp", weaveTimestamp(c, resp).String())
	if c.backoff > 0 {
		resp.Header.Set("X-Backoff", strconv.FormatInt(c.backoff, 10))
	}
	SetSecurityHeaders(resp.Header)
	s.addCORS(c, resp)
	elapsed := s.now().Sub(c.start)
	s.opts.Metrics.Request(c.route, c.req.Method, resp.Status, elapsed)
	level := accessLevel(c, resp)
	ctx := context.Background()
	if !s.log.Enabled(ctx, level) {
		return
	}
	// slog.Attr values rather than alternating keys and values: nothing
	// is boxed into an interface, and the line costs fewer allocations.
	attrs := [...]slog.Attr{
		slog.String(logMethod, c.req.Method),
		slog.String(logPath, c.path),
		slog.String(logRoute, c.route),
		slog.Int(logStatus, resp.Status),
		slog.Float64(logDuration, float64(elapsed.Microseconds())/1000),
		slog.Int(logBytes, len(resp.Body)),
		slog.String(logRemote, c.req.RemoteAddr),
		{}, {},
	}
	n := 7
	if c.uid != 0 {
		attrs[n] = slog.Int64(logUID, int64(c.uid))
		n++
	}
	if ua := c.req.Header.Get("User-Agent"); ua != "" {
		attrs[n] = slog.String(logAgent, ua)
		n++
	}
	s.log.LogAttrs(ctx, level, "request", attrs[:n]...)
}

// accessLevel is the level of a request's access line. Every request gets
// one at info, except the two kinds a healthy server answers all day that
// tell an operator nothing one by one: a 304 (a Firefox polling
// info/collections with nothing new, most of all requests) and a
// load balancer's heartbeat that succeeded. Those go to debug; the
// request metrics still count them. Errors, writes and every status of
// 400 and above stay at info.
func accessLevel(c *call, resp *Response) slog.Level {
	switch {
	case resp.Status == http.StatusNotModified:
		return slog.LevelDebug
	case (c.route == "heartbeat" || c.route == "lbheartbeat") && resp.Status < http.StatusBadRequest:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// weaveTimestamp picks X-Weave-Timestamp: for a successful write it equals
// the write's X-Last-Modified (and the body's modified), otherwise it is
// the later of the request time and X-Last-Modified.
func weaveTimestamp(c *call, resp *Response) db.Timestamp {
	ts := c.ts
	lm, err := db.ParseTimestamp(resp.Header.Get("X-Last-Modified"))
	if err != nil {
		return ts
	}
	isWrite := c.req.Method != http.MethodGet && c.req.Method != http.MethodHead
	if isWrite && resp.Status == http.StatusOK && lm != 0 {
		return lm
	}
	if lm > ts {
		return lm
	}
	return ts
}
