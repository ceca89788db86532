package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Load reads the configuration file at path, applies the SYNCSERVER_*
// environment variables looked up with env (pass os.Getenv; nil means none;
// see env.go for their names),
// fills in defaults and validates the result. The file is the TOML we ship or,
// when it is not TOML, a legacy INI file read as the Python server read it.
// Keys of the legacy server that have no effect here are accepted, each with
// one Notice. Every error is an *Error, whose text is one line naming the file
// and the line, or the environment variable. With path "" no file is read and
// relative paths are taken from the working directory, as the legacy server
// did when it was configured only through its environment.
func Load(path string, env func(string) string) (*Config, []Notice, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	l := &loader{file: path, env: env, set: map[string]int{}, fromEnv: map[string]string{}, told: map[string]bool{}}
	if path == "" {
		dir, err := os.Getwd()
		if err != nil {
			return nil, nil, &Error{Msg: "cannot find the working directory: " + oneLine(err.Error())}
		}
		l.dir, l.c = dir, Default(dir)
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, nil, &Error{File: path, Msg: oneLine(err.Error())}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, nil, &Error{File: path, Msg: "cannot read: " + oneLine(err.Error())}
		}
		doc, err := read(path, string(data))
		if err != nil {
			return nil, nil, err
		}
		l.dir = filepath.Dir(abs)
		l.c = Default(l.dir)
		l.c.File, l.c.Format, l.doc = abs, doc.format, doc
		for _, s := range doc.sections {
			if err := l.section(s); err != nil {
				return nil, l.notices, err
			}
		}
	}
	if err := l.environment(); err != nil {
		return nil, l.notices, err
	}
	if err := l.finish(); err != nil {
		return nil, l.notices, err
	}
	return l.c, l.notices, nil
}

// read decides the format: TOML when the file parses as TOML, else INI. When
// neither parses, or the file was plainly meant to be TOML (a quoted
// ["server:main"], mostly quoted values), the TOML error is the one reported.
func read(file, data string) (*document, error) {
	data = strings.TrimPrefix(data, "\ufeff")
	doc, terr := readTOML(data)
	if terr == nil {
		return doc, nil
	}
	if looksLikeTOML(data) {
		return nil, tomlSyntaxError(file, terr)
	}
	doc, ierr := readINI(file, data)
	if ierr != nil {
		return nil, ierr
	}
	return doc, nil
}

type loader struct {
	c       *Config
	file    string // as the caller named it, for messages
	dir     string // absolute directory of the file
	env     func(string) string
	doc     *document
	notices []Notice
	set     map[string]int  // setKey(section, key) → line; 0 for the environment
	line    int             // of the entry being read, for notices from set functions
	told    map[string]bool // notice groups already told

	fromEnv map[string]string // setKey(section, key) → the variable that set it
}

func setKey(section, key string) string { return section + "\x00" + key }

// isSet tells whether the file or the environment set a key.
func (l *loader) isSet(section, key string) bool {
	_, ok := l.set[setKey(section, key)]
	return ok
}

func (l *loader) notice(line int, msg string) {
	l.notices = append(l.notices, Notice{File: l.file, Line: line, Msg: msg})
}

func (l *loader) errorf(line int, format string, args ...any) error {
	return &Error{File: l.file, Line: line, Msg: oneLine(fmt.Sprintf(format, args...))}
}

func (l *loader) section(s *section) error {
	switch {
	case s.name == "": // TOML keys before the first table
		e := s.entries[0]
		hint := l.sectionOf(e.key)
		if hint == "" {
			hint = "; put it under the [section] it belongs to"
		}
		return l.errorf(e.line, "%s is outside any section%s", e.key, hint)
	case s.name == "DEFAULT":
		if l.doc.format == "toml" {
			l.notice(s.line, "[DEFAULT] is ignored: it only serves ${…} references in a legacy INI file")
		}
		return nil
	case hasKeys(s.name):
		for _, e := range s.entries {
			if err := l.entry(s, e); err != nil {
				return err
			}
		}
		return nil
	}
	if ig := findIgnoredSection(s.name); ig != nil {
		if ig.group == "" || !l.told[ig.group] {
			l.notice(s.line, l.header(s.name)+" "+ig.note)
		}
		if ig.group != "" {
			l.told[ig.group] = true
		}
		return nil
	}
	return l.errorf(s.line, "unknown section %s%s", l.header(s.name), l.sectionHint(s.name))
}

