package handlers

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/token"
)

// The token and Hawk known-answer vectors of the token and hawk packages
// (checked against Mozilla's tokenlib and hawkauthlib 2.0.0).
const (
	vectorToken = "eyJ1aWQiOjEsIm5vZGUiOiJodHRwczovL3N5bmMuZXhhbXBsZS5jb20vZmYtc3luYyIsImV4cGlyZXMiOjE3MDAwMDAzMDAsImZ4YV91aWQiOiJhZWFhMTcyNWM3YTI0ZmY5ODNjNjI5NTcyNWQ1ZmM5YiIsImZ4YV9raWQiOiIxNTEwNzI2MzE3MTIzLUlxUXY0b25jN1ZjVkUxa1RRa3l5T3ciLCJoYXNoZWRfZnhhX3VpZCI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmIiwiaGFzaGVkX2RldmljZV9pZCI6ImZlZGNiYTk4NzY1NDMyMTBmZWRjYmE5ODc2NTQzMjEwIiwic2FsdCI6ImExYjJjMyJ9NYSFkcizVsNM8TlQQUmH7ECBbedTmGsu66JoNajYFpU="
	vectorKey   = "1JtaI7l6y7pMB5Usg5vVIC4bYVsXHLndA7_qN3AW7Eg="
	vectorMAC   = "OTsXeYidtb4tueqfzBuzoQcK1OFhnZmq49Ar6afKsIU="
)

func vectorHeader() string {
	return `Hawk id="` + vectorToken + `", ts="1700000000", nonce="AAECAwQFBgc=", mac="` + vectorMAC + `"`
}

func TestHawkKnownAnswerRequestAccepted(t *testing.T) {
	for _, tc := range []struct{ name, uri string }{
		{"prefix passed on", "/ff-sync/storage/1.5/1/info/collections?full=1"},
		{"prefix stripped by the web server", "/storage/1.5/1/info/collections?full=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			r := &Request{
				Method: http.MethodGet, Scheme: "https", Host: "sync.example.com",
				RequestURI: tc.uri, Header: http.Header{"Authorization": {vectorHeader()}},
				ContentLength: 0,
			}
			resp := ts.serve(r)
			wantResponse(t, resp, http.StatusOK, "{}")
			// The same request again is a replay.
			r.Body = nil
			want401(t, ts.serve(r))
			if !strings.Contains(ts.Logs.String(), "nonce already used") {
				t.Errorf("replay not logged: %s", ts.Logs)
			}
		})
	}
}

func TestHawkPrefixStrippedOrNotBothVerify(t *testing.T) {
	ts := newTestServer(t)
	cr := ts.mintToken(7)
	target := "/storage/1.5/7/info/collections?v=1.2%2C3"
	for _, stripped := range []bool{false, true} {
		r := newRequest(http.MethodGet, target, "")
		if stripped {
			r.RequestURI = target
		}
		ts.signHawk(r, cr, testPublicURL.Prefix+target, "", hawkAuth{})
		wantResponse(t, ts.serve(r), http.StatusOK, "{}")
	}
}

// Hawk uses public_url's host and port, never the Host header, which
// Debian's nginx sends without the port.
func TestHawkIgnoresHostHeader(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.PublicURL.Port = 8443 })
	cr := ts.mintTokenWith(token.Payload{UID: 3, Node: "https://sync.example.com:8443/ff-sync", Expires: testEpoch.Unix() + 60})
	for _, host := range []string{"sync.example.com", "sync.example.com:8443", "127.0.0.1:5000", ""} {
		r := newRequest(http.MethodGet, "/storage/1.5/3/info/collections", "")
		r.Host = host
		ts.signHawk(r, cr, r.RequestURI, "", hawkAuth{})
		wantResponse(t, ts.serve(r), http.StatusOK, "{}")
	}
}

