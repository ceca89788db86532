package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// command is a subcommand: syncserver [flags] NAME [args].
type command struct {
	// summary is the one line shown by -h.
	summary string
	// run runs the command with m.Args and returns the exit status. It
	// loads the configuration and opens the database itself (m.load).
	run func(ctx context.Context, m *Main) int
}

// commands lists the subcommands besides serving. Each lives in its own
// file (cmd_NAME.go).
func commands() map[string]command {
	return map[string]command{
		"accounts":    accountsCommand(),
		"check":       checkCommand(),
		"healthcheck": healthcheckCommand(),
		"migrate-db":  migrateCommand(),
		"nodes":       nodesCommand(),
		"purge":       purgeCommand(),
		"users":       usersCommand(),
		"version": {"print the version, the commit and the Go version", func(ctx context.Context, m *Main) int {
			fs := m.newFlags("version", "version")
			pos, err := parseInterleaved(fs, m.Args)
			if err != nil {
				return flagError(err)
			}
			if len(pos) > 0 {
				return m.badArgs(fs, "version takes no arguments, got %q", pos)
			}
			fmt.Fprintln(m.Stdout, versionLine(debug.ReadBuildInfo()))
			return 0
		}},
	}
}
