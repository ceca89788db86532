package packagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/internal/testdb"
)

// git runs git in dir and returns its trimmed output.
func git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// shipped lists what an archive must hold besides the binary, relative to
// its top directory: the docs and examples of the repository, contrib/ as
// git tracks it.
func shipped(tb testing.TB, root string) []string {
	tb.Helper()
	files := []string{"README.md", "syncserver.ini", "syncserver.fcgi.conf"}
	files = append(files, strings.Fields(git(tb, root, "ls-files", "contrib"))...)
	return files
}

func sha256File(tb testing.TB, path string) string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestArchives checks each archive of make dist against SHA256SUMS and
// the tree it was built from: one top directory named after it, the
// binary and the shipped files with the tree's contents, entries sorted,
// owned by 0:0, stamped with the commit's time, plain modes, and gzip
// with no name or time in its header.
func TestArchives(t *testing.T) {
	dir := distDir(t)
	root := testdb.ModuleRoot(t)
	// make dist stamps SOURCE_DATE_EPOCH when it is set, as reproducible
	// builds agree, else the commit's time.
	commitTime := os.Getenv("SOURCE_DATE_EPOCH")
	if commitTime == "" {
		commitTime = git(t, root, "log", "-1", "--format=%ct")
	}
	listed := sums(t, dir)
	var archives []string
	for name := range listed {
		if archiveRE.MatchString(name) {
			archives = append(archives, name)
		}
	}
	if len(archives) != len(arches) {
		t.Errorf("SHA256SUMS lists %d archives, want one per architecture %v: %v", len(archives), arches, archives)
	}
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			path, version := archive(t, dir, arch)
			if got, want := sha256File(t, path), listed[filepath.Base(path)]; got != want {
				t.Errorf("sha256 of %s = %s, SHA256SUMS says %s", filepath.Base(path), got, want)
			}
			top := "syncserver-" + version + "-linux-" + arch
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			gz, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			if gz.Name != "" || !gz.ModTime.IsZero() {
				t.Errorf("gzip header holds name %q and time %v: not gzip -n", gz.Name, gz.ModTime)
			}
			want := map[string]bool{top + "/syncserver": true}
			for _, f := range shipped(t, root) {
				want[top+"/"+f] = true
			}
			var names []string
			tr := tar.NewReader(gz)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				name := strings.TrimSuffix(h.Name, "/")
				names = append(names, name)
				if name != top && !strings.HasPrefix(name, top+"/") {
					t.Errorf("entry %q is outside %s/", h.Name, top)
				}
				if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
					t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 by number", name, h.Uid, h.Gid, h.Uname, h.Gname)
				}
				if strconv.FormatInt(h.ModTime.Unix(), 10) != commitTime {
					t.Errorf("%s: mtime %v, want the commit's time %s", name, h.ModTime.UTC(), commitTime)
				}
				mode := os.FileMode(h.Mode).Perm()
				switch {
				case h.Typeflag == tar.TypeDir:
					if mode != 0o755 {
						t.Errorf("%s/: mode %v, want 0755", name, mode)
					}
				case h.Typeflag != tar.TypeReg:
					t.Errorf("%s: type %c, want a directory or a regular file", name, h.Typeflag)
				case !want[name]:
					t.Errorf("%s: not something a release ships", name)
				case name == top+"/syncserver":
					if mode != 0o755 {
						t.Errorf("%s: mode %v, want 0755", name, mode)
					}
					delete(want, name)
				default:
					if mode != 0o644 && mode != 0o755 {
						t.Errorf("%s: mode %v, want 0644 (or 0755 for a script)", name, mode)
					}
					b, err := io.ReadAll(tr)
					if err != nil {
						t.Fatal(err)
					}
					src, err := os.ReadFile(filepath.Join(root, strings.TrimPrefix(name, top+"/")))
					if err != nil || !bytes.Equal(b, src) {
						t.Errorf("%s differs from the tree's copy (%v)", name, err)
					}
					delete(want, name)
				}
			}
			for name := range want {
				t.Errorf("%s is missing from the archive", name)
			}
			if !slices.IsSorted(names) {
				t.Errorf("entries are not sorted by name (tar --sort=name): %v", names)
			}
		})
	}
}

