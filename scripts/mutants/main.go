// Command mutants checks that the tests catch a fixed list of mutations:
// each is one literal replacement in one file, applied alone to a copy of
// the tree in a temporary directory (never to the working tree), followed
// by `go test` of the tests meant to catch it. A mutation the tests do not
// catch is reported "survived" and the command exits 1; a replacement that
// no longer matches the code exits 2, so the list cannot rot silently.
//
//	go run ./scripts/mutants          # or: make mutants
//	go run ./scripts/mutants -list
//	go run ./scripts/mutants grace    # only mutations whose name contains "grace"
//
// It is not part of the test suite or CI: it takes a few minutes. (make
// test checks only that every replacement still matches the code.)
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// mutation is one deliberate bug and the tests that must catch it.
type mutation struct {
	name string
	file string // relative to the module root
	from string // must occur exactly once in file
	to   string
	pkgs []string // packages to test
	run  string   // -run filter
}

var mutations = []mutation{
	{
		name: "sqlite_synchronous is not passed to the sqlite options",
		file: "cmd/syncserver/startup.go",
		from: "sqlite.Options{Synchronous: cfg.Storage.SQLiteSynchronous, PageCacheBytes: cfg.Storage.SQLiteCacheBytes, Logger: log}",
		to:   "sqlite.Options{PageCacheBytes: cfg.Storage.SQLiteCacheBytes, Logger: log}",
		pkgs: []string{"./cmd/syncserver"}, run: "TestSQLiteSynchronousReachesTheStore",
	},
	{
		name: "sqlite runs synchronous = OFF whatever the file says",
		file: "cmd/syncserver/startup.go",
		from: "sqlite.Options{Synchronous: cfg.Storage.SQLiteSynchronous, PageCacheBytes: cfg.Storage.SQLiteCacheBytes, Logger: log}",
		to:   `sqlite.Options{Synchronous: "OFF", PageCacheBytes: cfg.Storage.SQLiteCacheBytes, Logger: log}`,
		pkgs: []string{"./cmd/syncserver"}, run: "TestSQLiteSynchronousReachesTheStore",
	},
	{
		name: "the server opens sqlite without the configured options",
		file: "cmd/syncserver/wire.go",
		from: "sqlite.Open(ctx, u.Path, sqliteOptions(cfg, log))",
		to:   "sqlite.Open(ctx, u.Path, sqlite.Options{Logger: log})",
		pkgs: []string{"./cmd/syncserver"}, run: "TestSQLiteSynchronousReachesTheStore",
	},
	{
		name: "the background purge ignores [purge] grace",
		file: "cmd/syncserver/ops.go",
		from: "db.PurgeOptions{Grace: p.Grace,",
		to:   "db.PurgeOptions{Grace: 0,",
		pkgs: []string{"./cmd/syncserver"}, run: "TestBackgroundPurgeKeepsGrace",
	},
	{
		name: "the replaced-uid purge takes a current record marked replaced",
		file: "db/sqldb/purge.go",
		from: "AND (u.generation = ? OR EXISTS",
		to:   "AND (u.generation = ? OR 1 = 1 OR EXISTS",
		pkgs: []string{"./db/sqlite"}, run: "TestOtherWriters|TestConformanceFile/Purge",
	},
	{
		name: "the replaced-uid purge counts a record as newer than itself",
		file: "db/sqldb/purge.go",
		from: "n.uid > u.uid",
		to:   "n.uid >= u.uid",
		pkgs: []string{"./db/sqlite"}, run: "TestOtherWriters|TestConformanceFile/Purge",
	},
	{
		name: "check validates something else than the start does",
		file: "cmd/syncserver/cmd_check.go",
		from: "prepareStart(cfg, slog.New(slog.DiscardHandler))",
		to:   `prepareStart(config.Default(""), slog.New(slog.DiscardHandler))`,
		pkgs: []string{"./cmd/syncserver"}, run: "TestCheckRefusesWhatStartRefuses",
	},
	{
		name: "config errors quote long values whole",
		file: "internal/config/echo.go",
		from: "if utf8.RuneCountInString(s) <= maxEcho {",
		to:   "if true {",
		pkgs: []string{"./internal/config", "./cmd/syncserver"}, run: "TestQuote|TestLongValue",
	},
	{
		name: "a key change made here leaves the replaced record in the user cache",
		file: "handlers/token_users.go",
		from: "nu, err := users.ReplaceUser(ctx, u, newGen, newKCA, cs)\n\t\tst.users.invalidate(email)",
		to:   "nu, err := users.ReplaceUser(ctx, u, newGen, newKCA, cs)",
		pkgs: []string{"./handlers"}, run: "TestTokenUserCacheOwnWrites",
	},
	{
		name: "the user cache keeps a record read while this process wrote",
		file: "handlers/token_usercache.go",
		from: "if c.epoch != epoch {",
		to:   "if false {",
		pkgs: []string{"./handlers"}, run: "TestUserCacheReadOverlappingWrite",
	},
	{
		name: "a cached record answers a JWT older than it",
		file: "handlers/token_usercache.go",
		from: "(gen == 0 || gen == u.Generation)",
		to:   "(gen == 0 || gen <= u.Generation)",
		pkgs: []string{"./handlers"}, run: "TestReadOnlyToken|TestTokenUserCache",
	},
	{
		name: "the pools close the connections above pool_size on return",
		file: "db/sqldb/pool.go",
		from: "pool.SetMaxIdleConns(n)",
		to:   "pool.SetMaxIdleConns(p.Size)",
		pkgs: []string{"./db/sqldb"}, run: "TestPool",
	},
	{
		name: "a full nonce cache forgets the nonce that expires first, not the oldest",
		file: "hawk/nonce.go",
		from: "if h[i].ts != h[j].ts {\n\t\treturn h[i].ts < h[j].ts\n\t}\n\treturn h[i].expires < h[j].expires",
		to:   "if h[i].expires != h[j].expires {\n\t\treturn h[i].expires < h[j].expires\n\t}\n\treturn h[i].ts < h[j].ts",
		pkgs: []string{"./hawk"}, run: "TestNonceCache",
	},
	{
		name: "a forgotten nonce that had expired raises its user's floor",
		file: "hawk/nonce.go",
		from: "if e.expires >= nowSec {",
		to:   "if e.expires >= 0 {",
		pkgs: []string{"./hawk"}, run: "TestNonceCache",
	},
	{
		name: "the C allocator's arenas are not capped",
		file: "internal/cmalloc/cmalloc_cgo.go",
		from: "#define CMALLOC_ARENAS 2",
		to:   "#define CMALLOC_ARENAS 64",
		pkgs: []string{"./internal/cmalloc"}, run: "TestCap",
	},
	{
		name: "the collector keeps Go's default pace under the memory limit",
		file: "cmd/syncserver/main.go",
		from: "\tm.SetGCPercent = debug.SetGCPercent\n",
		to:   "",
		pkgs: []string{"./cmd/syncserver"}, run: "TestBinaryTunesMemory",
	},
	{
		name: "a FastCGI connection holds back (and keeps) up to 64 KiB",
		file: "fcgi/conn.go",
		from: "const maxHeldBytes = 16 << 10",
		to:   "const maxHeldBytes = 64 << 10",
		pkgs: []string{"./fcgi"}, run: "TestResponseInOneWrite",
	},
	{
		name: "a large body goes to net/http/fcgi whole, in 64 KiB records",
		file: "fcgi/handler.go",
		from: "const bodyChunk = 16 << 10",
		to:   "const bodyChunk = 1 << 30",
		pkgs: []string{"./fcgi"}, run: "TestResponseInOneWrite",
	},
	{
		name: "the word-at-a-time JSON string scan misses a '\"'",
		file: "handlers/storage_json.go",
		from: "quote := (q - ones) &^ q",
		to:   "quote := (q - ones) &^ q & 0",
		pkgs: []string{"./handlers"}, run: "TestAppendJSONString|TestBSODecodeEveryByte",
	},
	{
		name: "the word-at-a-time JSON string scan misses a control character",
		file: "handlers/storage_json.go",
		from: "(x - 0x20*ones) &^ x",
		to:   "(x - 0x1f*ones) &^ x",
		pkgs: []string{"./handlers"}, run: "TestAppendJSONString|TestBSODecodeEveryByte",
	},
	{
		name: "the word-at-a-time JSON string scan misses a backslash",
		file: "handlers/storage_json.go",
		from: "backslash := (bs - ones) &^ bs",
		to:   "backslash := (bs - ones) &^ bs & 0",
		pkgs: []string{"./handlers"}, run: "TestAppendJSONString|TestBSODecodeEveryByte",
	},
	{
		name: "a payload's size counts only its ASCII start fast, and misses a character after it",
		file: "db/db.go",
		from: "if x&0x8080808080808080 != 0 {",
		to:   "if x&0x0080808080808080 != 0 {",
		pkgs: []string{"./db"}, run: "TestPayloadSizeEveryOffset",
	},
}

