package accounts

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/handlers"
)

// The scripted mobile client: Fenix and Firefox for iOS both run
// mozilla/application-services' fxa-client, which talks to the servers as
// below. No phone runs in CI, so this test is what stands for them: it
// walks each flow the apps walk and checks every field the library parses,
// with the type it parses it as. The library ignores fields it does not
// know, so extra fields are fine; a missing field or a wrong type fails
// the whole sign-in on the phone.

const iosClient = "1b1a3e44c54fbb58"

// mobileApp is one app as fxa-client sees it.
type mobileApp struct {
	name, clientID, userAgent string
	// signWithBearer: the page's authorization and the app's own
	// session calls use Bearer fxs_ instead of Hawk.
	signWithBearer bool
}

var mobileApps = []mobileApp{
	{name: "Fenix", clientID: fenixClient, userAgent: "Mozilla/5.0 (Android 14; Mobile; rv:153.0) Gecko/153.0 Firefox/153.0"},
	{name: "iOS", clientID: iosClient, userAgent: "Firefox-iOS-FxA/153.0 (iPhone; iPhone OS 18.0) (Firefox)", signWithBearer: true},
}

// fieldKinds describes what the library requires of a JSON object: for
// each field it reads, the kind its Rust type accepts. A leading "?" is
// an Option: the field may be absent or null.
type fieldKinds map[string]string

// wantShape fails unless raw is a JSON object whose fields have the kinds
// of want (string, uint, bool, object, array, []string).
func wantShape(t testing.TB, what string, raw []byte, want fieldKinds) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		t.Fatalf("%s: %q is not a JSON object: %v", what, raw, err)
	}
	for field, kind := range want {
		v, present := m[field]
		optional := strings.HasPrefix(kind, "?")
		kind = strings.TrimPrefix(kind, "?")
		if !present || v == nil {
			if !optional {
				t.Fatalf("%s: field %q is missing or null, the library requires a %s: %s", what, field, kind, raw)
			}
			continue
		}
		if !hasKind(v, kind) {
			t.Fatalf("%s: field %q = %#v, the library parses a %s: %s", what, field, v, kind, raw)
		}
	}
	return m
}

func hasKind(v any, kind string) bool {
	switch kind {
	case "string":
		_, ok := v.(string)
		return ok
	case "uint":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		i, err := n.Int64()
		return err == nil && i >= 0
	case "bool":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "[]string":
		a, ok := v.([]any)
		for _, e := range a {
			if _, s := e.(string); !s {
				return false
			}
		}
		return ok
	}
	panic("unknown kind " + kind)
}

// wantShapeList is wantShape for every element of a JSON array.
func wantShapeList(t testing.TB, what string, raw []byte, want fieldKinds) []map[string]any {
	t.Helper()
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		t.Fatalf("%s: %q is not a JSON array: %v", what, raw, err)
	}
	out := make([]map[string]any, 0, len(list))
	for i, e := range list {
		out = append(out, wantShape(t, what+"["+string(rune('0'+i))+"]", e, want))
	}
	return out
}

// The shapes fxa-client deserialises (http_client.rs and friends).
var (
	clientConfigShape = fieldKinds{"auth_server_base_url": "string", "oauth_server_base_url": "string",
		"profile_server_base_url": "string", "sync_tokenserver_base_url": "string"}
	openIDShape = fieldKinds{"authorization_endpoint": "string", "introspection_endpoint": "string", "issuer": "string",
		"jwks_uri": "string", "token_endpoint": "string", "userinfo_endpoint": "string", "revocation_endpoint": "string"}
	tokenShape = fieldKinds{"access_token": "string", "scope": "string", "expires_in": "uint",
		"refresh_token": "?string", "keys_jwe": "?string", "session_token": "?string"}
	scopedKeyShape   = fieldKinds{"identifier": "string", "keyRotationSecret": "string", "keyRotationTimestamp": "uint"}
	deviceReplyShape = fieldKinds{"id": "string", "name": "string", "type": "string", "availableCommands": "object",
		"pushCallback": "?string", "pushPublicKey": "?string", "pushAuthKey": "?string", "pushEndpointExpired": "bool"}
	deviceShape = fieldKinds{"id": "string", "name": "string", "type": "string", "availableCommands": "object",
		"pushCallback": "?string", "pushPublicKey": "?string", "pushAuthKey": "?string", "pushEndpointExpired": "bool",
		"isCurrentDevice": "bool", "lastAccessTime": "?uint", "location": "object"}
	locationShape       = fieldKinds{"city": "?string", "country": "?string", "state": "?string", "stateCode": "?string"}
	attachedClientShape = fieldKinds{"clientId": "?string", "deviceId": "?string", "deviceType": "string",
		"isCurrentSession": "bool", "name": "?string", "createdTime": "?uint", "lastAccessTime": "?uint",
		"scope": "?[]string", "userAgent": "string", "os": "?string"}
	profileShape    = fieldKinds{"uid": "string", "email": "string", "displayName": "?string", "avatar": "string", "avatarDefault": "bool"}
	introspectShape = fieldKinds{"active": "bool"}
	duplicateShape  = fieldKinds{"uid": "string", "sessionToken": "string", "verified": "bool", "authAt": "uint"}
)

