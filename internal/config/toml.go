package config

import (
	"errors"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// document is a configuration file as read, in either format: its sections
// in file order, each with its entries in file order.
type document struct {
	format   string // "toml" or "ini"
	sections []*section
	ini      *iniFile // for interpolation; nil for TOML
}

type section struct {
	name    string // "" holds TOML keys written before any table
	line    int
	entries []*entry
}

type entry struct {
	key   string
	line  int
	value value // for INI, the text before interpolation
}

// readTOML parses a TOML file into sections. A table inside a section is
// flattened into dotted keys, so that the legacy `sync-1.5 = "…"`, which TOML
// reads as table "sync-1" holding key "5", is the key "sync-1.5" again.
func readTOML(data string) (*document, error) {
	var top map[string]toml.Primitive
	md, err := toml.Decode(data, &top)
	if err != nil {
		return nil, err
	}
	doc := &document{format: "toml"}
	loose := &section{name: ""}
	for name, prim := range top {
		v, line := tomlValue(&md, prim)
		if _, ok := v.(map[string]any); !ok {
			loose.entries = append(loose.entries, &entry{key: name, line: line, value: value{toml: v}})
			continue
		}
		s := &section{name: name, line: line}
		if err := flattenTOML(&md, prim, "", s); err != nil {
			return nil, err
		}
		sortEntries(s.entries)
		doc.sections = append(doc.sections, s)
	}
	if len(loose.entries) > 0 {
		sortEntries(loose.entries)
		loose.line = loose.entries[0].line
		doc.sections = append(doc.sections, loose)
	}
	sort.SliceStable(doc.sections, func(i, j int) bool {
		a, b := doc.sections[i], doc.sections[j]
		if a.line != b.line {
			return a.line < b.line
		}
		return a.name < b.name
	})
	return doc, nil
}

func flattenTOML(md *toml.MetaData, prim toml.Primitive, prefix string, s *section) error {
	var tbl map[string]toml.Primitive
	if err := md.PrimitiveDecode(prim, &tbl); err != nil {
		return err
	}
	for name, p := range tbl {
		v, line := tomlValue(md, p)
		if s.line == 0 || line > 0 && line < s.line {
			// A table made implicitly, by [a.b] or by a dotted key, is
			// where its first table or key is.
			s.line = line
		}
		if _, ok := v.(map[string]any); ok {
			if err := flattenTOML(md, p, prefix+name+".", s); err != nil {
				return err
			}
			continue
		}
		s.entries = append(s.entries, &entry{key: prefix + name, line: line, value: value{toml: v}})
	}
	return nil
}

func sortEntries(es []*entry) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].line != es[j].line {
			return es[i].line < es[j].line
		}
		return es[i].key < es[j].key
	})
}

// probe takes a TOML value and fails, so that the decoder reports the line the
// value is on: BurntSushi/toml keeps key positions but only shows them in
// errors.
type probe struct{ v any }

var errProbe = errors.New("probe")

func (p *probe) UnmarshalTOML(v any) error { p.v = v; return errProbe }

// tomlValue returns a value and its line (0 for a table made implicitly).
func tomlValue(md *toml.MetaData, prim toml.Primitive) (any, int) {
	var p probe
	err := md.PrimitiveDecode(prim, &p)
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return p.v, pe.Position.Line
	}
	return p.v, 0
}

// tomlSyntaxError turns the decoder's error into ours, with a hint for the
// commonest mistake in a file that was INI before: an unquoted string.
func tomlSyntaxError(file string, err error) *Error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return &Error{File: file, Msg: "TOML: " + oneLine(err.Error())}
	}
	msg := "TOML syntax error: " + oneLine(pe.Message)
	if strings.HasPrefix(pe.Message, "expected value but found") {
		msg += ` (strings must be quoted: key = "value")`
	}
	if strings.Contains(pe.Message, "to end table name") {
		msg += ` (a section name with ":" must be quoted: ["server:main"])`
	}
	return &Error{File: file, Line: pe.Position.Line, Msg: msg}
}

// looksLikeTOML tells whether a file that is not valid TOML was meant to be
// TOML, to report the TOML error rather than read the file as INI: it has a
// quoted table name (["server:main"]), an array of tables, a value that only
// TOML writes (a list, an inline table, a single-quoted string); or, without
// a mark of the legacy format (an unquoted [a:b] section, a "key: value"
// line), more quoted values than bare ones.
func looksLikeTOML(data string) bool {
	quoted, bare, legacy := 0, 0, false
	for _, line := range strings.Split(data, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "" || t[0] == '#' || t[0] == ';':
			continue
		case strings.HasPrefix(t, "[["):
			return true
		case t[0] == '[':
			r := strings.TrimSpace(t[1:])
			if r != "" && (r[0] == '"' || r[0] == '\'') {
				return true
			}
			if strings.Contains(t, ":") {
				legacy = true
			}
			continue
		}
		i := strings.IndexAny(t, "=:")
		if i < 0 {
			continue
		}
		if t[i] == ':' {
			legacy = true
			continue
		}
		v := strings.TrimSpace(t[i+1:])
		switch {
		case v == "":
		case v[0] == '{' && !strings.Contains(v, "="):
			// Not an inline table: a legacy {node}/1.5/{uid}, or JSON.
			bare++
		case v[0] == '\'' || v[0] == '[' || v[0] == '{':
			return true
		case v[0] == '"':
			quoted++
		case isNumberOrBool(v):
		default:
			bare++
		}
	}
	return !legacy && quoted > bare
}

func isNumberOrBool(s string) bool {
	if _, ok := parseBool(s); ok {
		return true
	}
	return strings.Trim(s, "0123456789.-+_eE") == ""
}
