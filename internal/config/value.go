package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// value is one setting as read, before it is converted to its kind: a value
// of a TOML file, or text (an INI value after interpolation, or an
// environment variable).
type value struct {
	toml   any
	text   string
	isText bool
	ini    bool // konfig's rule applies: "…" around a whole value is removed
}

// parsed is a value converted to the kind of its key; only the field of that
// kind is set.
type parsed struct {
	s    string
	i    int64
	b    bool
	d    time.Duration
	f    float64
	list []string
}

// kind is what a key's value must be.
type kind int

const (
	kindIgnored kind = iota // a legacy key we accept and do not use
	kindString
	kindInt
	kindBool
	kindSeconds
	kindList    // separated by whitespace or commas, or a TOML array
	kindSecrets // separated by whitespace, or a TOML array
	kindMode    // an octal file mode written as a string: "0660"
	kindFloat   // a number such as 0.1
)

func (v value) convert(k kind) (parsed, error) {
	var p parsed
	var err error
	switch k {
	case kindString:
		p.s, err = v.str()
	case kindInt:
		p.i, err = v.int()
	case kindBool:
		p.b, err = v.bool()
	case kindSeconds:
		p.d, err = v.seconds()
	case kindList:
		p.list, err = v.strings(func(r rune) bool { return r == ',' || isSpace(r) })
	case kindSecrets:
		p.list, err = v.strings(isSpace)
	case kindMode:
		p.i, err = v.mode()
	case kindFloat:
		p.f, err = v.float()
	}
	return p, err
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// lines are the non-empty lines of a text value, konfig's list items.
func (v value) lines() []string {
	var out []string
	for _, l := range strings.Split(v.text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, v.unquote(l))
		}
	}
	return out
}

func (v value) unquote(s string) string {
	if v.ini && len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// scalar is the one text a text value holds.
func (v value) scalar() (string, error) {
	if !v.ini {
		return strings.TrimSpace(v.text), nil
	}
	l := v.lines()
	switch len(l) {
	case 0:
		return "", nil
	case 1:
		return l[0], nil
	}
	return "", fmt.Errorf("want one value, got %d lines", len(l))
}

func (v value) str() (string, error) {
	if v.isText {
		return v.scalar()
	}
	if s, ok := v.toml.(string); ok {
		return strings.TrimSpace(s), nil
	}
	return "", fmt.Errorf("want a quoted string, got %s", describe(v.toml))
}

func (v value) int() (int64, error) {
	if v.isText {
		s, err := v.scalar()
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want an integer, got %s", Quote(s))
		}
		return n, nil
	}
	switch x := v.toml.(type) {
	case int64:
		return x, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
	case string:
		if _, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return 0, fmt.Errorf("want an integer, got the string %s (remove the quotes)", Quote(x))
		}
	}
	return 0, fmt.Errorf("want an integer, got %s", describe(v.toml))
}

func (v value) bool() (bool, error) {
	var s string
	if v.isText {
		var err error
		if s, err = v.scalar(); err != nil {
			return false, err
		}
	} else {
		switch x := v.toml.(type) {
		case bool:
			return x, nil
		case int64:
			s = strconv.FormatInt(x, 10)
		case string:
			s = x
		default:
			return false, fmt.Errorf("want true or false, got %s", describe(v.toml))
		}
	}
	if b, ok := parseBool(s); ok {
		return b, nil
	}
	return false, fmt.Errorf("want true or false (or yes/no, on/off, 1/0), got %s", Quote(s))
}

// parseBool accepts the words the legacy server's environment overrides did.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}

// maxSeconds keeps a number of seconds inside time.Duration.
const maxSeconds = 100 * 365 * 24 * 3600

// float reads a number: a TOML integer or float, or text.
func (v value) float() (float64, error) {
	var f float64
	if v.isText {
		s, err := v.scalar()
		if err != nil {
			return 0, err
		}
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, fmt.Errorf("want a number, got %s", Quote(s))
		}
	} else {
		switch x := v.toml.(type) {
		case int64:
			f = float64(x)
		case float64:
			f = x
		default:
			return 0, fmt.Errorf("want a number, got %s", describe(v.toml))
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a number, got %v", f)
	}
	return f, nil
}

func (v value) seconds() (time.Duration, error) {
	var f float64
	if v.isText {
		s, err := v.scalar()
		if err != nil {
			return 0, err
		}
		if f, err = strconv.ParseFloat(s, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d, derr := time.ParseDuration(s)
			if derr != nil {
				return 0, fmt.Errorf("want a number of seconds, got %s", Quote(s))
			}
			return d, nil
		}
	} else {
		switch x := v.toml.(type) {
		case int64:
			f = float64(x)
		case float64:
			f = x
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(x))
			if err != nil {
				return 0, fmt.Errorf("want a number of seconds, got the string %s", Quote(x))
			}
			return d, nil
		default:
			return 0, fmt.Errorf("want a number of seconds, got %s", describe(v.toml))
		}
	}
	if math.Abs(f) > maxSeconds || math.IsNaN(f) {
		return 0, fmt.Errorf("%v seconds is too long", f)
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}

func (v value) strings(sep func(rune) bool) ([]string, error) {
	items, err := v.items(sep)
	if len(items) == 0 {
		items = nil // "nothing" has one form
	}
	return items, err
}

func (v value) items(sep func(rune) bool) ([]string, error) {
	var items []string
	if v.isText {
		lines := []string{v.text}
		if v.ini {
			lines = v.lines()
		}
		for _, l := range lines {
			for _, f := range strings.FieldsFunc(l, sep) {
				items = append(items, v.unquote(f))
			}
		}
		return items, nil
	}
	switch x := v.toml.(type) {
	case string:
		return strings.FieldsFunc(x, sep), nil
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want a list of strings, got an element that is %s", describe(e))
			}
			items = append(items, strings.FieldsFunc(s, sep)...)
		}
		return items, nil
	}
	return nil, fmt.Errorf("want a string or a list of strings, got %s", describe(v.toml))
}

func (v value) mode() (int64, error) {
	var s string
	if v.isText {
		var err error
		if s, err = v.scalar(); err != nil {
			return 0, err
		}
	} else {
		var ok bool
		if s, ok = v.toml.(string); !ok {
			return 0, fmt.Errorf(`want an octal mode as a quoted string such as "0660", got %s`, describe(v.toml))
		}
	}
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil || n > 0o777 {
		return 0, fmt.Errorf(`want an octal mode such as "0660", got %s`, Quote(s))
	}
	return int64(n), nil
}

// describe names a TOML value's type for a message.
func describe(x any) string {
	switch x := x.(type) {
	case string:
		return "the string " + Quote(x)
	case int64:
		return fmt.Sprintf("the integer %d", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case []any, []map[string]any:
		return "a list"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("a date/time (%v)", x)
}
