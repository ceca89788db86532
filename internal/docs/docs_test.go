package docs

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// repoRoot is the module root: the nearest directory above the test's with
// a go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// repoFiles lists the repository's files, relative to root, slash-separated.
// Build output and version control are not the repository's documents.
func repoFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") && name != ".ci" || name == "bin" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// A document is one file whose text is checked.
type document struct {
	path string // relative to the root
	text string // for Go files, only the comments
}

// documents are the texts that may name documents: README.md and every
// file under docs/ and contrib/, the deployment files at the root, and
// the comments of every Go file.
func documents(t *testing.T, root string, files []string) []document {
	t.Helper()
	var docs []document
	fset := token.NewFileSet()
	for _, f := range files {
		full := filepath.Join(root, filepath.FromSlash(f))
		switch {
		case strings.HasSuffix(f, ".go"):
			if strings.Contains("/"+f, "/testdata/") {
				continue
			}
			file, err := parser.ParseFile(fset, full, nil, parser.ParseComments)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var b strings.Builder
			for _, g := range file.Comments {
				b.WriteString(g.Text())
				b.WriteByte('\n')
			}
			docs = append(docs, document{f, b.String()})
		case f == "README.md", strings.HasPrefix(f, "docs/"), strings.HasPrefix(f, "contrib/"),
			f == "syncserver.fcgi.conf", f == "syncserver.ini", f == "Makefile", strings.HasPrefix(f, ".ci/"):
			b, err := os.ReadFile(full)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, document{f, string(b)})
		}
	}
	return docs
}

var (
	// mdLink is an inline Markdown link or image: [text](target).
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// mdName is a name of a Markdown file, with or without a directory.
	mdName = regexp.MustCompile(`[A-Za-z0-9_./~:-]*[A-Za-z0-9_-]\.md\b`)
	// fence opens or closes a fenced code block.
	fence = regexp.MustCompile("^\\s*(```|~~~)")
)

// TestLinksResolve: every relative link of the Markdown documents points at
// a file or directory of the repository, and an anchor at a heading of it.
func TestLinksResolve(t *testing.T) {
	root := repoRoot(t)
	files := repoFiles(t, root)
	for _, d := range documents(t, root, files) {
		if !strings.HasSuffix(d.path, ".md") {
			continue
		}
		for _, target := range links(d.text) {
			if isExternal(target) {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			dest := d.path
			if file != "" {
				dest = filepath.ToSlash(filepath.Join(filepath.Dir(d.path), file))
			}
			info, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest)))
			if err != nil || strings.HasPrefix(dest, "../") {
				t.Errorf("%s: link %q: %s is not in the repository", d.path, target, dest)
				continue
			}
			if anchor == "" || info.IsDir() || !strings.HasSuffix(dest, ".md") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dest)))
			if err != nil {
				t.Fatal(err)
			}
			if !headingAnchors(string(b))[anchor] {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", d.path, target, dest, anchor)
			}
		}
	}
}

// TestNamedDocumentsExist: every *.md file a document or a Go comment
// names is in the repository, so that nothing points at notes kept
// elsewhere. A name with a directory must be that path, from the naming
// file's directory or from the root; a bare name must be some file's name.
func TestNamedDocumentsExist(t *testing.T) {
	root := repoFiles(t, repoRoot(t))
	exists := make(map[string]bool)
	base := make(map[string]bool)
	for _, f := range root {
		exists[f] = true
		base[filepath.Base(f)] = true
	}
	missing := make(map[string][]string)
	for _, d := range documents(t, repoRoot(t), root) {
		for _, name := range mdName.FindAllString(d.text, -1) {
			if ok := named(name, d.path, exists, base); !ok {
				missing[name] = append(missing[name], d.path)
			}
		}
	}
	var names []string
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Errorf("%s is named in %s but is not in the repository", n, strings.Join(dedup(missing[n]), ", "))
	}
}

// named reports whether the Markdown file name, as written in the file at
// from, exists. Web addresses are other sites' documents and not checked.
func named(name, from string, exists, base map[string]bool) bool {
	switch {
	case strings.Contains(name, "://") && !strings.HasPrefix(name, "file://"):
		return true
	case strings.HasPrefix(name, "file://"), strings.HasPrefix(name, "/"):
		// An installed copy (file:///usr/local/share/doc/…): the
		// repository must hold the file that is installed there.
		return base[filepath.Base(name)]
	case !strings.Contains(name, "/"):
		return base[name]
	}
	clean := strings.TrimPrefix(name, "./")
	rel := filepath.ToSlash(filepath.Join(filepath.Dir(from), clean))
	return exists[rel] || exists[filepath.ToSlash(filepath.Clean(clean))]
}

// links returns the targets of the inline links of a Markdown text,
// outside code blocks and code spans.
func links(text string) []string {
	var out []string
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range mdLink.FindAllStringSubmatch(withoutCodeSpans(line), -1) {
			out = append(out, strings.Trim(m[1], "<>"))
		}
	}
	return out
}

func withoutCodeSpans(line string) string {
	parts := strings.Split(line, "`")
	for i := 1; i < len(parts); i += 2 {
		parts[i] = ""
	}
	return strings.Join(parts, "`")
}

func isExternal(target string) bool {
	return strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:")
}

// headingAnchors returns the anchors a Markdown renderer gives the
// headings of text: lower case, spaces to hyphens, punctuation other than
// hyphens and underscores dropped, "-1", "-2"… for repeats.
func headingAnchors(text string) map[string]bool {
	anchors := make(map[string]bool)
	count := make(map[string]int)
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127 && isLetter(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := count[a]; n > 0 {
			anchors[a+"-"+itoa(n)] = true
		} else {
			anchors[a] = true
		}
		count[a]++
	}
	return anchors
}

// isLetter keeps letters of other scripts (é, ü) as renderers do, and drops
// symbols such as → and §.
func isLetter(r rune) bool {
	return strings.ContainsRune("àâäéèêëïîôöùûüçñßåæøœ", r)
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func dedup(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
