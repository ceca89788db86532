package firefox

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"syncserver/accounts/onepw"
	signinpage "syncserver/accounts/page"
	"syncserver/hawk"
)

// TestFirefoxPageCrypto checks the sign-in page's crypto.js inside real
// Firefox against the Go implementation the server and the CLI use
// (accounts/onepw) and its known-answer vectors: the password stretch,
// HKDF, token derivation, the key bundle, the oldsync kid and key, Hawk
// signing and the keys JWE, which Go and Firefox's own jwcrypto must both
// open. Like TestFirefox it runs in loopback-only namespaces.
func TestFirefoxPageCrypto(t *testing.T) {
	if dir := os.Getenv(insideEnv); dir != "" {
		insidePageCrypto(t, dir)
		return
	}
	needOutside(t, "starts Firefox", programFirefox)
	runInNamespaces(t, t.TempDir(), "", "TestFirefoxPageCrypto")
}

// katCases is what /kat/cases.json serves to testdata/kat.js; each list
// is answered in order.
type katCases struct {
	Stretch []katStretch `json:"stretch"`
	HKDF    []katHKDF    `json:"hkdf"`
	Tokens  []katToken   `json:"tokens"`
	Bundles []katBundle  `json:"bundles"`
	OldSync []katOldSync `json:"oldsync"`
	JWE     []katJWE     `json:"jwe"`
	KeysJWE []katOldSync `json:"keysJWE"`
	Hawk    []katHawk    `json:"hawk"`
}

type katStretch struct {
	Password   string `json:"password"`
	Salt       string `json:"salt"`
	Iterations int    `json:"iterations,omitempty"` // 0: the page's default
}

type katHKDF struct {
	Secret string `json:"secret"`
	Info   string `json:"info"`
	Length int    `json:"length"`
}

type katToken struct {
	Token string `json:"token"`
	Kind  string `json:"kind"`
}

type katBundle struct {
	KeyRequestKey string `json:"keyRequestKey"`
	Bundle        string `json:"bundle"`
}

type katOldSync struct {
	KB            string `json:"kB"`
	KeysChangedAt int64  `json:"keysChangedAt"`
	KeysJWK       string `json:"keysJWK,omitempty"`
}

type katJWE struct {
	KeysJWK   string `json:"keysJWK"`
	Plaintext string `json:"plaintext"`
}

type katHawk struct {
	Method string  `json:"method"`
	URL    string  `json:"url"`
	ID     string  `json:"id"`
	Key    string  `json:"key"`
	Body   *string `json:"body,omitempty"`
}

// katAnswers is what kat.js computed; Error is set when the page threw.
type katAnswers struct {
	Stretch []struct{ QS, AuthPW, UnwrapBKey, Error string } `json:"stretch"`
	HKDF    []struct{ Out, Error string }                    `json:"hkdf"`
	Tokens  []struct{ ID, Key, KeyRequestKey, Error string } `json:"tokens"`
	Bundles []struct{ KA, WrapKb, Error string }             `json:"bundles"`
	OldSync []struct{ Scope, Kty, K, KID, Error string }     `json:"oldsync"`
	JWE     []struct{ JWE, Error string }                    `json:"jwe"`
	KeysJWE []struct{ JWE, Error string }                    `json:"keysJWE"`
	Hawk    []struct{ Header, Error string }                 `json:"hawk"`
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// firefoxKeysJWK makes an ephemeral P-256 key as Firefox's beginOAuthFlow
// does and returns it with keys_jwk as Firefox puts it in the connect URL:
// b64url of the WebCrypto export, with its ext and key_ops.
func firefoxKeysJWK(t *testing.T) (*ecdsa.PrivateKey, string, map[string]any) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	x, y := b64(pt[1:33]), b64(pt[33:65])
	pub, _ := json.Marshal(map[string]any{"crv": "P-256", "ext": true, "key_ops": []string{}, "kty": "EC", "x": x, "y": y})
	d, err := priv.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	privJWK := map[string]any{"crv": "P-256", "kty": "EC", "x": x, "y": y, "d": b64(d)}
	return priv, b64(pub), privJWK
}

