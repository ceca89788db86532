package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"syncserver/db"
)

// headerValue returns the first value of a request header and whether the
// header was sent at all: an empty X-If-* value is malformed, not absent.
func headerValue(h http.Header, key string) (string, bool) {
	vs := h.Values(key)
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// preconditions are the X-If-Modified-Since and X-If-Unmodified-Since
// headers of a request (SyncStorage API 1.5, "Request headers").
type preconditions struct {
	modifiedSince   db.Timestamp
	unmodifiedSince db.Timestamp
	hasModified     bool
	hasUnmodified   bool
}

// parsePreconditions reads the precondition headers. Both at once, or a
// value that is not a non-negative decimal number, is a 400 with code 1.
func parsePreconditions(h http.Header) (preconditions, error) {
	var p preconditions
	ims, hasIMS := headerValue(h, "X-If-Modified-Since")
	ius, hasIUS := headerValue(h, "X-If-Unmodified-Since")
	if hasIMS && hasIUS {
		return p, weaveError(http.StatusBadRequest, codeIllegal, "both X-If-Modified-Since and X-If-Unmodified-Since")
	}
	var err error
	if hasIMS {
		if p.modifiedSince, err = db.ParseTimestamp(ims); err != nil {
			return p, weaveError(http.StatusBadRequest, codeIllegal, "bad X-If-Modified-Since %.40q", ims)
		}
		p.hasModified = true
	}
	if hasIUS {
		if p.unmodifiedSince, err = db.ParseTimestamp(ius); err != nil {
			return p, weaveError(http.StatusBadRequest, codeIllegal, "bad X-If-Unmodified-Since %.40q", ius)
		}
		p.hasUnmodified = true
	}
	return p, nil
}

// check compares the target resource's last-modified time ts (0 when it
// does not exist) with the preconditions: a *notModified when the client
// is up to date, a 412 when the resource changed since the client looked.
// Writers call it inside their Update so nothing can change in between.
func (p preconditions) check(ts db.Timestamp) error {
	if p.hasModified && ts <= p.modifiedSince {
		return &notModified{lastModified: ts}
	}
	if p.hasUnmodified && ts > p.unmodifiedSince {
		return weaveError(http.StatusPreconditionFailed, codeUnknown,
			"modified at %s, after X-If-Unmodified-Since %s", ts, p.unmodifiedSince).
			withHeader("X-Last-Modified", ts.String())
	}
	return nil
}

// notModified aborts an endpoint (and rolls back its transaction) when
// X-If-Modified-Since says the client already has the resource.
// serveStorage turns it into a 304, which has no body.
type notModified struct{ lastModified db.Timestamp }

func (e *notModified) Error() string { return "not modified since " + e.lastModified.String() }

func notModifiedResponse(ts db.Timestamp) *Response {
	r := newResponse(http.StatusNotModified)
	r.Header.Set("X-Last-Modified", ts.String())
	return r
}

// Output formats of GET endpoints.
const (
	mimeJSON     = "application/json"
	mimeNewlines = "application/newlines"
	mimeText     = "text/plain"
)

// negotiate picks the first of offers the Accept header accepts with the
// highest quality, or "" for a 406. No Accept (or an empty one) means
// JSON, as the legacy server's default Accept header did; */* also picks
// the first offer, JSON.
func negotiate(h http.Header, offers ...string) string {
	accept := strings.Join(h.Values("Accept"), ",")
	if strings.TrimSpace(accept) == "" {
		return offers[0]
	}
	best, bestQ := "", 0.0
	for _, offer := range offers {
		if q := acceptQuality(accept, offer); q > bestQ {
			best, bestQ = offer, q
		}
	}
	return best
}

// acceptQuality is the q the Accept header gives to the media type offer,
// from its most specific matching range (type/subtype, type/*, */*).
func acceptQuality(accept, offer string) float64 {
	otype, _, _ := strings.Cut(offer, "/")
	q, spec := 0.0, 0
	for _, rng := range strings.Split(accept, ",") {
		mt, params, _ := strings.Cut(rng, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		var s int
		switch {
		case mt == offer:
			s = 3
		case mt == otype+"/*":
			s = 2
		case mt == "*/*" || mt == "*":
			s = 1
		default:
			continue
		}
		if s < spec {
			continue
		}
		rq := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
					rq = f
				}
			}
		}
		if s > spec || rq > q {
			q, spec = rq, s
		}
	}
	return q
}

