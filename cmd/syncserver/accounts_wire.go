package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"syncserver/accounts"
	"syncserver/db"
	"syncserver/handlers"
	"syncserver/internal/config"
)

// settingFakeSaltKey keys the fake client salts the accounts service
// serves for unknown emails: kept in the database, so an email's fake salt
// is the same across restarts and processes (a changing one would tell a
// prober the account does not exist).
const settingFakeSaltKey = "accounts_fake_salt_key"

// accountsService builds the built-in accounts service on the same
// database as the storage, when [accounts] is enabled.
func (m *Main) accountsService(ctx context.Context) (*accounts.Service, error) {
	cfg := m.Config
	as, ok := m.Store.(db.AccountsStore)
	if !ok {
		return nil, fmt.Errorf("[accounts] enabled, but this database (%s) cannot keep accounts", cfg.SQLURI.Redacted())
	}
	key, err := m.Store.InitSetting(ctx, settingFakeSaltKey, randomHex(32))
	if err != nil {
		return nil, fmt.Errorf("storing the accounts key: %w", err)
	}
	secret, err := hex.DecodeString(key)
	if err != nil {
		secret = []byte(key)
	}
	var counts accounts.Metrics
	if m.ops != nil && m.ops.metrics != nil {
		counts = m.ops.metrics
		// The stats loop reads the active sessions with the other totals.
		m.ops.accounts = as
	}
	return accounts.New(ctx, accounts.Options{
		Metrics:          counts,
		Store:            as,
		Origin:           cfg.Accounts.PublicURL,
		TokenServerURL:   tokenServerURL(cfg),
		Secret:           secret,
		OpenSignup:       cfg.Accounts.OpenSignup,
		AccessTokenTTL:   cfg.Accounts.AccessTokenTTL,
		Logger:           m.Logger,
		LoginsPerAccount: cfg.Accounts.LoginsPerAccount,
		LoginsPerAddress: cfg.Accounts.LoginsPerAddress,
		RemoveSyncData:   m.removeAccountSyncData,
	})
}

// removeAccountSyncData deletes the Sync data of the built-in account uid
// when its owner deletes the account on the settings page, as `accounts
// remove` does for the operator.
func (m *Main) removeAccountSyncData(ctx context.Context, uid string) error {
	_, _, err := m.removeSyncData(ctx, m.syncUser(db.Account{UID: uid}))
	return err
}

// tokenServerURL is the tokenserver base Firefox is told about (its
// discovery document's sync_tokenserver_base_url): public_url + "token".
func tokenServerURL(cfg *config.Config) string {
	return strings.TrimSuffix(cfg.PublicURL.String(), "/") + "/token"
}

// accountsVerifier is the tokenserver's verifier with our accounts on:
// ours alone, or ours and Mozilla's (mixed mode) when the configuration
// names a Firefox Accounts server explicitly (identity_provider or
// oauth_verifier). The two report different issuers, so their users never
// share a tokenserver identity.
func accountsVerifier(cfg *config.Config, svc *accounts.Service, fxa handlers.TokenVerifier) handlers.TokenVerifier {
	if cfg.IdentityProvider == "" && cfg.OAuthVerifier == "" {
		return accounts.MixedVerifier(svc.Verifier(), nil, svc.Origin())
	}
	return accounts.MixedVerifier(svc.Verifier(), fxa, svc.Origin())
}

// accountsFront mounts the accounts service ahead of the storage and token
// routes. With a dedicated accounts origin, requests for its host go to
// the service only (that origin serves the page and JSON APIs, no other
// HTML); on a shared origin the service takes its own paths and hands the
// rest on.
type accountsFront struct {
	svc       *accounts.Service
	next      handlers.Handler
	dedicated bool
	host      string // host of the accounts origin: lower case, without IPv6 brackets
	port      int
	// defaultPort: the accounts origin is on its scheme's default port;
	// sharedHost: the storage origin has the same host (on another port).
	// Together they say what a Host header without a port names.
	defaultPort bool
	sharedHost  bool
}

func newAccountsFront(cfg *config.Config, svc *accounts.Service, next handlers.Handler) (*accountsFront, error) {
	u, err := config.ParsePublicURL(cfg.Accounts.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("[accounts] public_url: %w", err)
	}
	f := &accountsFront{
		svc:         svc,
		next:        next,
		dedicated:   u.Origin() != cfg.PublicURL.Origin(),
		host:        strings.Trim(strings.ToLower(u.Host), "[]"),
		port:        u.Port,
		defaultPort: u.Port == defaultPortOf(u.Scheme),
		sharedHost:  strings.EqualFold(u.Host, cfg.PublicURL.Host),
	}
	return f, nil
}

func defaultPortOf(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// onAccountsOrigin reports whether a request's Host names the accounts
// origin. A Host without a port is taken as the accounts origin unless
// the storage origin has the same host and the accounts origin is not on
// the default port (a proxy that drops the port would make it ambiguous).
func (f *accountsFront) onAccountsOrigin(hostHeader string) bool {
	host, port := hostHeader, 0
	if h, p, err := net.SplitHostPort(hostHeader); err == nil {
		host = h
		port, _ = strconv.Atoi(p)
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host != f.host {
		return false
	}
	if port != 0 {
		return port == f.port
	}
	return f.defaultPort || !f.sharedHost
}

func (f *accountsFront) Serve(ctx context.Context, r *handlers.Request) *handlers.Response {
	if !f.dedicated {
		if resp, ok := f.svc.Serve(ctx, r); ok {
			return resp
		}
		return f.next.Serve(ctx, r)
	}
	if !f.onAccountsOrigin(r.Host) {
		return f.next.Serve(ctx, r)
	}
	if resp, ok := f.svc.Serve(ctx, r); ok {
		return resp
	}
	path, _, _ := strings.Cut(r.RequestURI, "?")
	if path == "/__heartbeat__" || path == "/__lbheartbeat__" {
		// JSON health checks of the process; a load balancer in front of
		// the accounts host may ask them.
		return f.next.Serve(ctx, r)
	}
	resp := &handlers.Response{Status: http.StatusNotFound, Header: make(http.Header),
		Body: []byte(`{"code":404,"errno":999,"error":"Not Found","message":"Not found"}`)}
	resp.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp.Header.Set("Cache-Control", "no-store")
	resp.Header.Set("X-Content-Type-Options", "nosniff")
	resp.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	return resp
}
