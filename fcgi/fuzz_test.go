package fcgi

// Fuzz targets for the FastCGI front-end. The record reader is Go's
// net/http/fcgi; ours is the recordScanner that follows records for the
// graceful drain, and the adapter between net/http/fcgi and the core.
// FuzzServeConn feeds whole connections of arbitrary bytes to the real
// server and core.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/handlers"
	"syncserver/internal/fcgiclient"
	"syncserver/internal/testdb"
	"syncserver/token"
)

func FuzzRecordScanner(f *testing.F) {
	f.Add(fcgiclient.Encode(map[string]string{"REQUEST_METHOD": "GET"}, []byte("body"), 3), []byte{1, 7, 8})
	f.Add(fcgiclient.Encode(nil, bytes.Repeat([]byte("x"), 300), 100), []byte{63})
	f.Add(append(record(typeBeginRequest, 1, make([]byte, 8)), 1, 5, 0, 1, 0, 3), []byte{2})
	f.Add([]byte{1, 5, 0, 1, 0xff, 0xff, 0xff, 0}, []byte{0})
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		// What the stream holds, read in one piece.
		var want []event
		pos := 0
		for pos+recordHeaderLen <= len(stream) {
			h := stream[pos : pos+recordHeaderLen]
			n := int(binary.BigEndian.Uint16(h[4:6]))
			want = append(want, event{h[1], binary.BigEndian.Uint16(h[2:4]), n})
			pos += recordHeaderLen + n + int(h[6])
		}
		// The same stream cut where cuts says.
		var s recordScanner
		var got []event
		for i, p := 0, stream; len(p) > 0; i++ {
			n := 1
			if len(cuts) > 0 {
				n = int(cuts[i%len(cuts)]%64) + 1
			}
			n = min(n, len(p))
			s.scan(p[:n], func(typ uint8, id uint16, n int) { got = append(got, event{typ, id, n}) })
			p = p[n:]
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("records %v, want %v", got, want)
		}
		if mid := pos != len(stream); s.midRecord() != mid {
			t.Fatalf("midRecord() = %v after %d of %d bytes", s.midRecord(), pos, len(stream))
		}
	})
}

// errorLog remembers error-level log lines: a recovered panic, or a
// request the core failed with a 5xx.
type errorLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *errorLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.lines = append(l.lines, string(p))
	l.mu.Unlock()
	return len(p), nil
}

