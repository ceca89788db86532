package deploytest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"syncserver/internal/testdb"
)

// The shipped files hold snippets between "#@ begin NAME" and "#@ end". In a
// snippet, the line under a "# CHANGE:" comment (with its continuation lines,
// for a line ending in "\") is what an operator changes; every placeholder
// value in the configuration, in the "syncserver.ini:" block and in the
// "Start syncserver" command must be on such a line, so changing only the
// marked lines is enough. The tests substitute exactly those lines.

// Placeholders are the values the shipped snippets use for what differs from
// one machine to another, most specific first: they are replaced in this
// order.
const (
	phCert       = "/etc/letsencrypt/live/sync.example.com/fullchain.pem"
	phKey        = "/etc/letsencrypt/live/sync.example.com/privkey.pem"
	phPublicURL  = "https://sync.example.com/ff-sync/"
	phHost       = "sync.example.com"
	phNginxPort  = "listen 443"
	phApachePort = "*:443"
	phPrefix     = "/ff-sync/"
	phFCGIAddr   = "127.0.0.1:8000"
	phSocket     = "/run/syncserver/fcgi.sock"
	phBinary     = "/usr/local/bin/syncserver"
	phConfig     = "/etc/syncserver/syncserver.ini"
	phHTTPAddr   = "127.0.0.1:5000"
	phHTTPPort   = "port = 5000"
)

var placeholders = []string{
	phCert, phKey, phPublicURL, phHost, phNginxPort, phApachePort, phPrefix,
	phFCGIAddr, phSocket, phBinary, phConfig, phHTTPAddr, phHTTPPort,
}

var (
	markerRE  = regexp.MustCompile(`^\s*#[#\s]*CHANGE:`)
	beginRE   = regexp.MustCompile(`^#@ begin (\S+)\s*$`)
	endRE     = regexp.MustCompile(`^#@ end\s*$`)
	blockLine = regexp.MustCompile(`^#( {4,}\S.*|\s*)$`) // indented comment, or an empty one
)

// snippet is one block of a shipped file.
type snippet struct {
	Name  string
	File  string // relative to the module root
	Line  int    // line number of the begin marker
	Lines []string
	// marked[i] says line i is a marked line (or continues one).
	marked []bool
	// role[i] is "config", "ini", "command" or "comment".
	role []string
}

