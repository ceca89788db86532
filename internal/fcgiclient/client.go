// Package fcgiclient is a small FastCGI client that plays the web server's part
// in tests: it sends one responder request the way nginx or Apache would
// (BEGIN_REQUEST, PARAMS, STDIN) and parses the CGI response that comes back on
// STDOUT. It exists so the fcgi front-end can be tested end to end without a
// real web server; it is not meant for production use.
package fcgiclient

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Record types and constants of the FastCGI 1.0 specification.
const (
	version1 = 1

	typeBeginRequest = 1
	typeAbortRequest = 2
	typeEndRequest   = 3
	typeParams       = 4
	typeStdin        = 5
	typeStdout       = 6
	typeStderr       = 7

	roleResponder = 1
	flagKeepConn  = 1

	// maxContent is the largest content one record can carry.
	maxContent = 65535

	statusRequestComplete = 0
)

// ErrProtocol reports a malformed or unexpected answer from the application.
var ErrProtocol = errors.New("fcgiclient: protocol error")

// Request is one FastCGI responder request.
type Request struct {
	// Params are the CGI/1.1 variables (REQUEST_METHOD, REQUEST_URI, HTTP_HOST…).
	// They are sent sorted by name so runs are reproducible.
	Params map[string]string
	// Body is sent on FCGI_STDIN, split into records of at most ChunkSize bytes.
	Body []byte
	// ChunkSize bounds the STDIN record size; 0 means the protocol maximum.
	ChunkSize int
	// KeepConn asks the application to keep the connection open after the
	// response (nginx's fastcgi_keep_conn on).
	KeepConn bool
}

// Response is the parsed CGI answer.
type Response struct {
	// Status comes from the CGI "Status:" header; 200 when it is absent.
	Status int
	// Header holds the other CGI response headers, canonicalised.
	Header http.Header
	// Body is everything after the blank line that ends the headers.
	Body []byte
	// Stderr collects FCGI_STDERR output.
	Stderr []byte
	// AppStatus and ProtocolStatus come from FCGI_END_REQUEST.
	AppStatus      uint32
	ProtocolStatus uint8
}

// Conn is a connection to a FastCGI application. Requests on one Conn are sent
// one at a time, each with a new request id.
type Conn struct {
	nc     net.Conn
	r      *bufio.Reader
	nextID uint16
}

// Dial connects to a FastCGI application ("tcp", "127.0.0.1:9000" or "unix",
// "/run/app.sock").
func Dial(network, addr string) (*Conn, error) {
	nc, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return NewConn(nc), nil
}

