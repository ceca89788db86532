package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"syncserver/db"
	"syncserver/token"
)

// TokenVerifier checks the OAuth access token Firefox presents to the
// tokenserver. cmd/syncserver adapts package fxa to it; handlers does not
// import fxa so that the core stays free of outbound HTTP.
type TokenVerifier interface {
	// Verify returns what a valid token grants. It is the verifier's job
	// to require the oldsync scope. Errors: ErrTokenRejected when the
	// token is not acceptable (401 invalid-credentials, the user must sign
	// in again); ErrInvalidGeneration for a genuine token whose
	// fxa-generation is not an integer; ErrVerifierUnavailable when FxA
	// cannot be asked (503 with Retry-After). Any other error is treated
	// as unavailable, so that no failure of ours ever signs a user out.
	Verify(ctx context.Context, accessToken string) (VerifiedToken, error)
}

// VerifiedToken is what a verified access token says about its user.
type VerifiedToken struct {
	// UID is the FxA user id.
	UID string
	// Generation is fxa-generation in milliseconds, 0 when absent.
	Generation int64
	Scope      []string
	ClientID   string
	// Issuer is the email domain of the user when the verifier knows it
	// (it may have discovered it); "" means TokenOptions.Issuer.
	Issuer string
}

// Errors a TokenVerifier returns, matched with errors.Is.
var (
	ErrTokenRejected       = errors.New("handlers: access token rejected")
	ErrVerifierUnavailable = errors.New("handlers: token verifier unavailable")
	ErrInvalidGeneration   = errors.New("handlers: fxa-generation is not an integer")
)

// TokenOptions configure the tokenserver half.
type TokenOptions struct {
	// Secrets sign the storage tokens (the newest secret signs), whatever
	// their node. Without them (and without NodeSecrets) every token
	// request gets 503.
	Secrets *token.Secrets
	// NodeSecrets, when set, replaces Secrets: each node's tokens are
	// signed with that node's newest secret (Mozilla's secrets_file), so
	// that one node cannot accept another's tokens. A token for a node
	// the file does not list gets 503, and an error in the log.
	NodeSecrets *token.NodeSecrets
	// Verifier checks access tokens. Without one, Bearer credentials get
	// 401 "Unsupported", as the legacy server answered a scheme it had no
	// verifier for.
	Verifier TokenVerifier
	// Issuer is the email domain of FxA users (the host of the FxA auth
	// server), used when the verifier reports none. Users are found by
	// "<fxa uid>@<issuer>", so it must match the existing database.
	// Default DefaultIssuer.
	Issuer string
	// Duration is the lifetime of a storage token; default
	// DefaultTokenDuration. ?duration=N may only shorten it.
	Duration time.Duration
	// AllowNewUsers lets unknown users in; when false they get 401
	// new-users-disabled (legacy allow_new_users).
	AllowNewUsers bool
	// MetricsKey keys hashed_fxa_uid and hashed_device_id. cmd keeps it in
	// the database so the hashes survive restarts; "" uses a random key
	// per process, as the legacy bundle did.
	MetricsKey string
	// EndpointPattern builds api_endpoint from {node}, {uid} and
	// {service}; default DefaultEndpointPattern.
	EndpointPattern string
	// NodeURL is the storage node users are assigned to and that tokens
	// name; default public_url. The storage endpoints accept only tokens
	// whose node is public_url.
	NodeURL string
	// AllowedUsers, when not empty, are the only users let in, new or
	// existing: FxA uids, or "<uid>@<issuer>". FxA does not tell the
	// tokenserver users' email addresses, so those cannot be listed.
	AllowedUsers []string
	// MaxUsers, when positive, refuses newcomers (401 new-users-disabled)
	// once that many users exist; existing users are never locked out.
	MaxUsers int
	// MultiNode assigns newcomers to the least loaded node of the nodes
	// table (NodeURL among them) instead of NodeURL, and names each user's
	// node in its tokens. Users whose node row is gone keep NodeURL.
	MultiNode bool
	// UserCacheBytes bounds the memory of the user records kept for
	// UserCacheTTL (see userCache); 0 means DefaultUserCacheBytes,
	// negative keeps none. With MultiNode no records are kept.
	UserCacheBytes int64
}

// Defaults of TokenOptions.
const (
	DefaultTokenDuration   = time.Hour
	DefaultIssuer          = "api.accounts.firefox.com"
	DefaultEndpointPattern = "{node}/storage/1.5/{uid}"
)

// tokenApplication and tokenVersion are the one service this tokenserver
// issues tokens for (db.Service is its name in the users table).
const (
	tokenApplication = "sync"
	tokenVersion     = "1.5"
)

// nodeCapacity is the capacity given to our node: a single-node server
// never turns users away for load.
const nodeCapacity = 1<<31 - 1

