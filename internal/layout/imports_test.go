// Package layout holds the test that enforces the import rules of
// docs/ARCHITECTURE.md, so the package layout cannot drift silently.
package layout

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "syncserver"

// allowed lists, per package, the non-standard imports its non-test files
// may have. A package missing from the table may import only the standard
// library and the project's own packages not named in forbiddenBackends.
var allowed = map[string][]string{
	"hawk":            {},
	"token":           {},
	"db":              {},
	"fxa":             {"github.com/go-jose/go-jose/v4"},
	"db/dbtest":       {"syncserver/db"},
	"db/sqldb":        {"syncserver/db"},
	"db/sqlite":       {"syncserver/db", "syncserver/db/sqldb", "github.com/mattn/go-sqlite3"},
	"db/mysql":        {"syncserver/db/sqldb", "github.com/go-sql-driver/mysql"},
	"db/postgres":     {"syncserver/db/sqldb", "github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn", "github.com/jackc/pgx/v5/stdlib"},
	"handlers":        {"syncserver/db", "syncserver/hawk", "syncserver/token"},
	"fcgi":            {"syncserver/handlers"},
	"httpd":           {"syncserver/handlers", "github.com/valyala/fasthttp"},
	"internal/config": {"github.com/BurntSushi/toml"},
	// The sign-in page: embedded files only.
	"accounts/page":       {},
	"internal/fxatest":    {},
	"internal/fcgiclient": {},
	// The Prometheus exporter; only cmd/syncserver imports it, so the
	// core stays free of the client library.
	"internal/metrics": {"syncserver/db", "github.com/prometheus/client_golang/prometheus",
		"github.com/prometheus/client_golang/prometheus/collectors", "github.com/prometheus/client_golang/prometheus/promhttp"},
	// The accounts crypto: pure computation over the standard library,
	// scrypt and one JOSE library.
	// The accounts service speaks the core's Request/Response and
	// TokenVerifier, and never a backend.
	"accounts":       {"syncserver/db", "syncserver/hawk", "syncserver/handlers", "syncserver/accounts/onepw", "syncserver/accounts/page"},
	"accounts/onepw": {"golang.org/x/crypto/scrypt", "github.com/go-jose/go-jose/v4"},
}

// backends may be imported (outside tests) only by cmd/syncserver, and by
// internal/testdb, the test support that opens every backend for the
// tests of other packages.
var backends = []string{"syncserver/db/sqlite", "syncserver/db/mysql", "syncserver/db/postgres"}

var backendImporters = []string{"cmd/syncserver", "internal/testdb"}

// imports returns the imports of the non-test Go files of each package
// directory under root, keyed by the path relative to root.
func imports(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	pkgs := make(map[string]map[string]bool)
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		if pkgs[rel] == nil {
			pkgs[rel] = make(map[string]bool)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			pkgs[rel][p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".") && first != module
}

// violations lists every import of pkgs that the import rules forbid.
func violations(pkgs map[string]map[string]bool) []string {
	var dirs []string
	for d := range pkgs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	var out []string
	for _, dir := range dirs {
		var imps []string
		for imp := range pkgs[dir] {
			imps = append(imps, imp)
		}
		sort.Strings(imps)
		for _, imp := range imps {
			if isStd(imp) {
				continue
			}
			for _, b := range backends {
				if imp == b && !slices.Contains(backendImporters, dir) {
					out = append(out, dir+" imports backend "+imp+"; only cmd/syncserver may")
				}
			}
			rule, ok := allowed[dir]
			if !ok {
				continue
			}
			permitted := false
			for _, a := range rule {
				if imp == a {
					permitted = true
				}
			}
			if !permitted {
				out = append(out, dir+" imports "+imp+"; the import rules (docs/ARCHITECTURE.md) allow only the standard library and "+strings.Join(rule, ", "))
			}
		}
	}
	return out
}

// TestImportRules checks every package against the import rules of
// docs/ARCHITECTURE.md.
func TestImportRules(t *testing.T) {
	pkgs := imports(t, "../..")
	for _, want := range []string{"handlers", "db"} {
		if _, ok := pkgs[want]; !ok {
			t.Fatalf("package %s not found; is the walk rooted right?", want)
		}
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestImportRulesCatchViolations proves the checker sees a forbidden
// import, so TestImportRules cannot pass by reading nothing.
func TestImportRulesCatchViolations(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "handlers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := "package handlers\nimport _ \"github.com/valyala/fasthttp\"\nimport _ \"syncserver/db/sqlite\"\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := violations(imports(t, root))
	if len(got) != 3 {
		t.Fatalf("violations = %q, want the fasthttp import and the backend import (twice: backend rule and allow-list)", got)
	}
}
