package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"syncserver/db"
)

// TestSQLiteSynchronousReachesTheStore: [storage] sqlite_synchronous is
// the level the running server's database connections have, read back
// from sqlite, and the one check reports; unset is FULL.
func TestSQLiteSynchronousReachesTheStore(t *testing.T) {
	for _, tc := range []struct{ setting, want string }{
		{"", "FULL"},
		{`sqlite_synchronous = "FULL"`, "FULL"},
		{`sqlite_synchronous = "normal"`, "NORMAL"},
		{`sqlite_synchronous = "OFF"`, "OFF"},
	} {
		name := tc.setting
		if name == "" {
			name = "unset"
		}
		t.Run(tc.want+"/"+name, func(t *testing.T) {
			cfg := writeConfig(t, minimalConfig+"[storage]\n"+tc.setting+"\n")
			m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:0")
			runMain(t, m, logs)
			st, err := m.Store.(db.Admin).Stats(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if st.Synchronous != tc.want {
				t.Errorf("the running store has synchronous %q, want %q", st.Synchronous, tc.want)
			}

			c, out := newTestMain(t, "-config", cfg, "check", "--json")
			c.Main(t.Context())
			var rep checkReport
			if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
				t.Fatalf("check --json: %v\n%s", err, out)
			}
			if !strings.Contains(checkMessages(rep, "database"), "sqlite synchronous "+tc.want) {
				t.Errorf("check --json does not report synchronous %s:\n%s", tc.want, out)
			}
		})
	}
}

// checkMessages joins the messages of one check.
func checkMessages(rep checkReport, name string) string {
	var msgs []string
	for _, c := range rep.Checks {
		if c.Name == name {
			msgs = append(msgs, c.Status+": "+c.Message)
		}
	}
	return strings.Join(msgs, "\n")
}

// badModulusJWKS is a key set that parses as JSON but whose one key has a
// modulus of 0 bits, which the verifier refuses.
const badModulusJWKS = `{"keys":[{"kty":"RSA","kid":"k1","n":"AA","e":"AQAB"}]}`

// TestCheckRefusesWhatStartRefuses: for a setting the server refuses at
// its start, check fails too, with the same message, even when there is
// no database yet (check then opens none); a good configuration passes
// both, so the test can tell them apart.
func TestCheckRefusesWhatStartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"good", "", ""},
		{"sqlite synchronous EXTRA", "[storage]\nsqlite_synchronous = \"EXTRA\"\n", `[storage] sqlite_synchronous = "EXTRA": sqlite: synchronous must be`},
		{"sqlite synchronous unknown", "[storage]\nsqlite_synchronous = \"sometimes\"\n", `sqlite_synchronous = "SOMETIMES"`},
		{"socket group that does not exist", "[\"server:main\"]\nsocket_group = \"no-such-group-syncserver\"\n", `[server:main] socket_group = "no-such-group-syncserver": fcgi: socket group`},
		{"jwks with a 0-bit modulus", fmt.Sprintf("[oauth]\njwks = '%s'\n", badModulusJWKS), "[oauth] jwks: fxa: static JWKS: no usable RS256 key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, `[syncserver]
public_url = "https://sync.example.com/"
sqluri = "sqlite:///syncserver.db"
secret = "0f6b1c0e8f3a4d2b9c7e5a1d3f8b6c4e"
`+tc.extra)
			c, out := newTestMain(t, "-config", cfg, "check")
			status := c.Main(t.Context())

			m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:0")
			err := m.Run(context.Background())
			m.Close()

			if tc.want == "" {
				if status != exitOK || err != nil {
					t.Fatalf("good configuration: check exit %d, start %v\ncheck:\n%s\nlogs:\n%s", status, err, out, logs)
				}
				return
			}
			if err == nil {
				t.Fatalf("the server started; want it refused with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), cfg+": ") {
				t.Errorf("start: %v\nwant it to name %s and %q", err, cfg, tc.want)
			}
			if status != exitFail || !strings.Contains(out.String(), err.Error()) {
				t.Errorf("check exit %d (want %d), output:\n%s\nwant the start's error: %v", status, exitFail, out, err)
			}
			if strings.Contains(out.String(), "Ready") {
				t.Errorf("check says ready:\n%s", out)
			}
		})
	}
}

// TestLongValueErrorsAreShort: a huge bad value is quoted cut, with its
// length, in the start's error and in check's report, whether it comes
// from the file or the environment.
func TestLongValueErrorsAreShort(t *testing.T) {
	huge := "ftp://" + strings.Repeat("a", 1<<20)
	for _, tc := range []struct {
		name, file string
		env        map[string]string
	}{
		{"file", fmt.Sprintf("[syncserver]\npublic_url = %q\n", huge), nil},
		{"environment", "[syncserver]\n", map[string]string{"SYNCSERVER_PUBLIC_URL": huge}},
		{"jwks", fmt.Sprintf("[oauth]\njwks = '{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"AA\",\"e\":\"AQAB\"}]}'\n", huge), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, tc.file)
			getenv := func(k string) string { return tc.env[k] }
			m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:0")
			m.Getenv = getenv
			err := m.Run(context.Background())
			m.Close()
			if err == nil {
				t.Fatal("a bad value was accepted")
			}
			if len(err.Error()) > 1500 {
				t.Errorf("start error of %d bytes: %.300s…", len(err.Error()), err)
			}
			c, out := newTestMain(t, "-config", cfg, "check")
			c.Getenv = getenv
			if status := c.Main(t.Context()); status != exitFail {
				t.Errorf("check exit %d, want %d", status, exitFail)
			}
			if len(out.String()) > 3000 {
				t.Errorf("check output of %d bytes: %.300s…", len(out.String()), out)
			}
			if tc.name != "jwks" && !strings.Contains(err.Error(), fmt.Sprintf("(%d bytes)", len(huge))) {
				t.Errorf("start error does not give the value's length: %v\n%s", err, logs)
			}
		})
	}
}
