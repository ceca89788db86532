package marionette

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// command is one command the fake server received.
type command struct {
	ID     int64
	Name   string
	Params map[string]any
}

// handler answers a command: a result, or a Marionette error.
type handler func(cmd command, conn net.Conn) (result any, err *Error)

// fakeFirefox is a Marionette server that greets with hello and answers
// each command with h.
type fakeFirefox struct {
	addr string
	mu   sync.Mutex
	got  []command
}

func startFake(t *testing.T, hello string, h handler) *fakeFirefox {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFirefox{addr: l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				f.serve(conn, hello, h)
			}()
		}
	}()
	return f
}

func (f *fakeFirefox) serve(conn net.Conn, hello string, h handler) {
	if writePacket(conn, []byte(hello)) != nil {
		return
	}
	r := bufio.NewReader(conn)
	for {
		raw, err := readPacket(r)
		if err != nil {
			return
		}
		var msg []json.RawMessage
		if json.Unmarshal(raw, &msg) != nil || len(msg) != 4 {
			return
		}
		var cmd command
		json.Unmarshal(msg[1], &cmd.ID)
		json.Unmarshal(msg[2], &cmd.Name)
		json.Unmarshal(msg[3], &cmd.Params)
		f.mu.Lock()
		f.got = append(f.got, cmd)
		f.mu.Unlock()
		result, cerr := h(cmd, conn)
		if result == nil && cerr == nil {
			continue // the handler answered itself, or never will
		}
		var reply []any
		if cerr != nil {
			reply = []any{1, cmd.ID, cerr, nil}
		} else {
			reply = []any{1, cmd.ID, nil, result}
		}
		b, _ := json.Marshal(reply)
		if writePacket(conn, b) != nil {
			return
		}
	}
}

func (f *fakeFirefox) commands() []command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]command(nil), f.got...)
}