// NewConn wraps an established connection.
func NewConn(nc net.Conn) *Conn {
	return &Conn{nc: nc, r: bufio.NewReader(nc), nextID: 1}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// SetDeadline bounds the following reads and writes.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// Do sends req and waits for its FCGI_END_REQUEST.
func (c *Conn) Do(req *Request) (*Response, error) {
	id := c.nextID
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	if err := c.send(id, req); err != nil {
		return nil, err
	}
	return c.receive(id)
}

// Abort sends FCGI_ABORT_REQUEST for the request id most recently used.
func (c *Conn) Abort() error {
	return writeRecord(c.nc, typeAbortRequest, c.nextID-1, nil)
}

func (c *Conn) send(id uint16, req *Request) error {
	var buf bytes.Buffer
	begin := []byte{0, roleResponder, 0, 0, 0, 0, 0, 0}
	if req.KeepConn {
		begin[2] = flagKeepConn
	}
	if err := writeRecord(&buf, typeBeginRequest, id, begin); err != nil {
		return err
	}
	if err := writeStream(&buf, typeParams, id, EncodeParams(req.Params), maxContent); err != nil {
		return err
	}
	// The body goes out as it is written so that an application which stops
	// reading early does not deadlock the test.
	if _, err := c.nc.Write(buf.Bytes()); err != nil {
		return err
	}
	chunk := req.ChunkSize
	if chunk <= 0 || chunk > maxContent {
		chunk = maxContent
	}
	return writeStream(c.nc, typeStdin, id, req.Body, chunk)
}

func (c *Conn) receive(id uint16) (*Response, error) {
	var stdout, stderr []byte
	for {
		typ, rid, content, err := readRecord(c.r)
		if err != nil {
			return nil, err
		}
		if rid != id {
			continue
		}
		switch typ {
		case typeStdout:
			stdout = append(stdout, content...)
		case typeStderr:
			stderr = append(stderr, content...)
		case typeEndRequest:
			if len(content) < 8 {
				return nil, fmt.Errorf("%w: short END_REQUEST", ErrProtocol)
			}
			resp, err := parseCGI(stdout)
			if err != nil {
				return nil, err
			}
			resp.Stderr = stderr
			resp.AppStatus = binary.BigEndian.Uint32(content[:4])
			resp.ProtocolStatus = content[4]
			if resp.ProtocolStatus != statusRequestComplete {
				return resp, fmt.Errorf("%w: END_REQUEST protocol status %d", ErrProtocol, resp.ProtocolStatus)
			}
			return resp, nil
		default:
			return nil, fmt.Errorf("%w: unexpected record type %d", ErrProtocol, typ)
		}
	}
}

// Do sends one request on a new connection and returns the CGI status,
// headers and body.
func Do(network, addr string, params map[string]string, body []byte) (status int, header http.Header, respBody []byte, err error) {
	c, err := Dial(network, addr)
	if err != nil {
		return 0, nil, nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, nil, nil, err
	}
	resp, err := c.Do(&Request{Params: params, Body: body})
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.Status, resp.Header, resp.Body, nil
}

// EncodeParams encodes name-value pairs as FCGI_PARAMS content: each length
// takes one byte when below 128, else four bytes with the top bit set.
func EncodeParams(params map[string]string) []byte {
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		b = appendLength(b, len(k))
		b = appendLength(b, len(v))
		b = append(b, k...)
		b = append(b, v...)
	}
	return b
}

func appendLength(b []byte, n int) []byte {
	if n < 128 {
		return append(b, byte(n))
	}
	return binary.BigEndian.AppendUint32(b, uint32(n)|1<<31)
}

// writeStream writes data as records of at most chunk bytes followed by the
// empty record that ends the stream.
func writeStream(w io.Writer, typ uint8, id uint16, data []byte, chunk int) error {
	for len(data) > 0 {
		n := min(len(data), chunk)
		if err := writeRecord(w, typ, id, data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return writeRecord(w, typ, id, nil)
}

func writeRecord(w io.Writer, typ uint8, id uint16, content []byte) error {
	if len(content) > maxContent {
		return fmt.Errorf("fcgiclient: record content of %d bytes", len(content))
	}
	pad := -len(content) & 7
	rec := make([]byte, 8, 8+len(content)+pad)
	rec[0] = version1
	rec[1] = typ
	binary.BigEndian.PutUint16(rec[2:], id)
	binary.BigEndian.PutUint16(rec[4:], uint16(len(content)))
	rec[6] = byte(pad)
	rec = append(rec, content...)
	rec = append(rec, make([]byte, pad)...)
	_, err := w.Write(rec)
	return err
}

func readRecord(r io.Reader) (typ uint8, id uint16, content []byte, err error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, nil, err
	}
	if h[0] != version1 {
		return 0, 0, nil, fmt.Errorf("%w: version %d", ErrProtocol, h[0])
	}
	n := int(binary.BigEndian.Uint16(h[4:])) + int(h[6])
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, 0, nil, err
	}
	return h[1], binary.BigEndian.Uint16(h[2:]), buf[:binary.BigEndian.Uint16(h[4:])], nil
}

// parseCGI splits a CGI response into status, headers and body (RFC 3875 §6).
func parseCGI(out []byte) (*Response, error) {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(out)))
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("%w: CGI headers: %v", ErrProtocol, err)
	}
	h := http.Header(mh)
	resp := &Response{Status: http.StatusOK, Header: h}
	if s := h.Get("Status"); s != "" {
		code, _, _ := strings.Cut(s, " ")
		resp.Status, err = strconv.Atoi(code)
		if err != nil {
			return nil, fmt.Errorf("%w: Status %q", ErrProtocol, s)
		}
		h.Del("Status")
	}
	resp.Body, err = io.ReadAll(tp.R)
	if err != nil {
		return nil, err
	}
	return resp, nil
}
