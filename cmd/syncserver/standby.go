package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"syncserver/accounts"
	"syncserver/db"
	"syncserver/handlers"
)

// standbyRetry is how often a server waiting for its database tries again.
const standbyRetry = 2 * time.Second

// standby is the handler of a server whose database did not answer when it
// started (a MySQL or PostgreSQL server still starting, or down): it
// listens anyway, answers /__heartbeat__ 503 saying the database is
// unreachable and every other request 503 with Retry-After, and keeps
// trying. Once the database answers it builds the real handler, which
// serves from then on, and starts the background work. A server that
// started with its database stays up through later outages by itself:
// each request then fails with 503 and the next one tries again.
type standby struct {
	m      *Main
	real   atomic.Pointer[handlers.Handler]
	cancel context.CancelFunc
	done   chan struct{}
}

// startStandby starts waiting for the database; cause is why it is needed.
func (m *Main) startStandby(cause error) *standby {
	ctx, cancel := context.WithCancel(context.Background())
	sb := &standby{m: m, cancel: cancel, done: make(chan struct{})}
	m.Logger.Warn("the database does not answer: serving 503 until it does", "error", cause.Error())
	go sb.wait(ctx)
	return sb
}

// wait builds the real handler once the database answers.
func (sb *standby) wait(ctx context.Context) {
	defer close(sb.done)
	m := sb.m
	logged := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(standbyRetry):
		}
		h, err := m.buildHandler(ctx)
		if err != nil {
			level := slog.LevelDebug
			if !errors.Is(err, db.ErrUnavailable) || time.Since(logged) > time.Minute {
				level, logged = slog.LevelWarn, time.Now()
			}
			m.Logger.Log(ctx, level, "the database still does not answer", "error", err.Error())
			continue
		}
		sb.real.Store(&h)
		m.Logger.Info("the database answers: serving")
		if err := m.startOperations(); err != nil {
			m.Logger.Error("starting the background work", "error", err.Error())
		}
		return
	}
}

// stop ends the wait (Close).
func (sb *standby) stop() {
	sb.cancel()
	<-sb.done
}

// Serve hands the request to the real handler once there is one.
func (sb *standby) Serve(ctx context.Context, req *handlers.Request) *handlers.Response {
	if h := sb.real.Load(); h != nil {
		return (*h).Serve(ctx, req)
	}
	path, _, _ := strings.Cut(req.RequestURI, "?")
	resp := &handlers.Response{Status: http.StatusServiceUnavailable, Header: make(http.Header)}
	resp.Header.Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(path, "/__lbheartbeat__"):
		// The process is alive.
		resp.Status, resp.Body = http.StatusOK, []byte("{}")
		return resp
	case strings.HasSuffix(path, "/__heartbeat__"):
		resp.Body, _ = json.Marshal(map[string]any{
			"status":         "Err",
			"database":       "Err",
			"database_error": "database unreachable",
			"version":        Version(),
		})
	default:
		resp.Body = []byte("0")
	}
	resp.Header.Set("Retry-After", "60")
	return resp
}

// buildHandler makes the protocol core; it needs the database for a
// generated secret and metrics key. With [accounts] enabled, the accounts
// service (which keeps its signing key in the database too) is mounted
// ahead of it and verifies our access tokens for the tokenserver.
func (m *Main) buildHandler(ctx context.Context) (handlers.Handler, error) {
	opts, err := m.handlerOptions(ctx)
	if err != nil {
		return nil, err
	}
	// The metrics first: the accounts service counts into them too.
	m.attachMetrics(&opts)
	var svc *accounts.Service
	if m.Config.Accounts.Enabled {
		if svc, err = m.accountsService(ctx); err != nil {
			return nil, err
		}
		opts.Token.Verifier = accountsVerifier(m.Config, svc, opts.Token.Verifier)
	}
	core, err := handlers.New(opts)
	if err != nil {
		return nil, err
	}
	if svc == nil {
		return core, nil
	}
	return newAccountsFront(m.Config, svc, core)
}