const goodHello = `{"applicationType":"gecko","marionetteProtocol":3}`

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func MustDial(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := Dial(ctxT(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSession(t *testing.T) {
	f := startFake(t, goodHello, func(cmd command, _ net.Conn) (any, *Error) {
		switch cmd.Name {
		case "WebDriver:NewSession":
			return map[string]any{"sessionId": "abc", "capabilities": map[string]any{"browserName": "firefox"}}, nil
		case "Marionette:SetContext", "WebDriver:SetTimeouts":
			return map[string]any{"value": nil}, nil
		case "WebDriver:ExecuteScript":
			args, _ := cmd.Params["args"].([]any)
			if len(args) != 2 {
				return map[string]any{"value": nil}, nil
			}
			return map[string]any{"value": map[string]any{"sum": args[0].(float64) + args[1].(float64), "script": cmd.Params["script"]}}, nil
		case "Marionette:Quit":
			return map[string]any{"cause": "shutdown", "forceQuit": true}, nil
		}
		return nil, &Error{Code: "unknown command", Message: cmd.Name}
	})
	ctx := ctxT(t)
	c := MustDial(t, f.addr)
	if got, want := c.Hello, (Hello{ApplicationType: "gecko", MarionetteProtocol: 3}); got != want {
		t.Errorf("hello = %+v, want %+v", got, want)
	}
	s, err := c.NewSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "abc" || s.Capabilities["browserName"] != "firefox" {
		t.Errorf("session = %+v", s)
	}
	if err := c.SetContext(ctx, ContextChrome); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTimeouts(ctx, Timeouts{Script: 120000}); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Sum    float64
		Script string
	}
	if err := c.ExecuteScript(ctx, "return arguments[0] + arguments[1];", []any{2, 3}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Sum != 5 || out.Script != "return arguments[0] + arguments[1];" {
		t.Errorf("result = %+v", out)
	}
	if err := c.ExecuteScript(ctx, "return 1;", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.ExecuteScript(ctx, "return 1;", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Quit: err = %v, want ErrClosed", err)
	}

	cmds := f.commands()
	var names []string
	for i, cmd := range cmds {
		names = append(names, cmd.Name)
		if cmd.ID != int64(i+1) {
			t.Errorf("command %d has id %d", i, cmd.ID)
		}
	}
	wantNames := []string{"WebDriver:NewSession", "Marionette:SetContext", "WebDriver:SetTimeouts",
		"WebDriver:ExecuteScript", "WebDriver:ExecuteScript", "Marionette:Quit"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("commands = %v, want %v", names, wantNames)
	}
	wantParams := []map[string]any{
		{"capabilities": map[string]any{}},
		{"value": "chrome"},
		{"script": float64(120000)},
		{"script": "return arguments[0] + arguments[1];", "args": []any{float64(2), float64(3)}},
		{"script": "return 1;", "args": []any{}},
		{"flags": []any{"eForceQuit"}},
	}
	for i, want := range wantParams {
		if i < len(cmds) && !reflect.DeepEqual(cmds[i].Params, want) {
			t.Errorf("%s params = %#v, want %#v", cmds[i].Name, cmds[i].Params, want)
		}
	}
}

func TestScriptError(t *testing.T) {
	f := startFake(t, goodHello, func(cmd command, _ net.Conn) (any, *Error) {
		return nil, &Error{Code: "javascript error", Message: "ReferenceError: x is not defined", Stacktrace: "@script:1"}
	})
	c := MustDial(t, f.addr)
	err := c.ExecuteScript(ctxT(t), "return x;", nil, nil)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if e.Code != "javascript error" || e.Command != "WebDriver:ExecuteScript" || e.Stacktrace != "@script:1" {
		t.Errorf("error = %+v", e)
	}
	if !strings.Contains(err.Error(), "ReferenceError") {
		t.Errorf("message %q lacks Firefox's message", err)
	}
	// A Firefox error does not break the connection.
	if err := c.ExecuteScript(ctxT(t), "return 1;", nil, nil); !errors.As(err, &e) {
		t.Errorf("second command: %v", err)
	}
}

// Packets that are not the reply to the running command (another id, or a
// command from the server) are skipped; packets may arrive in pieces.
func TestSkipsOtherPackets(t *testing.T) {
	f := startFake(t, goodHello, func(cmd command, conn net.Conn) (any, *Error) {
		writePacket(conn, []byte(`[1,999,null,{"value":"stale"}]`))
		writePacket(conn, []byte(`[0,5,"Something",{}]`))
		b, _ := json.Marshal([]any{1, cmd.ID, nil, map[string]any{"value": strings.Repeat("x", 100000)}})
		p := append([]byte(itoa(len(b))+":"), b...)
		for len(p) > 0 {
			n := min(len(p), 777)
			conn.Write(p[:n])
			p = p[n:]
		}
		return nil, nil
	})
	c := MustDial(t, f.addr)
	var s string
	if err := c.ExecuteScript(ctxT(t), "", nil, &s); err != nil {
		t.Fatal(err)
	}
	if len(s) != 100000 {
		t.Errorf("got %d bytes, want 100000", len(s))
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestCancelBreaksClient(t *testing.T) {
	f := startFake(t, goodHello, func(cmd command, _ net.Conn) (any, *Error) {
		return nil, nil // never answers
	})
	c := MustDial(t, f.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.ExecuteScript(ctx, "return 1;", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to give up", d)
	}
	// The reply might still come: the client must not be reused.
	if err2 := c.ExecuteScript(ctxT(t), "return 1;", nil, nil); err2 == nil {
		t.Error("a broken client ran another command")
	}

	// Cancellation (not only deadlines) interrupts a command.
	c2 := MustDial(t, f.addr)
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	if err := c2.ExecuteScript(ctx2, "return 1;", nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestDialErrors(t *testing.T) {
	for _, tc := range []struct {
		name, hello, want string
	}{
		{"protocol 2", `{"applicationType":"gecko","marionetteProtocol":2}`, "protocol 2"},
		{"not JSON", `hello`, "bad greeting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, tc.hello, func(command, net.Conn) (any, *Error) { return nil, nil })
			_, err := Dial(ctxT(t), f.addr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestReadPacket(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: `2:{}`, want: `{}`},
		{in: `0:`, want: ``},
		{in: `x:{}`, err: "bad packet length"},
		{in: `-1:{}`, err: "bad packet length"},
		{in: `99999999999:{}`, err: "exceeds"},
		{in: `10:{}`, err: "unexpected EOF"},
		{in: strings.Repeat("1", 5000), err: "too long"},
	} {
		got, err := readPacket(bufio.NewReader(strings.NewReader(tc.in)))
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("readPacket(%.20q) error = %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || string(got) != tc.want):
			t.Errorf("readPacket(%.20q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDialRetry(t *testing.T) {
	// Reserve a port, free it, and open the fake there a little later, as
	// Firefox does with its Marionette port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ready := make(chan struct{})
	go func() {
		defer close(ready)
		time.Sleep(300 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return // port taken meanwhile; the dial below then fails
		}
		defer l.Close()
		conn, err := l.Accept()
		if err != nil {
			return
		}
		writePacket(conn, []byte(goodHello))
		time.Sleep(100 * time.Millisecond)
		conn.Close()
	}()
	c, err := DialRetry(ctxT(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-ready

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := DialRetry(ctx, addr); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("nothing listening: err = %v, want a deadline error", err)
	}
}
