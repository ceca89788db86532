package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"syncserver/db"
	"syncserver/db/mysql"
	"syncserver/db/postgres"
	"syncserver/db/sqldb"
	"syncserver/db/sqlite"
	"syncserver/internal/config"
)

// syncserver check: is this configuration ready to serve? It reads the
// configuration, tests as the user it runs as what the server will need of
// the file system (the database, its directory, the FastCGI socket's),
// looks at the database without changing it (pending migrations are
// reported, not applied), at public_url, the secret and who may read it,
// the purge, who may sync and the metrics endpoint, and prints the setting
// to type into Firefox.

func checkCommand() command {
	return command{
		summary: "check the configuration and the database; print the Firefox setting",
		run:     runCheck,
	}
}

// Check statuses.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "fail"
)

type checkResult struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

type checkReport struct {
	OK      bool              `json:"ok"`
	Config  string            `json:"config"`
	Checks  []checkResult     `json:"checks"`
	Firefox map[string]string `json:"firefox,omitempty"`
}

func (r *checkReport) add(name, status, format string, args ...any) {
	r.Checks = append(r.Checks, checkResult{Name: name, Status: status, Message: fmt.Sprintf(format, args...)})
	if status == checkFail {
		r.OK = false
	}
}

// firefoxPref is the about:config setting that points Firefox here.
const firefoxPref = "identity.sync.tokenserver.uri"

// autoconfigPref is the one setting that points Firefox at the built-in
// accounts: it discovers the rest, this tokenserver included, from the
// accounts origin.
const autoconfigPref = "identity.fxaccounts.autoconfig.uri"

func runCheck(ctx context.Context, m *Main) int {
	fs := m.newFlags("check", "check [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, m.Args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		return m.badArgs(fs, "check takes no arguments, got %q", pos)
	}
	rep := &checkReport{OK: true, Config: m.ConfigPath}
	m.check(ctx, rep)
	defer m.Close()
	if *asJSON {
		if err := writeJSON(m.Stdout, rep); err != nil {
			return m.fail(err)
		}
	} else {
		printCheck(m, rep)
	}
	if !rep.OK {
		return exitFail
	}
	return exitOK
}

func (m *Main) check(ctx context.Context, rep *checkReport) {
	cfg, notices, err := m.loadConfig()
	if err != nil {
		rep.add("config", checkFail, "%v", err)
		return
	}
	if cfg.File != "" {
		rep.Config = cfg.File
		rep.add("config", checkOK, "%s read (%s)", cfg.File, cfg.Format)
	} else {
		rep.Config = ""
		rep.add("config", checkWarn, "no file read: defaults and SYNCSERVER_* variables only")
	}
	for _, n := range notices {
		rep.add("config", checkWarn, "%s", n.String())
	}
	// The start-up validation itself, not a copy of it: what the server
	// would refuse at its start, check refuses.
	if _, err := prepareStart(cfg, slog.New(slog.DiscardHandler)); err != nil {
		rep.add("config", checkFail, "%v", err)
		return
	}
	rep.Firefox = map[string]string{firefoxPref: cfg.PublicURL.String() + "/token/1.0/sync/1.5"}
	checkPublicURL(cfg, m.HTTPAddr, rep)
	checkRunAs(cfg, rep)
	checkDatabaseFiles(cfg, rep)
	checkSocketDir(m.FCGIAddr, rep)
	checkSecretFiles(cfg, m.Getenv, rep)
	m.checkDatabase(ctx, cfg, rep)
	checkPurge(cfg, rep)
	m.checkWhoMaySync(ctx, cfg, rep)
	checkMetrics(cfg, rep)
	m.checkAccounts(ctx, cfg, rep)
}

// isLoopback reports whether host names this machine only.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isUnspecified(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

