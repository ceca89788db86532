package handlers

import "context"

// StorageOptions configure the SyncStorage half.
type StorageOptions struct{}

type storageState struct{}

func newStorageState(s *Server) (*storageState, error) { return &storageState{}, nil }

func (s *Server) serveStorage(ctx context.Context, c *call, uid string, rest []string) (*Response, error) {
	return nil, errNotFound
}