// mobileKeyPair is the ephemeral key fxa-client makes for each sign-in;
// keys_jwk is its public half as the library sends it.
func mobileKeyPair(t testing.TB) (*ecdh.PrivateKey, string) {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw := priv.PublicKey().Bytes() // 0x04 || X || Y
	jwk, _ := json.Marshal(map[string]string{"crv": "P-256", "kty": "EC",
		"x": base64.RawURLEncoding.EncodeToString(raw[1:33]), "y": base64.RawURLEncoding.EncodeToString(raw[33:])})
	return priv, base64.RawURLEncoding.EncodeToString(jwk)
}

// openJWE decrypts keys_jwe as the library's jwcrypto does, written here
// from the format (ECDH-ES, Concat KDF, A256GCM, compact serialisation)
// rather than with onepw's own opener, so that a mistake in the page's
// sealing and onepw's opening cannot cancel out.
func openJWE(t testing.TB, priv *ecdh.PrivateKey, jwe string) []byte {
	t.Helper()
	parts := strings.Split(jwe, ".")
	if len(parts) != 5 || parts[1] != "" {
		t.Fatalf("keys_jwe %q is not hdr..iv.ct.tag", jwe)
	}
	seg := make([][]byte, 5)
	for i, p := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil {
			t.Fatalf("keys_jwe segment %d is not unpadded base64url: %v", i, err)
		}
		seg[i] = b
	}
	var hdr struct {
		Alg, Enc string
		Epk      struct{ Kty, Crv, X, Y string }
		Apu, Apv *string
	}
	if err := json.Unmarshal(seg[0], &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr.Alg != "ECDH-ES" || hdr.Enc != "A256GCM" || hdr.Epk.Kty != "EC" || hdr.Epk.Crv != "P-256" || hdr.Apu != nil || hdr.Apv != nil {
		t.Fatalf("keys_jwe header %s", seg[0])
	}
	x, _ := base64.RawURLEncoding.DecodeString(hdr.Epk.X)
	y, _ := base64.RawURLEncoding.DecodeString(hdr.Epk.Y)
	epk, err := ecdh.P256().NewPublicKey(append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatalf("keys_jwe epk: %v", err)
	}
	z, err := priv.ECDH(epk)
	if err != nil {
		t.Fatal(err)
	}
	var info bytes.Buffer
	binary.Write(&info, binary.BigEndian, uint32(1))
	info.Write(z)
	binary.Write(&info, binary.BigEndian, uint32(len("A256GCM")))
	info.WriteString("A256GCM")
	binary.Write(&info, binary.BigEndian, [3]uint32{0, 0, 256})
	cek := sha256.Sum256(info.Bytes())
	block, _ := aes.NewCipher(cek[:])
	gcm, _ := cipher.NewGCMWithNonceSize(block, len(seg[2]))
	plain, err := gcm.Open(nil, seg[2], append(seg[3], seg[4]...), []byte(parts[0]))
	if err != nil {
		t.Fatalf("keys_jwe does not decrypt with the app's key: %v", err)
	}
	return plain
}

// mobileSession is what the app holds after signing in.
type mobileSession struct {
	refresh, session, accessToken string
	k, kid                        string
	deviceID                      string
}

