package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"syncserver/db"
	"syncserver/internal/config"
)

// syncserver check: is this configuration ready to serve? It reads the
// configuration, opens the database as the server would (applying pending
// migrations; a missing sqlite file is only reported), looks at public_url,
// the secret, the purge, who may sync and the metrics endpoint, and prints
// the setting to type into Firefox.

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
	rep.Firefox = map[string]string{firefoxPref: cfg.PublicURL.String() + "/token/1.0/sync/1.5"}
	checkPublicURL(cfg, m.HTTPAddr, rep)
	m.checkDatabase(ctx, cfg, rep)
	checkPurge(cfg, rep)
	m.checkWhoMaySync(ctx, cfg, rep)
	checkMetrics(cfg, rep)
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
	if node := nodeURLOf(cfg.Tokenserver.NodeURL); node != u.String() {
		rep.add("public_url", checkWarn, "[tokenserver] node_url %s differs from public_url: tokens send Firefox there, "+
			"and this server's own storage accepts only tokens for %s", node, u)
	}
}

func (m *Main) checkDatabase(ctx context.Context, cfg *config.Config, rep *checkReport) {
	if cfg.SQLURI.Driver == "sqlite" && cfg.SQLURI.Path != ":memory:" {
		if _, err := os.Stat(cfg.SQLURI.Path); errors.Is(err, os.ErrNotExist) {
			dir := filepath.Dir(cfg.SQLURI.Path)
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				rep.add("database", checkFail, "%s does not exist, and neither does its directory %s", cfg.SQLURI.Path, dir)
			} else {
				rep.add("database", checkOK, "%s does not exist yet: the server creates it at its first start", cfg.SQLURI.Path)
			}
			m.checkSecret(ctx, cfg, nil, rep)
			return
		}
	}
	if err := m.load(ctx); err != nil {
		rep.add("database", checkFail, "%s: %v", cfg.SQLURI.Redacted(), err)
		m.checkSecret(ctx, cfg, nil, rep)
		return
	}
	if err := m.Store.Ping(ctx); err != nil {
		rep.add("database", checkFail, "%s does not answer: %v", cfg.SQLURI.Redacted(), err)
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
		if st.FreeBytes > 0 {
			size += fmt.Sprintf(" (%s free: purge --vacuum gives it back)", formatBytes(st.FreeBytes))
		}
	}
	rep.add("database", checkOK, "%s answers; schema version %d (up to date); %d accounts, %d live records%s",
		cfg.SQLURI.Redacted(), version, st.Users, st.Records, size)
	if st.ExpiredRecords > 0 {
		status := checkOK
		if cfg.Purge.Interval <= 0 {
			status = checkWarn
		}
		rep.add("database", status, "%d expired records await the purge", st.ExpiredRecords)
	}
	m.checkSecret(ctx, cfg, m.Store, rep)
}

// checkSecret says where the token secret comes from, never what it is.
func (m *Main) checkSecret(ctx context.Context, cfg *config.Config, store db.Store, rep *checkReport) {
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
	if uri, ok := rep.Firefox[firefoxPref]; ok {
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
