package handlers

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"

	"syncserver/db"
)

// The storage endpoints write their JSON by hand: the shapes are few and
// fixed, timestamps need exactly two decimals, and listings of thousands
// of records are the server's hottest path.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Control characters are
// escaped (so a record never contains a literal newline, which the
// application/newlines format relies on), invalid UTF-8 becomes U+FFFD, and
// unlike encoding/json, <, > and & stay as they are.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Payloads are mostly base64 and hex: skip them eight bytes at a
		// time while no byte needs a look of its own.
		i = plainRun(s, i)
		if i == len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainRun returns how far from i, in steps of eight bytes, s holds only
// printable ASCII other than '"' and '\\': the bytes that stand for
// themselves in a JSON string, which appendJSONString copies as they are
// and the record decoder passes over (plainByte, a byte at a time). Each
// test below is exact for a word as a whole (a borrow starts only at a byte
// that meets it), which is all that is asked.
func plainRun[T string | []byte](s T, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		control := (x - 0x20*ones) &^ x // a byte below 0x20
		q := x ^ '"'*ones
		quote := (q - ones) &^ q // a zero byte where x has a '"'
		bs := x ^ '\\'*ones
		backslash := (bs - ones) &^ bs
		if (x|control|quote|backslash)&highs != 0 { // x: a byte of 0x80 or more
			break
		}
	}
	return i
}

// appendBSO appends a record in full form: id, modified, payload, and
// sortindex when it has one. TTL and sizes are never shown to clients.
func appendBSO(b []byte, o *db.BSO) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, o.ID)
	b = append(b, `,"modified":`...)
	b = o.Modified.AppendTo(b)
	b = append(b, `,"payload":`...)
	b = appendJSONString(b, o.Payload)
	if o.SortIndex != nil {
		b = append(b, `,"sortindex":`...)
		b = strconv.AppendInt(b, *o.SortIndex, 10)
	}
	return append(b, '}')
}

// appendTimestampMap appends {"name": ts, …} with the names sorted, so
// responses are stable.
func appendTimestampMap(b []byte, m map[string]db.Timestamp) []byte {
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = m[k].AppendTo(b)
	}
	return append(b, '}')
}

// appendResult appends the body of a POST: modified (unless zero, for a
// batch that is not committed yet), batch (when there is one), and the ids
// that were written and those that failed with the reason.
func appendResult(b []byte, modified db.Timestamp, batch string, success []string, failed map[string]string) []byte {
	b = append(b, '{')
	if modified != 0 {
		b = append(b, `"modified":`...)
		b = modified.AppendTo(b)
		b = append(b, ',')
	}
	if batch != "" {
		b = append(b, `"batch":`...)
		b = appendJSONString(b, batch)
		b = append(b, ',')
	}
	b = append(b, `"success":[`...)
	for i, id := range success {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, id)
	}
	b = append(b, `],"failed":{`...)
	for i, id := range sortedKeys(failed) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, id)
		b = append(b, ':')
		b = appendJSONString(b, failed[id])
	}
	return append(b, "}}"...)
}

// modifiedResponse is the answer of a delete: {"modified": T} with
// X-Last-Modified T.
func modifiedResponse(ts db.Timestamp) *Response {
	b := append([]byte(`{"modified":`), ts.AppendTo(nil)...)
	r := jsonResponse(http.StatusOK, append(b, '}'))
	setLastModified(r, ts)
	return r
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
