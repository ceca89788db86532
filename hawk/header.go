// Package hawk authenticates storage requests with Hawk as Firefox Sync uses
// it (as Mozilla's hawkauthlib does for the legacy server): parsing the Authorization header,
// recomputing the request MAC, and optional payload-hash and replay checks.
// It knows nothing about HTTP servers or tokens, so both front-ends and the
// tests drive it with plain values.
package hawk

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors returned by ParseHeader. Callers answer all of them with a 401.
var (
	// ErrNotHawk reports an Authorization header of another scheme, so a
	// caller can tell "no Hawk credentials" from "broken Hawk credentials".
	ErrNotHawk = errors.New("hawk: not a hawk authorization header")
	// ErrMalformed reports a Hawk header that cannot be parsed or lacks a
	// required attribute.
	ErrMalformed = errors.New("hawk: malformed header")
)

// Auth holds the attributes of a Hawk Authorization header. ID is the
// storage token, TS the client's clock in seconds, Nonce a random string
// per request; Hash and Ext are optional and empty when absent.
type Auth struct {
	ID    string
	TS    int64
	Nonce string
	MAC   string
	Hash  string
	Ext   string
}

// maxAttrs bounds the work spent on a hostile header full of attributes.
const maxAttrs = 16

// ParseHeader parses the value of an Authorization header such as
//
//	Hawk id="…", ts="1700000000", nonce="…", mac="…"
//
// The scheme must be exactly "Hawk" (case-sensitive, as hawkauthlib's
// signature check and the Rust server require); otherwise ErrNotHawk. The
// attributes are comma-separated name=value pairs whose value is a bare
// token [A-Za-z0-9_-]+ or a quoted string in which a backslash escapes the
// next character (so commas are allowed and an unescaped quote ends it);
// spaces and tabs may surround "=" and ",".
// id, ts (a decimal integer), nonce and mac are required and non-empty;
// hash and ext are optional; unknown attributes are ignored; a repeated
// attribute is rejected. Every other failure wraps ErrMalformed.
// ParseHeader never panics.
func ParseHeader(h string) (Auth, error) {
	h = strings.Trim(h, " \t")
	scheme, rest := h, ""
	if i := strings.IndexAny(h, " \t"); i >= 0 {
		scheme, rest = h[:i], h[i+1:]
	}
	if scheme != "Hawk" {
		return Auth{}, ErrNotHawk
	}
	p := parser{s: rest}
	var a Auth
	var seen struct{ id, ts, nonce, mac, hash, ext bool }
	for n := 0; ; n++ {
		if n == maxAttrs {
			return Auth{}, fmt.Errorf("%w: too many attributes", ErrMalformed)
		}
		name, value, err := p.attribute()
		if err != nil {
			return Auth{}, err
		}
		var dup bool
		switch name {
		case "id":
			dup, seen.id, a.ID = seen.id, true, value
		case "ts":
			dup, seen.ts = seen.ts, true
			if a.TS, err = parseTS(value); err != nil {
				return Auth{}, err
			}
		case "nonce":
			dup, seen.nonce, a.Nonce = seen.nonce, true, value
		case "mac":
			dup, seen.mac, a.MAC = seen.mac, true, value
		case "hash":
			dup, seen.hash, a.Hash = seen.hash, true, value
		case "ext":
			dup, seen.ext, a.Ext = seen.ext, true, value
		}
		if dup {
			return Auth{}, fmt.Errorf("%w: repeated attribute %s", ErrMalformed, name)
		}
		if p.done() {
			break
		}
	}
	switch {
	case a.ID == "":
		return Auth{}, fmt.Errorf("%w: missing id", ErrMalformed)
	case !seen.ts:
		return Auth{}, fmt.Errorf("%w: missing ts", ErrMalformed)
	case a.Nonce == "":
		return Auth{}, fmt.Errorf("%w: missing nonce", ErrMalformed)
	case a.MAC == "":
		return Auth{}, fmt.Errorf("%w: missing mac", ErrMalformed)
	}
	return a, nil
}

// parseTS accepts only decimal digits: clients send whole seconds.
func parseTS(v string) (int64, error) {
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return 0, fmt.Errorf("%w: ts is not an integer", ErrMalformed)
	}
	ts, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: ts out of range", ErrMalformed)
	}
	return ts, nil
}

// parser walks the attribute list of a Hawk header.
type parser struct {
	s string
	i int
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// done consumes the separator after an attribute and reports whether the
// list ended; a trailing or doubled comma is left for attribute to reject.
func (p *parser) done() bool {
	p.skipSpace()
	if p.i == len(p.s) {
		return true
	}
	if p.s[p.i] == ',' {
		p.i++
	}
	return false
}

// attribute reads one name=value pair.
func (p *parser) attribute() (name, value string, err error) {
	p.skipSpace()
	name = p.token()
	if name == "" {
		return "", "", fmt.Errorf("%w: expected an attribute name", ErrMalformed)
	}
	p.skipSpace()
	if p.i == len(p.s) || p.s[p.i] != '=' {
		return "", "", fmt.Errorf("%w: expected = after %s", ErrMalformed, name)
	}
	p.i++
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		value, err = p.quoted()
	} else if value = p.token(); value == "" {
		err = fmt.Errorf("%w: missing value of %s", ErrMalformed, name)
	}
	if err != nil {
		return "", "", err
	}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] != ',' {
		return "", "", fmt.Errorf("%w: unexpected character after %s", ErrMalformed, name)
	}
	return name, value, nil
}

// token reads [A-Za-z0-9_-]*.
func (p *parser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// quoted reads a quoted string starting at the opening quote and returns it
// with the quotes and escaping backslashes removed.
func (p *parser) quoted() (string, error) {
	p.i++ // opening quote
	start := p.i
	var b []byte // allocated only when the value contains escapes
	for p.i < len(p.s) {
		switch c := p.s[p.i]; c {
		case '"':
			p.i++
			if b == nil {
				return p.s[start : p.i-1], nil
			}
			return string(b), nil
		case '\\':
			if p.i+1 == len(p.s) {
				return "", fmt.Errorf("%w: unterminated quoted string", ErrMalformed)
			}
			if b == nil {
				b = append([]byte(nil), p.s[start:p.i]...)
			}
			b = append(b, p.s[p.i+1])
			p.i += 2
		default:
			if b != nil {
				b = append(b, c)
			}
			p.i++
		}
	}
	return "", fmt.Errorf("%w: unterminated quoted string", ErrMalformed)
}

// Header formats a as an Authorization header value, the inverse of
// ParseHeader; tests and load tools use it to act as a client. Hash and Ext
// are written only when set, as Firefox does.
func (a Auth) Header() string {
	var b strings.Builder
	b.WriteString(`Hawk id="`)
	writeEscaped(&b, a.ID)
	b.WriteString(`", ts="`)
	b.WriteString(strconv.FormatInt(a.TS, 10))
	b.WriteString(`", nonce="`)
	writeEscaped(&b, a.Nonce)
	if a.Hash != "" {
		b.WriteString(`", hash="`)
		writeEscaped(&b, a.Hash)
	}
	if a.Ext != "" {
		b.WriteString(`", ext="`)
		writeEscaped(&b, a.Ext)
	}
	b.WriteString(`", mac="`)
	writeEscaped(&b, a.MAC)
	b.WriteString(`"`)
	return b.String()
}

func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
}