func TestHawkFailuresAre401WithChallenge(t *testing.T) {
	ts := newTestServer(t)
	good := ts.mintToken(1)
	other, err := token.NewSecrets([]string{"another secret"})
	if err != nil {
		t.Fatal(err)
	}
	foreignID, foreignKey, _ := other.Mint(token.Payload{UID: 1, Node: testPublicURL.String(), Expires: testEpoch.Unix() + 3600})
	wrongNode := ts.mintTokenWith(token.Payload{UID: 1, Node: "https://other.example.com/ff-sync", Expires: testEpoch.Unix() + 3600})
	expired := ts.mintTokenWith(token.Payload{UID: 1, Expires: testEpoch.Unix() - 10})
	path := "/storage/1.5/1/storage/bookmarks"
	signed := func(cr testCreds, method, resource, body string, a hawkAuth) *Request {
		r := newRequest(method, path, body)
		ts.signHawk(r, cr, resource, body, a)
		return r
	}
	replayed := signed(good, http.MethodGet, testPublicURL.Prefix+path, "", hawkAuth{Nonce: "once"})
	wantResponse(t, ts.serve(replayed), http.StatusOK, "[]")

	tests := []struct {
		name   string
		req    func() *Request
		reason string
	}{
		{"missing header", func() *Request { return newRequest(http.MethodGet, path, "") }, "no Authorization header"},
		{"empty header", func() *Request {
			r := newRequest(http.MethodGet, path, "")
			r.Header.Set("Authorization", "")
			return r
		}, "no Authorization header"},
		{"bearer", func() *Request {
			r := newRequest(http.MethodGet, path, "")
			r.Header.Set("Authorization", "Bearer abc")
			return r
		}, "is not Hawk"},
		{"credential without a scheme", func() *Request {
			r := newRequest(http.MethodGet, path, "")
			r.Header.Set("Authorization", good.ID)
			return r
		}, "(unrecognised) is not Hawk"},
		{"lower-case scheme", func() *Request {
			r := signed(good, http.MethodGet, testPublicURL.Prefix+path, "", hawkAuth{})
			r.Header.Set("Authorization", "hawk"+strings.TrimPrefix(r.Header.Get("Authorization"), "Hawk"))
			return r
		}, "is not Hawk"},
		{"malformed", func() *Request {
			r := newRequest(http.MethodGet, path, "")
			r.Header.Set("Authorization", `Hawk id="x", ts="notanumber", nonce="n", mac="m"`)
			return r
		}, "unreadable Authorization header"},
		{"garbage token", func() *Request {
			return signed(testCreds{UID: 1, ID: "garbage", Key: "k"}, http.MethodGet, testPublicURL.Prefix+path, "", hawkAuth{})
		}, "token not accepted"},
		{"token of another secret", func() *Request {
			return signed(testCreds{UID: 1, ID: foreignID, Key: foreignKey}, http.MethodGet, testPublicURL.Prefix+path, "", hawkAuth{})
		}, "token not accepted"},
		{"wrong key", func() *Request {
			return signed(testCreds{UID: 1, ID: good.ID, Key: "not the key"}, http.MethodGet, testPublicURL.Prefix+path, "", hawkAuth{})
		}, "MAC does not match"},
		{"MAC over another path", func() *Request {
			return signed(good, http.MethodGet, testPublicURL.Prefix+path+"?full=1", "", hawkAuth{})
		}, "MAC does not match"},
		{"MAC without the prefix", func() *Request {
			return signed(good, http.MethodGet, path, "", hawkAuth{})
		}, "MAC does not match"},
		{"MAC over another method", func() *Request {
			r := signed(good, http.MethodGet, testPublicURL.Prefix+path, "", hawkAuth{})
			r.Method = http.MethodDelete
			return r
		}, "MAC does not match"},
		{"wrong node", func() *Request {
			return signed(wrongNode, http.MethodGet, testPublicURL.Prefix+path, "", hawkAuth{})
		}, "token is for node"},
		{"uid mismatch", func() *Request {
			r := newRequest(http.MethodGet, "/storage/1.5/2/storage/bookmarks", "")
			ts.signHawk(r, good, testPublicURL.Prefix+"/storage/1.5/2/storage/bookmarks", "", hawkAuth{})
			return r
		}, "token is for uid 1, path has uid 2"},
		{"expired token", func() *Request {
			return signed(expired, http.MethodGet, testPublicURL.Prefix+path, "", hawkAuth{})
		}, "token expired"},
		{"replayed nonce", func() *Request {
			return signed(good, http.MethodGet, testPublicURL.Prefix+path, "", hawkAuth{Nonce: "once"})
		}, "nonce already used"},
		{"bad payload hash", func() *Request {
			return signed(good, http.MethodPost, testPublicURL.Prefix+path, `[{"id":"a"}]`, hawkAuth{HashValue: "bm90IHRoZSBoYXNo"})
		}, "payload hash"},
		{"body changed after signing", func() *Request {
			r := signed(good, http.MethodPost, testPublicURL.Prefix+path, `[{"id":"a"}]`, hawkAuth{Hash: true})
			r.Body = strings.NewReader(`[{"id":"b"}]`)
			return r
		}, "payload hash"},
		{"stale timestamp", func() *Request {
			return signed(good, http.MethodGet, testPublicURL.Prefix+path, "", hawkAuth{TS: testEpoch.Unix() - 2*366*24*3600})
		}, "timestamp outside the allowed window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ts.Logs.String())
			want401(t, ts.serve(tc.req()))
			logs := ts.Logs.String()[before:]
			if !strings.Contains(logs, tc.reason) {
				t.Errorf("log does not say %q:\n%s", tc.reason, logs)
			}
			for _, secret := range []string{good.ID, good.Key, testSecret} {
				if strings.Contains(logs, secret) {
					t.Errorf("log contains a token, key or secret:\n%s", logs)
				}
			}
		})
	}
	// Nothing was written by the refused POSTs.
	wantResponse(t, ts.serve(ts.hawkRequest(good, http.MethodGet, path, "")), http.StatusOK, "[]")
}

