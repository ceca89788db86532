package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// linesWith returns the log lines holding every one of subs.
func linesWith(log string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		ok := l != ""
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// TestUnknownPrefixIsExplained: nginx serves syncserver under location
// /ff-sync/ but public_url says "/": every request gets 404 and the log
// must say, once per prefix, which public_url would match.
func TestUnknownPrefixIsExplained(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prefix  string // public_url's
		targets []string
		want    string // the suggested public_url; "" for none
	}{
		{"prefix public_url lacks", "", []string{"/ff-sync/__heartbeat__", "/ff-sync/token/1.0/sync/1.5", "/ff-sync/storage/1.5/7/info/collections", "/ff-sync/__lbheartbeat__"}, `public_url = "http://localhost:5000/ff-sync/"`},
		{"deeper prefix", "", []string{"/apps/ff-sync/1.0/sync/1.5", "/apps/ff-sync/1.5/7/storage/tabs"}, `public_url = "http://localhost:5000/apps/ff-sync/"`},
		{"legacy service path", "", []string{"/sync/token/__heartbeat__"}, `public_url = "http://localhost:5000/sync/"`},
		{"another prefix than public_url's", "/sync", []string{"/ff-sync/__heartbeat__"}, `public_url = "http://localhost:5000/ff-sync/"`},
		{"public_url's prefix and more", "/sync", []string{"/sync/v1/__heartbeat__"}, `public_url = "http://localhost:5000/sync/v1/"`},
		{"not a route", "", []string{"/ff-sync/wp-login.php", "/ff-sync/storage/1.5/abc/info", "/ff-sync/", "/ff-sync/token"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := newCoreServer(t, okPing, func(o *Options) { o.PublicURL.Prefix = tc.prefix })
			for _, target := range tc.targets {
				if resp := s.Serve(context.Background(), get(target)); resp.Status != http.StatusNotFound || string(resp.Body) != "0" {
					t.Fatalf("%s: %d %q, want 404 0", target, resp.Status, resp.Body)
				}
			}
			got := linesWith(logs.String(), "level=WARN", "does not have")
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("a path that is no route was explained:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d explanations, want 1:\n%s", len(got), logs.String())
			}
			for _, sub := range []string{"public_url=http://localhost:5000" + tc.prefix + "/", "path=" + tc.targets[0], "404", tc.want} {
				if !strings.Contains(got[0], sub) && !strings.Contains(got[0], strings.ReplaceAll(sub, `"`, `\"`)) {
					t.Errorf("the explanation lacks %q:\n%s", sub, got[0])
				}
			}
		})
	}
}