// loadSnippets reads every snippet of a shipped file, checks the marking
// rules, and returns them by name.
func loadSnippets(tb testing.TB, rel string) map[string]*snippet {
	tb.Helper()
	path := filepath.Join(testdb.ModuleRoot(tb), rel)
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	out := make(map[string]*snippet)
	var cur *snippet
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case beginRE.MatchString(line):
			if cur != nil {
				tb.Fatalf("%s:%d: snippet %s is not closed before the next one", rel, n, cur.Name)
			}
			cur = &snippet{Name: beginRE.FindStringSubmatch(line)[1], File: rel, Line: n}
		case endRE.MatchString(line):
			if cur == nil {
				tb.Fatalf("%s:%d: #@ end without #@ begin", rel, n)
			}
			if out[cur.Name] != nil {
				tb.Fatalf("%s:%d: two snippets named %s", rel, n, cur.Name)
			}
			cur.classify(tb)
			out[cur.Name] = cur
			cur = nil
		case cur != nil:
			cur.Lines = append(cur.Lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if cur != nil {
		tb.Fatalf("%s: snippet %s is not closed", rel, cur.Name)
	}
	return out
}

// classify finds the marked lines and what each line is, and checks that
// every placeholder outside prose comments is on a marked line and every
// marked line holds one.
func (s *snippet) classify(tb testing.TB) {
	tb.Helper()
	s.marked = make([]bool, len(s.Lines))
	s.role = make([]string, len(s.Lines))
	// A block is the indented comment lines after its heading (which may
	// run over several prose lines) up to the next prose line.
	block, inBlock := "", false
	for i, line := range s.Lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case !strings.HasPrefix(trimmed, "#"):
			s.role[i], block = "config", ""
		case trimmed == "# syncserver.ini:":
			s.role[i], block, inBlock = "comment", "ini", false
		case strings.HasPrefix(trimmed, "# Start syncserver"):
			s.role[i], block, inBlock = "comment", "command", false
		case block != "" && blockLine.MatchString(line):
			s.role[i], inBlock = block, true
		case block != "" && !inBlock:
			s.role[i] = "comment"
		default:
			s.role[i], block = "comment", ""
		}
	}
	for i := 0; i < len(s.Lines); i++ {
		if !markerRE.MatchString(s.Lines[i]) {
			continue
		}
		j := i + 1
		if j >= len(s.Lines) || markerRE.MatchString(s.Lines[j]) || s.role[j] == "comment" {
			tb.Fatalf("%s:%d: a CHANGE: comment must be followed by the line to change", s.File, s.lineNo(i))
		}
		s.marked[j] = true
		for strings.HasSuffix(strings.TrimSpace(s.Lines[j]), `\`) && j+1 < len(s.Lines) {
			j++
			s.marked[j] = true
		}
		if !s.hasPlaceholder(i+1, j) {
			tb.Errorf("%s:%d: marked line holds none of the placeholder values the tests substitute:\n\t%s", s.File, s.lineNo(i+1), s.Lines[i+1])
		}
	}
	for i, line := range s.Lines {
		if s.marked[i] || s.role[i] == "comment" || markerRE.MatchString(line) {
			continue
		}
		for _, p := range placeholders {
			if strings.Contains(line, p) {
				tb.Errorf("%s:%d: %q must be on a line marked \"# CHANGE:\" (an operator would miss it):\n\t%s", s.File, s.lineNo(i), p, line)
			}
		}
	}
}

func (s *snippet) hasPlaceholder(from, to int) bool {
	for i := from; i <= to; i++ {
		for _, p := range placeholders {
			if strings.Contains(s.Lines[i], p) {
				return true
			}
		}
	}
	return false
}

func (s *snippet) lineNo(i int) int { return s.Line + 1 + i }

// rendered is a snippet with an operator's values put in.
type rendered struct {
	// Config is the web-server configuration (comments included).
	Config string
	// INI holds the syncserver.ini lines, uncommented.
	INI []string
	// Command is the documented command line, split into words.
	Command []string
}

// render substitutes values (placeholder → value) on the marked lines only.
// edit, when not nil, may change the substituted lines further (a test of a
// misconfiguration removes a line); it must not touch placeholders.
func (s *snippet) render(tb testing.TB, values map[string]string, edit func([]string) []string) rendered {
	tb.Helper()
	for k := range values {
		if !isPlaceholder(k) {
			tb.Fatalf("%q is not a placeholder", k)
		}
	}
	lines := make([]string, len(s.Lines))
	var r rendered
	for i, line := range s.Lines {
		if s.marked[i] {
			for _, p := range placeholders {
				if v, ok := values[p]; ok {
					line = strings.ReplaceAll(line, p, v)
				}
			}
			for _, p := range placeholders {
				if _, ok := values[p]; !ok && strings.Contains(line, p) {
					tb.Fatalf("%s:%d: the test gives no value for %q:\n\t%s", s.File, s.lineNo(i), p, line)
				}
			}
		}
		lines[i] = line
		body := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		switch s.role[i] {
		case "ini":
			if body != "" && !strings.HasPrefix(body, "#") {
				r.INI = append(r.INI, body)
			}
		case "command":
			if body != "" && !strings.HasPrefix(body, "#") {
				if r.Command != nil {
					tb.Fatalf("%s:%d: more than one command line", s.File, s.lineNo(i))
				}
				r.Command = strings.Fields(body)
			}
		}
	}
	if edit != nil {
		lines = edit(lines)
	}
	r.Config = strings.Join(lines, "\n") + "\n"
	return r
}

func isPlaceholder(s string) bool {
	for _, p := range placeholders {
		if p == s {
			return true
		}
	}
	return false
}

// withoutLine returns an edit that drops the configuration lines whose
// trimmed text is line, failing if there is none.
func withoutLine(tb testing.TB, line string) func([]string) []string {
	return func(lines []string) []string {
		var out []string
		for _, l := range lines {
			if strings.TrimSpace(l) != line {
				out = append(out, l)
			}
		}
		if len(out) == len(lines) {
			tb.Fatalf("no line %q to remove", line)
		}
		return out
	}
}

// iniFile builds a TOML syncserver.ini from a snippet's lines and the test's
// own settings, which win. Keys are written in a stable order.
func iniFile(snippetINI []string, settings map[string]map[string]string) string {
	sections := map[string]map[string]string{}
	var order []string
	add := func(sec, key, val string) {
		if sections[sec] == nil {
			sections[sec] = map[string]string{}
			order = append(order, sec)
		}
		sections[sec][key] = val
	}
	sec := ""
	for _, l := range snippetINI {
		if strings.HasPrefix(l, "[") {
			sec = strings.Trim(strings.TrimSpace(l), "[]\"")
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok {
			add(sec, strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	secs := make([]string, 0, len(settings))
	for s := range settings {
		secs = append(secs, s)
	}
	sort.Strings(secs)
	for _, s := range secs {
		for k, v := range settings[s] {
			add(s, k, v)
		}
	}
	var b strings.Builder
	for _, s := range order {
		fmt.Fprintf(&b, "[%q]\n", s)
		keys := make([]string, 0, len(sections[s]))
		for k := range sections[s] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s = %s\n", k, sections[s][k])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string { return fmt.Sprintf("%q", s) }

// The shipped files and the snippets each must hold.
var shipped = map[string][]string{
	"syncserver.fcgi.conf": {
		"nginx-fastcgi-tcp", "nginx-fastcgi-unix",
		"apache-proxy-fcgi-tcp", "apache-proxy-fcgi-unix", "apache-fcgid",
	},
	"contrib/nginx/syncserver-proxy.conf":  {"nginx-proxy-http"},
	"contrib/apache/syncserver-proxy.conf": {"apache-proxy-http"},
}

// TestSnippetsMarked checks the shipped files without any web server: every
// snippet is there, its operator-specific values are all on marked lines, and
// it documents the public_url that goes with it.
func TestSnippetsMarked(t *testing.T) {
	for file, names := range shipped {
		snips := loadSnippets(t, file)
		for _, name := range names {
			s, ok := snips[name]
			if !ok {
				t.Errorf("%s: no snippet %s", file, name)
				continue
			}
			r := s.render(t, testValues(), nil)
			if publicURL(r.INI) == "" {
				t.Errorf("%s: snippet %s gives no public_url in its syncserver.ini block", file, name)
			}
			if !strings.HasSuffix(name, "fcgid") && len(r.Command) == 0 {
				t.Errorf("%s: snippet %s gives no command to start syncserver", file, name)
			}
		}
		if len(snips) != len(names) {
			t.Errorf("%s: %d snippets, want %d (%v)", file, len(snips), len(names), names)
		}
	}
}

// testValues are values for every placeholder, for checks that do not run
// anything.
func testValues() map[string]string {
	return map[string]string{
		phCert: "/tmp/cert.pem", phKey: "/tmp/key.pem",
		phPublicURL: "https://127.0.0.1:8443/", phHost: "127.0.0.1",
		phNginxPort: "listen 127.0.0.1:8443", phApachePort: "*:8443", phPrefix: "/",
		phFCGIAddr: "127.0.0.1:9000", phSocket: "/tmp/fcgi.sock",
		phBinary: "/tmp/syncserver", phConfig: "/tmp/syncserver.ini",
		phHTTPAddr: "127.0.0.1:5001", phHTTPPort: "port = 5001",
	}
}

// publicURL is the public_url of a snippet's syncserver.ini lines.
func publicURL(ini []string) string {
	for _, l := range ini {
		k, v, ok := strings.Cut(l, "=")
		if ok && strings.TrimSpace(k) == "public_url" {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return ""
}
