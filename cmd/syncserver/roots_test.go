package main

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// rootsChildEnv marks the child process of TestEmbeddedRootsWithoutSystemCAs.
const rootsChildEnv = "SYNCSERVER_TEST_ROOTS_CHILD"

// The container image has no /etc/ssl: the binary must still trust the
// public roots FxA's certificates chain to. The test runs itself again
// with the system's CA locations pointed at an empty file and directory,
// as in the image, and the child checks that it still has roots.
func TestEmbeddedRootsWithoutSystemCAs(t *testing.T) {
	if os.Getenv(rootsChildEnv) == "1" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			t.Fatalf("SystemCertPool: %v", err)
		}
		if pool.Equal(x509.NewCertPool()) {
			t.Fatal("no trusted roots without the system's: the embedded bundle is missing")
		}
		return
	}
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedRootsWithoutSystemCAs$", "-test.count=1")
	cmd.Env = append(os.Environ(), rootsChildEnv+"=1", "SSL_CERT_FILE="+empty, "SSL_CERT_DIR="+dir, "GODEBUG=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
