package handlers

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"syncserver/db"
)

func decodeObject(t *testing.T, s string) *bsoInput {
	t.Helper()
	var rec bsoInput
	if out := newBSODecoder([]byte(s)).object(&rec); out != jsonOK {
		t.Fatalf("%s: outcome %d", s, out)
	}
	return &rec
}

// The legacy functional tests pin it: the legacy BSO unit rules.
func TestBSOValidationRules(t *testing.T) {
	s := &Server{opts: Options{Limits: DefaultLimits}}
	big := func(n int) string { b, _ := json.Marshal(strings.Repeat("x", n)); return string(b) }
	tests := []struct {
		name, obj, reason string
	}{
		{"id of 150 characters", `{"id":"` + strings.Repeat("a", 150) + `"}`, "invalid id"},
		{"non-ASCII id", `{"id":"caf\u00e9"}`, "invalid id"},
		{"id ending in newline", `{"id":"a\n"}`, "invalid id"},
		{"numeric id", `{"id":42}`, "invalid id"},
		{"id of 64 printable characters", `{"id":"` + strings.Repeat("~", 64) + `"}`, ""},
		{"sortindex 9,999,999,999", `{"sortindex":9999999999}`, "invalid sortindex"},
		{"sortindex '9999'", `{"sortindex":"9999"}`, ""},
		{"sortindex at the bounds", `{"sortindex":-999999999,"id":"a"}`, ""},
		{"sortindex 12.7", `{"sortindex":12.7}`, ""},
		{"sortindex huge float", `{"sortindex":1e300}`, "invalid sortindex"},
		{"ttl 'bouh'", `{"ttl":"bouh"}`, "invalid ttl"},
		{"ttl -1", `{"ttl":-1}`, "invalid ttl"},
		{"ttl 31,537,000 dropped", `{"ttl":31537000}`, ""},
		{"payload 300 kB", `{"payload":` + big(300*1024) + `}`, ""},
		{"payload 3 MB", `{"payload":` + big(3*1024*1024) + `}`, "payload too large"},
		{"payload not a string", `{"payload":true}`, "payload not a string"},
		{"key boooo", `{"boooo":1}`, "unknown field 'boooo'"},
		{"unknown null key is absent", `{"boooo":null}`, ""},
		{"ignored fields", `{"modified":1.5,"collection":"x","payload_size":3}`, ""},
		{"first unknown key by name", `{"zz":1,"aa":2}`, "unknown field 'aa'"},
		{"quote in unknown key", `{"it's":1}`, `unknown field 'it\'s'`},
		{"empty key", `{"":1}`, "unknown field ''"},
		{"empty key before another unknown one", `{"":1,"zz":2}`, "unknown field ''"},
		{"empty null key is absent", `{"":null,"id":"a"}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, reason := s.validateBSO(decodeObject(t, tc.obj), nil)
			if reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
		})
	}
	u, _ := s.validateBSO(decodeObject(t, `{"ttl":31537000,"sortindex":"12","payload":"p"}`), nil)
	if u.TTL != nil || *u.SortIndex != 12 || *u.Payload != "p" {
		t.Errorf("update %+v", u)
	}
	u, _ = s.validateBSO(decodeObject(t, `{"ttl":4.9,"sortindex":-3.9}`), nil)
	if *u.TTL != 4 || *u.SortIndex != -3 {
		t.Errorf("truncation: ttl %d sortindex %d", *u.TTL, *u.SortIndex)
	}
}

func TestPyInt(t *testing.T) {
	for in, want := range map[string]int64{
		`12`: 12, `"12"`: 12, `" -3 "`: -3, `"+7"`: 7, `12.7`: 12, `-12.7`: -12, `1e3`: 1000,
		`99999999999999999999`: math.MaxInt64, `"-99999999999999999999"`: math.MinInt64,
	} {
		var v any
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		dec.Decode(&v)
		if got, ok := pyInt(v); !ok || got != want {
			t.Errorf("pyInt(%s) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{`"2.6"`, `"x"`, `""`, `"1 2"`, `"--1"`, `"0x10"`, `true`, `null`} {
		var v any
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		dec.Decode(&v)
		if got, ok := pyInt(v); ok {
			t.Errorf("pyInt(%s) = %d, want failure", in, got)
		}
	}
}

func TestParseBatchID(t *testing.T) {
	for in, want := range map[string]int64{"MTM4ODYzNTgwNzQxMw==": 1388635807413, "1388635807413": 1388635807413, "12345678": 12345678} {
		if got, ok := parseBatchID(in); !ok || got != want {
			t.Errorf("parseBatchID(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"sammich", "c2FtbWljaA==", "", "-1", "0", "MA=="} {
		if got, ok := parseBatchID(in); ok {
			t.Errorf("parseBatchID(%q) = %d, want failure", in, got)
		}
	}
	if got := encodeBatchID(1388635807413); got != "MTM4ODYzNTgwNzQxMw==" {
		t.Errorf("encodeBatchID = %q", got)
	}
}

func TestNegotiate(t *testing.T) {
	for accept, want := range map[string]string{
		"":                     mimeJSON,
		"*/*":                  mimeJSON,
		"application/*;q=0.5":  mimeJSON,
		"application/newlines": mimeNewlines,
		"APPLICATION/NEWLINES": mimeNewlines,
		"application/json;q=0.2, application/newlines;q=0.8": mimeNewlines,
		"application/newlines;q=0, */*":                      mimeJSON,
		"application/json;q=0, */*":                          mimeNewlines,
		"text/plain":                                         "",
		"text/*, application/xml":                            "",
	} {
		h := http.Header{}
		if accept != "" {
			h.Set("Accept", accept)
		}
		if got := negotiate(h, mimeJSON, mimeNewlines); got != want {
			t.Errorf("negotiate(%q) = %q, want %q", accept, got, want)
		}
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x00\x1f\t\r\n", "héllo ✓ 😀", "<&>", "\u2028\u2029", "bad\xffutf8\xc3"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: %s is not JSON: %v", s, got, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Errorf("%q round-trips to %q", s, back)
		}
	}
	if got := string(appendJSONString(nil, "<&>\n")); got != `"<&>\n"` {
		t.Errorf("got %s", got)
	}
}

// TestAppendJSONStringEveryByte puts each byte value at each offset of the
// first three eight-byte words of a longer string, alone and next to a
// second special byte, so that the word-at-a-time scan has to notice it
// wherever it falls: a byte it missed would be copied raw.
func TestAppendJSONStringEveryByte(t *testing.T) {
	escaped := func(c byte) string {
		switch {
		case c == '"' || c == '\\':
			return `\` + string(c)
		case c == '\n':
			return `\n`
		case c == '\r':
			return `\r`
		case c == '\t':
			return `\t`
		case c < 0x20:
			return fmt.Sprintf(`\u%04x`, c)
		case c >= utf8.RuneSelf: // alone, not UTF-8
			return `\ufffd`
		}
		return string(c)
	}
	for c := 0; c < 256; c++ {
		for off := 0; off < 24; off++ {
			for _, next := range []byte{'a', '"', 0x1f, 0xff} { // 0xff: never part of UTF-8
				s := strings.Repeat("a", off) + string([]byte{byte(c), next}) + strings.Repeat("b", 30-off)
				want := `"` + s[:off] + escaped(byte(c)) + escaped(next) + s[off+2:] + `"`
				if got := string(appendJSONString(nil, s)); got != want {
					t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
				}
			}
		}
	}
	// A character of several bytes across a word boundary.
	s := "aaaaaa€😀" + strings.Repeat("z", 9) + "\u2028"
	if got, want := string(appendJSONString(nil, s)), `"aaaaaa€😀zzzzzzzzz\u2028"`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestAppendBSO(t *testing.T) {
	si := int64(-5)
	got := string(appendBSO(nil, &db.BSO{ID: "a", Modified: 1234560, Payload: "p", SortIndex: &si}))
	if want := `{"id":"a","modified":1234.56,"payload":"p","sortindex":-5}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