func checkPublicURL(cfg *config.Config, httpAddr string, rep *checkReport) {
	u := cfg.PublicURL
	listen := net.JoinHostPort(cfg.Server.Host, fmt.Sprint(cfg.Server.Port))
	listenHost := cfg.Server.Host
	if httpAddr != "" {
		listen = httpAddr
		listenHost, _, _ = net.SplitHostPort(httpAddr)
	}
	switch {
	case isUnspecified(u.Host):
		rep.add("public_url", checkFail, "%s names no machine: set it to the URL Firefox uses to reach this server", u)
		return
	case isLoopback(u.Host) && !isLoopback(listenHost):
		rep.add("public_url", checkFail, "%s reaches this machine only, but the server listens on %s for other machines too: "+
			"a Firefox elsewhere would be told to sync with its own %s; set public_url to the address it uses", u, listen, u.Host)
		return
	case !cfg.PublicURLSet:
		rep.add("public_url", checkWarn, "not set: %s, which only a Firefox on this machine can reach", u)
		return
	}
	if u.Scheme == "http" && !isLoopback(u.Host) {
		rep.add("public_url", checkWarn, "%s is plain http: Firefox's tokens and your encrypted data cross the network "+
			"readable and replayable; put the server behind https (a web server with a certificate)", u)
	} else {
		rep.add("public_url", checkOK, "%s", u)
	}
	switch cfg.Role {
	case "token":
		what := "tokens for node_url " + nodeURLOf(cfg.Tokenserver.NodeURL)
		if cfg.Tokenserver.MultiNode {
			what = "tokens for the nodes of syncserver nodes list"
		}
		rep.add("role", checkOK, "token: this server hands out %s and serves no storage", what)
		return
	case "storage":
		rep.add("role", checkOK, "storage: this node serves the tokens minted for %s and has no tokenserver", u)
		return
	}
	if node := nodeURLOf(cfg.Tokenserver.NodeURL); node != u.String() {
		rep.add("public_url", checkWarn, "[tokenserver] node_url %s differs from public_url: tokens send Firefox there, "+
			"and this server's own storage accepts only tokens for %s", node, u)
	}
}

func (m *Main) checkDatabase(ctx context.Context, cfg *config.Config, rep *checkReport) {
	if cfg.SQLURI.Driver == "sqlite" && !cfg.SQLURI.IsMemory() {
		if _, err := os.Stat(cfg.SQLURI.Path); errors.Is(err, os.ErrNotExist) {
			// checkDatabaseFiles says whether the server can create it.
			m.checkSecret(ctx, cfg, nil, rep)
			return
		}
	}
	m.Config, m.Logger = cfg, newLogger(m.Stderr, cfg)
	store, err := openForCheck(ctx, cfg, m.Logger)
	if err != nil {
		rep.add("database", checkFail, "%s: %v", cfg.SQLURI.Redacted(), err)
		m.checkSecret(ctx, cfg, nil, rep)
		return
	}
	m.Store = store
	if err := m.Store.Ping(ctx); err != nil {
		rep.add("database", checkFail, "%s does not answer: %v", cfg.SQLURI.Redacted(), err)
		return
	}
	if checkPendingMigration(cfg, store, rep) {
		m.checkSecret(ctx, cfg, store, rep)
		return
	}
	admin, ok := m.Store.(db.Admin)
	if !ok {
		rep.add("database", checkOK, "%s answers", cfg.SQLURI.Redacted())
		m.checkSecret(ctx, cfg, m.Store, rep)
		return
	}
	version, err := admin.SchemaVersion(ctx)
	if err != nil {
		rep.add("database", checkFail, "%s: reading the schema version: %v", cfg.SQLURI.Redacted(), err)
		return
	}
	st, err := admin.Stats(ctx)
	if err != nil {
		rep.add("database", checkFail, "%s: %v", cfg.SQLURI.Redacted(), err)
		return
	}
	size := ""
	if st.DatabaseBytes >= 0 {
		size = ", " + formatBytes(st.DatabaseBytes)
		if vacuumWorthIt(cfg.SQLURI.Driver, st.DatabaseBytes, st.FreeBytes) {
			size += fmt.Sprintf(" (%s free: purge --vacuum gives it back)", formatBytes(st.FreeBytes))
		}
	}
	if st.Synchronous != "" {
		// Read back from the database: the level in force, not the one asked for.
		size += "; sqlite synchronous " + st.Synchronous
	}
	rep.add("database", checkOK, "%s answers; schema version %d (up to date); %d accounts, %d live records%s",
		cfg.SQLURI.Redacted(), version, st.Users, st.Records, size)
	if st.Synchronous == "OFF" {
		rep.add("database", checkWarn, "sqlite synchronous is OFF: a power cut can lose writes Firefox was told were saved; "+
			"set [storage] sqlite_synchronous to FULL (the default) or NORMAL")
	}
	if st.ExpiredRecords > 0 {
		status := checkOK
		if cfg.Purge.Interval <= 0 {
			status = checkWarn
		}
		rep.add("database", status, "%d expired records await the purge", st.ExpiredRecords)
	}
	m.checkSecret(ctx, cfg, m.Store, rep)
}

