package fcgiclient

import "bytes"

// Encode returns the bytes of a whole request with id 1: BEGIN_REQUEST,
// the PARAMS stream and the STDIN stream in records of at most chunk body
// bytes. Tests send it in parts to play a slow client.
func Encode(params map[string]string, body []byte, chunk int) []byte {
	var buf bytes.Buffer
	if chunk <= 0 || chunk > maxContent {
		chunk = maxContent
	}
	writeRecord(&buf, typeBeginRequest, 1, []byte{0, roleResponder, 0, 0, 0, 0, 0, 0})
	writeStream(&buf, typeParams, 1, EncodeParams(params), maxContent)
	writeStream(&buf, typeStdin, 1, body, chunk)
	return buf.Bytes()
}
