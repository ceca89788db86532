package config

import (
	"errors"
	"fmt"
	"strings"
)

// iniFile is a legacy syncserver.ini read with the rules of konfig (Python's
// configparser with extended interpolation): `=` or `:` between key and
// value, comments only on lines of their own, values continued on indented
// lines, ${…} references resolved when a value is used.
type iniFile struct {
	byName map[string]*section
	keys   map[*section]map[string]*entry
}

// readINI parses a legacy file. Where configparser would fail (a line outside
// any section, a line that is not key = value, a key set twice) we fail too,
// so no file the legacy server ran with is refused. Unlike configparser we
// also take lines starting with ";" as comments: such a line was a key named
// ";…" that nothing read, or a syntax error.
func readINI(file, data string) (*document, *Error) {
	f := &iniFile{byName: map[string]*section{}, keys: map[*section]map[string]*entry{}}
	doc := &document{format: "ini", ini: f}
	var (
		cur    *section
		last   *entry // the value that indented lines continue
		indent int
	)
	for i, raw := range strings.Split(data, "\n") {
		n := i + 1
		line := strings.TrimRight(raw, "\r")
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";"):
			continue // a comment does not end a value
		case t == "":
			if last != nil {
				last.value.text += "\n" // kept, as configparser does, and dropped at the end
			}
			continue
		}
		ind := len(line) - len(strings.TrimLeft(line, " \t"))
		if last != nil && ind > indent {
			last.value.text += "\n" + t
			continue
		}
		indent, last = ind, nil
		if t[0] == '[' {
			end := strings.LastIndex(t, "]")
			name := ""
			if end > 0 {
				name = strings.TrimSpace(t[1:end])
			}
			if name == "" {
				return nil, &Error{File: file, Line: n, Msg: fmt.Sprintf("INI syntax error: %s is not a [section] header", Quote(t))}
			}
			if cur = f.byName[name]; cur == nil { // a repeated section continues the first
				cur = &section{name: name, line: n}
				f.byName[name] = cur
				f.keys[cur] = map[string]*entry{}
				doc.sections = append(doc.sections, cur)
			}
			continue
		}
		if cur == nil {
			return nil, &Error{File: file, Line: n, Msg: fmt.Sprintf("INI syntax error: %s comes before any [section] header", Quote(t))}
		}
		j := strings.IndexAny(t, "=:")
		if j < 0 {
			return nil, &Error{File: file, Line: n, Msg: fmt.Sprintf("INI syntax error: %s is not a key = value line", Quote(t))}
		}
		k := strings.TrimSpace(t[:j])
		if k == "" {
			return nil, &Error{File: file, Line: n, Msg: fmt.Sprintf("INI syntax error: %s has no key before %q", Quote(t), t[j:j+1])}
		}
		if prev := f.keys[cur][k]; prev != nil {
			return nil, &Error{File: file, Line: n, Msg: oneLine(fmt.Sprintf("[%s] %s is set twice (first on line %d)", cur.name, k, prev.line))}
		}
		last = &entry{key: k, line: n, value: value{text: strings.TrimSpace(t[j+1:]), isText: true, ini: true}}
		f.keys[cur][k] = last
		cur.entries = append(cur.entries, last)
	}
	for _, s := range doc.sections {
		for _, e := range s.entries {
			e.value.text = strings.TrimRight(e.value.text, " \t\n")
		}
	}
	return doc, nil
}

// maxDepth is configparser's limit on references to references.
const maxDepth = 10

// expand resolves the ${…} references of a value of section sec, as konfig:
// ${key} is a key of the same section or of [DEFAULT], ${HERE} the
// directory of the file, else an environment variable; ${section:key} a key
// of another section; $$ is a "$". PasteDeploy's %(here)s is also the
// directory of the file.
func (f *iniFile) expand(sec, text, here string, env func(string) string) (string, error) {
	s, err := f.interpolate(sec, text, here, env, 1)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(s, "%(here)s", here), nil
}

func (f *iniFile) interpolate(sec, text, here string, env func(string) string, depth int) (string, error) {
	if depth > maxDepth {
		return "", fmt.Errorf("${…} references nest more than %d deep (a loop?)", maxDepth)
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(text, '$')
		if i < 0 {
			b.WriteString(text)
			return b.String(), nil
		}
		b.WriteString(text[:i])
		text = text[i:]
		switch {
		case strings.HasPrefix(text, "$$"):
			b.WriteByte('$')
			text = text[2:]
			continue
		case !strings.HasPrefix(text, "${"):
			return "", errors.New(`a lone "$" must be written "$$" (${name} uses a value)`)
		}
		end := strings.IndexByte(text, '}')
		if end < 3 {
			return "", errors.New("a ${ without a name and a closing }: want ${key}, ${section:key} or ${ENVIRONMENT_VARIABLE}")
		}
		ref := text[2:end]
		text = text[end+1:]
		v, ok, inSec := "", false, sec
		if i := strings.LastIndexByte(ref, ':'); i >= 0 {
			inSec = ref[:i]
			v, ok = f.lookup(inSec, ref[i+1:])
			if !ok {
				return "", fmt.Errorf("${%s}: no key %q in [%s] or [DEFAULT]", ref, ref[i+1:], inSec)
			}
		} else if v, ok = f.lookup(sec, ref); !ok {
			switch {
			case ref == "HERE":
				b.WriteString(here)
				continue
			case env(ref) != "":
				b.WriteString(env(ref)) // taken as it is (konfig would expand a "$" in it)
				continue
			}
			return "", fmt.Errorf("${%s}: no key %q in [%s] or [DEFAULT], and no environment variable %s", ref, ref, sec, ref)
		}
		v, err := f.interpolate(inSec, v, here, env, depth+1)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
}

func (f *iniFile) lookup(sec, key string) (string, bool) {
	for _, name := range []string{sec, "DEFAULT"} {
		if s := f.byName[name]; s != nil {
			if e := f.keys[s][key]; e != nil {
				return e.value.text, true
			}
		}
	}
	return "", false
}