// openForCheck opens the database of sqluri to look at it without
// changing it: check is run "before the first start" and must be safe
// there, so it neither migrates nor converts a legacy users table (the
// server does both at its start, after a copy), and opens a sqlite file
// read-only.
func openForCheck(ctx context.Context, cfg *config.Config, log *slog.Logger) (*sqldb.Store, error) {
	u := cfg.SQLURI
	pool := sqldb.Pool{Size: 2, Timeout: cfg.Storage.PoolTimeout}
	switch u.Driver {
	case "sqlite":
		if u.IsMemory() {
			return sqlite.Open(ctx, u.Path, sqliteOptions(cfg, log))
		}
		opts := sqliteOptions(cfg, log)
		opts.ReadOnly = true
		return sqlite.Open(ctx, u.Path, opts)
	case "mysql":
		return mysql.Open(ctx, u.Raw, mysql.Options{Pool: pool, Inspect: true, Logger: log})
	case "postgres":
		return postgres.Open(ctx, u.Raw, postgres.Options{Pool: pool, Inspect: true, Logger: log})
	}
	return nil, fmt.Errorf("the %s backend is not available in this build", u.Driver)
}

// checkPendingMigration reports the migrations the server will apply at
// its start, and whether it is the copy-first migration of a legacy
// server's database. It returns true when some are pending: the totals
// of the current schema cannot be read yet.
func checkPendingMigration(cfg *config.Config, store *sqldb.Store, rep *checkReport) bool {
	at, latest, copyFirst := store.Pending()
	if at >= latest {
		return false
	}
	name := cfg.SQLURI.Redacted()
	switch {
	case copyFirst && cfg.SQLURI.Driver == "sqlite":
		rep.add("database", checkOK, "%s is a legacy syncserver's database: needs migration %d → %d "+
			"(the server does it at its start, after writing a copy of the file beside it); check left it unchanged", name, at, latest)
	case copyFirst:
		rep.add("database", checkWarn, "%s is a legacy syncserver's database: needs migration %d → %d, which the server does at its start "+
			"without a copy: back it up first (mysqldump or pg_dump); check left it unchanged", name, at, latest)
	default:
		rep.add("database", checkOK, "%s answers; needs migration %d → %d (the server does it at its start); check left it unchanged",
			name, at, latest)
	}
	if store.LegacyUsers() {
		rep.add("database", checkOK, "its users table has the legacy single-node layout: the server converts it at its start, "+
			"keeping every uid")
	}
	return true
}

// vacuumWorthIt tells whether purge --vacuum would give back a share of
// the database worth a blocking rebuild. Only SQLite's free pages are
// given back whole; InnoDB keeps some megabytes of every tablespace free
// whatever OPTIMIZE TABLE does, so MySQL needs much more before it is
// worth advising, and PostgreSQL reports no free space.
func vacuumWorthIt(driver string, total, free int64) bool {
	if total <= 0 || free <= 0 || free*4 < total { // under a quarter of the file
		return false
	}
	switch driver {
	case "sqlite":
		return free >= 1<<20
	case "mysql":
		return free >= 256<<20
	}
	return false
}

