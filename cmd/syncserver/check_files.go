package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"syncserver/internal/config"
)

// The steps of `syncserver check` about files: what the server will need
// of the file system, tested as the user check runs as (run it as the
// server's user), and which files let other users read secrets.

// checkDatabaseFiles tells whether this user can create or open the
// sqlite database and write beside it, where SQLite keeps the -wal and
// -shm files. It reports a missing database the server can create, and
// fails with what to change otherwise.
func checkDatabaseFiles(cfg *config.Config, rep *checkReport) {
	if cfg.SQLURI.Driver != "sqlite" || cfg.SQLURI.IsMemory() {
		return
	}
	path := cfg.SQLURI.Path
	dir := filepath.Dir(path)
	me := currentUser()
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		switch dfi, err := os.Stat(dir); {
		case err != nil || !dfi.IsDir():
			rep.add("database", checkFail, "%s does not exist, and neither does its directory %s: "+
				"create it for the server's user (mkdir -p %s && chown %s %s)", path, dir, dir, me, dir)
		case !canWriteDir(dir):
			rep.add("database", checkFail, "%s does not exist, and %s cannot create it: %s may not write in %s (%s); "+
				"give the directory to the server's user (chown %s %s), and run check as that user",
				path, me, me, dir, describe(dfi), me, dir)
		default:
			rep.add("database", checkOK, "%s does not exist yet: the server creates it at its first start (%s may write in %s)",
				path, me, dir)
		}
		return
	}
	var problems []string
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if errors.Is(err, fs.ErrNotExist) && f != path {
			continue
		}
		if err != nil || !canReadWrite(f) {
			what := "cannot be opened"
			if err == nil {
				what = describe(fi)
			}
			problems = append(problems, fmt.Sprintf("%s may not read and write %s (%s): chown %s %s", me, f, what, me, f))
		}
	}
	if dfi, err := os.Stat(dir); err == nil && !canWriteDir(dir) {
		problems = append(problems, fmt.Sprintf("%s may not write in %s (%s), where SQLite keeps the database's -wal and -shm files: chown %s %s",
			me, dir, describe(dfi), me, dir))
	}
	if len(problems) > 0 {
		rep.add("files", checkFail, "%s; then run check again as the server's user", strings.Join(problems, "; "))
		return
	}
	rep.add("files", checkOK, "%s may read and write %s and write in %s", me, path, dir)
}

// checkSocketDir tells whether the server can make its FastCGI socket
// (-fcgi unix:PATH): its directory must exist (/run is emptied at every
// boot) and this user must be allowed to write in it.
func checkSocketDir(fcgiAddr string, rep *checkReport) {
	path, ok := strings.CutPrefix(fcgiAddr, "unix:")
	if !ok || path == "" {
		return
	}
	dir := filepath.Dir(path)
	me := currentUser()
	dfi, err := os.Stat(dir)
	switch {
	case err != nil || !dfi.IsDir():
		rep.add("fcgi", checkFail, "the socket's directory %s does not exist: create it for the server's user "+
			"(mkdir -p %s && chown %s %s), or under systemd let it make one (RuntimeDirectory=syncserver)", dir, dir, me, dir)
	case !canWriteDir(dir):
		rep.add("fcgi", checkFail, "%s may not create the socket %s: %s is %s; give it to the server's user (chown %s %s)",
			me, path, dir, describe(dfi), me, dir)
	default:
		rep.add("fcgi", checkOK, "%s may create the socket %s", me, path)
	}
}

// checkRunAs warns when check runs as root against files of another
// user: root may write anywhere, so the file tests say nothing about the
// server's user.
func checkRunAs(cfg *config.Config, rep *checkReport) {
	if os.Geteuid() != 0 || cfg.SQLURI.Driver != "sqlite" || cfg.SQLURI.IsMemory() {
		return
	}
	for _, f := range []string{cfg.SQLURI.Path, filepath.Dir(cfg.SQLURI.Path)} {
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		owner := ownerName(fi)
		if owner == "" || owner == "root" {
			return
		}
		how := "runuser -u " + owner + " --"
		if uid, gid, ok := ownerIDs(fi); ok && owner == strconv.Itoa(uid) {
			// A user without a name, as systemd's DynamicUser= is while
			// its service is stopped.
			how = fmt.Sprintf("setpriv --reuid=%d --regid=%d --clear-groups --", uid, gid)
		}
		rep.add("files", checkWarn, "check runs as root, which may write anywhere: run it as the server's user to test what the server "+
			"may do (%s syncserver check …)", how)
		return
	}
}

// checkSecretFiles warns when a file that holds secrets is readable by
// every user of the machine: the configuration when it holds the token
// secret or a database password, and SYNCSERVER_SECRET_FILE.
func checkSecretFiles(cfg *config.Config, getenv func(string) string, rep *checkReport) {
	if cfg.File != "" {
		// What the file itself holds, whatever the environment adds.
		own, _, err := config.Load(cfg.File, func(string) string { return "" })
		if err == nil {
			var holds []string
			if len(own.Secrets) > 0 {
				holds = append(holds, "[syncserver] secret")
			}
			if u, err := url.Parse(own.SQLURI.Raw); err == nil && u.User != nil {
				if _, ok := u.User.Password(); ok {
					holds = append(holds, "the database password (sqluri)")
				}
			}
			if own.Tokenserver.MetricsUIDSecretKey != "" {
				holds = append(holds, "metrics_uid_secret_key")
			}
			if len(holds) > 0 {
				warnWorldReadable(cfg.File, strings.Join(holds, " and "), rep)
			}
		}
	}
	if cfg.Tokenserver.SecretsFile != "" {
		warnWorldReadable(cfg.Tokenserver.SecretsFile, "the nodes' token secrets", rep)
	}
	if cfg.SecretFromEnvFile {
		if name := getenv("SYNCSERVER_SECRET_FILE"); name != "" {
			warnWorldReadable(name, "the token secret", rep)
		}
	}
}

func warnWorldReadable(path, holds string, rep *checkReport) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return
	}
	rep.add("secret", checkWarn, "%s holds %s and every user of this machine may read it (%s): anyone who reads the "+
		"secret can forge tokens; chmod o-r %s (the server's user or group must still read it: chmod 640, chgrp to its group)",
		path, holds, describe(fi), path)
}

// describe is a file's owner and mode, for advice: "owner root, mode -rw-r--r--".
func describe(fi fs.FileInfo) string {
	if name := ownerName(fi); name != "" {
		return fmt.Sprintf("owner %s, mode %s", name, fi.Mode())
	}
	return "mode " + fi.Mode().String()
}