// tokenState is what the tokenserver keeps between requests.
type tokenState struct {
	opts     TokenOptions
	duration int64 // seconds
	node     string
	pattern  string
	allowed  map[string]bool // lower-case uids and emails; nil allows all
	users    *userCache      // nil when off

	nodeMu    sync.Mutex
	nodeReady bool
	// newUserMu serialises the count and the allocation of newcomers when
	// MaxUsers is set, so this process never lets in more than the cap.
	newUserMu sync.Mutex
}

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

func newTokenState(s *Server) (*tokenState, error) {
	o := s.opts.Token
	cacheBytes := o.UserCacheBytes
	if o.MultiNode {
		// With several nodes, `nodes down` must move an account at its
		// very next token request: the operator downs a node because it
		// is failing, and a cached record would keep sending Firefox
		// there for up to UserCacheTTL. Every token request then reads
		// the database.
		cacheBytes = -1
	}
	st := &tokenState{opts: o, users: newUserCache(cacheBytes)}
	if o.Issuer == "" {
		st.opts.Issuer = DefaultIssuer
	}
	st.duration = int64(o.Duration / time.Second)
	if st.duration <= 0 {
		st.duration = int64(DefaultTokenDuration / time.Second)
	}
	st.node = strings.TrimRight(o.NodeURL, "/")
	if st.node == "" {
		st.node = s.opts.PublicURL.String()
	}
	st.pattern = o.EndpointPattern
	if st.pattern == "" {
		st.pattern = DefaultEndpointPattern
	}
	for _, ph := range placeholderRE.FindAllString(st.pattern, -1) {
		if ph != "{node}" && ph != "{uid}" && ph != "{service}" {
			return nil, fmt.Errorf("handlers: endpoint pattern %q: unknown placeholder %s (use {node}, {uid}, {service})", st.pattern, ph)
		}
	}
	if st.opts.MetricsKey == "" {
		var b [16]byte
		rand.Read(b[:])
		st.opts.MetricsKey = hex.EncodeToString(b[:])
	}
	if len(o.AllowedUsers) > 0 {
		st.allowed = make(map[string]bool)
		for _, u := range o.AllowedUsers {
			u = strings.ToLower(strings.TrimSpace(u))
			if u == "" {
				continue
			}
			st.allowed[u] = true
			if _, domain, ok := strings.Cut(u, "@"); ok && domain != strings.ToLower(st.opts.Issuer) {
				s.log.Warn("tokenserver: allowed user "+u+" looks like an email address; FxA does not tell the tokenserver email addresses, so list the FxA uid or <uid>@"+st.opts.Issuer,
					"entry", u)
			}
		}
	}
	if !s.opts.Role.servesToken() {
		return st, nil
	}
	if s.opts.Role == RoleToken {
		if !o.MultiNode && st.node == s.opts.PublicURL.String() {
			return nil, fmt.Errorf("handlers: a token-only server cannot assign users to itself: set the storage node's URL (node_url) or multi_node")
		}
		// A token-only server is no storage node: with several nodes it
		// registers none (the operator adds them); it only names the one
		// node it sends everybody to.
		st.nodeReady = o.MultiNode
	}
	if o.Secrets == nil && o.NodeSecrets == nil {
		s.log.Warn("tokenserver: no secret configured; every token request will get 503")
	}
	if o.Verifier == nil {
		s.log.Warn("tokenserver: no FxA verifier configured; every token request will get 401")
	}
	return st, nil
}

// serveToken answers GET /1.0/sync/1.5 (and /token/1.0/sync/1.5). Every
// answer, errors included, carries X-Timestamp, which Firefox uses to
// correct its clock.
func (s *Server) serveToken(ctx context.Context, c *call, app, version string) (*Response, error) {
	resp, err := s.issueToken(ctx, c, app, version)
	if err != nil {
		resp = s.fail(c, err)
	}
	resp.Header.Set("X-Timestamp", strconv.FormatInt(c.start.Unix(), 10))
	return resp, nil
}

// tokenResponse is the success body of the tokenserver API 1.0, keys in the legacy order.
type tokenResponse struct {
	ID           string  `json:"id"`
	Key          string  `json:"key"`
	UID          int64   `json:"uid"`
	APIEndpoint  string  `json:"api_endpoint"`
	Duration     int64   `json:"duration"`
	HashAlg      string  `json:"hashalg"`
	HashedFxAUID string  `json:"hashed_fxa_uid"`
	NodeType     *string `json:"node_type"`
}