// mobileRun is one app against one harness.
type mobileRun struct {
	t        *testing.T
	h        *harness
	app      mobileApp
	ts       *handlers.Server
	config   map[string]any
	openid   map[string]any
	tokenURL string // sync_tokenserver_base_url + /1.0/sync/1.5
}

// call sends a request to a URL the discovery documents gave, which must
// be on the accounts origin, with the app's User-Agent.
func (r *mobileRun) call(method, rawURL string, body any, hdr ...string) *handlers.Response {
	r.t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme+"://"+u.Host != testOrigin {
		r.t.Fatalf("%s is not on the accounts origin %s", rawURL, testOrigin)
	}
	req := r.h.request(method, u.RequestURI(), body, hdr...)
	req.Header.Set("User-Agent", r.app.userAgent)
	return r.h.serve(req)
}

// join is how fxa-client builds URLs: base + "/" joined with v1/….
func join(base, rel string) string {
	return strings.TrimSuffix(base, "/") + "/" + rel
}

func (r *mobileRun) authURL(rel string) string {
	return join(r.config["auth_server_base_url"].(string), rel)
}
func (r *mobileRun) oauthURL(rel string) string {
	return join(r.config["oauth_server_base_url"].(string), rel)
}
func (r *mobileRun) profileURL(rel string) string {
	return join(r.config["profile_server_base_url"].(string), rel)
}

// discover fetches both documents, as the library does at start, and
// checks that every URL they give is one the library can use.
func (r *mobileRun) discover() {
	t := r.t
	r.config = wantShape(t, "fxa-client-configuration",
		okBody(t, "fxa-client-configuration", r.call("GET", testOrigin+"/.well-known/fxa-client-configuration", nil)), clientConfigShape)
	r.openid = wantShape(t, "openid-configuration",
		okBody(t, "openid-configuration", r.call("GET", testOrigin+"/.well-known/openid-configuration", nil)), openIDShape)
	for k := range clientConfigShape {
		if v := r.config[k].(string); strings.HasSuffix(v, "/") || strings.HasSuffix(v, "/v1") {
			t.Errorf("%s = %q: base URLs come without /v1 and without a trailing slash", k, v)
		}
	}
	if r.config["auth_server_base_url"] != testOrigin || r.config["oauth_server_base_url"] != testOrigin {
		t.Fatalf("auth and OAuth bases %v, want the origin", r.config)
	}
	if r.openid["issuer"] != testOrigin || r.openid["authorization_endpoint"] != testOrigin+"/authorization" {
		t.Fatalf("openid issuer/authorization_endpoint %v", r.openid)
	}
	// The app opens authorization_endpoint (and /oauth/force_auth to
	// re-authenticate) in its browser: both must be the page.
	for _, p := range []string{r.openid["authorization_endpoint"].(string), testOrigin + "/oauth/force_auth", testOrigin + "/signin", testOrigin + "/oauth/signin"} {
		resp := r.call("GET", p+"?client_id="+r.app.clientID, nil)
		if resp.Status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s, want the sign-in page", p, resp.Status, resp.Header.Get("Content-Type"))
		}
	}
	// The keys behind jwks_uri verify the access tokens.
	var jwks struct {
		Keys []struct{ Kty, Alg, Use, Kid, N, E string }
	}
	if err := json.Unmarshal(okBody(t, "jwks", r.call("GET", r.openid["jwks_uri"].(string), nil)), &jwks); err != nil || len(jwks.Keys) == 0 {
		t.Fatalf("jwks: %v %v", jwks, err)
	}
	for _, k := range jwks.Keys {
		if k.Kty != "RSA" || k.Alg != "RS256" || k.Kid == "" || k.N == "" || k.E == "" {
			t.Fatalf("jwks key %+v", k)
		}
	}
	r.tokenURL = r.config["sync_tokenserver_base_url"].(string) + "/1.0/sync/1.5"
}

