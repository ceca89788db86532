package hawk

import (
	"errors"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want Auth
	}{
		{"firefox", `Hawk id="abc-_=", ts="1700000000", nonce="AAECAwQFBgc=", mac="OTsX+/=="`,
			Auth{ID: "abc-_=", TS: 1700000000, Nonce: "AAECAwQFBgc=", MAC: "OTsX+/=="}},
		{"bare tokens", `Hawk id=abc, ts=12, nonce=n-1, mac=m_2`,
			Auth{ID: "abc", TS: 12, Nonce: "n-1", MAC: "m_2"}},
		{"no spaces after commas", `Hawk id="a",ts="1",nonce="n",mac="m"`,
			Auth{ID: "a", TS: 1, Nonce: "n", MAC: "m"}},
		{"extra whitespace", " Hawk\t  id = \"a\" ,\tts=\"1\"  ,nonce=\"n\", mac=\"m\"  ",
			Auth{ID: "a", TS: 1, Nonce: "n", MAC: "m"}},
		{"hash and ext", `Hawk id="a", ts="1", nonce="n", hash="h+/=", ext="some data", mac="m"`,
			Auth{ID: "a", TS: 1, Nonce: "n", MAC: "m", Hash: "h+/=", Ext: "some data"}},
		{"escaped quote and backslash", `Hawk id="a", ts="1", nonce="n", ext="say \"hi\" \\o/", mac="m"`,
			Auth{ID: "a", TS: 1, Nonce: "n", MAC: "m", Ext: `say "hi" \o/`}},
		{"comma inside quotes", `Hawk id="a", ts="1", nonce="n", ext="x, y=\"z\", w", mac="m"`,
			Auth{ID: "a", TS: 1, Nonce: "n", MAC: "m", Ext: `x, y="z", w`}},
		{"unknown attribute ignored", `Hawk id="a", ts="1", app="x", dlg=y, nonce="n", mac="m"`,
			Auth{ID: "a", TS: 1, Nonce: "n", MAC: "m"}},
		{"empty optional values", `Hawk id="a", ts="1", nonce="n", hash="", ext="", mac="m"`,
			Auth{ID: "a", TS: 1, Nonce: "n", MAC: "m"}},
		{"leading zeros in ts", `Hawk id="a", ts="007", nonce="n", mac="m"`,
			Auth{ID: "a", TS: 7, Nonce: "n", MAC: "m"}},
		{"ts zero", `Hawk id="a", ts="0", nonce="n", mac="m"`,
			Auth{ID: "a", TS: 0, Nonce: "n", MAC: "m"}},
		{"utf-8 in quotes", `Hawk id="a", ts="1", nonce="n", ext="é", mac="m"`,
			Auth{ID: "a", TS: 1, Nonce: "n", MAC: "m", Ext: "é"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHeader(tt.in)
			if err != nil {
				t.Fatalf("ParseHeader(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseHeader(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseHeaderErrors(t *testing.T) {
	const valid = `id="a", ts="1", nonce="n", mac="m"`
	for _, tt := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrNotHawk},
		{"blank", "   ", ErrNotHawk},
		{"bearer", "Bearer abc", ErrNotHawk},
		{"lower-case scheme", "hawk " + valid, ErrNotHawk},
		{"scheme prefix", "Hawkish " + valid, ErrNotHawk},
		{"no space after scheme", "Hawkid=a", ErrNotHawk},
		{"scheme only", "Hawk", ErrMalformed},
		{"scheme and space", "Hawk ", ErrMalformed},
		{"missing id", `Hawk ts="1", nonce="n", mac="m"`, ErrMalformed},
		{"empty id", `Hawk id="", ts="1", nonce="n", mac="m"`, ErrMalformed},
		{"missing ts", `Hawk id="a", nonce="n", mac="m"`, ErrMalformed},
		{"missing nonce", `Hawk id="a", ts="1", mac="m"`, ErrMalformed},
		{"empty nonce", `Hawk id="a", ts="1", nonce="", mac="m"`, ErrMalformed},
		{"missing mac", `Hawk id="a", ts="1", nonce="n"`, ErrMalformed},
		{"empty mac", `Hawk id="a", ts="1", nonce="n", mac=""`, ErrMalformed},
		{"empty ts", `Hawk id="a", ts="", nonce="n", mac="m"`, ErrMalformed},
		{"float ts", `Hawk id="a", ts="1.5", nonce="n", mac="m"`, ErrMalformed},
		{"negative ts", `Hawk id="a", ts="-1", nonce="n", mac="m"`, ErrMalformed},
		{"plus ts", `Hawk id="a", ts="+1", nonce="n", mac="m"`, ErrMalformed},
		{"word ts", `Hawk id="a", ts="now", nonce="n", mac="m"`, ErrMalformed},
		{"overflowing ts", `Hawk id="a", ts="99999999999999999999", nonce="n", mac="m"`, ErrMalformed},
		{"duplicate id", `Hawk id="a", id="b", ts="1", nonce="n", mac="m"`, ErrMalformed},
		{"duplicate mac", `Hawk id="a", ts="1", nonce="n", mac="m", mac="m"`, ErrMalformed},
		{"duplicate empty ext", `Hawk id="a", ts="1", nonce="n", ext="", ext="x", mac="m"`, ErrMalformed},
		{"unterminated quote", `Hawk id="a, ts="1", nonce="n", mac="m`, ErrMalformed},
		{"unescaped inner quote", `Hawk id="a"b", ts="1", nonce="n", mac="m"`, ErrMalformed},
		{"backslash at end", `Hawk id="a", ts="1", nonce="n", mac="m\`, ErrMalformed},
		{"missing value", `Hawk id=, ts="1", nonce="n", mac="m"`, ErrMalformed},
		{"missing equals", `Hawk id "a", ts="1", nonce="n", mac="m"`, ErrMalformed},
		{"bare value with bad characters", `Hawk id=a+b, ts="1", nonce="n", mac="m"`, ErrMalformed},
		{"bare value with space", `Hawk id=a b, ts="1", nonce="n", mac="m"`, ErrMalformed},
		{"trailing comma", `Hawk ` + valid + `,`, ErrMalformed},
		{"leading comma", `Hawk ,` + valid, ErrMalformed},
		{"double comma", `Hawk id="a",, ts="1", nonce="n", mac="m"`, ErrMalformed},
		{"missing comma", `Hawk id="a" ts="1", nonce="n", mac="m"`, ErrMalformed},
		{"bad attribute name", `Hawk id="a", t.s="1", nonce="n", mac="m"`, ErrMalformed},
		{"too many attributes", `Hawk ` + valid + strings.Repeat(`, x="y"`, 20), ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHeader(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseHeader(%q) = %+v, %v; want error %v", tt.in, got, err, tt.want)
			}
			if got != (Auth{}) {
				t.Errorf("ParseHeader(%q) returned %+v alongside an error", tt.in, got)
			}
		})
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		a    Auth
		want string
	}{
		{"firefox", Auth{ID: "tok=", TS: 1700000000, Nonce: "AAECAwQFBgc=", MAC: "bWFj"},
			`Hawk id="tok=", ts="1700000000", nonce="AAECAwQFBgc=", mac="bWFj"`},
		{"hash, ext and escapes", Auth{ID: "a", TS: 1, Nonce: "n", MAC: "m", Hash: "h", Ext: `"x\y", z`},
			`Hawk id="a", ts="1", nonce="n", hash="h", ext="\"x\\y\", z", mac="m"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.a.Header()
			if h != tt.want {
				t.Errorf("Header() = %s, want %s", h, tt.want)
			}
			got, err := ParseHeader(h)
			if err != nil {
				t.Fatalf("ParseHeader(%q): %v", h, err)
			}
			if got != tt.a {
				t.Errorf("ParseHeader(Header()) = %+v, want %+v", got, tt.a)
			}
		})
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, seed := range []string{
		"", "Hawk", "Hawk ", `Hawk id="a", ts="1", nonce="n", mac="m"`,
		`Hawk id=a,ts=1,nonce=n,mac=m,hash=h,ext=e`, `Hawk id="a\"b\\", ts="1", nonce="n", ext="x, y", mac="m"`,
		`Hawk id="a`, `Hawk id="a\`, `Hawk id="a"b"`, "Hawk\tid=a,,", `Hawk id=a, id=b`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := ParseHeader(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotHawk) {
				t.Errorf("ParseHeader(%q): unexpected error %v", in, err)
			}
			return
		}
		if a.ID == "" || a.Nonce == "" || a.MAC == "" || a.TS < 0 {
			t.Errorf("ParseHeader(%q) = %+v, missing required attributes", in, a)
		}
		got, err := ParseHeader(a.Header())
		if err != nil || got != a {
			t.Errorf("round trip of %+v via %q = %+v, %v", a, a.Header(), got, err)
		}
	})
}

func BenchmarkParseHeader(b *testing.B) {
	h := Auth{ID: vecToken, TS: 1700000000, Nonce: "AAECAwQFBgc=", MAC: vecMAC}.Header()
	for b.Loop() {
		if _, err := ParseHeader(h); err != nil {
			b.Fatal(err)
		}
	}
}