// issueToken runs the legacy validators in their order — method,
// application and version, X-Client-State, Authorization, the access
// token, X-KeyID — then the user record rules, and mints the token.
func (s *Server) issueToken(ctx context.Context, c *call, app, version string) (*Response, error) {
	st := s.token
	if err := allowMethods(c, http.MethodGet); err != nil {
		return nil, err
	}
	if app != tokenApplication {
		return nil, errUnsupportedApplication
	}
	if version != tokenVersion {
		return nil, errUnsupportedVersion(version)
	}
	cred, err := s.tokenRequestCredentials(c)
	if err != nil {
		return nil, err
	}
	if st.opts.Verifier == nil {
		return nil, errUnsupported.because(errors.New("no FxA verifier configured"))
	}
	verifyStart := time.Now()
	vt, err := st.opts.Verifier.Verify(ctx, cred.accessToken)
	s.opts.Metrics.Verification(verifyResult(err), time.Since(verifyStart))
	// A non-integer generation is reported after the X-KeyID checks, in
	// the legacy order.
	var genErr error
	switch {
	case err == nil:
	case errors.Is(err, ErrInvalidGeneration):
		genErr = errInvalidGeneration.because(err)
	case errors.Is(err, ErrTokenRejected):
		return nil, errInvalidCredentials.because(err)
	default:
		return nil, errTokenUnavailable.because(err)
	}
	cs, kca, err := cred.keyState()
	if err != nil {
		return nil, err
	}
	if genErr != nil {
		return nil, genErr
	}
	if !validFxAUID(vt.UID) {
		return nil, errInvalidCredentials.because(fmt.Errorf("FxA uid %.70q is not usable", vt.UID))
	}
	if st.opts.Secrets == nil && st.opts.NodeSecrets == nil {
		return nil, errTokenUnavailable.because(errors.New("no token secret configured"))
	}
	issuer := vt.Issuer
	if issuer == "" {
		issuer = st.opts.Issuer
	}
	email := vt.UID + "@" + issuer
	u, err := s.tokenUser(ctx, email, vt.UID, vt.Generation, kca, cs)
	if err != nil {
		return nil, err
	}
	c.uid = u.UID
	resp, err := s.mintStorageToken(c, u, vt.UID)
	if err == nil {
		s.opts.Metrics.TokenIssued()
	}
	return resp, err
}

// mintStorageToken signs the storage token of user u and builds the answer.
func (s *Server) mintStorageToken(c *call, u db.User, fxaUID string) (*Response, error) {
	st := s.token
	duration := st.duration
	if vals := c.query["duration"]; len(vals) > 0 {
		// Undocumented test hook of the legacy server: it may only shorten.
		if n, err := strconv.ParseInt(strings.TrimSpace(vals[len(vals)-1]), 10, 64); err == nil && n > 0 && n < duration {
			duration = n
		}
	}
	kidTime := u.KeysChangedAt
	if kidTime == 0 {
		kidTime = u.Generation
	}
	kid, err := token.FxAKID(kidTime, u.ClientState)
	if err != nil {
		return nil, errTokenUnavailable.because(fmt.Errorf("stored client state of uid %d: %w", u.UID, err))
	}
	node := st.userNode(u)
	secrets := st.opts.Secrets
	if st.opts.NodeSecrets != nil {
		if secrets = st.opts.NodeSecrets.For(node); secrets == nil {
			return nil, errTokenUnavailable.because(fmt.Errorf("node %s has no secret in the secrets file; add a line for it", node))
		}
	}
	hashed := token.MetricsHash(st.opts.MetricsKey, fxaUID)
	id, key, err := secrets.Mint(token.Payload{
		UID:            int64(u.UID),
		Node:           node,
		Expires:        c.start.Unix() + duration,
		FxAUID:         fxaUID,
		FxAKID:         kid,
		HashedFxAUID:   hashed,
		HashedDeviceID: token.HashedDeviceID(st.opts.MetricsKey, hashed, ""),
	})
	if err != nil {
		return nil, errTokenUnavailable.because(fmt.Errorf("minting a token for uid %d: %w", u.UID, err))
	}
	uid := strconv.FormatInt(int64(u.UID), 10)
	body, err := json.Marshal(tokenResponse{
		ID:           id,
		Key:          key,
		UID:          int64(u.UID),
		APIEndpoint:  strings.NewReplacer("{node}", node, "{uid}", uid, "{service}", db.Service).Replace(st.pattern),
		Duration:     duration,
		HashAlg:      "sha256",
		HashedFxAUID: hashed,
	})
	if err != nil {
		return nil, errTokenUnavailable.because(err)
	}
	return jsonResponse(http.StatusOK, body), nil
}

// userNode is the storage node named in u's tokens: ours, unless
// MultiNode is on and u is assigned to a node of the nodes table (u.Node
// is "" when its node row is gone).
func (st *tokenState) userNode(u db.User) string {
	if st.opts.MultiNode && u.Node != "" {
		return u.Node
	}
	return st.node
}

// validFxAUID reports whether an FxA uid can go into a token: tokens
// carry it as fxa_uid, which storage nodes check against
// ^[A-Za-z0-9=\-_]{1,64}$. FxA's are 32 hex digits.
func validFxAUID(uid string) bool {
	if len(uid) < 1 || len(uid) > 64 {
		return false
	}
	for i := 0; i < len(uid); i++ {
		c := uid[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '=' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