// katServer serves the page's files (crypto.js as the page has it), the
// test page and the cases on a loopback port.
// The cases are encoded when asked for, so they may name the server's
// origin.
func katServer(t *testing.T, cases *katCases) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/kat.html", "/kat.js":
			b, err := os.ReadFile(filepath.Join("testdata", r.URL.Path[1:]))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			ct := "text/html; charset=utf-8"
			if strings.HasSuffix(r.URL.Path, ".js") {
				ct = "text/javascript; charset=utf-8"
			}
			w.Header().Set("Content-Type", ct)
			w.Write(b)
		case "/kat/cases.json":
			casesJSON, err := json.Marshal(cases)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(casesJSON)
		default:
			body, ct, ok := signinpage.Asset(r.URL.Path)
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", ct)
			w.Write(body)
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

func insidePageCrypto(t *testing.T, dir string) {
	if err := loopbackUp(); err != nil {
		t.Fatalf("bringing up loopback in the new network namespace: %v", err)
	}
	env := workDirs(t, dir)
	logs := filepath.Join(dir, "logs")
	t.Cleanup(func() {
		if t.Failed() {
			keepArtifacts(t, dir)
		}
	})

	// The cases: onepw's published vectors, plus fresh random ones whose
	// answers the Go implementation computes.
	var c katCases
	origin := katServer(t, &c)
	type stretchWant struct{ qs, authPW, unwrapBKey string }
	var stretchWants []stretchWant
	addStretch := func(password, salt string, iterations int, want stretchWant) {
		c.Stretch = append(c.Stretch, katStretch{password, salt, iterations})
		stretchWants = append(stretchWants, want)
	}
	var bundleWants [][2]string // kA, wrapKb; "" for a bundle that must be refused
	var oldsyncWants [][2]string
	var tokenWants []onepw.TokenKeys
	for _, v := range onepw.Vectors {
		if v.Password != "" && v.QuickStretchedPW != "" {
			salt, iter := v.ClientSalt, 0
			if salt == "" { // a v1 case: the same PBKDF2 with the email salt
				salt, iter = onepw.NS+"quickStretch:"+v.Email, 1000
			}
			addStretch(v.Password, salt, iter, stretchWant{v.QuickStretchedPW, v.AuthPW, v.UnwrapBKey})
		}
		if v.KB != "" && v.KID != "" {
			c.OldSync = append(c.OldSync, katOldSync{KB: v.KB, KeysChangedAt: v.KeysChangedAt})
			oldsyncWants = append(oldsyncWants, [2]string{v.K, v.KID})
		}
		if v.KeyFetchToken != "" && v.KeyRequestKey != "" {
			c.Tokens = append(c.Tokens, katToken{v.KeyFetchToken, onepw.KindKeyFetch})
			tokenWants = append(tokenWants, onepw.TokenKeys{KeyRequestKey: unhex(t, v.KeyRequestKey)})
		}
		if v.Bundle != "" && v.KeyRequestKey != "" {
			c.Bundles = append(c.Bundles, katBundle{v.KeyRequestKey, v.Bundle})
			bundleWants = append(bundleWants, [2]string{v.KA, v.WrapKb})
		}
	}
	// A v2 stretch at the full 650,000 iterations, with a password outside
	// ASCII (UTF-8 on both sides).
	pw, salt := "pässwörd ✓ e2e", onepw.NewClientSalt()
	qs := onepw.QuickStretchV2(pw, salt)
	addStretch(pw, salt, 0, stretchWant{hex.EncodeToString(qs), hex.EncodeToString(onepw.AuthPW(qs)), hex.EncodeToString(onepw.UnwrapBKey(qs))})

	for _, v := range onepw.TokenVectors {
		c.Tokens = append(c.Tokens, katToken{v.Token, v.Kind})
		tokenWants = append(tokenWants, onepw.TokenKeys{ID: v.ID, HMACKey: unhex(t, v.HMACKey), KeyRequestKey: unhex(t, v.KeyRequestKey)})
	}
	for _, n := range []int{32, 64, 96} {
		c.HKDF = append(c.HKDF, katHKDF{randomHex(32), onepw.NS + fmt.Sprintf("kat%d", n), n})
	}
	for _, kind := range []string{onepw.KindSession, onepw.KindKeyFetch} {
		tok := randomHex(32)
		c.Tokens = append(c.Tokens, katToken{tok, kind})
		tokenWants = append(tokenWants, onepw.DeriveToken(unhex(t, tok), kind))
	}
	krk, kA, wrapKb := unhex(t, randomHex(32)), randomHex(32), randomHex(32)
	bundle := onepw.KeysBundle(krk, unhex(t, kA), unhex(t, wrapKb))
	c.Bundles = append(c.Bundles, katBundle{hex.EncodeToString(krk), bundle})
	bundleWants = append(bundleWants, [2]string{kA, wrapKb})
	tampered := []byte(bundle)
	tampered[10] ^= 1 // flips a bit of the ciphertext: the MAC must catch it
	if tampered[10] > 'f' || (tampered[10] > '9' && tampered[10] < 'a') {
		tampered[10] ^= 3
	}
	c.Bundles = append(c.Bundles, katBundle{hex.EncodeToString(krk), string(tampered)})
	bundleWants = append(bundleWants, [2]string{})

	kB := randomHex(32)
	c.OldSync = append(c.OldSync, katOldSync{KB: kB, KeysChangedAt: 1733400000123})
	k, kid := onepw.OldSyncKey(unhex(t, kB), 1733400000123)
	oldsyncWants = append(oldsyncWants, [2]string{k, kid})
	c.OldSync = append(c.OldSync, katOldSync{KB: kB, KeysChangedAt: 0}) // a zero timestamp breaks Sync: refused
	oldsyncWants = append(oldsyncWants, [2]string{})

	priv, keysJWK, privJWK := firefoxKeysJWK(t)
	plain := `{"hello":"wörld"}`
	c.JWE = append(c.JWE, katJWE{keysJWK, plain})
	// The published fixed-key case: seal its plaintext to its recipient.
	jv := onepw.KeysJWEVector
	c.JWE = append(c.JWE, katJWE{jv.KeysJWK, jv.Plaintext})
	c.KeysJWE = append(c.KeysJWE, katOldSync{KB: kB, KeysChangedAt: 1733400000123, KeysJWK: keysJWK})

	body := `{"client_id":"5882386c6d801776","scope":"profile"}`
	hawkID, hawkKey := randomHex(32), randomHex(32)
	c.Hawk = []katHawk{
		{Method: "GET", URL: origin + "/v1/account/keys", ID: hawkID, Key: hawkKey},
		{Method: "POST", URL: origin + "/v1/account/login?keys=true", ID: hawkID, Key: hawkKey, Body: &body},
	}

	b := startFirefox(t, dir, logs, env, "kat", map[string]any{"devtools.console.stdout.content": true})
	b.connect(t)

	start := time.Now()
	b.navigate(t, origin+"/kat.html")
	state := b.waitState(t, 2*time.Minute, func(s string) bool { return s != "loading" })
	if state != "done" {
		t.Fatalf("kat.html: %s\n%s", state, tail(b.proc.log, 30))
	}
	var raw string
	b.content(t, &raw, `return document.getElementById("out").textContent;`)
	t.Logf("the page's crypto answered %d stretches and the rest in %v", len(c.Stretch), time.Since(start).Round(time.Millisecond))
	var got katAnswers
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("kat.js answered %q: %v", raw, err)
	}

	check := func(kind string, i int, name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s case %d: %s = %q, want %q", kind, i, name, got, want)
		}
	}
	if len(got.Stretch) != len(c.Stretch) || len(got.HKDF) != len(c.HKDF) || len(got.Tokens) != len(c.Tokens) ||
		len(got.Bundles) != len(c.Bundles) || len(got.OldSync) != len(c.OldSync) || len(got.JWE) != len(c.JWE) ||
		len(got.KeysJWE) != len(c.KeysJWE) || len(got.Hawk) != len(c.Hawk) {
		t.Fatalf("kat.js answered a different number of cases: %s", raw)
	}
	for i, g := range got.Stretch {
		w := stretchWants[i]
		check("stretch", i, "error", g.Error, "")
		check("stretch", i, "quickStretchedPW", g.QS, w.qs)
		check("stretch", i, "authPW", g.AuthPW, w.authPW)
		check("stretch", i, "unwrapBKey", g.UnwrapBKey, w.unwrapBKey)
	}
	for i, g := range got.HKDF {
		check("hkdf", i, "out", g.Out, hex.EncodeToString(onepw.HKDF(unhex(t, c.HKDF[i].Secret), c.HKDF[i].Info, c.HKDF[i].Length)))
	}
	for i, g := range got.Tokens {
		w := tokenWants[i]
		check("token", i, "error", g.Error, "")
		if w.ID != "" {
			check("token", i, "id", g.ID, w.ID)
			check("token", i, "key", g.Key, hex.EncodeToString(w.HMACKey))
		}
		check("token", i, "keyRequestKey", g.KeyRequestKey, hex.EncodeToString(w.KeyRequestKey))
	}
	for i, g := range got.Bundles {
		w := bundleWants[i]
		if w[0] == "" {
			if g.Error == "" || g.KA != "" {
				t.Errorf("bundles case %d (tampered): the page accepted it: %+v", i, g)
			}
			continue
		}
		check("bundles", i, "error", g.Error, "")
		check("bundles", i, "kA", g.KA, w[0])
		check("bundles", i, "wrapKb", g.WrapKb, w[1])
	}
	for i, g := range got.OldSync {
		w := oldsyncWants[i]
		if w[0] == "" {
			if g.Error == "" {
				t.Errorf("oldsync case %d (zero keysChangedAt): the page made a key: %+v", i, g)
			}
			continue
		}
		check("oldsync", i, "error", g.Error, "")
		check("oldsync", i, "k", g.K, w[0])
		check("oldsync", i, "kid", g.KID, w[1])
		check("oldsync", i, "scope", g.Scope, onepw.ScopeOldSync)
		check("oldsync", i, "kty", g.Kty, "oct")
	}

	// The JWEs: Firefox's exact format, and Go opens them.
	jwes := []string{got.JWE[0].JWE, got.KeysJWE[0].JWE, got.JWE[1].JWE}
	check("jwe", 0, "error", got.JWE[0].Error, "")
	check("jwe", 1, "error", got.JWE[1].Error, "")
	check("keysJWE", 0, "error", got.KeysJWE[0].Error, "")
	for i, jwe := range jwes {
		checkJWEFormat(t, i, jwe)
	}
	if pt, err := onepw.OpenKeysJWE(priv, jwes[0]); err != nil || string(pt) != plain {
		t.Errorf("onepw.OpenKeysJWE(the page's JWE) = %q, %v; want %q", pt, err, plain)
	}
	if vpriv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), unhex(t, jv.RecipientD)); err != nil {
		t.Errorf("KeysJWEVector.RecipientD: %v", err)
	} else if pt, err := onepw.OpenKeysJWE(vpriv, jwes[2]); err != nil || string(pt) != jv.Plaintext {
		t.Errorf("onepw.OpenKeysJWE(the page's JWE to the vector's key) = %q, %v; want %q", pt, err, jv.Plaintext)
	}
	pt, err := onepw.OpenKeysJWE(priv, jwes[1])
	var keys map[string]map[string]string
	if err != nil || json.Unmarshal(pt, &keys) != nil {
		t.Errorf("onepw.OpenKeysJWE(the page's keys_jwe) = %q, %v", pt, err)
	} else {
		want := map[string]string{"scope": onepw.ScopeOldSync, "kty": "oct", "k": k, "kid": kid}
		if g := keys[onepw.ScopeOldSync]; len(keys) != 1 || fmt.Sprint(g) != fmt.Sprint(want) {
			t.Errorf("the page's keys_jwe holds %v, want {%q: %v}", keys, onepw.ScopeOldSync, want)
		}
	}
	// And Firefox's own decryption (jwcrypto.sys.mjs, what oauth_login
	// runs) opens the page's keys_jwe.
	var opened string
	b.run(t, &opened, `
const [jwe, jwk] = arguments;
return (async () => {
  const { jwcrypto } = ChromeUtils.importESModule("moz-src:///services/crypto/modules/jwcrypto.sys.mjs");
  const key = await crypto.subtle.importKey("jwk", jwk, { name: "ECDH", namedCurve: "P-256" }, false, ["deriveKey"]);
  return new TextDecoder().decode(await jwcrypto.decryptJWE(jwe, key));
})();`, jwes[1], privJWK)
	if opened != string(pt) {
		t.Errorf("Firefox's jwcrypto opened the page's keys_jwe to %q, want %q", opened, pt)
	}

	// The page itself, on an origin Firefox does not trust for accounts
	// (its accounts root is still Mozilla's here): Firefox answers "No
	// Such Channel" and the page says so instead of showing the form.
	t0 := time.Now()
	b.navigate(t, origin+"/")
	if st := b.waitState(t, 30*time.Second, func(s string) bool { return s != "loading" && s != "" }); st != "error:no-channel" {
		t.Errorf("the page on a wrong origin is %q, want error:no-channel", st)
	}
	var disabled bool
	b.content(t, &disabled, `return document.getElementById("submit").disabled;`)
	if !disabled {
		t.Errorf("the page on a wrong origin lets the form be submitted")
	}
	var shown string
	b.content(t, &shown, `return document.getElementById("error").textContent;`)
	if !strings.Contains(shown, "No Such Channel") || !strings.Contains(shown, origin) {
		t.Errorf("the page on a wrong origin shows %q, want the channel error and the origin to configure", shown)
	}
	t.Logf("the page reported the wrong origin in %v", time.Since(t0).Round(time.Millisecond))

	// Hawk: the project's own verifier accepts the page's headers for the
	// host and port the page used.
	for i, g := range got.Hawk {
		hc := c.Hawk[i]
		check("hawk", i, "error", g.Error, "")
		a, err := hawk.ParseHeader(g.Header)
		if err != nil {
			t.Errorf("hawk case %d: %q: %v", i, g.Header, err)
			continue
		}
		host, port, _ := net.SplitHostPort(strings.TrimPrefix(origin, "http://"))
		var p int
		fmt.Sscan(port, &p)
		resource := strings.TrimPrefix(hc.URL, origin)
		if a.ID != hawkID || a.Ext != "" {
			t.Errorf("hawk case %d: id/ext of %q", i, g.Header)
		}
		if err := hawk.Verify(unhex(t, hawkKey), a, hawk.Request{Method: hc.Method, Host: host, Port: p, Resource: resource}); err != nil {
			t.Errorf("hawk case %d: %q does not verify: %v", i, g.Header, err)
		}
		if hc.Body == nil {
			if a.Hash != "" {
				t.Errorf("hawk case %d: a payload hash without a body: %q", i, g.Header)
			}
		} else if a.Hash == "" || hawk.VerifyPayload(a, "application/json", []byte(*hc.Body)) != nil {
			t.Errorf("hawk case %d: payload hash of %q wrong or missing", i, g.Header)
		}
		if d := time.Since(time.Unix(a.TS, 0)); d > time.Minute || d < -time.Minute {
			t.Errorf("hawk case %d: ts %d is %v off", i, a.TS, d)
		}
	}
}