// sessionHeader authenticates a session call the way the app (or the
// page, for the page's calls) does it.
func (r *mobileRun) sessionCall(method, rawURL string, body any, sessionToken string, bearer bool) *handlers.Response {
	r.t.Helper()
	if bearer {
		raw, _ := hex.DecodeString(sessionToken)
		return r.call(method, rawURL, body, "Authorization", "Bearer fxs_"+onepw.DeriveToken(raw, onepw.KindSession).ID)
	}
	u, _ := url.Parse(rawURL)
	return r.h.serve(r.h.hawkSigned(r.h.request(method, u.RequestURI(), body), sessionToken, onepw.KindSession))
}

func okBody(t testing.TB, what string, resp *handlers.Response) []byte {
	t.Helper()
	if resp.Status != http.StatusOK {
		t.Fatalf("%s: status %d, body %s", what, resp.Status, resp.Body)
	}
	wantCommonHeaders(t, resp)
	return resp.Body
}

// signIn is the sign-in as the app runs it: the app makes state, a PKCE
// verifier and an ephemeral key and opens the page; the page (in the
// app's web view) does what accounts/page/app.js does and hands the app
// the code over the WebChannel; the app redeems it without Hawk.
func (r *mobileRun) signIn(email, password string) mobileSession {
	t, h := r.t, r.h
	t.Helper()
	priv, keysJWK := mobileKeyPair(t)
	state := randomHex(16)
	verifier := base64.RawURLEncoding.EncodeToString([]byte(randomHex(32)))
	scope := strings.Join([]string{onepw.ScopeProfile, onepw.ScopeOldSync, onepw.ScopeSession}, " ")

	// --- the page ---
	salt := wantShape(t, "credentials/status", okBody(t, "credentials/status",
		r.call("POST", r.authURL("v1/account/credentials/status"), map[string]string{"email": email})),
		fieldKinds{"clientSalt": "string", "currentVersion": "string", "upgradeNeeded": "bool"})["clientSalt"].(string)
	qs := stretch(password, salt)
	login := wantShape(t, "login", okBody(t, "login", r.call("POST", r.authURL("v1/account/login?keys=true"),
		map[string]string{"email": email, "authPW": hex.EncodeToString(onepw.AuthPW(qs))})),
		fieldKinds{"uid": "string", "sessionToken": "string", "keyFetchToken": "string", "verified": "bool", "authAt": "uint"})
	pageSession, kft := login["sessionToken"].(string), login["keyFetchToken"].(string)
	keysURL, _ := url.Parse(r.authURL("v1/account/keys"))
	bundle := wantShape(t, "keys", okBody(t, "keys", h.serve(h.hawkSigned(h.request("GET", keysURL.RequestURI(), nil), kft, onepw.KindKeyFetch))),
		fieldKinds{"bundle": "string"})["bundle"].(string)
	raw, _ := hex.DecodeString(kft)
	_, wrapKb, err := onepw.OpenKeysBundle(onepw.DeriveToken(raw, onepw.KindKeyFetch).KeyRequestKey, bundle)
	if err != nil {
		t.Fatal(err)
	}
	kB := onepw.XOR(wrapKb, onepw.UnwrapBKey(qs))
	// scoped-key-data answers the same with Hawk and with Bearer fxs_.
	var skd [2][]byte
	for i, withBearer := range []bool{false, true} {
		skd[i] = okBody(t, "scoped-key-data", r.sessionCall("POST", r.authURL("v1/account/scoped-key-data"),
			map[string]string{"client_id": r.app.clientID, "scope": scope}, pageSession, withBearer))
	}
	if !bytes.Equal(skd[0], skd[1]) {
		t.Fatalf("scoped-key-data with Hawk %s, with Bearer fxs_ %s", skd[0], skd[1])
	}
	var skdMap map[string]json.RawMessage
	json.Unmarshal(skd[0], &skdMap)
	if len(skdMap) != 1 || skdMap[onepw.ScopeOldSync] == nil {
		t.Fatalf("scoped-key-data %s: want oldsync only (profile and tokens/session carry no key)", skd[0])
	}
	entry := wantShape(t, "scoped-key-data oldsync", skdMap[onepw.ScopeOldSync], scopedKeyShape)
	if entry["identifier"] != onepw.ScopeOldSync || entry["keyRotationSecret"] != strings.Repeat("0", 64) {
		t.Fatalf("scoped key data %v", entry)
	}
	kca, _ := entry["keyRotationTimestamp"].(json.Number).Int64()
	k, kid := onepw.OldSyncKey(kB, kca)
	plain, _ := json.Marshal(map[string]any{onepw.ScopeOldSync: map[string]string{"scope": onepw.ScopeOldSync, "kty": "oct", "k": k, "kid": kid}})
	jwe, err := onepw.SealKeysJWE(keysJWK, plain)
	if err != nil {
		t.Fatal(err)
	}
	authz := wantShape(t, "oauth/authorization", okBody(t, "oauth/authorization", r.sessionCall("POST", r.authURL("v1/oauth/authorization"),
		map[string]string{"client_id": r.app.clientID, "state": state, "scope": scope, "response_type": "code", "access_type": "offline",
			"code_challenge": onepw.PKCEChallenge(verifier), "code_challenge_method": "S256", "keys_jwe": jwe}, pageSession, r.app.signWithBearer)),
		fieldKinds{"code": "string", "state": "string", "redirect": "string"})
	// WebChannel fxaccounts:oauth_login {code, state}: the app checks
	// the state it made.
	if authz["state"] != state {
		t.Fatalf("state %v, the app made %s", authz["state"], state)
	}

	// --- the app: code exchange, no Hawk, no Bearer ---
	// The library posts to the openid token_endpoint; the spec also
	// names <auth>/v1/oauth/token. One app each.
	tokenURL := r.openid["token_endpoint"].(string)
	if r.app.name == "Fenix" {
		tokenURL = r.authURL("v1/oauth/token")
	}
	tok := wantShape(t, "code exchange", okBody(t, "code exchange", r.call("POST", tokenURL,
		map[string]string{"grant_type": "authorization_code", "client_id": r.app.clientID, "code": authz["code"].(string), "code_verifier": verifier})), tokenShape)
	for _, f := range []string{"refresh_token", "keys_jwe", "session_token"} {
		if tok[f] == nil {
			t.Fatalf("code exchange lacks %s: %v", f, tok)
		}
	}
	for _, sc := range strings.Fields(scope) {
		if !strings.Contains(" "+tok["scope"].(string)+" ", " "+sc+" ") {
			t.Fatalf("code exchange scope %q lacks %s", tok["scope"], sc)
		}
	}
	if !isHex(tok["session_token"].(string), 32) || tok["session_token"] == pageSession {
		t.Fatalf("session_token %v: want a new 64-hex session", tok["session_token"])
	}
	// The app opens keys_jwe with its ephemeral key: the oldsync key is
	// the one that follows from kB.
	var keys map[string]struct{ Scope, Kty, K, Kid string }
	if err := json.Unmarshal(openJWE(t, priv, tok["keys_jwe"].(string)), &keys); err != nil {
		t.Fatal(err)
	}
	got := keys[onepw.ScopeOldSync]
	if got.K != k || got.Kid != kid || got.Kty != "oct" || got.Scope != onepw.ScopeOldSync || len(got.K) != 86 {
		t.Fatalf("the app got %+v, kB gives k %s kid %s", got, k, kid)
	}
	return mobileSession{refresh: tok["refresh_token"].(string), session: tok["session_token"].(string),
		accessToken: tok["access_token"].(string), k: got.K, kid: got.Kid}
}