func TestHawkPayloadHashCheckedWhenSent(t *testing.T) {
	ts := newTestServer(t)
	cr := ts.mintToken(1)
	path := "/storage/1.5/1/storage/prefs/p1"
	body := `{"payload":"x"}`
	r := newRequest(http.MethodPut, path, body, "Content-Type", "application/json; charset=utf-8")
	ts.signHawk(r, cr, testPublicURL.Prefix+path, body, hawkAuth{Hash: true})
	wantResponse(t, ts.serve(r), http.StatusOK, "-")
}

func TestExpiredTokenReadsOnlyInfoCollectionsForTwoHours(t *testing.T) {
	ts := newTestServer(t)
	expires := testEpoch.Unix() + 60
	cr := ts.mintTokenWith(token.Payload{UID: 1, Expires: expires})
	u := &testUser{ts: ts, creds: cr}
	u.mustDo(http.StatusOK, http.MethodPut, "/storage/meta/global", `{"payload":"m"}`)

	ts.Clock.Set(time.Unix(expires, 0)) // expires <= now: expired
	wantResponse(t, u.do(http.MethodGet, "/info/collections", ""), http.StatusOK, "-")
	want401(t, u.do(http.MethodGet, "/storage/meta", ""))
	want401(t, u.do(http.MethodPost, "/storage/meta", "[]"))
	want401(t, u.do(http.MethodGet, "/info/quota", ""))
	want401(t, u.do(http.MethodDelete, "/storage/meta", ""))

	ts.Clock.Set(time.Unix(expires+2*3600-1, 0))
	wantResponse(t, u.do(http.MethodGet, "/info/collections", ""), http.StatusOK, "-")
	ts.Clock.Set(time.Unix(expires+2*3600, 0))
	want401(t, u.do(http.MethodGet, "/info/collections", ""))
}

func TestExpiredTokenTimeoutIsConfigurable(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Storage.ExpiredTokenTimeout = 10 * time.Minute })
	cr := ts.mintTokenWith(token.Payload{UID: 1, Expires: testEpoch.Unix()})
	u := &testUser{ts: ts, creds: cr}
	ts.Clock.Set(testEpoch.Add(9 * time.Minute))
	wantResponse(t, u.do(http.MethodGet, "/info/collections", ""), http.StatusOK, "{}")
	ts.Clock.Set(testEpoch.Add(11 * time.Minute))
	want401(t, u.do(http.MethodGet, "/info/collections", ""))
}

func TestWithoutTokenSecretsEveryStorageRequestIs401(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Storage.Tokens = nil })
	want401(t, ts.user(1).do(http.MethodGet, "/info/collections", ""))
}

func TestAuthenticatedUIDIsLogged(t *testing.T) {
	ts := newTestServer(t)
	ts.user(42).mustDo(http.StatusOK, http.MethodGet, "/info/collections", "")
	if !strings.Contains(ts.Logs.String(), "uid=42") {
		t.Errorf("access log lacks the uid:\n%s", ts.Logs)
	}
}

func TestShortStorageRouteAuthenticatesToo(t *testing.T) {
	ts := newTestServer(t)
	cr := ts.mintToken(5)
	r := ts.hawkRequest(cr, http.MethodGet, "/1.5/5/info/collections", "")
	wantResponse(t, ts.serve(r), http.StatusOK, "{}")
}
