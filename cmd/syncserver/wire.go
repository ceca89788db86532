package main

import (
	"context"
	"fmt"
	"log/slog"

	"syncserver/db"
	"syncserver/db/mysql"
	"syncserver/db/postgres"
	"syncserver/db/sqldb"
	"syncserver/db/sqlite"
	"syncserver/handlers"
	"syncserver/hawk"
	"syncserver/internal/config"
	"syncserver/token"
)

// Settings the server keeps in its database.
const (
	settingSecret     = "secret"
	settingMetricsKey = "metrics_uid_secret_key"
)

// openStore opens the database named by sqluri. A MySQL or PostgreSQL
// server that does not answer yet is no error: the store connects and
// migrates on first use (see standby.go), so that the server can start
// before its database does.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (db.Store, error) {
	s, err := openSQLURI(ctx, cfg.SQLURI, cfg, true, log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openSQLURI opens the database of u with the pool and sqlite settings of
// cfg; lazy lets a database server that does not answer yet be no error.
func openSQLURI(ctx context.Context, u config.SQLURI, cfg *config.Config, lazy bool, log *slog.Logger) (*sqldb.Store, error) {
	var s *sqldb.Store
	var err error
	pool := sqldb.Pool{
		Size:        cfg.Storage.PoolSize,
		MaxOverflow: cfg.Storage.PoolMaxOverflow,
		Recycle:     cfg.Storage.PoolRecycle,
		Timeout:     cfg.Storage.PoolTimeout,
	}
	switch u.Driver {
	case "sqlite":
		s, err = sqlite.Open(ctx, u.Path, sqliteOptions(cfg, log))
	case "mysql":
		s, err = mysql.Open(ctx, u.Raw, mysql.Options{Pool: pool, Lazy: lazy, Logger: log})
	case "postgres":
		s, err = postgres.Open(ctx, u.Raw, postgres.Options{Pool: pool, Lazy: lazy, Logger: log})
	default:
		return nil, fmt.Errorf("sqluri %q: the %s backend is not available in this build", u.Redacted(), u.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", u.Redacted(), err)
	}
	s.SetCapacityReleaseRate(cfg.Tokenserver.CapacityReleaseRate)
	return s, nil
}

// secrets returns the token-signing secrets: the configured ones, or one
// generated on first start and kept in the database, so tokens survive
// restarts and every process sharing the database agrees.
func (m *Main) secrets(ctx context.Context) ([]string, error) {
	if len(m.Config.Secrets) > 0 {
		return m.Config.Secrets, nil
	}
	s, err := m.Store.InitSetting(ctx, settingSecret, randomHex(32))
	if err != nil {
		return nil, fmt.Errorf("storing the generated secret: %w", err)
	}
	return []string{s}, nil
}

// metricsKey returns the key of hashed_fxa_uid: the configured one, or one
// generated once and kept in the database so the hashes stay stable.
func (m *Main) metricsKey(ctx context.Context) (string, error) {
	if k := m.Config.Tokenserver.MetricsUIDSecretKey; k != "" {
		return k, nil
	}
	return m.Store.InitSetting(ctx, settingMetricsKey, randomHex(16))
}

// handlerOptions translates the configuration into the core's options.
func (m *Main) handlerOptions(ctx context.Context) (handlers.Options, error) {
	cfg := m.Config
	// Configured secrets were built by prepareStart; a generated one
	// needs the database.
	tokens := m.parts.tokens
	nodeSecrets := m.parts.nodeSecrets
	if nodeSecrets != nil {
		// Per-node secrets replace [syncserver] secret: this node
		// verifies with its own, the tokenserver signs with each node's.
		tokens = nodeSecrets.For(cfg.PublicURL.String())
	} else if tokens == nil {
		secrets, err := m.secrets(ctx)
		if err != nil {
			return handlers.Options{}, err
		}
		if tokens, err = token.NewSecrets(secrets); err != nil {
			return handlers.Options{}, err
		}
	}
	metricsKey, err := m.metricsKey(ctx)
	if err != nil {
		return handlers.Options{}, err
	}
	pu := cfg.PublicURL
	var tokenCache *token.Cache
	if tokens != nil && cfg.Role != "token" {
		tokenCache = token.NewCacheBytes(tokens, cfg.Hawk.TokenCacheBytes)
	}
	signing := tokens
	if nodeSecrets != nil {
		signing = nil
	}
	return handlers.Options{
		Role:             handlers.Role(cfg.Role),
		PublicURL:        handlers.PublicURL{Scheme: pu.Scheme, Host: pu.Host, Port: pu.Port, Prefix: pu.Prefix},
		ForceWSGIEnviron: cfg.ForceWSGIEnviron,
		Store:            m.Store,
		Limits: handlers.Limits{
			MaxRequestBytes:       cfg.Storage.MaxRequestBytes,
			MaxRecordPayloadBytes: cfg.Storage.MaxRecordPayloadBytes,
			MaxPostRecords:        cfg.Storage.MaxPostRecords,
			MaxPostBytes:          cfg.Storage.MaxPostBytes,
			MaxTotalRecords:       cfg.Storage.MaxTotalRecords,
			MaxTotalBytes:         cfg.Storage.MaxTotalBytes,
		},
		BodyBufferBytes:    cfg.Server.MaxBodyBufferBytes,
		BatchUploadEnabled: cfg.Storage.BatchUploadEnabled,
		QuotaBytes:         cfg.Storage.QuotaSize,
		CORSAllowedOrigins: cfg.CORSAllowedOrigins,
		Version:            Version(),
		Logger:             m.Logger,
		Storage: handlers.StorageOptions{
			Tokens:              tokenCache,
			Nonces:              hawk.NewNonceCache(cfg.Hawk.TimestampWindow, handlers.DefaultNonceEntries),
			ExpiredTokenTimeout: cfg.Hawk.ExpiredTokenTimeout,
		},
		Token: handlers.TokenOptions{
			Secrets:         signing,
			NodeSecrets:     nodeSecrets,
			Verifier:        fxaVerifier{m.parts.verifier},
			Issuer:          cfg.Tokenserver.DefaultIssuer,
			Duration:        cfg.Tokenserver.TokenDuration,
			AllowNewUsers:   cfg.AllowNewUsers,
			MetricsKey:      metricsKey,
			EndpointPattern: cfg.EndpointPattern,
			NodeURL:         cfg.Tokenserver.NodeURL,
			AllowedUsers:    cfg.Tokenserver.AllowedUsers,
			MaxUsers:        cfg.Tokenserver.MaxUsers,
			MultiNode:       cfg.Tokenserver.MultiNode,
		},
	}, nil
}