// refresh is grant_type=refresh_token as the library sends it.
func (r *mobileRun) refresh(refreshToken, scope string) *handlers.Response {
	r.t.Helper()
	return r.call("POST", r.openid["token_endpoint"].(string), map[string]any{"grant_type": "refresh_token", "client_id": r.app.clientID,
		"refresh_token": refreshToken, "scope": scope, "ttl": 3600})
}

// accessToken is a successful refresh grant for scope.
func (r *mobileRun) accessToken(refreshToken, scope string) string {
	r.t.Helper()
	m := wantShape(r.t, "refresh grant", okBody(r.t, "refresh grant", r.refresh(refreshToken, scope)), tokenShape)
	if m["scope"] != scope {
		r.t.Fatalf("refresh grant for %q gave scope %q", scope, m["scope"])
	}
	if n, _ := m["expires_in"].(json.Number).Int64(); n <= 0 || n > 3600 {
		r.t.Fatalf("expires_in %v for ttl 3600", m["expires_in"])
	}
	return m["access_token"].(string)
}

// tokenserver is the app's GET <tokenserver>/1.0/sync/1.5.
func (r *mobileRun) tokenserver(accessToken, kid string) *handlers.Response {
	u, _ := url.Parse(r.tokenURL)
	req := &handlers.Request{Method: "GET", Scheme: u.Scheme, Host: u.Host, RequestURI: u.RequestURI(),
		Header: http.Header{"Authorization": {"Bearer " + accessToken}, "X-Keyid": {kid}, "Accept": {"application/json"},
			"User-Agent": {r.app.userAgent}},
		RemoteAddr: "192.0.2.1:1", Body: http.NoBody}
	return r.ts.Serve(r.t.Context(), req)
}