func (l *loader) entry(s *section, e *entry) error {
	k := findKey(s.name, e.key)
	if k == nil {
		return l.errorf(e.line, "[%s] %s: unknown key%s", s.name, e.key, l.keyHint(s.name, e.key))
	}
	if k.kind == kindIgnored {
		l.notice(e.line, fmt.Sprintf("[%s] %s %s", s.name, e.key, k.note))
		return nil
	}
	v := e.value
	if l.doc.ini != nil {
		text, err := l.doc.ini.expand(s.name, v.text, l.dir, l.env)
		if err != nil {
			return l.errorf(e.line, "[%s] %s: %v", s.name, e.key, err)
		}
		v.text = text
	}
	if k.same != "" {
		sec, name, _ := strings.Cut(k.same, ".")
		if line, ok := l.set[setKey(sec, name)]; ok {
			return l.errorf(e.line, "[%s] %s: also set as [%s] %s on line %d; keep one", s.name, e.key, sec, name, line)
		}
	}
	l.line = e.line
	p, err := v.convert(k.kind)
	if err == nil {
		err = k.set(l, p)
	}
	if err != nil {
		return l.errorf(e.line, "[%s] %s: %v", s.name, e.key, err)
	}
	l.set[setKey(s.name, e.key)] = e.line
	return nil
}

// header writes a section name as the file's format needs it.
func (l *loader) header(name string) string {
	if l.doc != nil && l.doc.format == "toml" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
		return fmt.Sprintf("[%q]", name)
	}
	return "[" + name + "]"
}

// finish fills the defaults that depend on other keys and checks the rules
// that tie keys together.
func (l *loader) finish() error {
	c := l.c
	if !c.PublicURLSet {
		l.notices = append(l.notices, Notice{File: l.file, Msg: "[syncserver] public_url is not set: using " + DefaultPublicURL +
			", which only a Firefox on this machine can reach; set it to the URL Firefox uses"})
	}
	if c.Tokenserver.NodeURL == "" || !l.isSet("tokenserver", "node_url") {
		c.Tokenserver.NodeURL = c.PublicURL.String()
	}
	if err := l.finishAccounts(); err != nil {
		return err
	}
	if c.Role == "storage" && c.Accounts.Enabled {
		return l.errorf(l.set[setKey("accounts", "enabled")], "[accounts] enabled: a storage-only node (role = \"storage\") has no tokenserver for the accounts to sign in to; enable them on the token server%s",
			l.envNote("accounts", "enabled"))
	}
	if c.Role == "token" && !c.Tokenserver.MultiNode && !l.isSet("tokenserver", "node_url") {
		return l.errorf(l.set[setKey("syncserver", "role")], "[syncserver] role = \"token\" serves no storage: set [tokenserver] node_url to the storage node's URL, or multi_node = true and add the nodes with syncserver nodes add%s",
			l.envNote("syncserver", "role"))
	}
	if c.DebugEnabled && !l.isSet("syncserver", "log_level") {
		c.LogLevel = "debug"
	}
	st := c.Storage
	for _, r := range []struct {
		big, small       string
		bigVal, smallVal int64
		strict           bool
	}{
		{"max_request_bytes", "max_post_bytes", st.MaxRequestBytes, st.MaxPostBytes, true},
		{"max_post_bytes", "max_record_payload_bytes", st.MaxPostBytes, st.MaxRecordPayloadBytes, false},
		{"max_total_records", "max_post_records", st.MaxTotalRecords, st.MaxPostRecords, false},
		{"max_total_bytes", "max_post_bytes", st.MaxTotalBytes, st.MaxPostBytes, false},
	} {
		if r.bigVal > r.smallVal || !r.strict && r.bigVal == r.smallVal {
			continue
		}
		want := "at least"
		if r.strict {
			want = "greater than"
		}
		bigLine, bigSet := l.set[setKey("storage", r.big)]
		smallLine, smallSet := l.set[setKey("storage", r.small)]
		return l.errorf(max(bigLine, smallLine), "[storage] %s (%d%s) must be %s %s (%d%s)%s",
			r.big, r.bigVal, dflt(bigSet), want, r.small, r.smallVal, dflt(smallSet), l.envNote("storage", r.big, r.small))
	}
	return l.sqluriPassword()
}

// fields splits on white space; no field is nil, as for values from the file.
func fields(s string) []string {
	if f := strings.Fields(s); len(f) > 0 {
		return f
	}
	return nil
}

func dflt(set bool) string {
	if set {
		return ""
	}
	return ", the default"
}
