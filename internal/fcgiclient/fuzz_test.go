package fcgiclient

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzReceive feeds the client's record reader what an application might
// answer. Any bytes give a response or an error (ErrProtocol, or the
// stream ending early), never a panic; and CGI output cut into STDOUT
// records of any size reads as the same response as in one piece.
func FuzzReceive(f *testing.F) {
	var ok bytes.Buffer
	writeStream(&ok, typeStdout, 1, []byte("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope"), maxContent)
	writeRecord(&ok, typeStderr, 1, []byte("warn"))
	writeRecord(&ok, typeEndRequest, 1, []byte{0, 0, 0, 0, 0, 0, 0, 0})
	for _, seed := range [][]byte{
		ok.Bytes(), ok.Bytes()[:20], {}, {2, 6, 0, 1, 0, 0, 0, 0},
		{1, 3, 0, 1, 0, 2, 0, 0, 0, 0}, {1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0},
		{1, 6, 0, 2, 0, 1, 7, 0, 'x', 0, 0, 0, 0, 0, 0, 0}, {1, 11, 0, 1, 0, 0, 0, 0},
		[]byte("Status: abc\r\n\r\n"), []byte("X-A: 1\nX-A: 2\n\nbody"), []byte("no blank line"),
	} {
		f.Add(seed, uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		c := &Conn{r: bufio.NewReader(bytes.NewReader(data))}
		resp, err := c.receive(1)
		switch {
		case err != nil:
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("receive(%q): unexpected error %v", data, err)
			}
		case resp == nil || resp.ProtocolStatus != statusRequestComplete:
			t.Fatalf("receive(%q) = %+v with no error", data, resp)
		}

		// data as the CGI output, sent in STDOUT records of chunk bytes.
		var stream bytes.Buffer
		if len(data) > 1<<16 {
			return
		}
		if err := writeStream(&stream, typeStdout, 1, data, int(chunk)+1); err != nil {
			t.Fatal(err)
		}
		writeRecord(&stream, typeEndRequest, 1, make([]byte, 8))
		c = &Conn{r: bufio.NewReader(&stream)}
		got, err := c.receive(1)
		want, werr := parseCGI(data)
		if (err == nil) != (werr == nil) {
			t.Fatalf("CGI output %q: in records %v, in one piece %v", data, err, werr)
		}
		if err == nil && (got.Status != want.Status || !reflect.DeepEqual(got.Header, want.Header) || !bytes.Equal(got.Body, want.Body)) {
			t.Fatalf("CGI output %q: in records %+v, in one piece %+v", data, got, want)
		}
	})
}