// TestStatic: each binary is an ELF executable for its architecture with
// no program interpreter and no shared library: it needs nothing but the
// kernel.
func TestStatic(t *testing.T) {
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			bin := releaseBinary(t, arch)
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("%s: %v", bin, err)
			}
			defer f.Close()
			if f.Machine != machines[arch] || f.Type != elf.ET_EXEC {
				t.Errorf("ELF machine %v type %v, want %v ET_EXEC", f.Machine, f.Type, machines[arch])
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("program header %v: the binary is dynamically linked", p.Type)
				}
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("needs shared libraries %v", libs)
			}
		})
	}
}

// TestVersion runs each release binary's version command: it names the
// version of the archive, the commit make dist built (marked modified when
// the tree had changes) and the Go release.
func TestVersion(t *testing.T) {
	root := testdb.ModuleRoot(t)
	commit := git(t, root, "rev-parse", "HEAD")
	dirty := git(t, root, "status", "--porcelain", "--untracked-files=no") != ""
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			t.Parallel()
			bin := releaseBinary(t, arch)
			_, version := archive(t, distDir(t), arch)
			out, err := command(t, arch, bin, "version").CombinedOutput()
			if err != nil {
				t.Fatalf("syncserver version: %v\n%s", err, out)
			}
			want := fmt.Sprintf("syncserver %s commit %s", version, commit)
			if dirty {
				want += " (modified)"
			}
			want += fmt.Sprintf(" %s linux/%s", runtime.Version(), arch)
			if got := strings.TrimSpace(string(out)); got != want {
				t.Errorf("version printed\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestSmoke starts each release binary (arm64 under qemu) on a new sqlite
// database on loopback and uses it as a client does: heartbeat, a
// Hawk-signed write, and a read that returns it; then SIGTERM stops it
// cleanly.
func TestSmoke(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			t.Parallel()
			bin := releaseBinary(t, arch)
			dir := t.TempDir()
			start := time.Now()
			s := startServer(t, arch, bin, dir, filepath.Join(dir, "syncserver.db"))
			t.Logf("linux-%s serving after %v", arch, time.Since(start).Round(time.Millisecond))
			s.heartbeat(t)
			const uid = 7
			payload := "smoke test of linux-" + arch
			s.putBSO(t, uid, "bookmarks", "smoke1", payload)
			s.getBSO(t, uid, "bookmarks", "smoke1", payload)
			s.stop(t)
			if code := s.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0", code)
			}
			if _, err := os.Stat(filepath.Join(dir, "syncserver.db")); err != nil {
				t.Errorf("no database file: %v", err)
			}
		})
	}
}

// TestReproducible builds the release again from a fresh clone of the
// same commit, in another directory, at another time, under umask 077,
// and wants the same bytes: the binaries and the archives. The clone's
// paths, file times and modes all differ from the first build's, so any
// of them leaking into a binary or an archive fails the test. (The Go
// build cache is shared, so compiled packages come from it: what is
// rebuilt is the link and the packing, where time stamps, paths and
// build ids would enter.)
func TestReproducible(t *testing.T) {
	dir := distDir(t)
	root := testdb.ModuleRoot(t)
	tool(t, "cross", "aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
	makeTool, err := exec.LookPath("make")
	if err != nil {
		t.Fatal(err)
	}
	if git(t, root, "status", "--porcelain", "--untracked-files=no") != "" {
		msg := "the tree has uncommitted changes: a rebuild from its commit cannot give the same bytes; commit, then run make test-packaging"
		if os.Getenv(testdb.RequireEnv) != "" {
			// CI (which sets it) builds a clean checkout: a change
			// there comes from the build or the tests themselves.
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	commit := git(t, root, "rev-parse", "HEAD")
	src := filepath.Join(t.TempDir(), "elsewhere", "syncserver")
	git(t, root, "clone", "--quiet", "--no-checkout", root, src)
	git(t, src, "checkout", "--quiet", "--detach", commit)
	out := filepath.Join(t.TempDir(), "dist")
	cmd := exec.Command("sh", "-c", `umask 077 && exec "$0" "$@"`, makeTool, "--no-print-directory", "dist", "DIST="+out)
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist in a clone: %v\n%s", err, b)
	}
	for _, arch := range arches {
		rel := filepath.Join("build", "linux-"+arch, "syncserver")
		if a, b := sha256File(t, filepath.Join(dir, rel)), sha256File(t, filepath.Join(out, rel)); a != b {
			t.Errorf("linux-%s binary: %s, rebuilt %s", arch, a, b)
		}
	}
	first, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("the archives differ:\n%s\nrebuilt:\n%s", first, second)
	}
}