// sync gets a storage token from the tokenserver with an oldsync access
// token and the key's kid, then writes and reads a record with Hawk.
func (r *mobileRun) sync(accessToken, kid, write, read string) storageToken {
	t := r.t
	t.Helper()
	resp := r.tokenserver(accessToken, kid)
	if resp.Status != http.StatusOK {
		t.Fatalf("tokenserver: %d %s", resp.Status, resp.Body)
	}
	wantShape(t, "tokenserver", resp.Body, fieldKinds{"id": "string", "key": "string", "uid": "uint", "api_endpoint": "string",
		"duration": "uint", "hashalg": "string"})
	var st storageToken
	json.Unmarshal(resp.Body, &st)
	if write != "" {
		w := storageDo(t, r.ts, r.h.clock.Now(), st, "PUT", "/storage/tabs/"+r.app.name, `{"payload":"`+write+`"}`)
		if w.Status != http.StatusOK {
			t.Fatalf("storage write: %d %s", w.Status, w.Body)
		}
	}
	g := storageDo(t, r.ts, r.h.clock.Now(), st, "GET", "/storage/tabs?full=1", "")
	if g.Status != http.StatusOK {
		t.Fatalf("storage read: %d %s", g.Status, g.Body)
	}
	if read == "" && string(g.Body) != "[]" || read != "" && !strings.Contains(string(g.Body), read) {
		t.Fatalf("storage read %s, want %q", g.Body, read)
	}
	return st
}

// refreshTokenSurvives is how long the test leaves a refresh token unused
// before using it again: the apps keep theirs for months.
const refreshTokenSurvives = 120 * 24 * time.Hour

