package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"syncserver/db/sqlite"
	"syncserver/fcgi"
	"syncserver/fxa"
	"syncserver/internal/config"
	"syncserver/token"
)

// startParts is what the server builds from its configuration alone,
// before it opens the database or listens.
type startParts struct {
	verifier *fxa.Verifier
	// tokens signs and checks tokens with the configured secrets; nil
	// when none is configured (one is generated and kept in the database).
	tokens *token.Secrets
	// nodeSecrets are the per-node secrets of [tokenserver] secrets_file;
	// nil when it is not set.
	nodeSecrets *token.NodeSecrets
}

// prepareStart builds, from the configuration alone, every part of the
// server that a setting can make impossible, and so refuses each such
// setting as the start does. It is the one start-up validation: load
// runs it before opening the database (for serving and for the commands
// that go through load), and check runs the very same, so that check passes exactly the
// configurations the server starts with. config.Load has read and
// checked each value on its own; what a value means to the part that
// uses it (a key set, a sqlite level) is known only to that part, and
// asked here.
func prepareStart(cfg *config.Config, log *slog.Logger) (*startParts, error) {
	if err := sqliteOptions(cfg, log).Validate(); err != nil {
		return nil, settingError(cfg, "[storage] sqlite_synchronous = "+config.Quote(cfg.Storage.SQLiteSynchronous), err)
	}
	if cfg.Tokenserver.JWKS != "" {
		// Alone first, so that the error names the key.
		if _, err := fxa.New(fxa.Config{JWKS: cfg.Tokenserver.JWKS}); err != nil {
			return nil, settingError(cfg, "[oauth] jwks", err)
		}
	}
	verifier, err := newVerifier(cfg, log)
	if err != nil {
		return nil, settingError(cfg, "the Firefox Accounts settings (identity_provider, oauth_verifier)", err)
	}
	if err := fcgiOptions(cfg, log).Validate(); err != nil {
		return nil, settingError(cfg, "[server:main] socket_group = "+config.Quote(cfg.Server.SocketGroup), err)
	}
	p := &startParts{verifier: verifier}
	if len(cfg.Secrets) > 0 {
		if p.tokens, err = token.NewSecrets(cfg.Secrets); err != nil {
			return nil, settingError(cfg, "[syncserver] secret", err)
		}
	}
	if cfg.Tokenserver.SecretsFile != "" {
		if p.nodeSecrets, err = readNodeSecrets(cfg); err != nil {
			return nil, settingError(cfg, "[tokenserver] secrets_file "+cfg.Tokenserver.SecretsFile, err)
		}
	}
	return p, nil
}

// readNodeSecrets reads the per-node secrets file and checks that it
// holds the secrets this process needs: those of its own storage node
// (public_url) unless it is a token-only server, and those of the one
// node a token server without multi_node sends everybody to.
func readNodeSecrets(cfg *config.Config) (*token.NodeSecrets, error) {
	f, err := os.Open(cfg.Tokenserver.SecretsFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ns, err := token.ParseNodeSecrets(f)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "token: "))
	}
	if cfg.Role != "token" {
		if node := cfg.PublicURL.String(); ns.For(node) == nil {
			return nil, fmt.Errorf("no secret for this node, %s (its public_url): add a line \"%s,<timestamp>:<secret>\"", node, node)
		}
	}
	if node := nodeURLOf(cfg.Tokenserver.NodeURL); !cfg.Tokenserver.MultiNode && cfg.Role != "storage" && ns.For(node) == nil {
		return nil, fmt.Errorf("no secret for node_url %s, where every account is sent: add a line \"%s,<timestamp>:<secret>\"", node, node)
	}
	return ns, nil
}

// settingError names the configuration and the setting a part refused,
// on one line of bounded length whatever the part's error echoes.
func settingError(cfg *config.Config, setting string, err error) error {
	where := "configuration"
	if cfg.File != "" {
		where = cfg.File
	}
	msg := strings.NewReplacer("\r", " ", "\n", " ").Replace(fmt.Sprintf("%s: %s: %v", where, setting, err))
	return &startError{msg: config.ClipMessage(msg), err: err}
}

// startError is a refused setting: its message, and the part's error.
type startError struct {
	msg string
	err error
}

func (e *startError) Error() string { return e.msg }
func (e *startError) Unwrap() error { return e.err }

// sqliteOptions are the options of a sqlite database: the same for the
// start-up validation and for opening one.
func sqliteOptions(cfg *config.Config, log *slog.Logger) sqlite.Options {
	return sqlite.Options{Synchronous: cfg.Storage.SQLiteSynchronous, PageCacheBytes: cfg.Storage.SQLiteCacheBytes, Logger: log}
}

// fcgiOptions are the options of the FastCGI front-end: the same for the
// start-up validation and for listening. (socket_group matters only on a
// unix socket, but a group that does not exist is refused whatever the
// front-end: check cannot know the flags the service will be started
// with.)
func fcgiOptions(cfg *config.Config, log *slog.Logger) fcgi.Options {
	return fcgi.Options{
		MaxRequestBytes: cfg.Storage.MaxRequestBytes,
		ReadTimeout:     cfg.Server.ReadTimeout,
		ShutdownTimeout: cfg.Server.ShutdownTimeout,
		Logger:          log,
		SocketMode:      cfg.Server.SocketMode,
		SocketGroup:     cfg.Server.SocketGroup,
	}
}
