package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"syncserver/db"
	"syncserver/hawk"
	"syncserver/token"
)

// StorageOptions configure the SyncStorage half.
type StorageOptions struct {
	// Tokens verifies storage tokens (the Hawk id) with the secrets the
	// tokenserver signs with, and caches each token's derived key so that
	// the many requests a client makes with one token cost one HMAC each.
	// Without it every storage request is refused with 401 (and logged).
	Tokens *token.Cache
	// Nonces rejects replayed requests and Hawk timestamps too far from our
	// clock. nil builds one with DefaultHawkWindow and DefaultNonceEntries.
	Nonces *hawk.NonceCache
	// ExpiredTokenTimeout is how long past its expiry a token may still
	// read info/collections (legacy hawkauth expired_token_timeout). Zero
	// means DefaultExpiredTokenTimeout; negative accepts no expired token.
	ExpiredTokenTimeout time.Duration
}

// Defaults of StorageOptions.
const (
	// DefaultExpiredTokenTimeout is the legacy expired_token_timeout: a
	// client whose token just expired can still ask whether anything
	// changed before fetching a new token.
	DefaultExpiredTokenTimeout = 2 * time.Hour
	// DefaultHawkWindow is how far a Hawk ts may be from our clock. It is
	// wide because the legacy server did not check at all and many
	// clients' clocks are wrong; Firefox has no retry for a stale ts.
	DefaultHawkWindow = 365 * 24 * time.Hour
	// DefaultNonceEntries bounds the memory of replay detection, in units
	// of hawk.NonceCache (a nonce is one, a user four): about 4 MB full,
	// twice that while a flooded partition is rebuilt. Nonces are kept
	// only while their token is accepted, so this is every request of
	// thousands of clients.
	DefaultNonceEntries = 1 << 16
)

// storageState is what the storage endpoints keep between requests.
type storageState struct {
	tokens *token.Cache
	nonces *hawk.NonceCache
	// expiredGrace is how many seconds past expiry info/collections still
	// accepts a token; negative for none.
	expiredGrace int64
	// node is public_url as tokens name it (PublicURL.String), built once
	// rather than on every request.
	node string
	// status caches the node's row of the nodes table.
	status nodeStatusCache
}

func newStorageState(s *Server) (*storageState, error) {
	o := s.opts.Storage
	st := &storageState{tokens: o.Tokens, nonces: o.Nonces, node: s.opts.PublicURL.String()}
	if st.nonces == nil {
		st.nonces = hawk.NewNonceCache(DefaultHawkWindow, DefaultNonceEntries)
	}
	switch {
	case o.ExpiredTokenTimeout == 0:
		st.expiredGrace = int64(DefaultExpiredTokenTimeout / time.Second)
	case o.ExpiredTokenTimeout < 0:
		st.expiredGrace = -1
	default:
		st.expiredGrace = int64(o.ExpiredTokenTimeout / time.Second)
	}
	if st.tokens == nil && s.opts.Role.servesStorage() {
		s.log.Warn("storage: no token secrets configured; every storage request will get 401")
	}
	return st, nil
}

// storageRoute names a storage endpoint.
type storageRoute int

const (
	routeStorage storageRoute = iota // /1.5/{uid} and /1.5/{uid}/storage
	routeInfoCollections
	routeInfoQuota
	routeInfoUsage
	routeInfoCounts
	routeInfoConfiguration
	routeCollection
	routeItem
)

// storageRoutes gives each endpoint its log name and allowed methods.
var storageRoutes = [...]struct {
	name    string
	methods []string
}{
	routeStorage:           {"storage.delete", []string{http.MethodDelete}},
	routeInfoCollections:   {"storage.info.collections", []string{http.MethodGet, http.MethodHead}},
	routeInfoQuota:         {"storage.info.quota", []string{http.MethodGet, http.MethodHead}},
	routeInfoUsage:         {"storage.info.collection_usage", []string{http.MethodGet, http.MethodHead}},
	routeInfoCounts:        {"storage.info.collection_counts", []string{http.MethodGet, http.MethodHead}},
	routeInfoConfiguration: {"storage.info.configuration", []string{http.MethodGet, http.MethodHead}},
	routeCollection:        {"storage.collection", []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete}},
	routeItem:              {"storage.item", []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete}},
}

// storageCall is one authenticated storage request.
type storageCall struct {
	*call
	uid  db.UID
	coll string
	item string
	body []byte
}