func main() {
	list := flag.Bool("list", false, "list the mutations and exit")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go run ./scripts/mutants [-list] [name-substring]")
		flag.PrintDefaults()
	}
	flag.Parse()
	selected := mutations
	if pat := strings.Join(flag.Args(), " "); pat != "" {
		selected = nil
		for _, m := range mutations {
			if strings.Contains(m.name, pat) {
				selected = append(selected, m)
			}
		}
	}
	if *list {
		for _, m := range selected {
			fmt.Printf("%-66s %s\n", m.name, m.file)
		}
		return
	}
	os.Exit(run(selected))
}

func run(selected []mutation) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "syncserver-mutants-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	if err := copyTree(root, tmp); err != nil {
		fmt.Fprintln(os.Stderr, "mutants: copying the tree:", err)
		return 2
	}
	status := 0
	for _, m := range selected {
		verdict, detail, err := try(tmp, m)
		if err != nil {
			fmt.Printf("ERROR     %s: %v\n", m.name, err)
			status = 2
			continue
		}
		fmt.Printf("%-9s %s (%s)\n", verdict, m.name, detail)
		if verdict != "caught" && status == 0 {
			status = 1
		}
	}
	return status
}

// try applies m to the copy, runs its tests and puts the file back.
func try(tree string, m mutation) (verdict, detail string, err error) {
	path := filepath.Join(tree, m.file)
	orig, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	if n := bytes.Count(orig, []byte(m.from)); n != 1 {
		return "", "", fmt.Errorf("%q occurs %d times in %s, want once: update the mutation", m.from, n, m.file)
	}
	mutated := bytes.Replace(orig, []byte(m.from), []byte(m.to), 1)
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return "", "", err
	}
	defer os.WriteFile(path, orig, 0o644)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := append([]string{"test", "-count=1", "-run", m.run}, m.pkgs...)
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = tree
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "SURVIVED", "go test " + strings.Join(args[1:], " ") + " passed", nil
	case bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")):
		return "", "", fmt.Errorf("the mutated tree does not build:\n%s", out)
	case !errors.As(err, &exit):
		return "", "", err
	}
	return "caught", "by " + failedTests(out), nil
}

var failLine = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)

// failedTests names the innermost failing tests of go test's output.
func failedTests(out []byte) string {
	var names []string
	for _, m := range failLine.FindAllSubmatch(out, -1) {
		name := string(m[1])
		// Keep the most precise: drop a parent once its subtest is listed.
		if len(names) > 0 && strings.HasPrefix(name, names[len(names)-1]+"/") {
			names[len(names)-1] = name
			continue
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return "a failing package"
	}
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("%d more", len(names)-3))
	}
	return strings.Join(names, ", ")
}

func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// moduleRoot is the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the syncserver module")
	}
	return filepath.Dir(mod), nil
}

// copyTree copies the module's sources (not .git, bin or other build
// output) into dst, as they are in the working tree, edits included.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".db") {
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
