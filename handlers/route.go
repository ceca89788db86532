package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// route finds the endpoint for c.path, the path with any public_url prefix
// removed. Routes (docs/ARCHITECTURE.md): tokenserver under /token/1.0 and /1.0,
// storage under /storage/1.5/{uid} and /1.5/{uid}, and the service
// endpoints; the legacy bundle's /token/… and /storage/… variants of the
// service endpoints answer too. A token-only or storage-only server
// (Options.Role) answers the other half's routes 404.
func (s *Server) route(ctx context.Context, c *call) (*Response, error) {
	segs, ok := splitPath(c.path)
	if !ok {
		return nil, errNotFound
	}
	// The legacy bundle mounted each app under a prefix; its service
	// endpoints answered there as well.
	if len(segs) == 2 && (segs[0] == "token" || segs[0] == "storage") && strings.HasPrefix(segs[1], "__") {
		segs = segs[1:]
	}
	switch {
	case len(segs) == 0:
		c.route = "root"
		return s.get(c, s.root)
	case len(segs) == 1 && segs[0] == "__heartbeat__":
		c.route = "heartbeat"
		return s.getCtx(ctx, c, s.heartbeat)
	case len(segs) == 1 && segs[0] == "__lbheartbeat__":
		c.route = "lbheartbeat"
		return s.get(c, s.lbheartbeat)
	case len(segs) == 1 && segs[0] == "__version__":
		c.route = "version"
		return s.get(c, s.version)
	case len(segs) == 1 && (segs[0] == "token" || segs[0] == "storage"):
		c.route = "root"
		return s.get(c, s.root)
	}
	role := s.opts.Role
	switch {
	case !role.servesToken():
	case len(segs) == 4 && segs[0] == "token" && segs[1] == "1.0":
		c.route = "token"
		return s.serveToken(ctx, c, segs[2], segs[3])
	case len(segs) == 3 && segs[0] == "1.0":
		c.route = "token"
		return s.serveToken(ctx, c, segs[1], segs[2])
	}
	switch {
	case !role.servesStorage():
	case len(segs) >= 3 && segs[0] == "storage" && segs[1] == "1.5":
		c.route = "storage"
		return s.serveStorage(ctx, c, segs[2], segs[3:])
	case len(segs) >= 2 && segs[0] == "1.5":
		c.route = "storage"
		return s.serveStorage(ctx, c, segs[1], segs[2:])
	}
	return nil, errNotFound
}

// splitPath splits a raw path into decoded segments. "/" gives none; a
// trailing slash is ignored; a malformed escape fails.
func splitPath(raw string) ([]string, bool) {
	raw = strings.TrimPrefix(raw, "/")
	raw = strings.TrimSuffix(raw, "/")
	if raw == "" {
		return nil, true
	}
	segs := strings.Split(raw, "/")
	for i, seg := range segs {
		if strings.IndexByte(seg, '%') < 0 {
			continue
		}
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return nil, false
		}
		segs[i] = dec
	}
	return segs, true
}

// get runs a service endpoint that answers GET (and HEAD) only.
func (s *Server) get(c *call, h func(*call) *Response) (*Response, error) {
	if err := allowMethods(c, http.MethodGet, http.MethodHead); err != nil {
		return nil, err
	}
	return h(c), nil
}

func (s *Server) getCtx(ctx context.Context, c *call, h func(context.Context, *call) *Response) (*Response, error) {
	if err := allowMethods(c, http.MethodGet, http.MethodHead); err != nil {
		return nil, err
	}
	return h(ctx, c), nil
}

// allowMethods answers 405 with an Allow header unless the request's
// method is one of methods.
func allowMethods(c *call, methods ...string) error {
	for _, m := range methods {
		if c.req.Method == m {
			return nil
		}
	}
	return errMethodNotAllowed.withHeader("Allow", strings.Join(methods, ", "))
}