// TestUnknownPrefixReportsAreBounded: one line per distinct prefix, and a
// client sending endless prefixes cannot fill the log.
func TestUnknownPrefixReportsAreBounded(t *testing.T) {
	s, logs := newCoreServer(t, okPing, nil)
	for i := range 200 {
		s.Serve(context.Background(), get("/p"+itoa(i%100)+"/__heartbeat__"))
	}
	if n := len(linesWith(logs.String(), "does not have")); n == 0 || n > 64 {
		t.Errorf("%d explanations for 100 prefixes sent twice, want 1 to 64", n)
	}
	if n := len(linesWith(logs.String(), "path=/p7/__heartbeat__", "does not have")); n != 1 {
		t.Errorf("prefix /p7/ explained %d times, want once", n)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// TestMissingPrefixIsExplained: public_url has /ff-sync/ but a FastCGI
// request (whose path is the client's) comes without it. Only FastCGI is
// reported: a proxy in front of the standalone server may strip the prefix
// on purpose, and service endpoints may be probed at the root.
func TestMissingPrefixIsExplained(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fastCGI bool
		targets []string
		want    bool
	}{
		{"FastCGI token and storage", true, []string{"/token/1.0/sync/1.5", "/storage/1.5/7/info/collections", "/1.0/sync/1.5"}, true},
		{"FastCGI with the prefix", true, []string{"/ff-sync/token/1.0/sync/1.5", "/ff-sync/storage/1.5/7/info/collections"}, false},
		{"FastCGI heartbeat", true, []string{"/__heartbeat__", "/__lbheartbeat__"}, false},
		{"standalone HTTP, prefix stripped by a proxy", false, []string{"/token/1.0/sync/1.5", "/storage/1.5/7/info/collections"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := newCoreServer(t, okPing, func(o *Options) { o.PublicURL.Prefix = "/ff-sync" })
			for _, target := range tc.targets {
				r := get(target)
				r.FastCGI = tc.fastCGI
				s.Serve(context.Background(), r)
			}
			got := linesWith(logs.String(), "level=WARN", "lacks the path /ff-sync/")
			if !tc.want {
				if len(got) != 0 {
					t.Fatalf("explained:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d explanations, want 1:\n%s", len(got), logs.String())
			}
			for _, sub := range []string{"public_url=http://localhost:5000/ff-sync/", "path=" + tc.targets[0], `public_url = \"http://localhost:5000/\"`, "http://localhost:5000/ff-sync/token/1.0/sync/1.5"} {
				if !strings.Contains(got[0], sub) {
					t.Errorf("the explanation lacks %q:\n%s", sub, got[0])
				}
			}
		})
	}
}

// TestMissingAuthorizationAdvice: the Apache fix is named only where it can
// be right, a FastCGI request from Apache; a request without credentials
// made by hand (the README's curl check) gets an info line and no advice.
func TestMissingAuthorizationAdvice(t *testing.T) {
	firefox := "Firefox/133.0 (Linux x86_64) FxSync/1.135.0.20241125.desktop"
	for _, tc := range []struct {
		name           string
		fastCGI        bool
		serverSoftware string
		agent          string
		keyID          bool
		wantWarn       bool
		wantApache     bool
	}{
		{"Apache FastCGI, Firefox", true, "Apache/2.4.62 (Debian)", firefox, false, true, true},
		{"Apache FastCGI, token request with X-KeyID", true, "Apache/2.4.62 (Debian)", "deploytest", true, true, true},
		{"nginx FastCGI, Firefox", true, "nginx/1.22.1", firefox, false, true, false},
		{"standalone HTTP, Firefox", false, "", firefox, false, true, false},
		{"standalone HTTP claiming Apache", false, "Apache/2.4.62", firefox, false, true, false},
		{"Apache FastCGI, curl", true, "Apache/2.4.62 (Debian)", "curl/7.88.1", false, false, false},
		{"standalone HTTP, curl", false, "", "curl/7.88.1", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := newCoreServer(t, okPing, nil)
			for _, target := range []string{"/storage/1.5/1/info/collections", "/token/1.0/sync/1.5", "/1.5/1/info/collections"} {
				r := get(target)
				r.FastCGI, r.ServerSoftware = tc.fastCGI, tc.serverSoftware
				r.Header.Set("User-Agent", tc.agent)
				if tc.keyID {
					r.Header.Set("X-KeyID", "1234-qrst")
				}
				if resp := s.Serve(context.Background(), r); resp.Status != http.StatusUnauthorized {
					t.Errorf("%s: status %d, want 401", target, resp.Status)
				}
			}
			out := logs.String()
			warn := linesWith(out, "level=WARN", "without an Authorization header")
			info := linesWith(out, "level=INFO", "without an Authorization header")
			if tc.wantWarn {
				if len(warn) != 1 || len(info) != 0 {
					t.Fatalf("%d warnings and %d info lines, want one warning:\n%s", len(warn), len(info), out)
				}
			} else if len(warn) != 0 || len(info) != 1 {
				t.Fatalf("%d warnings and %d info lines, want one info line:\n%s", len(warn), len(info), out)
			}
			if got := strings.Contains(out, "CGIPassAuth"); got != tc.wantApache {
				t.Errorf("Apache advice given: %v, want %v:\n%s", got, tc.wantApache, out)
			}
		})
	}
}

// TestSignedWithoutPrefixIsExplained: behind a proxy to the standalone
// server the path cannot tell whether the client left out public_url's
// prefix or the proxy stripped it, but the signature can: a MAC over the
// path without the prefix is explained once; a MAC that fits neither is
// only a 401.
func TestSignedWithoutPrefixIsExplained(t *testing.T) {
	ts := newTestServer(t) // public_url https://sync.example.com/ff-sync/
	u := ts.user(7)
	path := u.path("/info/collections")

	wrong := newRequest(http.MethodGet, path, "")
	wrong.RequestURI = path // as a proxy that strips /ff-sync would pass it
	ts.signHawk(wrong, u.creds, "/ff-sync/other"+path, "", hawkAuth{})
	if resp := ts.serve(wrong); resp.Status != http.StatusUnauthorized {
		t.Fatalf("a bad MAC: %d, want 401", resp.Status)
	}
	if got := linesWith(ts.Logs.String(), "without the path /ff-sync/"); len(got) != 0 {
		t.Fatalf("a MAC over another path was explained as a missing prefix:\n%s", got[0])
	}

	for range 3 {
		r := newRequest(http.MethodGet, path, "")
		r.RequestURI = path
		ts.signHawk(r, u.creds, path, "", hawkAuth{}) // signed without /ff-sync
		if resp := ts.serve(r); resp.Status != http.StatusUnauthorized {
			t.Fatalf("signed without the prefix: %d, want 401", resp.Status)
		}
	}
	got := linesWith(ts.Logs.String(), "level=WARN", "without the path /ff-sync/")
	if len(got) != 1 {
		t.Fatalf("%d explanations, want 1:\n%s", len(got), ts.Logs.String())
	}
	for _, sub := range []string{"public_url=https://sync.example.com/ff-sync/", "path=" + path, `public_url = \"https://sync.example.com/\"`} {
		if !strings.Contains(got[0], sub) {
			t.Errorf("the explanation lacks %q:\n%s", sub, got[0])
		}
	}

	// Signed with the prefix, the request passes and nothing more is said.
	u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", "")
}
