package testdb

import (
	"os"
	"os/exec"
	"path/filepath"
)

// programDirs are where Debian installs the programs the tests start
// (nginx, apache2, mariadbd, systemd-analyze, dpkg-deb…) when they are
// not in PATH: a non-root user's PATH lacks the sbin directories.
var programDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"}

// LookProgram finds an installed program: in PATH, else in the sbin
// directories a PATH may lack, else in dirs. Only an executable regular
// file counts.
func LookProgram(name string, dirs ...string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range append(programDirs, dirs...) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}
