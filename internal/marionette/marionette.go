// Package marionette is a small client for Firefox's Marionette remote
// protocol (version 3), enough to drive a headless Firefox from a Go test:
// start a session, switch to the chrome context, run privileged JavaScript
// and quit.
//
// The wire format: every packet is "<decimal byte length>:<JSON>". On
// connect Firefox sends {"applicationType":"gecko","marionetteProtocol":3};
// a command is [0, id, "Name", {params}] and its reply is
// [1, id, error-or-null, result]. Commands run one at a time on a Client.
package marionette

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// maxPacket bounds a packet we accept, so a corrupt length cannot make us
// allocate without limit. Script results in tests are far smaller.
const maxPacket = 64 << 20

// ErrClosed is returned by commands on a Client whose connection was closed
// or broken (a command interrupted half-way leaves the stream unusable).
var ErrClosed = errors.New("marionette: connection closed")

// Error is an error Firefox reported for a command: a WebDriver error code
// ("javascript error", "script timeout", "unsupported operation"…), its
// message and the JavaScript stack.
type Error struct {
	Command    string `json:"-"`
	Code       string `json:"error"`
	Message    string `json:"message"`
	Stacktrace string `json:"stacktrace"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("marionette: %s: %s: %s", e.Command, e.Code, e.Message)
}

// Hello is the greeting Firefox sends when a client connects.
type Hello struct {
	ApplicationType    string `json:"applicationType"`
	MarionetteProtocol int    `json:"marionetteProtocol"`
}

// Client is a connection to one Firefox. Its methods are safe for concurrent
// use; commands are serialised.
type Client struct {
	Hello Hello

	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	nextID int64
	broken error
}

// Dial connects to the Marionette server at addr (host:port) and reads its
// greeting.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: conn, r: bufio.NewReader(conn)}
	stop := c.watch(ctx)
	raw, err := readPacket(c.r)
	stop()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("marionette: reading the greeting: %w", ctxErr(ctx, err))
	}
	if err := json.Unmarshal(raw, &c.Hello); err != nil {
		conn.Close()
		return nil, fmt.Errorf("marionette: bad greeting %q: %w", raw, err)
	}
	if c.Hello.MarionetteProtocol != 3 {
		conn.Close()
		return nil, fmt.Errorf("marionette: protocol %d is not supported (want 3)", c.Hello.MarionetteProtocol)
	}
	return c, nil
}

// DialRetry calls Dial until it succeeds or ctx ends: Firefox opens its
// Marionette port a second or two after it starts.
func DialRetry(ctx context.Context, addr string) (*Client, error) {
	for {
		c, err := Dial(ctx, addr)
		if err == nil {
			return c, nil
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("marionette: %s not ready: %w (last error: %v)", addr, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Close closes the connection without quitting Firefox.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken == nil {
		c.broken = ErrClosed
	}
	return c.conn.Close()
}

// watch makes the connection's reads and writes fail once ctx ends (after
// ctx.Err is set, so errors can name the cause); the returned function
// stops watching.
func (c *Client) watch(ctx context.Context) (stop func()) {
	c.conn.SetDeadline(time.Time{})
	after := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	return func() { after() }
}

// Send runs one command and decodes its result into result (nil discards
// it). A command Firefox rejects gives an *Error; a transport failure or a
// cancelled ctx breaks the Client, since the reply may still be in flight.
func (c *Client) Send(ctx context.Context, name string, params, result any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return c.broken
	}
	if params == nil {
		params = struct{}{}
	}
	c.nextID++
	id := c.nextID
	msg, err := json.Marshal([]any{0, id, name, params})
	if err != nil {
		return fmt.Errorf("marionette: %s: encoding parameters: %w", name, err)
	}
	stop := c.watch(ctx)
	defer stop()
	if err := writePacket(c.conn, msg); err != nil {
		return c.fail(fmt.Errorf("marionette: %s: %w", name, ctxErr(ctx, err)))
	}
	for {
		raw, err := readPacket(c.r)
		if err != nil {
			return c.fail(fmt.Errorf("marionette: %s: %w", name, ctxErr(ctx, err)))
		}
		var reply []json.RawMessage
		if err := json.Unmarshal(raw, &reply); err != nil || len(reply) != 4 {
			return c.fail(fmt.Errorf("marionette: %s: malformed reply %.200q", name, raw))
		}
		var kind, rid int64
		if json.Unmarshal(reply[0], &kind) != nil || json.Unmarshal(reply[1], &rid) != nil {
			return c.fail(fmt.Errorf("marionette: %s: malformed reply %.200q", name, raw))
		}
		if kind != 1 || rid != id {
			continue // not the reply to this command (a stale or unsolicited packet)
		}
		if !isNull(reply[2]) {
			e := &Error{Command: name}
			if err := json.Unmarshal(reply[2], e); err != nil {
				return fmt.Errorf("marionette: %s: malformed error %.200q", name, reply[2])
			}
			return e
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(reply[3], result); err != nil {
			return fmt.Errorf("marionette: %s: decoding result: %w", name, err)
		}
		return nil
	}
}

func (c *Client) fail(err error) error {
	c.broken = err
	c.conn.Close()
	return err
}

// ctxErr prefers the context's error over the deadline error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// readPacket reads one "<length>:<json>" packet.
func readPacket(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadSlice(':')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("packet length too long")
		}
		return nil, err
	}
	n, err := strconv.Atoi(string(head[:len(head)-1]))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("bad packet length %.20q", head)
	}
	if n > maxPacket {
		return nil, fmt.Errorf("packet of %d bytes exceeds the %d-byte limit", n, maxPacket)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

func writePacket(w io.Writer, msg []byte) error {
	_, err := w.Write(append([]byte(strconv.Itoa(len(msg))+":"), msg...))
	return err
}
