package packagetest

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"syncserver/internal/testdb"
)

// TestDebContents reads both packages of `make deb` without installing
// them (no root needed): the control fields, the conffile, the maintainer
// scripts, and every file's path, mode, owner and time, and that each
// holds a static program of its own architecture. It covers the arm64
// package, which TestDeb cannot install here, and what dpkg would do on
// purge: /var/lib/syncserver must not be one of the package's files, or
// dpkg would remove it once empty.
func TestDebContents(t *testing.T) {
	if _, ok := testdb.LookProgram("dpkg-deb"); !ok {
		missing(t, "dpkg", "dpkg-deb not found: TestDebContents needs a Debian system (package dpkg)")
	}
	dist := distDir(t)
	root := testdb.ModuleRoot(t)
	version := debVersion(t, root)
	out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%ct").Output()
	if err != nil {
		t.Fatalf("git log: %v", err)
	}
	commitTime := strings.TrimSpace(string(out))
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			deb := filepath.Join(dist, fmt.Sprintf("syncserver_%s_%s.deb", version, arch))
			if _, err := os.Stat(deb); err != nil {
				missing(t, "dpkg", fmt.Sprintf("%s not found: run make deb first (make test-packaging builds it, then runs this test)", deb))
			}
			fields := map[string]string{"Package": debPackage, "Version": version, "Architecture": arch, "Depends": "passwd"}
			for name, want := range fields {
				out, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
				if got := strings.TrimSpace(string(out)); err != nil || got != want {
					t.Errorf("control field %s = %q (%v), want %q", name, got, err, want)
				}
			}
			if out, err := exec.Command("dpkg-deb", "-I", deb, "conffiles").Output(); err != nil || string(out) != debConfig+"\n" {
				t.Errorf("conffiles = %q (%v), want %s", out, err, debConfig)
			}

			control := debTar(t, "--ctrl-tarfile", deb)
			for _, s := range []string{"postinst", "prerm", "postrm"} {
				if h := control["./"+s]; h == nil || h.Mode&0o777 != 0o755 {
					t.Errorf("maintainer script %s missing or not 0755: %+v", s, h)
				}
			}

			data := debTar(t, "--fsys-tarfile", deb)
			want := map[string]int64{
				"." + debBinary: 0o755, "." + debConfig: 0o640,
				"." + debDocDir + "/README.md": 0o644, "." + debDocDir + "/copyright": 0o644,
			}
			for _, p := range unitPaths() {
				want["."+p] = 0o644
			}
			for name, h := range data {
				if h.Uname != "root" || h.Gname != "root" {
					t.Errorf("%s is owned by %s:%s in the package, want root:root", name, h.Uname, h.Gname)
				}
				if got := fmt.Sprint(h.ModTime.Unix()); got != commitTime {
					t.Errorf("%s has time %s, want the commit's, %s (SOURCE_DATE_EPOCH)", name, got, commitTime)
				}
				if strings.HasPrefix(name, "./var/") || strings.HasPrefix(name, "./usr/local/") {
					t.Errorf("the package holds %s: dpkg would own it", name)
				}
				if h.Typeflag == tar.TypeDir {
					if h.Mode&0o777 != 0o755 {
						t.Errorf("directory %s has mode %o, want 755", name, h.Mode&0o777)
					}
					continue
				}
				mode, ok := want[name]
				if !ok {
					t.Errorf("the package holds %s, which it should not", name)
				} else if h.Mode&0o7777 != mode {
					t.Errorf("%s has mode %o, want %o", name, h.Mode&0o7777, mode)
				}
				delete(want, name)
			}
			for name := range want {
				t.Errorf("the package lacks %s", name)
			}

			bin := debExtract(t, deb, "."+debBinary)
			f, err := elf.NewFile(bytes.NewReader(bin))
			if err != nil {
				t.Fatalf("%s: %v", debBinary, err)
			}
			if f.Machine != machines[arch] {
				t.Errorf("%s is for %v, want %v", debBinary, f.Machine, machines[arch])
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s has a dynamic loader: it is not static", debBinary)
				}
			}
		})
	}
}

// debVersion is what packaging/deb/version prints for this checkout.
func debVersion(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(root, "packaging/deb/version")).Output()
	if err != nil {
		t.Fatalf("packaging/deb/version: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// debTar lists one of the package's tar archives (dpkg-deb --ctrl-tarfile
// or --fsys-tarfile), by entry name.
func debTar(t *testing.T, which, deb string) map[string]*tar.Header {
	t.Helper()
	out, err := exec.Command("dpkg-deb", which, deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v", which, err)
	}
	entries := make(map[string]*tar.Header)
	r := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatalf("dpkg-deb %s: %v", which, err)
		}
		if h.Name == "./" {
			continue
		}
		entries[strings.TrimSuffix(h.Name, "/")] = h
	}
}

// debExtract returns the content of one file of the package.
func debExtract(t *testing.T, deb, name string) []byte {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "--fsys-tarfile", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --fsys-tarfile: %v", err)
	}
	r := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := r.Next()
		if err != nil {
			t.Fatalf("%s not in the package: %v", name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}
