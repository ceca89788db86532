package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"syncserver/db"
	"syncserver/db/sqldb"
	"syncserver/internal/config"
)

// syncserver migrate-db: copy everything (accounts and their uids, client
// states, the node, settings such as the generated secret, collections,
// records, open batches) from one database to another, of any backend:
// sqlite to MariaDB is the usual move.

func migrateCommand() command {
	return command{
		summary: "copy every account and record to another database (--from SQLURI --to SQLURI)",
		run:     runMigrate,
	}
}

func runMigrate(ctx context.Context, m *Main) int {
	fs := m.newFlags("migrate-db", "migrate-db [--from SQLURI] --to SQLURI [--force] [--node URL]")
	from := fs.String("from", "", "the database to copy (default: sqluri of the configuration)")
	to := fs.String("to", "", "the database to copy into; created tables, no rows")
	force := fs.Bool("force", false, "delete everything the target holds first")
	node := fs.String("node", "", "the node URL given to the users of a legacy single-node users table\n(default: [tokenserver] node_url of the configuration)")
	pos, err := parseInterleaved(fs, m.Args)
	if err != nil {
		return flagError(err)
	}
	switch {
	case len(pos) > 0:
		return m.badArgs(fs, "migrate-db takes no arguments, got %q", pos)
	case *to == "":
		return m.badArgs(fs, "migrate-db needs --to, the database to copy into")
	}

	// The configuration gives the defaults and the pool settings, when
	// there is one.
	cfg, err := m.loadConfigIfAny()
	if err != nil {
		return m.fail(err)
	}
	if *from == "" && cfg.File == "" && m.Getenv("SYNCSERVER_SQLURI") == "" {
		return m.badArgs(fs, "no configuration file %s: give --from", m.ConfigPath)
	}
	if *node == "" && cfg.File != "" {
		*node = cfg.Tokenserver.NodeURL
	}
	// A path in --from or --to is relative to the working directory, as on
	// any command line. Without --from the source is the configuration's
	// sqluri as the server reads it: a relative sqlite path is relative to
	// the configuration file's directory, and sqluri_password_file's
	// password is in it.
	cwd, err := os.Getwd()
	if err != nil {
		return m.fail(err)
	}
	src := cfg.SQLURI
	if *from != "" {
		if src, err = parseURIFlag("--from", *from, cwd); err != nil {
			return m.fail(err)
		}
	}
	dst, err := parseURIFlag("--to", *to, cwd)
	if err != nil {
		return m.fail(err)
	}
	if src.Driver == dst.Driver && (src.Raw == dst.Raw || src.Driver == "sqlite" && src.Path == dst.Path) {
		return m.fail(errors.New("--from and --to are the same database"))
	}
	if src.IsMemory() || dst.IsMemory() {
		return m.fail(errors.New("an in-memory sqlite database cannot be copied from or to"))
	}

	log := slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	in, err := openSQLURI(ctx, src, cfg, false, log)
	if err != nil {
		return m.fail(fmt.Errorf("--from: %w", err))
	}
	defer in.Close()
	if in.LegacyUsers() {
		if *node == "" {
			return m.fail(errors.New("--from holds a legacy single-node users table: give --node, the URL its users' storage is at"))
		}
		if err := in.Users().EnsureNode(ctx, db.Service, *node, tokenNodeCapacity); err != nil {
			return m.fail(fmt.Errorf("--from: converting its legacy users table: %w", err))
		}
	}
	out, err := openSQLURI(ctx, dst, cfg, false, log)
	if err != nil {
		return m.fail(fmt.Errorf("--to: %w", err))
	}
	defer out.Close()

	held, err := out.Counts(ctx)
	if err != nil {
		return m.fail(fmt.Errorf("--to: %w", err))
	}
	var nonEmpty []string
	for _, c := range held {
		if c.Source > 0 {
			nonEmpty = append(nonEmpty, fmt.Sprintf("%s: %d", c.Table, c.Source))
		}
	}
	if len(nonEmpty) > 0 {
		if !*force {
			return m.fail(fmt.Errorf("--to %s is not empty (%s); nothing was copied. "+
				"--force deletes what it holds first", dst.Redacted(), strings.Join(nonEmpty, ", ")))
		}
		fmt.Fprintf(m.Stderr, "syncserver: --force: deleting what %s holds (%s)\n", dst.Redacted(), strings.Join(nonEmpty, ", "))
		if err := out.Clear(ctx); err != nil {
			return m.fail(fmt.Errorf("--to: %w", err))
		}
	}

	start := time.Now()
	counts, err := in.CopyTo(ctx, out, m.copyProgress())
	if err != nil {
		return m.fail(err)
	}
	t := newTable(m.Stdout, "TABLE", "SOURCE", "TARGET")
	for _, c := range counts {
		t.row(c.Table, c.Source, c.Target)
	}
	t.flush()
	fmt.Fprintf(m.Stdout, "copied %s to %s in %v; every table holds as many rows as the source.\n"+
		"Point [syncserver] sqluri at it and restart syncserver.\n", src.Redacted(), dst.Redacted(), time.Since(start).Round(time.Millisecond))
	return exitOK
}

// loadConfigIfAny loads the configuration file, or the environment and
// the defaults when there is none.
func (m *Main) loadConfigIfAny() (*config.Config, error) {
	path := m.ConfigPath
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		path = ""
	}
	cfg, _, err := config.Load(path, m.Getenv)
	return cfg, err
}

// parseURIFlag reads a sqluri from the command line: a relative sqlite
// path is relative to the working directory.
func parseURIFlag(flag, raw, cwd string) (config.SQLURI, error) {
	u, err := config.ParseSQLURI(raw, cwd)
	if err != nil {
		return config.SQLURI{}, fmt.Errorf("%s: %w", flag, err)
	}
	return u, nil
}

// copyProgress shows each table's progress on a terminal, and nothing
// elsewhere (a log or a pipe gets the summary only).
func (m *Main) copyProgress() func(sqldb.CopyProgress) {
	if !isTerminal(m.Stderr) {
		return nil
	}
	return progressPrinter(m.Stderr)
}

// progressPrinter rewrites one line per table, at most every 100 ms, and
// ends it when the table is done.
func progressPrinter(w io.Writer) func(sqldb.CopyProgress) {
	var last time.Time
	return func(p sqldb.CopyProgress) {
		done := p.Rows == p.Total
		if !done && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		pct := int64(100)
		if p.Total > 0 {
			pct = p.Rows * 100 / p.Total
		}
		fmt.Fprintf(w, "\r%-20s %12d / %-12d %3d%%", p.Table, p.Rows, p.Total, pct)
		if done {
			io.WriteString(w, "\n")
		}
	}
}