func (l *errorLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// fuzzRequests are whole requests as nginx would send them, for seeds.
func fuzzRequests() [][]byte {
	p := func(kv ...string) map[string]string {
		m := map[string]string{"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	hawk := `Hawk id="dGVzdA==", ts="1700000000", nonce="Ny4xMjM=", mac="bWFj"`
	return [][]byte{
		fcgiclient.Encode(p("REQUEST_URI", "/__heartbeat__"), nil, 0),
		fcgiclient.Encode(p("REQUEST_URI", "/__lbheartbeat__?x", "HTTPS", "on"), nil, 0),
		fcgiclient.Encode(p("REQUEST_URI", "/storage/1.5/1/info/collections", "HTTP_AUTHORIZATION", hawk), nil, 0),
		fcgiclient.Encode(p("REQUEST_METHOD", "POST", "REQUEST_URI", "/storage/1.5/1/storage/c?batch=true",
			"CONTENT_TYPE", "application/json", "CONTENT_LENGTH", "14", "HTTP_AUTHORIZATION", hawk), []byte(`[{"id":"a"}] `), 5),
		fcgiclient.Encode(p("REQUEST_METHOD", "PUT", "REQUEST_URI", "/1.5/1/storage/c/a", "CONTENT_LENGTH", "99"), []byte("{}"), 0),
		fcgiclient.Encode(p("REQUEST_URI", "/token/1.0/sync/1.5", "HTTP_AUTHORIZATION", "Bearer x", "HTTP_X_KEYID", "1-qqo"), nil, 0),
		fcgiclient.Encode(p("REQUEST_METHOD", "OPTIONS", "REQUEST_URI", "/1.5/1", "HTTP_ORIGIN", "https://a",
			"HTTP_ACCESS_CONTROL_REQUEST_METHOD", "GET"), nil, 0),
		fcgiclient.Encode(p("SCRIPT_NAME", "/ff-sync", "PATH_INFO", "/a b", "QUERY_STRING", "%zz"), nil, 0),
		fcgiclient.Encode(p("REQUEST_URI", "::", "CONTENT_LENGTH", "-1"), []byte("x"), 1),
		fcgiclient.Encode(map[string]string{}, nil, 0),
		// Two requests on one kept connection, the second aborted.
		append(append(record(typeBeginRequest, 1, []byte{0, 1, 1, 0, 0, 0, 0, 0}), record(4, 1, nil)...),
			append(record(typeStdin, 1, nil), append(record(typeBeginRequest, 2, []byte{0, 1, 1, 0, 0, 0, 0, 0}),
				record(typeAbortRequest, 2, nil)...)...)...),
		// GET_VALUES, an unknown type, a filter role, a repeated id.
		append(append(record(9, 0, nil), record(42, 0, nil)...), record(typeBeginRequest, 3, []byte{0, 3, 0, 0, 0, 0, 0, 0})...),
		append(record(typeBeginRequest, 1, []byte{0, 1, 0, 0, 0, 0, 0, 0}), record(typeBeginRequest, 1, []byte{0, 1, 0, 0, 0, 0, 0, 0})...),
		// Parameters whose lengths claim more than the stream holds.
		append(record(typeBeginRequest, 1, []byte{0, 1, 0, 0, 0, 0, 0, 0}), append(record(4, 1, []byte{0xff, 0xff, 0xff, 0xff, 1, 'a'}),
			append(record(4, 1, nil), record(typeStdin, 1, nil)...)...)...),
		{1, 1, 0, 1, 0, 8}, {},
	}
}

// FuzzServeConn sends arbitrary bytes on a connection to the FastCGI server
// in front of the real core, then ends its half of the connection. The
// server must close the connection within a few seconds, nothing may be
// logged as an error (a recovered panic, a 5xx from the core), and the next
// well-formed request is answered.
func FuzzServeConn(f *testing.F) {
	for _, s := range fuzzRequests() {
		f.Add(s)
	}
	logs := &errorLog{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))
	secrets, err := token.NewSecrets([]string{"fuzz secret"})
	if err != nil {
		f.Fatal(err)
	}
	core, err := handlers.New(handlers.Options{
		PublicURL: handlers.PublicURL{Scheme: "http", Host: "localhost", Port: 80},
		Store:     testdb.Open(f, "sqlite", testdb.Options{}),
		Logger:    logger,
		Storage:   handlers.StorageOptions{Tokens: token.NewCache(secrets, 100)},
	})
	if err != nil {
		f.Fatal(err)
	}
	opts := Options{Logger: logger, MaxRequestBytes: 4096}
	l, err := Listen("127.0.0.1:0", opts)
	if err != nil {
		f.Fatal(err)
	}
	srv := NewServer(core, opts)
	go srv.Serve(l)
	f.Cleanup(func() { srv.Close() })
	addr := l.Addr().String()

	f.Fuzz(func(t *testing.T, stream []byte) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		wrote := make(chan error, 1)
		go func() {
			_, err := nc.Write(stream)
			if err == nil {
				err = nc.(*net.TCPConn).CloseWrite()
			}
			wrote <- err
		}()
		out, err := io.ReadAll(nc)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open 5 s after the input ended (%d bytes answered)", len(out))
		}
		<-wrote // a write cut short by the server closing first is fine
		if p := logs.take(); len(p) > 0 {
			t.Fatalf("error logged while serving %q: %s", stream, strings.Join(p, ""))
		}
		checkHealth(t, addr)
	})
}

// checkHealth fails unless a well-formed request is answered 200.
func checkHealth(t *testing.T, addr string) {
	t.Helper()
	c, err := fcgiclient.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := c.Do(&fcgiclient.Request{Params: map[string]string{
		"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_URI": "/__lbheartbeat__", "HTTP_HOST": "localhost"}})
	if err != nil || resp.Status != 200 {
		t.Fatalf("server unhealthy after the input: %+v, %v", resp, err)
	}
}