// checkJWEFormat checks a JWE has the shape Firefox's jwcrypto demands:
// five parts, an empty encrypted key, no padding, a header of exactly
// alg ECDH-ES, enc A256GCM and an EC P-256 epk (no apu/apv), a 12-byte IV
// and a 16-byte tag.
func checkJWEFormat(t *testing.T, i int, jwe string) {
	t.Helper()
	parts := strings.Split(jwe, ".")
	if len(parts) != 5 || parts[1] != "" || strings.Contains(jwe, "=") {
		t.Errorf("JWE %d %q: want hdr..iv.ct.tag, unpadded", i, jwe)
		return
	}
	dec := base64.RawURLEncoding.DecodeString
	hdr, err := dec(parts[0])
	var h map[string]any
	if err != nil || json.Unmarshal(hdr, &h) != nil {
		t.Errorf("JWE %d: header %q: %v", i, hdr, err)
		return
	}
	epk, _ := h["epk"].(map[string]any)
	if len(h) != 3 || h["alg"] != "ECDH-ES" || h["enc"] != "A256GCM" || epk["kty"] != "EC" || epk["crv"] != "P-256" {
		t.Errorf("JWE %d: header %s, want exactly alg ECDH-ES, enc A256GCM, an EC P-256 epk", i, hdr)
	}
	x, _ := epk["x"].(string)
	y, _ := epk["y"].(string)
	xb, errX := dec(x)
	yb, errY := dec(y)
	if errX != nil || errY != nil {
		t.Errorf("JWE %d: epk %v", i, epk)
	} else if _, err := ecdh.P256().NewPublicKey(append(append([]byte{4}, xb...), yb...)); err != nil {
		t.Errorf("JWE %d: epk is not a P-256 point: %v", i, err)
	}
	iv, err1 := dec(parts[2])
	tag, err2 := dec(parts[4])
	if err1 != nil || err2 != nil || len(iv) != 12 || len(tag) != 16 {
		t.Errorf("JWE %d: iv %d bytes, tag %d bytes; want 12 and 16", i, len(iv), len(tag))
	}
	if bytes.Equal(iv, make([]byte, 12)) {
		t.Errorf("JWE %d: zero IV", i)
	}
}
