package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	long := strings.Repeat("é", 100)
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"FULL", `"FULL"`},
		{"a\nb", `"a\nb"`},
		{strings.Repeat("x", 80), `"` + strings.Repeat("x", 80) + `"`},
		{strings.Repeat("x", 81), `"` + strings.Repeat("x", 80) + `…" (81 bytes)`},
		{long, `"` + strings.Repeat("é", 80) + `…" (200 bytes)`},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%.20q…) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestLongValuesAreCut: a huge bad value, in the file or the environment,
// gives an error of a few hundred bytes that quotes its start and gives
// its length.
func TestLongValuesAreCut(t *testing.T) {
	huge := strings.Repeat("a", 1<<20)
	length := fmt.Sprintf("(%d bytes)", len(huge))
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"public_url", fmt.Sprintf("[syncserver]\npublic_url = \"http://%s/?q\"\n", huge), nil, fmt.Sprintf("(%d bytes)", len(huge)+10)},
		{"log_level", fmt.Sprintf("[syncserver]\nlog_level = %q\n", huge), nil, length},
		{"sqluri", fmt.Sprintf("[syncserver]\nsqluri = \"nosql://%s\"\n", huge), nil, ""},
		{"port string", fmt.Sprintf("[\"server:main\"]\nport = %q\n", huge), nil, length},
		{"forwarded_allow_ips", fmt.Sprintf("[\"server:main\"]\nforwarded_allow_ips = [%q]\n", huge), nil, length},
		{"metrics_listen", fmt.Sprintf("[syncserver]\nmetrics_listen = %q\n", huge), nil, length},
		{"cors", fmt.Sprintf("[syncserver]\ncors_allowed_origins = [%q]\n", huge), nil, length},
		{"INI line", "[syncserver]\n" + huge + "\n", nil, length},
		{"INI section", "[" + huge + "]\n", nil, ""},
		{"unknown key", fmt.Sprintf("[syncserver]\n%s = 1\n", huge), nil, ""},
		{"environment", "[syncserver]\n", map[string]string{"SYNCSERVER_PUBLIC_URL": "ftp://" + huge}, fmt.Sprintf("(%d bytes)", len(huge)+6)},
		{"environment bool", "[syncserver]\n", map[string]string{"SYNCSERVER_ALLOW_NEW_USERS": huge}, length},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := MustWrite(t, "syncserver.ini", tc.file)
			_, _, err := Load(path, envFunc(tc.env))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if len(msg) > len(path)+1100 {
				t.Errorf("error of %d bytes: %.200s…", len(msg), msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %.300s… does not give the length %s", msg, tc.want)
			}
		})
	}
}