// checkSecret says where the token secret comes from, never what it is.
func (m *Main) checkSecret(ctx context.Context, cfg *config.Config, store db.Store, rep *checkReport) {
	if file := cfg.Tokenserver.SecretsFile; file != "" {
		// prepareStart has read and checked it; read again to count.
		ns, err := readNodeSecrets(cfg)
		if err != nil {
			rep.add("secret", checkFail, "[tokenserver] secrets_file %s: %v", file, err)
			return
		}
		msg := fmt.Sprintf("per-node secrets from %s for %d node(s); each node's newest signs its tokens", file, len(ns.Nodes()))
		if own := ns.For(cfg.PublicURL.String()); own != nil && cfg.Role != "token" {
			msg += fmt.Sprintf("; this node accepts its %d", own.Len())
		}
		rep.add("secret", checkOK, "%s", msg)
		return
	}
	if len(cfg.Secrets) > 0 {
		short := 0
		for _, s := range cfg.Secrets {
			if len(s) < 16 || s == "INSERT_SECRET_KEY_HERE" {
				short++
			}
		}
		from := "[syncserver] secret"
		if cfg.SecretFromEnvFile {
			from = "SYNCSERVER_SECRET_FILE"
		}
		if short > 0 {
			rep.add("secret", checkWarn, "%d of the %d secrets from %s are short or the example: anyone who guesses one can forge tokens; "+
				"use a random one (head -c 32 /dev/urandom | sha256sum)", short, len(cfg.Secrets), from)
			return
		}
		rep.add("secret", checkOK, "%d secret(s) from %s; the last one signs", len(cfg.Secrets), from)
		return
	}
	if store != nil {
		if _, err := store.Setting(ctx, settingSecret); err == nil {
			rep.add("secret", checkOK, "none configured: the one generated at the first start, kept in the database, signs")
			return
		}
	}
	rep.add("secret", checkOK, "none configured: the server generates one at its first start and keeps it in the database")
}

func checkPurge(cfg *config.Config, rep *checkReport) {
	p := cfg.Purge
	if p.Interval <= 0 {
		rep.add("purge", checkWarn, "the background purge is off ([purge] interval = 0): run syncserver purge from cron, "+
			"or expired records pile up")
		return
	}
	rep.add("purge", checkOK, "every %s: expired records and abandoned batches after %s, replaced and retired accounts' data after %s",
		strings.TrimPrefix(formatGrace(p.Interval), "1 "), formatGrace(p.Grace), formatGrace(p.ReplacedGrace))
}