// acceptJSONOnly refuses a GET whose Accept header rules out JSON, the only
// format of every storage GET but the collection listing.
func acceptJSONOnly(c *call) error {
	if negotiate(c.req.Header, mimeJSON) == "" {
		return errNotAcceptable
	}
	return nil
}

// errNotAcceptable is the 406 of a GET whose Accept the endpoint cannot meet.
var errNotAcceptable = weaveError(http.StatusNotAcceptable, codeUnknown, "no acceptable output format")

// errUnsupportedType is the 415 of a body in a format the endpoint does not read.
func errUnsupportedType(ct string) error {
	return weaveError(http.StatusUnsupportedMediaType, codeUnknown, "unsupported Content-Type %.60q", ct)
}

// mediaType is the lower-cased type/subtype of a Content-Type header,
// parameters dropped.
func mediaType(ct string) string {
	t, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// postLimitHeaders are the X-Weave-* headers by which a client announces
// the size of a POST and of its whole batch (SyncStorage API 1.5).
var postLimitHeaders = []struct {
	name  string
	limit func(Limits) int64
}{
	{"X-Weave-Records", func(l Limits) int64 { return l.MaxPostRecords }},
	{"X-Weave-Bytes", func(l Limits) int64 { return l.MaxPostBytes }},
	{"X-Weave-Total-Records", func(l Limits) int64 { return l.MaxTotalRecords }},
	{"X-Weave-Total-Bytes", func(l Limits) int64 { return l.MaxTotalBytes }},
}

// checkPostHeaders refuses a POST whose announced sizes exceed the limits
// (inclusive): 400 with 17 so that the client splits its upload; a value
// that is not an integer is a 400 with 1.
func (s *Server) checkPostHeaders(h http.Header) error {
	for _, lh := range postLimitHeaders {
		v, ok := headerValue(h, lh.name)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return weaveError(http.StatusBadRequest, codeIllegal, "%s is not an integer: %.40q", lh.name, v)
		}
		if limit := lh.limit(s.opts.Limits); n > limit {
			return weaveError(http.StatusBadRequest, codeSizeExceeded, "%s %d is over the limit %d", lh.name, n, limit)
		}
	}
	return nil
}

// quotaWarning is the remaining space below which writes report
// X-Weave-Quota-Remaining, as the legacy server does.
const quotaWarning = 1 << 20

// checkQuota refuses, inside the write's transaction, a PUT or POST that
// would leave the user without room: 403 with 14, nothing written. It
// returns the X-Weave-Quota-Remaining value (KB, two decimals) when less
// than 1 MiB is left after the write, else "". incoming is the size of the
// request's payloads as usage counts them. Quotas are off when the user's
// quota (see quotaOf) is 0.
func (s *Server) checkQuota(tx db.Tx, incoming int64) (string, error) {
	quota, err := s.quotaOf(tx)
	if err != nil || quota <= 0 {
		return "", err
	}
	used, err := tx.StorageUsage()
	if err != nil {
		return "", err
	}
	left := quota - used - incoming
	if left <= 0 {
		return "", weaveError(http.StatusForbidden, codeOverQuota, "over quota: %d used, %d incoming, quota %d", used, incoming, quota)
	}
	if left < quotaWarning {
		return strconv.FormatFloat(float64(left)/1024, 'f', 2, 64), nil
	}
	return "", nil
}

// quotaOf returns the quota of the transaction's user in bytes, 0 for no
// limit: the account's own (`syncserver users set-quota`) when the store
// keeps one, else QuotaBytes.
func (s *Server) quotaOf(tx db.Tx) (int64, error) {
	if qt, ok := tx.(db.QuotaTx); ok {
		n, ok, err := qt.UserQuota()
		if err != nil || ok {
			return n, err
		}
	}
	return s.opts.QuotaBytes, nil
}

// setLastModified sets X-Last-Modified, which every successful storage
// response carries.
func setLastModified(r *Response, ts db.Timestamp) {
	r.Header.Set("X-Last-Modified", ts.String())
}
