package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fuzzOverrides are the variables FuzzLoad may set, one at a time: every
// variable that sets a key (EnvVars), or none. SYNCSERVER_SECRET_FILE is
// left out because it names a file to read.
func fuzzOverrides() []string {
	names := []string{""}
	for _, ev := range EnvVars() {
		names = append(names, ev.Name)
	}
	return names
}

// configSeeds are files in both formats, valid and broken, with ${…}
// references of every kind.
func configSeeds(tb testing.TB) []string {
	seeds := []string{
		"", "\ufeff[syncserver]\npublic_url = \"http://x/\"\n",
		"[\"server:main\"]\nhost = \"0.0.0.0\"\nport = 5000\n\n[syncserver]\npublic_url = \"https://sync.example.com/ff-sync/\"\nsecret = \"a b\"\n",
		"[storage]\nmax_request_bytes = 10\nmax_post_bytes = 20\n",
		"[syncserver]\nsync-1.5 = \"x\"\n[a.b]\nc = 1\n[[t]]\n", "key = 1\n[syncserver]\n", "[DEFAULT]\nx = 1\n",
		"[tokenserver]\ntoken_duration = -5\n", "[\"server:main\"]\nsocket_mode = \"0660\"\nport = 70000\n",
		"[server:main]\nuse = egg:gunicorn\nhost = 0.0.0.0\nport = 5000\nworkers = 1\n\n[app:main]\nuse = egg:syncserver\n",
		"[DEFAULT]\nbase = http://h\n[syncserver]\npublic_url = ${base}/p/\nsqluri = sqlite:///${HERE}/x.db\nsecret = ${FUZZ}\n",
		"[syncserver]\npublic_url = ${server:main:host}\n[server:main]\nhost = ${syncserver:public_url}\n",
		"[syncserver]\na = $$\nsecret = $\nsqluri = ${\n", "[syncserver]\nsecret = ${}x}\n", "[syncserver]\nsecret = %(here)s/s\n",
		"[syncserver]\npublic_url = http://a/\n  http://b/\n", "[syncserver]\npublic_url: http://a/\n\n; c\n# d\n",
		"[syncserver]\npublic_url = http://a/\npublic_url = http://b/\n", "[]\n", "[a\rb]\nk = 1\nk = 2\n", "x\n",
		"[syncserver]\r\npublic_url = http://a/\r\n", "[sync\nserver]", "[storage]\nquota_size = 1e3\n",
		"[syncserver]\nlog_level = ${FUZZ}\n", "[storage]\nquota_size = ${FUZZ}\n",
	}
	for _, name := range []string{"../../syncserver.ini", "testdata/legacy-stock.ini"} {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, string(b))
	}
	return seeds
}

func FuzzLoad(f *testing.F) {
	for _, s := range configSeeds(f) {
		f.Add(s, "", uint8(0))
		f.Add(s, "v\n${x}", uint8(0))
	}
	overrides := fuzzOverrides()
	ours := map[string]bool{envSecretFile: true, EnvConfig: true}
	for i, name := range overrides {
		ours[name] = true
		// Every variable once with a value no key takes, and once with one
		// that most take.
		f.Add("[syncserver]\n", "s1 s2", uint8(i))
		f.Add("", "1", uint8(i))
	}
	f.Add("[syncserver]\n", "http://h:1/p", uint8(slices.Index(overrides, "SYNCSERVER_PUBLIC_URL")))
	path := filepath.Join(f.TempDir(), "syncserver.ini")
	f.Fuzz(func(t *testing.T, data, envVal string, override uint8) {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		chosen := overrides[int(override)%len(overrides)]
		env := func(name string) string {
			if ours[name] && name != chosen {
				return ""
			}
			return envVal // the chosen variable, or ${FUZZ}, ${HOME}…
		}
		c, notices, err := Load(path, env)
		c2, notices2, err2 := Load(path, env)
		if !reflect.DeepEqual(c, c2) || !reflect.DeepEqual(notices, notices2) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("Load is not deterministic: %v then %v", err, err2)
		}
		for _, n := range notices {
			if strings.ContainsAny(n.String(), "\r\n") {
				t.Fatalf("notice %q spans lines", n)
			}
		}
		if err != nil {
			checkConfigError(t, path, data, ours, err)
			return
		}
		checkConfig(t, path, data, c)
	})
}

