package token

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// A known-answer vector, computed independently and checked against
// Mozilla's tokenlib 2.0.0.
const (
	vecSecret     = "db8a203aed5fe3e4594d4b75990acb76242efd35"
	vecSigningKey = "b417ed8e0e8dbb7cb1a78eb8f6067678a88ee6df2dbd60ef64316a79d782e08a"
	vecPayload    = `{"uid":1,"node":"https://sync.example.com/ff-sync","expires":1700000300,"fxa_uid":"aeaa1725c7a24ff983c6295725d5fc9b","fxa_kid":"1510726317123-IqQv4onc7VcVE1kTQkyyOw","hashed_fxa_uid":"0123456789abcdef0123456789abcdef","hashed_device_id":"fedcba9876543210fedcba9876543210","salt":"a1b2c3"}`
	vecToken      = "eyJ1aWQiOjEsIm5vZGUiOiJodHRwczovL3N5bmMuZXhhbXBsZS5jb20vZmYtc3luYyIsImV4cGlyZXMiOjE3MDAwMDAzMDAsImZ4YV91aWQiOiJhZWFhMTcyNWM3YTI0ZmY5ODNjNjI5NTcyNWQ1ZmM5YiIsImZ4YV9raWQiOiIxNTEwNzI2MzE3MTIzLUlxUXY0b25jN1ZjVkUxa1RRa3l5T3ciLCJoYXNoZWRfZnhhX3VpZCI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmIiwiaGFzaGVkX2RldmljZV9pZCI6ImZlZGNiYTk4NzY1NDMyMTBmZWRjYmE5ODc2NTQzMjEwIiwic2FsdCI6ImExYjJjMyJ9NYSFkcizVsNM8TlQQUmH7ECBbedTmGsu66JoNajYFpU="
	vecKey        = "1JtaI7l6y7pMB5Usg5vVIC4bYVsXHLndA7_qN3AW7Eg="
)

var vecPayloadStruct = Payload{
	UID:            1,
	Node:           "https://sync.example.com/ff-sync",
	Expires:        1700000300,
	FxAUID:         "aeaa1725c7a24ff983c6295725d5fc9b",
	FxAKID:         "1510726317123-IqQv4onc7VcVE1kTQkyyOw",
	HashedFxAUID:   "0123456789abcdef0123456789abcdef",
	HashedDeviceID: "fedcba9876543210fedcba9876543210",
	Salt:           "a1b2c3",
}

// MustSecrets builds Secrets or fails the test.
func MustSecrets(tb testing.TB, secrets ...string) *Secrets {
	tb.Helper()
	s, err := NewSecrets(secrets)
	if err != nil {
		tb.Fatalf("NewSecrets(%q): %v", secrets, err)
	}
	return s
}

// mustMint mints p or fails the test.
func mustMint(tb testing.TB, s *Secrets, p Payload) (tok, key string) {
	tb.Helper()
	tok, key, err := s.Mint(p)
	if err != nil {
		tb.Fatalf("Mint(%+v): %v", p, err)
	}
	return tok, key
}

func TestSigningKeyVector(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	if got, want := hex.EncodeToString(s.list[0].signingKey), vecSigningKey; got != want {
		t.Errorf("signing key = %s, want %s", got, want)
	}
}

func TestSignVector(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	if got, want := sign(&s.list[0], []byte(vecPayload)), vecToken; got != want {
		t.Errorf("sign(vector payload)\n got %s\nwant %s", got, want)
	}
}

func TestMintVector(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	tok, key := mustMint(t, s, vecPayloadStruct)
	if got, want := tok, vecToken; got != want {
		t.Errorf("token\n got %s\nwant %s", got, want)
	}
	if got, want := key, vecKey; got != want {
		t.Errorf("key = %s, want %s", got, want)
	}
}

func TestParseVector(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	p, key, err := s.Parse(vecToken)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := p, vecPayloadStruct; got != want {
		t.Errorf("payload = %+v, want %+v", got, want)
	}
	if got, want := key, vecKey; got != want {
		t.Errorf("key = %s, want %s", got, want)
	}
}

func TestNewSecretsErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		secrets []string
	}{
		{"nil", nil},
		{"empty list", []string{}},
		{"empty secret", []string{"a", ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSecrets(tt.secrets); err == nil {
				t.Errorf("NewSecrets(%q) succeeded, want error", tt.secrets)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	const oldSecret, newSecret = "old-secret", "new-secret"
	p := Payload{UID: 7, Node: "https://sync.example.com", Expires: 1700000300}

	t.Run("old token parses with old and new", func(t *testing.T) {
		tok, key := mustMint(t, MustSecrets(t, oldSecret), p)
		got, gotKey, err := MustSecrets(t, oldSecret, newSecret).Parse(tok)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if got.UID != p.UID {
			t.Errorf("uid = %d, want %d", got.UID, p.UID)
		}
		if gotKey != key {
			t.Errorf("key = %s, want the one derived with the old secret %s", gotKey, key)
		}
	})
	t.Run("newest secret signs", func(t *testing.T) {
		tok, _ := mustMint(t, MustSecrets(t, oldSecret, newSecret), p)
		if _, _, err := MustSecrets(t, newSecret).Parse(tok); err != nil {
			t.Errorf("Parse with the new secret: %v", err)
		}
		if _, _, err := MustSecrets(t, oldSecret).Parse(tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse with only the old secret: err = %v, want ErrInvalid", err)
		}
	})
}

func TestMintSalt(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	p := Payload{UID: 1, Node: "n", Expires: 1}
	saltRE := regexp.MustCompile(`^[0-9a-f]{6}$`)
	seen := map[string]bool{}
	for range 20 {
		tok, key := mustMint(t, s, p)
		got, gotKey, err := s.Parse(tok)
		if err != nil {
			t.Fatalf("Parse(minted): %v", err)
		}
		if !saltRE.MatchString(got.Salt) {
			t.Errorf("salt = %q, want 6 lowercase hex digits", got.Salt)
		}
		if gotKey != key {
			t.Errorf("parsed key %s != minted key %s", gotKey, key)
		}
		seen[got.Salt] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 mints produced %d distinct salts, want random salts", len(seen))
	}
}

func TestMintRoundTrip(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	for _, tt := range []struct {
		name string
		p    Payload
	}{
		{"minimal", Payload{UID: 0, Node: "", Expires: 0, Salt: "00"}},
		{"full", vecPayloadStruct},
		{"html characters in node", Payload{UID: 3, Node: "https://a.example/<x>&y", Expires: 5, Salt: "abc"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok, key := mustMint(t, s, tt.p)
			got, gotKey, err := s.Parse(tok)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.p {
				t.Errorf("payload = %+v, want %+v", got, tt.p)
			}
			if gotKey != key {
				t.Errorf("key = %s, want %s", gotKey, key)
			}
		})
	}
}

func TestMintRejectsInvalid(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	for _, tt := range []struct {
		name string
		p    Payload
	}{
		{"negative uid", Payload{UID: -1}},
		{"hashed_fxa_uid alone", Payload{HashedFxAUID: "abc"}},
		{"bad fxa_uid", Payload{FxAUID: "a b"}},
		{"long hashed_device_id", Payload{HashedDeviceID: strings.Repeat("a", 65)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Mint(tt.p); !errors.Is(err, ErrInvalid) {
				t.Errorf("Mint: err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	for _, tt := range []struct {
		name    string
		payload string
		want    Payload
	}{
		{"float expires is truncated", `{"uid":1,"node":"n","expires":1700000300.9,"salt":"a"}`,
			Payload{UID: 1, Node: "n", Expires: 1700000300, Salt: "a"}},
		{"exponent expires", `{"uid":1,"node":"n","expires":1.7e9,"salt":"a"}`,
			Payload{UID: 1, Node: "n", Expires: 1700000000, Salt: "a"}},
		{"unknown keys ignored", `{"uid":2,"node":"n","expires":1,"salt":"a","tokenserver_origin":"rust","x":[1,{}]}`,
			Payload{UID: 2, Node: "n", Expires: 1, Salt: "a"}},
		{"null optional fields", `{"uid":2,"node":"n","expires":1,"salt":"a","fxa_uid":null,"hashed_device_id":null}`,
			Payload{UID: 2, Node: "n", Expires: 1, Salt: "a"}},
		{"whitespace", "{ \"uid\" : 2 ,\n\"node\":\"n\", \"expires\":1, \"salt\":\"\" }",
			Payload{UID: 2, Node: "n", Expires: 1, Salt: ""}},
		{"fxa ids without hashed_fxa_uid", `{"uid":2,"node":"n","expires":1,"salt":"a","fxa_uid":"u","hashed_device_id":"d"}`,
			Payload{UID: 2, Node: "n", Expires: 1, Salt: "a", FxAUID: "u", HashedDeviceID: "d"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := s.Parse(sign(&s.list[0], []byte(tt.payload)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Errorf("payload = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	signed := func(payload string) string { return sign(&s.list[0], []byte(payload)) }
	raw, err := base64.URLEncoding.DecodeString(vecToken)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.URLEncoding.EncodeToString(b)
	}
	urlSafe := signed(`{"uid":1,"node":"n?>>","expires":1,"salt":"?>>~~"}`)
	if !strings.ContainsAny(urlSafe, "-_") {
		t.Fatalf("test token %s has no URL-safe characters to swap", urlSafe)
	}
	for _, tt := range []struct {
		name string
		tok  string
	}{
		{"empty", ""},
		{"short token", base64.URLEncoding.EncodeToString(make([]byte, 32))},
		{"only a mac", base64.URLEncoding.EncodeToString(raw[len(raw)-32:])},
		{"bad base64", "!" + vecToken[1:]},
		{"unpadded base64", strings.TrimRight(vecToken, "=")},
		{"standard alphabet", strings.NewReplacer("_", "/", "-", "+").Replace(urlSafe)},
		{"trailing garbage", vecToken + "AAAA"},
		{"tampered payload", flip(10)},
		{"tampered mac", flip(len(raw) - 1)},
		{"wrong secret", sign(&MustSecrets(t, "other").list[0], []byte(vecPayload))},
		{"not json", signed("not json")},
		{"json array", signed(`[1,2]`)},
		{"json null", signed(`null`)},
		{"truncated json", signed(`{"uid":1,"node":"n"`)},
		{"missing uid", signed(`{"node":"n","expires":1,"salt":"a"}`)},
		{"null uid", signed(`{"uid":null,"node":"n","expires":1,"salt":"a"}`)},
		{"float uid", signed(`{"uid":1.0,"node":"n","expires":1,"salt":"a"}`)},
		{"string uid", signed(`{"uid":"1","node":"n","expires":1,"salt":"a"}`)},
		{"negative uid", signed(`{"uid":-1,"node":"n","expires":1,"salt":"a"}`)},
		{"huge uid", signed(`{"uid":99999999999999999999,"node":"n","expires":1,"salt":"a"}`)},
		{"missing node", signed(`{"uid":1,"expires":1,"salt":"a"}`)},
		{"numeric node", signed(`{"uid":1,"node":5,"expires":1,"salt":"a"}`)},
		{"missing expires", signed(`{"uid":1,"node":"n","salt":"a"}`)},
		{"string expires", signed(`{"uid":1,"node":"n","expires":"1","salt":"a"}`)},
		{"huge expires", signed(`{"uid":1,"node":"n","expires":1e300,"salt":"a"}`)},
		{"missing salt", signed(`{"uid":1,"node":"n","expires":1}`)},
		{"numeric salt", signed(`{"uid":1,"node":"n","expires":1,"salt":1}`)},
		{"hashed_fxa_uid without fxa_uid", signed(`{"uid":1,"node":"n","expires":1,"salt":"a","hashed_fxa_uid":"h","fxa_kid":"k"}`)},
		{"hashed_fxa_uid without fxa_kid", signed(`{"uid":1,"node":"n","expires":1,"salt":"a","hashed_fxa_uid":"h","fxa_uid":"u"}`)},
		{"bad fxa_uid characters", signed(`{"uid":1,"node":"n","expires":1,"salt":"a","hashed_fxa_uid":"h","fxa_uid":"u.v","fxa_kid":"k"}`)},
		{"bad fxa_kid characters", signed(`{"uid":1,"node":"n","expires":1,"salt":"a","hashed_fxa_uid":"h","fxa_uid":"u","fxa_kid":"k/"}`)},
		{"empty fxa_kid", signed(`{"uid":1,"node":"n","expires":1,"salt":"a","hashed_fxa_uid":"h","fxa_uid":"u","fxa_kid":""}`)},
		{"long hashed_fxa_uid", signed(`{"uid":1,"node":"n","expires":1,"salt":"a","hashed_fxa_uid":"` + strings.Repeat("h", 65) + `","fxa_uid":"u","fxa_kid":"k"}`)},
		{"empty hashed_device_id", signed(`{"uid":1,"node":"n","expires":1,"salt":"a","hashed_device_id":""}`)},
		{"non-ascii hashed_device_id", signed(`{"uid":1,"node":"n","expires":1,"salt":"a","hashed_device_id":"é"}`)},
		{"numeric fxa_uid", signed(`{"uid":1,"node":"n","expires":1,"salt":"a","fxa_uid":1}`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, key, err := s.Parse(tt.tok)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse: err = %v, want ErrInvalid", err)
			}
			if p != (Payload{}) || key != "" {
				t.Errorf("Parse returned %+v, %q alongside an error", p, key)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"a", true},
		{"AZaz09=-_", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"a b", false},
		{"a+", false},
		{"a/", false},
		{"a.", false},
		{"a\n", false},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := validID(tt.in); got != tt.want {
				t.Errorf("validID(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		vecToken, vecPayload, "", "=", "====", "eyJ9", `{"uid":1,"node":"n","expires":1.5,"salt":"a"}`,
		`{"uid":1,"node":"n","expires":-1e400,"salt":"a","hashed_fxa_uid":"h"}`, `{"uid":[],"node":{}}`,
	} {
		f.Add(seed)
	}
	s, err := NewSecrets([]string{"old", vecSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// As a token: nearly always a bad signature, but must not panic.
		if p, _, err := s.Parse(in); err == nil && p.UID < 0 {
			t.Errorf("Parse(%q) accepted negative uid", in)
		}
		// As a payload signed by a trusted secret, to reach the JSON checks.
		p, key, err := s.Parse(sign(&s.list[1], []byte(in)))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if p.UID < 0 || key == "" {
			t.Errorf("Parse(signed %q) = %+v, %q", in, p, key)
		}
		if p.HashedFxAUID != "" && (p.FxAUID == "" || p.FxAKID == "") {
			t.Errorf("Parse(signed %q) accepted hashed_fxa_uid without fxa_uid/fxa_kid", in)
		}
		// Whatever parses re-mints and parses back to the same payload.
		tok, _, err := s.Mint(p)
		if err != nil {
			t.Fatalf("Mint(%+v): %v", p, err)
		}
		got, _, err := s.Parse(tok)
		if p.Salt == "" { // Mint fills an empty salt
			p.Salt = got.Salt
		}
		if err != nil || got != p {
			t.Errorf("round trip of %+v = %+v, %v", p, got, err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	s := MustSecrets(b, "older", vecSecret)
	for b.Loop() {
		if _, _, err := s.Parse(vecToken); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMint(b *testing.B) {
	s := MustSecrets(b, vecSecret)
	p := vecPayloadStruct
	p.Salt = ""
	for b.Loop() {
		if _, _, err := s.Mint(p); err != nil {
			b.Fatal(err)
		}
	}
}