func (m *Main) checkWhoMaySync(ctx context.Context, cfg *config.Config, rep *checkReport) {
	ts := cfg.Tokenserver
	var parts []string
	if cfg.AllowNewUsers {
		parts = append(parts, "new accounts are welcome")
	} else {
		parts = append(parts, "new accounts are refused (allow_new_users = false)")
	}
	if ts.MaxUsers > 0 {
		parts = append(parts, fmt.Sprintf("at most %d accounts", ts.MaxUsers))
	}
	if len(ts.AllowedUsers) > 0 {
		parts = append(parts, fmt.Sprintf("only the %d accounts of allowed_users", len(ts.AllowedUsers)))
	}
	rep.add("users", checkOK, "%s", strings.Join(parts, "; "))
	if len(ts.AllowedUsers) == 0 {
		return
	}
	var users []db.UserInfo
	if admin, ok := m.Store.(db.Admin); ok && m.Store != nil {
		users, _ = admin.ListUsers(ctx, false)
	}
	issuers := map[string]bool{}
	if ts.DefaultIssuer != "" {
		issuers[strings.ToLower(ts.DefaultIssuer)] = true
	}
	if cfg.IdentityProvider == "" || strings.Contains(cfg.IdentityProvider, "accounts.firefox.com") {
		issuers["api.accounts.firefox.com"] = true
	}
	for _, u := range users {
		if _, d, ok := strings.Cut(u.Email, "@"); ok {
			issuers[strings.ToLower(d)] = true
		}
	}
	allowed := map[string]bool{}
	for _, a := range ts.AllowedUsers {
		a = strings.ToLower(strings.TrimSpace(a))
		allowed[a] = true
		if _, d, ok := strings.Cut(a, "@"); ok && !issuers[d] {
			rep.add("users", checkWarn, "allowed_users lists %s, which looks like an e-mail address: Firefox Accounts never tells "+
				"this server e-mail addresses, so it matches nobody; list the account's FxA uid (see syncserver users list, "+
				"or the log line of its refused request)", a)
		}
	}
	var locked []string
	for _, u := range users {
		fxa, _, _ := strings.Cut(u.Email, "@")
		if u.Status == db.UserActive && !allowed[strings.ToLower(fxa)] && !allowed[strings.ToLower(u.Email)] {
			locked = append(locked, fmt.Sprintf("%s (uid %d)", u.Email, u.UID))
		}
	}
	if len(locked) > 0 {
		rep.add("users", checkWarn, "%d accounts that synced here are not in allowed_users and are refused: %s",
			len(locked), strings.Join(locked, ", "))
	}
}

func checkMetrics(cfg *config.Config, rep *checkReport) {
	if cfg.MetricsListen == "" {
		rep.add("metrics", checkOK, "off (set [syncserver] metrics_listen to serve Prometheus metrics)")
		return
	}
	host, _, _ := net.SplitHostPort(cfg.MetricsListen)
	if !isLoopback(host) {
		rep.add("metrics", checkWarn, "http://%s/metrics answers anyone who can reach that address; "+
			"prefer a loopback or private address, or a firewall", cfg.MetricsListen)
		return
	}
	rep.add("metrics", checkOK, "http://%s/metrics", cfg.MetricsListen)
}

func printCheck(m *Main, rep *checkReport) {
	w := m.Stdout
	if rep.Config != "" {
		fmt.Fprintf(w, "Checking %s\n\n", rep.Config)
	}
	t := newTable(w)
	fails, warns := 0, 0
	for _, c := range rep.Checks {
		label := map[string]string{checkOK: "ok", checkWarn: "WARN", checkFail: "FAIL"}[c.Status]
		switch c.Status {
		case checkFail:
			fails++
		case checkWarn:
			warns++
		}
		t.row("  "+label, c.Name, c.Message)
	}
	t.flush()
	if origin, ok := rep.Firefox[autoconfigPref]; ok {
		fmt.Fprintf(w, "\nFor accounts of this server, in Firefox (signed out) open about:config and set:\n  %s = %s\n", autoconfigPref, origin)
		if u, err := config.ParsePublicURL(origin); err == nil && u.Scheme == "http" {
			fmt.Fprintf(w, "  %s = true   (plain http on this machine only: for tests)\n", allowHTTPPref)
		}
		if uri, ok := rep.Firefox[firefoxPref]; ok {
			fmt.Fprintf(w, "For Mozilla accounts, set instead:\n  %s = %s\n", firefoxPref, uri)
		}
	} else if uri, ok := rep.Firefox[firefoxPref]; ok {
		fmt.Fprintf(w, "\nIn Firefox, open about:config and set:\n  %s = %s\n", firefoxPref, uri)
	}
	switch {
	case fails > 0:
		fmt.Fprintf(w, "\n%d problem(s), %d warning(s): fix the problems before serving.\n", fails, warns)
	case warns > 0:
		fmt.Fprintf(w, "\nReady, with %d warning(s).\n", warns)
	default:
		fmt.Fprintln(w, "\nReady.")
	}
}
