package handlers

import (
	"errors"
	"time"

	"syncserver/db"
)

// Metrics receives what the core measures, for an exporter such as
// Prometheus that cmd/syncserver plugs in (handlers never imports one).
// Every method runs on the request's path: implementations must be safe
// for concurrent use, cheap and non-blocking. Labels are bounded: route
// names come from the router, never from the URL.
type Metrics interface {
	// Request is called once per request, when its answer is ready, with
	// the endpoint's route name ("storage.collection", "token", …,
	// "unknown" for unmatched URLs), the method, the status and how long
	// the core took.
	Request(route, method string, status int, elapsed time.Duration)
	// TokenIssued counts a storage token handed to a client.
	TokenIssued()
	// Verification reports one check of an access token with FxA: result
	// is one of the Verify* constants.
	Verification(result string, elapsed time.Duration)
	// DatabaseError counts a database failure that reached a client as a
	// 503: kind is "conflict" (lock contention) or "unavailable".
	DatabaseError(kind string)
}

// Results of Metrics.Verification.
const (
	VerifyOK                = "ok"
	VerifyRejected          = "rejected"
	VerifyInvalidGeneration = "invalid_generation"
	VerifyUnavailable       = "unavailable"
)

// noMetrics is the Metrics of a server without an exporter.
type noMetrics struct{}

func (noMetrics) Request(string, string, int, time.Duration) {}
func (noMetrics) TokenIssued()                               {}
func (noMetrics) Verification(string, time.Duration)         {}
func (noMetrics) DatabaseError(string)                       {}

// verifyResult classifies a TokenVerifier's answer for Metrics.
func verifyResult(err error) string {
	switch {
	case err == nil:
		return VerifyOK
	case errors.Is(err, ErrInvalidGeneration):
		return VerifyInvalidGeneration
	case errors.Is(err, ErrTokenRejected):
		return VerifyRejected
	}
	return VerifyUnavailable
}

// countDatabaseError tells Metrics about a database failure in err, if any.
func (s *Server) countDatabaseError(err error) {
	switch {
	case errors.Is(err, db.ErrConflict):
		s.opts.Metrics.DatabaseError("conflict")
	case errors.Is(err, db.ErrUnavailable), errors.Is(err, db.ErrSchemaTooNew):
		s.opts.Metrics.DatabaseError("unavailable")
	}
}