// serveStorage answers everything below /storage/1.5/{uid} (and /1.5/{uid}):
// it routes (404 and 405 need no credentials), authenticates with Hawk,
// then runs the endpoint.
func (s *Server) serveStorage(ctx context.Context, c *call, uidSeg string, rest []string) (*Response, error) {
	uid, ok := parseUIDSegment(uidSeg)
	if !ok {
		return nil, errNotFound
	}
	route, coll, item, ok := matchStorageRoute(rest)
	if !ok {
		return nil, errNotFound
	}
	c.route = storageRoutes[route].name
	if err := allowMethods(c, storageRoutes[route].methods...); err != nil {
		return nil, err
	}
	expiredOK := route == routeInfoCollections && c.req.Method == http.MethodGet
	auth, err := s.authenticate(c, uid, expiredOK)
	if err != nil {
		return nil, err
	}
	body, err := s.readBody(ctx, c, uid)
	if err != nil {
		return nil, err
	}
	if err := s.checkPayloadAndReplay(c, auth, body); err != nil {
		return nil, err
	}
	c.uid = uid
	// Only a client of ours hears the backoff (and costs a read of it).
	status := s.nodeStatus()
	c.backoff = status.Backoff
	if err := s.checkMoved(ctx, c, uid, status); err != nil {
		return nil, err
	}

	sc := &storageCall{call: c, uid: uid, coll: coll, item: item, body: body}
	resp, err := s.dispatchStorage(ctx, sc, route)
	var nm *notModified
	if errors.As(err, &nm) {
		resp, err = notModifiedResponse(nm.lastModified), nil
	}
	if err != nil {
		return nil, err
	}
	if c.req.Method == http.MethodHead {
		resp.Body = nil
	}
	return resp, nil
}

func (s *Server) dispatchStorage(ctx context.Context, c *storageCall, route storageRoute) (*Response, error) {
	m := c.req.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	switch route {
	case routeStorage:
		return s.deleteStorage(ctx, c)
	case routeInfoCollections:
		return s.infoCollections(ctx, c)
	case routeInfoQuota:
		return s.infoQuota(ctx, c)
	case routeInfoUsage:
		return s.infoUsage(ctx, c)
	case routeInfoCounts:
		return s.infoCounts(ctx, c)
	case routeInfoConfiguration:
		return s.infoConfiguration(ctx, c)
	case routeCollection:
		switch m {
		case http.MethodGet:
			return s.getCollection(ctx, c)
		case http.MethodPost:
			return s.postCollection(ctx, c)
		case http.MethodDelete:
			return s.deleteCollection(ctx, c)
		}
	case routeItem:
		switch m {
		case http.MethodGet:
			return s.getItem(ctx, c)
		case http.MethodPut:
			return s.putItem(ctx, c)
		case http.MethodDelete:
			return s.deleteItem(ctx, c)
		}
	}
	return nil, errMethodNotAllowed // unreachable: allowMethods ran
}

// parseUIDSegment accepts the path's uid, [0-9]{1,10}, as the legacy
// routes did; anything else is not a storage URL.
func parseUIDSegment(seg string) (db.UID, bool) {
	if len(seg) == 0 || len(seg) > 10 {
		return 0, false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(seg, 10, 64)
	if err != nil {
		return 0, false
	}
	return db.UID(n), true
}

// matchStorageRoute maps the decoded segments after the uid to an
// endpoint. Names that break the collection or id rules never match, so
// they are 404s like any unknown URL, as in the legacy server.
func matchStorageRoute(rest []string) (route storageRoute, coll, item string, ok bool) {
	switch {
	case len(rest) == 0:
		return routeStorage, "", "", true
	case len(rest) == 1 && rest[0] == "storage":
		return routeStorage, "", "", true
	case len(rest) == 2 && rest[0] == "info":
		switch rest[1] {
		case "collections":
			return routeInfoCollections, "", "", true
		case "quota":
			return routeInfoQuota, "", "", true
		case "collection_usage":
			return routeInfoUsage, "", "", true
		case "collection_counts":
			return routeInfoCounts, "", "", true
		case "configuration":
			return routeInfoConfiguration, "", "", true
		}
	case len(rest) == 2 && rest[0] == "storage" && db.ValidCollection(rest[1]):
		return routeCollection, rest[1], "", true
	case len(rest) == 3 && rest[0] == "storage" && db.ValidCollection(rest[1]) && db.ValidID(rest[2]):
		return routeItem, rest[1], rest[2], true
	}
	return 0, "", "", false
}