// checkConfigError: the error is one line that names the file, or the
// environment variable at fault, and a line of the file when it gives one.
func checkConfigError(t *testing.T, path, data string, ours map[string]bool, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	text := err.Error()
	if strings.ContainsAny(text, "\r\n") {
		t.Fatalf("error %q spans lines", text)
	}
	switch {
	case e.File == path:
		if !strings.HasPrefix(text, path+":") {
			t.Fatalf("error %q does not start with the file name", text)
		}
	case e.File == "" && ours[strings.SplitN(e.Msg, ":", 2)[0]]:
	default:
		t.Fatalf("error %q names neither the file nor an environment variable", text)
	}
	if lines := strings.Count(data, "\n") + 1; e.Line < 0 || e.Line > lines {
		t.Fatalf("error %q names line %d of %d", text, e.Line, lines)
	}
}

// checkConfig: a loaded configuration holds the rules Load promises.
func checkConfig(t *testing.T, path, data string, c *Config) {
	t.Helper()
	if c == nil {
		t.Fatal("no Config and no error")
	}
	abs, _ := filepath.Abs(path)
	if c.File != abs || c.Format != "toml" && c.Format != "ini" {
		t.Fatalf("File %q, Format %q", c.File, c.Format)
	}
	if _, err := readTOML(strings.TrimPrefix(data, "\ufeff")); (err == nil) != (c.Format == "toml") {
		t.Fatalf("read as %s, but TOML says %v", c.Format, err)
	}
	if c.Server.Port < 1 || c.Server.Port > 65535 {
		t.Fatalf("port %d", c.Server.Port)
	}
	u, err := ParsePublicURL(c.PublicURL.String() + "/")
	if err != nil || u != c.PublicURL {
		t.Fatalf("public_url %+v does not survive its own form %q: %+v, %v", c.PublicURL, c.PublicURL.String(), u, err)
	}
	st := c.Storage
	if st.MaxRequestBytes <= st.MaxPostBytes || st.MaxPostBytes < st.MaxRecordPayloadBytes ||
		st.MaxTotalRecords < st.MaxPostRecords || st.MaxTotalBytes < st.MaxPostBytes {
		t.Fatalf("storage limits break the rules of info/configuration: %+v", st)
	}
	if st.QuotaSize < 0 || c.Tokenserver.TokenDuration < 0 || c.Hawk.TimestampWindow < 0 || c.Purge.Interval < 0 {
		t.Fatalf("negative value accepted: %+v", c)
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "plain", "$$", "$", "${", "${}", "${a}", "${b}", "${HERE}", "${FUZZ}", "${s2:k}", "${s2:x}",
		"${DEFAULT:a}", "${loop}", "a${a}b$${a}", "%(here)s", "${a:b:c}", "${a}}", "$${", "${\n}"} {
		f.Add(s, "env")
	}
	const file = `[DEFAULT]
a = A
[s1]
b = ${a}-B
loop = ${loop2}
loop2 = ${loop}
[s2]
k = ${s1:b}/K
`
	doc, ierr := readINI("fuzz.ini", file)
	if ierr != nil {
		f.Fatal(ierr)
	}
	ini := doc.ini
	f.Fuzz(func(t *testing.T, text, envVal string) {
		env := func(string) string { return envVal }
		got, err := ini.expand("s1", text, "/here", env)
		// "$$" is a "$"; any other "$" must start a reference.
		lone := strings.Contains(strings.ReplaceAll(text, "$$", ""), "$") && !strings.Contains(text, "${")
		if err != nil {
			if !strings.Contains(text, "$") {
				t.Fatalf("expand(%q) without a $: %v", text, err)
			}
			return
		}
		if lone {
			t.Fatalf("expand(%q) = %q, want an error for the lone $", text, got)
		}
		if !strings.Contains(text, "${") {
			if want := strings.ReplaceAll(strings.ReplaceAll(text, "$$", "$"), "%(here)s", "/here"); got != want {
				t.Fatalf("expand(%q) = %q, want %q", text, got, want)
			}
		}
		// Every reference is resolved: none is left for the value's reader.
		if !strings.Contains(text, "$$") && !strings.Contains(envVal, "$") && strings.Contains(got, "${") {
			t.Fatalf("expand(%q) = %q keeps a reference", text, got)
		}
	})
}
