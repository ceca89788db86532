package config

import (
	"fmt"
	"os"
	"strings"
	"unicode"
)

// Every key of the table in keys.go can also be set from the environment,
// so that a container or a twelve-factor setup needs no file. The names are
// derived from that table, so a key added there gets its variable without
// anything written here:
//
//	[syncserver] <key>        SYNCSERVER_<KEY>            SYNCSERVER_PUBLIC_URL
//	[<section>] <key>         SYNCSERVER_<SECTION>_<KEY>  SYNCSERVER_STORAGE_QUOTA_SIZE
//
// upper-cased, with every character that is neither a letter nor a digit
// (":" of server:main, "-" and "." of sync-1.5) written "_". A few more
// names exist for what operators already type (envAliases). The
// environment wins over the file, as with the legacy server; an empty
// variable counts as unset.

// envPrefix starts the name of every variable of ours.
const envPrefix = "SYNCSERVER_"

// EnvName is the environment variable that sets a key.
func EnvName(section, key string) string {
	var b strings.Builder
	b.WriteString(envPrefix)
	if section != "syncserver" {
		writeEnvWord(&b, section)
		b.WriteByte('_')
	}
	writeEnvWord(&b, key)
	return b.String()
}

func writeEnvWord(b *strings.Builder, s string) {
	for _, r := range s {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToUpper(r))
		default:
			b.WriteByte('_')
		}
	}
}

// EnvVar is one environment variable that sets a key.
type EnvVar struct {
	Name    string
	Section string
	Key     string
	// Fallback: used only when no other variable sets the key (PORT,
	// which container platforms set for any program).
	Fallback bool
}

// envAliases are names besides the systematic one. They come after it, so
// that two names of one setting set at once are reported.
var envAliases = []EnvVar{
	{Name: "SYNCSERVER_HOST", Section: "server:main", Key: "host"},
	{Name: "SYNCSERVER_PORT", Section: "server:main", Key: "port"},
	// The legacy server's name for it.
	{Name: "SYNCSERVER_BATCH_UPLOAD_ENABLED", Section: "storage", Key: "batch_upload_enabled"},
	// The legacy Docker image listened on $PORT.
	{Name: "PORT", Section: "server:main", Key: "port", Fallback: true},
}

// Variables that are not a key of the file.
const (
	// EnvConfig names the configuration file (read by the command, not by Load).
	EnvConfig = "SYNCSERVER_CONFIG"
	// envSecretFile names a file holding [syncserver] secret.
	envSecretFile = "SYNCSERVER_SECRET_FILE"
)

// EnvVars lists every variable that sets a key: the systematic name of
// each key we read, in the order of the table, then the aliases.
func EnvVars() []EnvVar {
	var out []EnvVar
	for _, k := range keys {
		if k.kind == kindIgnored || strings.HasSuffix(k.name, "*") {
			continue
		}
		out = append(out, EnvVar{Name: EnvName(k.section, k.name), Section: k.section, Key: k.name})
	}
	return append(out, envAliases...)
}

// setting names the setting a key holds: two spellings of one setting
// (key.same) are one, so that setting both is reported.
func setting(section, name string) string {
	id := section + "." + name
	if k := findKey(section, name); k != nil && k.same != "" && k.same < id {
		return k.same
	}
	return id
}

// environment applies the variables after the file. Values are taken as
// they are: no quotes removed, no ${…} expanded; lists are separated by
// commas or white space (secrets by white space), booleans are
// true/false, yes/no, on/off or 1/0. An error names the variable.
func (l *loader) environment() error {
	fileSet, file := l.set, l.file
	// While the environment is read, a key that defers to another one
	// (oauth server_url to oauth_verifier) sees only what the environment
	// set: the environment overrides the file whichever key the file used.
	l.set, l.file, l.line = map[string]int{}, "", 0
	defer func() {
		for k := range l.set {
			fileSet[k] = 0
		}
		l.set, l.file = fileSet, file
	}()
	by := map[string]string{} // setting → the variable that set it
	for _, ev := range EnvVars() {
		s := l.env(ev.Name)
		if s == "" {
			continue
		}
		id := setting(ev.Section, ev.Key)
		if other, ok := by[id]; ok {
			if ev.Fallback {
				continue
			}
			return &Error{Msg: fmt.Sprintf("%s: %s sets the same setting; keep one", ev.Name, other)}
		}
		k := findKey(ev.Section, ev.Key)
		p, err := value{text: s, isText: true}.convert(k.kind)
		if err == nil {
			err = k.set(l, p)
		}
		if err != nil {
			return &Error{Msg: oneLine(fmt.Sprintf("%s: %v", ev.Name, err))}
		}
		by[id] = ev.Name
		l.set[setKey(ev.Section, ev.Key)] = 0
		l.fromEnv[setKey(ev.Section, ev.Key)] = ev.Name
	}
	// Keys we accept without using get their notice here too.
	for _, k := range keys {
		if k.kind != kindIgnored || strings.HasSuffix(k.name, "*") {
			continue
		}
		if name := EnvName(k.section, k.name); l.env(name) != "" {
			l.notices = append(l.notices, Notice{Msg: name + " " + k.note})
		}
	}
	if l.env("SYNCSERVER_SECRET") != "" {
		l.c.SecretFromEnvFile = false
	} else if name := l.env(envSecretFile); name != "" {
		data, err := os.ReadFile(name)
		if err != nil {
			return &Error{Msg: envSecretFile + ": " + oneLine(err.Error())}
		}
		l.c.Secrets, l.c.SecretFromEnvFile = fields(string(data)), true
		if len(l.c.Secrets) == 0 {
			l.notices = append(l.notices, Notice{Msg: envSecretFile + ": " + name + " is empty; a secret is generated and kept in the database"})
		}
	}
	return nil
}

// source names where a key was set, for a message about it: its
// variable, or the key as written in the file.
func (l *loader) source(section, key string) string {
	if name, ok := l.fromEnv[setKey(section, key)]; ok {
		return name
	}
	return "[" + section + "] " + key
}

// envNote names the variables among keys of a section that the
// environment set, for a message about keys that disagree.
func (l *loader) envNote(section string, keys ...string) string {
	var names []string
	for _, k := range keys {
		if name, ok := l.fromEnv[setKey(section, k)]; ok {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (set by " + strings.Join(names, " and ") + ")"
}

// MisspeltEnv reports the variables of environ (in os.Environ's form) whose
// names are a slip of the keyboard away from one of ours: a misspelt name
// would otherwise be ignored without a word. Other SYNCSERVER_* names (of
// scripts and test suites) are left alone.
func MisspeltEnv(environ []string) []Notice {
	known := map[string]bool{EnvConfig: true, envSecretFile: true}
	var names []string
	for _, ev := range EnvVars() {
		known[ev.Name] = true
		names = append(names, ev.Name)
	}
	names = append(names, envSecretFile, EnvConfig)
	for _, k := range keys {
		if k.kind == kindIgnored {
			known[EnvName(k.section, k.name)] = true
		}
	}
	var out []Notice
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || known[name] {
			continue
		}
		if c := closest(name, names); c != "" {
			out = append(out, Notice{Msg: name + " is not a variable of ours and is ignored; did you mean " + c + "?"})
		}
	}
	return out
}
