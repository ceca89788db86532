package fcgiclient

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"strings"
	"testing"
)

// serve runs Go's own FastCGI server, the reference this client must talk to.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go fcgi.Serve(l, h)
	return l.Addr().String()
}

func TestDo(t *testing.T) {
	long := strings.Repeat("v", 300) // needs a 4-byte length
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Header()["X-Two"] = []string{"a", "b"}
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Long")+" "+fcgi.ProcessEnv(r)["SERVER_PORT"]+" ")
		w.Write(b)
	}))
	body := bytes.Repeat([]byte("0123456789"), 20000) // several STDIN records
	status, h, got, err := Do("tcp", addr, map[string]string{
		"REQUEST_METHOD":  "PUT",
		"SERVER_PROTOCOL": "HTTP/1.1",
		"REQUEST_URI":     "/a%2Cb?x=%2C",
		"HTTP_HOST":       "example.com",
		"HTTP_X_LONG":     long,
		"SERVER_PORT":     "8080",
		"CONTENT_LENGTH":  "200000",
	}, body)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusTeapot {
		t.Errorf("status %d, want 418", status)
	}
	if got := h["X-Two"]; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("X-Two = %q", got)
	}
	if h.Get("Status") != "" {
		t.Error("Status header left in the parsed headers")
	}
	want := "PUT /a%2Cb?x=%2C " + long + " 8080 " + string(body)
	if string(got) != want {
		t.Errorf("body = %.80q…, want %.80q…", got, want)
	}
}

func TestKeepConn(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	c, err := Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []string{"/one", "/two"} {
		resp, err := c.Do(&Request{Params: map[string]string{
			"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_URI": p,
		}, KeepConn: true})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 || string(resp.Body) != p {
			t.Errorf("got %d %q, want 200 %q", resp.Status, resp.Body, p)
		}
	}
}

func TestEncodeParams(t *testing.T) {
	got := EncodeParams(map[string]string{"A": "b", "K": strings.Repeat("x", 128)})
	want := append([]byte{1, 1, 'A', 'b', 1, 0x80, 0, 0, 128, 'K'}, bytes.Repeat([]byte("x"), 128)...)
	if !bytes.Equal(got, want) {
		t.Errorf("EncodeParams = %v, want %v", got[:12], want[:12])
	}
}

func TestParseCGI(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		status     int
		body       string
		wantErr    bool
		headerName string
	}{
		{"status and body", "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope", 404, "nope", false, "Content-Type"},
		{"no status", "Content-Type: text/plain\r\n\r\nok", 200, "ok", false, "Content-Type"},
		{"bare LF", "Status: 201 Created\nX-A: 1\n\n", 201, "", false, "X-A"},
		{"bad status", "Status: abc\r\n\r\n", 0, "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseCGI([]byte(tc.in))
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status || string(r.Body) != tc.body || r.Header.Get(tc.headerName) == "" {
				t.Errorf("got %d %q %v", r.Status, r.Body, r.Header)
			}
		})
	}
}