// TestScriptedMobileClient walks Fenix's and iOS's flows: discovery, the
// page's sign-in with its crypto, the code exchange without Hawk, refresh
// grants (narrowing yes, widening no), device registration and listing
// with the refresh token, attached clients and scoped-key-data with the
// session token, the profile and its avatar, introspection, a storage
// token from the real tokenserver (verifying our JWT in-process) and a
// Sync write and read, session/duplicate, a refresh months later, and
// sign-out (device/destroy with the refresh token, then destroy).
func TestScriptedMobileClient(t *testing.T) {
	for _, app := range mobileApps {
		t.Run(app.name, func(t *testing.T) {
			h := newHarness(t)
			uid := h.addAccount("phone@example.org", "a long phone password")
			r := &mobileRun{t: t, h: h, app: app, ts: h.tokenServer(h.svc.Verifier())}
			r.discover()
			ms := r.signIn("phone@example.org", "a long phone password")

			// Refresh grants: the granted scopes or fewer; another
			// client's id, or more scopes, are refused.
			syncAT := r.accessToken(ms.refresh, onepw.ScopeOldSync)
			profileAT := r.accessToken(ms.refresh, onepw.ScopeProfile)
			wantErrno(t, r.call("POST", r.oauthURL("v1/oauth/token"), map[string]any{"grant_type": "refresh_token",
				"client_id": desktopClient, "refresh_token": ms.refresh}), http.StatusUnauthorized, errnoInvalidToken)
			narrow := wantShape(t, "offline fxa-credentials", okBody(t, "offline fxa-credentials",
				r.sessionCall("POST", r.oauthURL("v1/oauth/token"), map[string]any{"grant_type": "fxa-credentials", "client_id": app.clientID,
					"scope": onepw.ScopeProfile, "access_type": "offline"}, ms.session, true)), tokenShape)
			wantErrno(t, r.refresh(narrow["refresh_token"].(string), onepw.ScopeProfile+" "+onepw.ScopeOldSync), http.StatusBadRequest, oauthInvalidScopes)
			r.accessToken(narrow["refresh_token"].(string), onepw.ScopeProfile)

			// The device, registered and listed with Bearer <refresh token>.
			rb := []string{"Authorization", "Bearer " + ms.refresh}
			dev := wantShape(t, "device registration", okBody(t, "device registration", r.call("POST", r.authURL("v1/account/device"),
				map[string]any{"name": app.name + " on a phone", "type": "mobile",
					"availableCommands": map[string]string{sendTab: "{\"kid\":\"x\"}"}}, rb...)), deviceReplyShape)
			ms.deviceID = dev["id"].(string)
			if dev["type"] != "mobile" || dev["name"] != app.name+" on a phone" || dev["pushEndpointExpired"] != false {
				t.Fatalf("registration %v", dev)
			}
			devs := wantShapeList(t, "devices", okBody(t, "devices", r.call("GET",
				r.authURL("v1/account/devices?filterIdleDevicesTimestamp="+itoa(h.clock.Now().Add(-21*24*time.Hour).UnixMilli())), nil, rb...)), deviceShape)
			if len(devs) != 1 || devs[0]["id"] != ms.deviceID || devs[0]["isCurrentDevice"] != true {
				t.Fatalf("devices %v", devs)
			}
			loc, _ := json.Marshal(devs[0]["location"])
			wantShape(t, "device location", loc, locationShape)
			if _, ok := devs[0]["availableCommands"].(map[string]any)[sendTab]; !ok {
				t.Fatalf("device commands %v", devs[0]["availableCommands"])
			}

			// attached_clients with the app's own session token.
			attached := wantShapeList(t, "attached_clients", okBody(t, "attached_clients",
				r.sessionCall("GET", r.authURL("v1/account/attached_clients"), nil, ms.session, true)), attachedClientShape)
			found := false
			for _, a := range attached {
				if a["deviceId"] == ms.deviceID {
					found = true
					if a["clientId"] != app.clientID || a["deviceType"] != "mobile" || a["scope"] == nil {
						t.Fatalf("the app's attached client %v", a)
					}
				}
			}
			if !found {
				t.Fatalf("attached_clients %v lacks the app's device", attached)
			}
			// The app's session works with Hawk too (older libraries).
			okBody(t, "scoped-key-data (app, Hawk)", r.sessionCall("POST", r.authURL("v1/account/scoped-key-data"),
				map[string]string{"client_id": app.clientID, "scope": onepw.ScopeOldSync}, ms.session, false))
			dup := wantShape(t, "session/duplicate", okBody(t, "session/duplicate", r.sessionCall("POST", r.authURL("v1/session/duplicate"),
				map[string]string{"reason": "migration"}, ms.session, true)), duplicateShape)
			if dup["uid"] != uid || dup["sessionToken"] == ms.session || !isHex(dup["sessionToken"].(string), 32) {
				t.Fatalf("session/duplicate %v", dup)
			}

			// The profile, its avatar, and the ETag.
			presp := r.call("GET", r.profileURL("v1/profile"), nil, "Authorization", "Bearer "+profileAT)
			prof := wantShape(t, "profile", okBody(t, "profile", presp), profileShape)
			if prof["uid"] != uid || prof["email"] != "phone@example.org" {
				t.Fatalf("profile %v", prof)
			}
			img := r.call("GET", prof["avatar"].(string), nil)
			if img.Status != http.StatusOK || img.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("avatar %s: %d %s", prof["avatar"], img.Status, img.Header.Get("Content-Type"))
			}
			if _, err := png.Decode(bytes.NewReader(img.Body)); err != nil {
				t.Fatalf("avatar is not an image: %v", err)
			}
			// The library keeps the ETag header verbatim and sends it
			// back wrapped in one more pair of quotes.
			etag := presp.Header.Get("ETag")
			for _, inm := range []string{etag, `"` + etag + `"`} {
				if nm := r.call("GET", r.profileURL("v1/profile"), nil, "Authorization", "Bearer "+profileAT, "If-None-Match", inm); etag == "" || nm.Status != http.StatusNotModified {
					t.Fatalf("profile with If-None-Match %q: %d", inm, nm.Status)
				}
			}
			// An oldsync-only token is not a profile token.
			if resp := r.call("GET", r.profileURL("v1/profile"), nil, "Authorization", "Bearer "+syncAT); resp.Status == http.StatusOK {
				t.Fatal("profile served to a token without the profile scope")
			}

			// Introspection of the refresh token, at both spellings.
			for _, u := range []string{r.oauthURL("v1/introspect"), r.openid["introspection_endpoint"].(string)} {
				in := wantShape(t, "introspect", okBody(t, "introspect", r.call("POST", u,
					map[string]string{"token": ms.refresh, "token_type_hint": "refresh_token"})), introspectShape)
				if in["active"] != true {
					t.Fatalf("introspect %v", in)
				}
			}

			// Sync: the tokenserver verifies our JWT in-process, then a
			// Hawk-signed write and read.
			first := r.sync(syncAT, ms.kid, "tabs of "+app.name, "tabs of "+app.name)

			// Months later the refresh token still works: a new access
			// token, the same storage user and data.
			h.clock.Add(refreshTokenSurvives)
			laterAT := r.accessToken(ms.refresh, onepw.ScopeOldSync)
			laterProfileAT := r.accessToken(ms.refresh, onepw.ScopeProfile)
			later := r.sync(laterAT, ms.kid, "", "tabs of "+app.name)
			if later.UID != first.UID {
				t.Fatalf("storage uid %d months later, %d before", later.UID, first.UID)
			}

			// Sign-out: device/destroy with the refresh token revokes it.
			if b := okBody(t, "device/destroy", r.call("POST", r.authURL("v1/account/device/destroy"), map[string]string{"id": ms.deviceID}, rb...)); string(b) != "{}" {
				t.Fatalf("device/destroy answered %s", b)
			}
			in := wantShape(t, "introspect after sign-out", okBody(t, "introspect", r.call("POST", r.oauthURL("v1/introspect"),
				map[string]string{"token": ms.refresh, "token_type_hint": "refresh_token"})), introspectShape)
			if in["active"] != false {
				t.Fatalf("refresh token alive after sign-out: %v", in)
			}
			wantErrno(t, r.refresh(ms.refresh, onepw.ScopeOldSync), http.StatusUnauthorized, errnoInvalidToken)
			wantErrno(t, r.call("GET", r.authURL("v1/account/devices"), nil, rb...), http.StatusUnauthorized, errnoInvalidToken)
			// Its access tokens went with it: at the tokenserver, the
			// profile server and introspection.
			if resp := r.tokenserver(laterAT, ms.kid); resp.Status != http.StatusUnauthorized {
				t.Fatalf("tokenserver with an access token of the revoked refresh token: %d %s", resp.Status, resp.Body)
			}
			wantErrno(t, r.call("GET", r.profileURL("v1/profile"), nil, "Authorization", "Bearer "+laterProfileAT), http.StatusUnauthorized, errnoInvalidToken)
			if in := wantShape(t, "introspect", okBody(t, "introspect", r.call("POST", r.oauthURL("v1/introspect"),
				map[string]string{"token": laterAT})), introspectShape); in["active"] != false {
				t.Fatalf("access token of a revoked refresh token: %v", in)
			}
			// destroy {refresh_token} is always 200 {}, for the dead token
			// too, at both spellings.
			for _, u := range []string{r.oauthURL("v1/destroy"), r.openid["revocation_endpoint"].(string), r.oauthURL("v1/oauth/destroy")} {
				if b := okBody(t, "destroy", r.call("POST", u, map[string]string{"client_id": app.clientID, "refresh_token": ms.refresh})); string(b) != "{}" {
					t.Fatalf("%s answered %s", u, b)
				}
			}
			// destroy also revokes a live refresh token.
			live := narrow["refresh_token"].(string)
			okBody(t, "destroy", r.call("POST", r.oauthURL("v1/destroy"), map[string]string{"client_id": app.clientID, "refresh_token": live}))
			wantErrno(t, r.refresh(live, onepw.ScopeProfile), http.StatusUnauthorized, errnoInvalidToken)
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
