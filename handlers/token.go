package handlers

import "context"

// TokenOptions configure the tokenserver half.
type TokenOptions struct{}

type tokenState struct{}

func newTokenState(s *Server) (*tokenState, error) { return &tokenState{}, nil }

func (s *Server) serveToken(ctx context.Context, c *call, app, version string) (*Response, error) {
	return nil, errNotFound
}
