package handlers

import (
	"bytes"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Write bodies are read by a scanner of their own rather than by
// encoding/json into maps: a POST of 100 records cost over a thousand
// allocations and most of the handler's time that way. The scanner keeps
// only what the record rules look at, and reads exactly what encoding/json
// read before it, so that no client sees a difference:
//
//   - the same grammar (RFC 8259, whitespace being space, tab, CR and LF)
//     and the same nesting limit, 10,000 lists and objects deep;
//   - field names matched exactly, after unescaping, case included;
//   - the last of two fields of one name is the one that counts;
//   - strings unescaped as encoding/json does: a lone or misordered
//     surrogate escape, and each byte of invalid UTF-8, become U+FFFD;
//   - numbers kept as their literal text (what json.Number held), so that
//     an integer is read exactly and a failed id shows as it was sent.
//
// The differential fuzz test in bso_decode_test.go holds it to the
// encoding/json reading it replaces.

// maxJSONDepth is encoding/json's limit on nested lists and objects; a
// deeper body is not JSON to it, so it is not to us either.
const maxJSONDepth = 10000

// valueKind is the JSON type of a field's value. The kinds up to kindBool
// are scalars.
type valueKind uint8

const (
	kindNull valueKind = iota // null, or no such field: every rule treats them alike
	kindString
	kindNumber
	kindBool
	kindList
	kindObject
)

// jsonValue is a field's value as far as the record rules need it.
type jsonValue struct {
	kind valueKind
	// text is the unescaped string, a number's literal, or "true" or
	// "false"; empty for the other kinds.
	text string
}

// bsoInput is one record of a write body: its fields, and what the rules
// need to know about the others.
type bsoInput struct {
	id, sortIndex, ttl, payload jsonValue
	// unknown is the smallest name of an unknown field that is not null;
	// nonScalar the smallest name of a field that is a list or an object.
	unknown, nonScalar       string
	hasUnknown, hasNonScalar bool
}

// fieldKind is one field name and its value's kind, for the fields whose
// value is not kept.
type fieldKind struct {
	name string
	kind valueKind
}

// bsoDecoder reads the records of one body.
type bsoDecoder struct {
	buf []byte
	pos int
	// strs holds every string kept from the body, unescaped: one
	// allocation for the whole body, which the records' strings point into.
	strs strings.Builder
	// scratch unescapes a field name that has escapes.
	scratch []byte
	// fields are the fields of the current record that have no slot of
	// their own.
	fields []fieldKind
}

func newBSODecoder(body []byte) *bsoDecoder {
	d := &bsoDecoder{buf: body}
	// Most of a body is its strings; invalid UTF-8, which grows as it is
	// replaced, makes it grow on demand.
	d.strs.Grow(len(body))
	return d
}

// jsonOutcome is what a body or a line turned out to be.
type jsonOutcome int

const (
	jsonInvalid   jsonOutcome = iota // not JSON (Weave code 6)
	jsonTrailing                     // one JSON value, then more than whitespace (6)
	jsonWrongType                    // JSON, but not what was wanted (8)
	jsonOK
)

// recordReader reads the records of a POST body one at a time, so that
// none is kept longer than the rules take to look at it: a body of a
// million tiny records costs the memory of one, not of a million. What
// makes the whole body fail (it is not JSON, not a list, or has an element
// that is not an object) is known only at its end, and then err says it.
type recordReader struct {
	d        *bsoDecoder
	newlines bool
	done     bool
	err      error
	// A list: whether the opening bracket was read, the index of the
	// next element, the first element that is not an object (-1: none).
	started bool
	next    int
	bad     int
	// Lines: those not read yet (more: there is one more), and how many
	// were read.
	rest []byte
	more bool
	line int
	// most bounds the number of records: the opening braces.
	most int
}

func newListReader(body []byte) *recordReader {
	return &recordReader{d: newBSODecoder(body), bad: -1, most: bytes.Count(body, []byte{'{'})}
}

// newLinesReader reads one object per line; one trailing newline ends the
// last line, and an empty body has no lines.
func newLinesReader(body []byte) *recordReader {
	return &recordReader{d: newBSODecoder(body), newlines: true,
		rest: bytes.TrimSuffix(body, []byte{'\n'}), more: len(body) > 0, most: bytes.Count(body, []byte{'{'})}
}

// read reads the next record into rec; false at the end of the body, or
// at an error, which r.err then holds.
func (r *recordReader) read(rec *bsoInput) bool {
	if r.done {
		return false
	}
	*rec = bsoInput{}
	if r.newlines {
		return r.readLine(rec)
	}
	return r.readElement(rec)
}

func (r *recordReader) fail(err error) bool {
	r.err, r.done = err, true
	return false
}

func (r *recordReader) readLine(rec *bsoInput) bool {
	if !r.more {
		r.done = true
		return false
	}
	var line []byte
	line, r.rest, r.more = bytes.Cut(r.rest, []byte{'\n'})
	r.line++
	r.d.buf, r.d.pos = line, 0
	switch r.d.object(rec) {
	case jsonInvalid, jsonTrailing:
		return r.fail(errInvalidJSON("line %d is not JSON", r.line))
	case jsonWrongType:
		return r.fail(errInvalidBSO("line %d is not an object", r.line))
	}
	return true
}

func (r *recordReader) readElement(rec *bsoInput) bool {
	d := r.d
	if !r.started {
		r.started = true
		d.space()
		if !d.peek('[') {
			_, ok := d.skipValue(0)
			switch {
			case !ok:
				return r.fail(errInvalidJSON("body is not JSON"))
			case !d.atEnd():
				return r.fail(errInvalidJSON("data after the JSON value"))
			}
			return r.fail(errInvalidBSO("body is not a JSON list"))
		}
		d.pos++
		d.space()
		if d.peek(']') {
			d.pos++
			return r.end()
		}
	} else if !r.separator() {
		return r.end()
	}
	for {
		if r.done {
			return false
		}
		d.space()
		i := r.next
		r.next++
		// Past an element that is not an object, the body fails:
		// what follows is only checked.
		if d.peek('{') && r.bad < 0 {
			if !d.record(2, rec) {
				return r.fail(errInvalidJSON("body is not JSON"))
			}
			return true
		}
		kind, ok := d.skipValue(1)
		if !ok {
			return r.fail(errInvalidJSON("body is not JSON"))
		}
		if kind != kindObject && r.bad < 0 {
			r.bad = i
		}
		if !r.separator() {
			return r.end()
		}
	}
}

// separator reads what follows an element: true after a comma, false at
// the closing bracket or at an error (r.done).
func (r *recordReader) separator() bool {
	d := r.d
	d.space()
	switch {
	case d.peek(','):
		d.pos++
		return true
	case d.peek(']'):
		d.pos++
		return false
	}
	r.fail(errInvalidJSON("body is not JSON"))
	return false
}

// end closes a list: only whitespace may follow it.
func (r *recordReader) end() bool {
	if r.done {
		return false
	}
	switch {
	case !r.d.atEnd():
		return r.fail(errInvalidJSON("data after the JSON value"))
	case r.bad >= 0:
		return r.fail(errInvalidBSO("element %d is not an object", r.bad))
	}
	r.done = true
	return false
}

// object reads the whole of d.buf as one record object.
func (d *bsoDecoder) object(rec *bsoInput) jsonOutcome {
	d.space()
	if !d.peek('{') {
		if _, ok := d.skipValue(0); !ok {
			return jsonInvalid
		}
		if !d.atEnd() {
			return jsonTrailing
		}
		return jsonWrongType
	}
	if !d.record(1, rec) {
		return jsonInvalid
	}
	if !d.atEnd() {
		return jsonTrailing
	}
	return jsonOK
}

// atEnd skips trailing whitespace and tells whether nothing else follows.
func (d *bsoDecoder) atEnd() bool {
	d.space()
	return d.pos == len(d.buf)
}

func (d *bsoDecoder) peek(c byte) bool {
	return d.pos < len(d.buf) && d.buf[d.pos] == c
}

func (d *bsoDecoder) space() {
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// record reads the object at d.pos, depth lists and objects deep counting
// itself, into rec.
func (d *bsoDecoder) record(depth int, rec *bsoInput) bool {
	d.fields = d.fields[:0]
	if empty, ok := d.open(depth, '}'); empty || !ok {
		return ok
	}
	for {
		start, end, plain, ok := d.key()
		if !ok {
			return false
		}
		name := d.buf[start:end]
		if !plain {
			d.scratch = unquoteJSON(d.scratch[:0], name)
			name = d.scratch
		}
		switch string(name) {
		case "id":
			ok = d.value(depth, &rec.id)
		case "sortindex":
			ok = d.value(depth, &rec.sortIndex)
		case "ttl":
			ok = d.value(depth, &rec.ttl)
		case "payload":
			ok = d.value(depth, &rec.payload)
		default:
			// Known fields without a slot (modified, collection,
			// payload_size) only matter if they are not scalars;
			// unknown ones also if they are not null.
			var f fieldKind
			switch string(name) {
			case "modified", "collection", "payload_size":
				f.name = knownName(name)
			default:
				f.name = d.keep(name)
			}
			f.kind, ok = d.skipValue(depth)
			d.fields = append(d.fields, f)
		}
		if !ok {
			return false
		}
		more, ok := d.next('}')
		if !ok {
			return false
		}
		if !more {
			break
		}
	}
	d.settle(rec)
	return true
}

// settle works out which of rec's fields, as they stand after the last of
// each name, are unknown or not scalars.
func (d *bsoDecoder) settle(rec *bsoInput) {
	for _, f := range []struct {
		name string
		v    *jsonValue
	}{{"id", &rec.id}, {"payload", &rec.payload}, {"sortindex", &rec.sortIndex}, {"ttl", &rec.ttl}} {
		if f.v.kind >= kindList {
			rec.noteNonScalar(f.name)
		}
	}
	fields := d.fields
	if len(fields) > 1 {
		// Sorting by name, stably, puts the last of each name last.
		slices.SortStableFunc(fields, func(a, b fieldKind) int { return strings.Compare(a.name, b.name) })
	}
	for i, f := range fields {
		if i+1 < len(fields) && fields[i+1].name == f.name {
			continue // an earlier field of the same name
		}
		if f.kind >= kindList {
			rec.noteNonScalar(f.name)
		}
		// Any other name is an unknown field, the empty one too (legacy
		// answers "unknown field ''").
		if f.kind != kindNull && !knownFields[f.name] && (!rec.hasUnknown || f.name < rec.unknown) {
			rec.unknown, rec.hasUnknown = f.name, true
		}
	}
}

// knownName is the constant for a known field name, which need not be
// copied.
func knownName(b []byte) string {
	for _, k := range [...]string{"modified", "collection", "payload_size"} {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

func (rec *bsoInput) noteNonScalar(name string) {
	if !rec.hasNonScalar || name < rec.nonScalar {
		rec.nonScalar, rec.hasNonScalar = name, true
	}
}

// value reads the value of a field the rules look at into v.
func (d *bsoDecoder) value(depth int, v *jsonValue) bool {
	if d.pos >= len(d.buf) {
		return false
	}
	switch c := d.buf[d.pos]; {
	case c == '"':
		start, end, plain, ok := d.scanString()
		if !ok {
			return false
		}
		if plain {
			*v = jsonValue{kindString, d.keep(d.buf[start:end])}
		} else {
			*v = jsonValue{kindString, d.keepUnquoted(d.buf[start:end])}
		}
		return true
	case c == '-' || c >= '0' && c <= '9':
		start, ok := d.scanNumber()
		if !ok {
			return false
		}
		*v = jsonValue{kindNumber, d.keep(d.buf[start:d.pos])}
		return true
	case c == 't':
		*v = jsonValue{kindBool, "true"}
		return d.literal("true")
	case c == 'f':
		*v = jsonValue{kindBool, "false"}
		return d.literal("false")
	}
	kind, ok := d.skipValue(depth)
	*v = jsonValue{kind: kind}
	return ok
}

// skipValue checks the value at d.pos, inside depth lists and objects,
// and returns its kind.
func (d *bsoDecoder) skipValue(depth int) (valueKind, bool) {
	if d.pos >= len(d.buf) {
		return 0, false
	}
	switch c := d.buf[d.pos]; {
	case c == '{':
		return kindObject, d.skipObject(depth + 1)
	case c == '[':
		return kindList, d.skipList(depth + 1)
	case c == '"':
		_, _, _, ok := d.scanString()
		return kindString, ok
	case c == '-' || c >= '0' && c <= '9':
		_, ok := d.scanNumber()
		return kindNumber, ok
	case c == 't':
		return kindBool, d.literal("true")
	case c == 'f':
		return kindBool, d.literal("false")
	case c == 'n':
		return kindNull, d.literal("null")
	}
	return 0, false
}

func (d *bsoDecoder) skipObject(depth int) bool {
	if empty, ok := d.open(depth, '}'); empty || !ok {
		return ok
	}
	for {
		if _, _, _, ok := d.key(); !ok {
			return false
		}
		if _, ok := d.skipValue(depth); !ok {
			return false
		}
		if more, ok := d.next('}'); !more {
			return ok
		}
	}
}

func (d *bsoDecoder) skipList(depth int) bool {
	if empty, ok := d.open(depth, ']'); empty || !ok {
		return ok
	}
	for {
		if _, ok := d.skipValue(depth); !ok {
			return false
		}
		if more, ok := d.next(']'); !more {
			return ok
		}
	}
}

// open steps into the object or list at d.pos, depth levels deep counting
// itself, up to its first member; empty is set when closing follows at
// once (and is consumed). ok is false past maxJSONDepth.
func (d *bsoDecoder) open(depth int, closing byte) (empty, ok bool) {
	if depth > maxJSONDepth {
		return false, false
	}
	d.pos++ // { or [
	d.space()
	if d.peek(closing) {
		d.pos++
		return true, true
	}
	return false, true
}

// key reads an object member's name and the colon after it, up to its
// value; start, end and plain are scanString's.
func (d *bsoDecoder) key() (start, end int, plain, ok bool) {
	if !d.peek('"') {
		return 0, 0, false, false
	}
	if start, end, plain, ok = d.scanString(); !ok {
		return 0, 0, false, false
	}
	d.space()
	if !d.peek(':') {
		return 0, 0, false, false
	}
	d.pos++
	d.space()
	return start, end, plain, true
}

// next steps past what follows a member or an element: more after a
// comma (and the space after it), not more after closing, which is
// consumed; ok is false when neither follows.
func (d *bsoDecoder) next(closing byte) (more, ok bool) {
	d.space()
	switch {
	case d.peek(','):
		d.pos++
		d.space()
		return true, true
	case d.peek(closing):
		d.pos++
		return false, true
	}
	return false, false
}

func (d *bsoDecoder) literal(lit string) bool {
	if len(d.buf)-d.pos < len(lit) || string(d.buf[d.pos:d.pos+len(lit)]) != lit {
		return false
	}
	d.pos += len(lit)
	return true
}

// scanNumber checks the number at d.pos and returns where it starts; it
// ends at d.pos.
func (d *bsoDecoder) scanNumber() (int, bool) {
	b, i := d.buf, d.pos
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	d.pos = i
	return start, true
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// scanString checks the string whose opening quote is at d.pos and
// returns the span of its contents; plain means they are the string as
// they are (no escape, valid UTF-8).
func (d *bsoDecoder) scanString() (start, end int, plain, ok bool) {
	b := d.buf
	start = d.pos + 1
	plain = true
	ascii := true
	for i := start; i < len(b); {
		i = plainRun(b, i)
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i == len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			if !ascii && plain {
				plain = utf8.Valid(b[start:i])
			}
			d.pos = i + 1
			return start, i, plain, true
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return 0, 0, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					return 0, 0, false, false
				}
				i += 6
			default:
				return 0, 0, false, false
			}
		case c < 0x20:
			return 0, 0, false, false
		case c >= utf8.RuneSelf:
			ascii = false
			i++
		default:
			i++
		}
	}
	return 0, 0, false, false
}

// plainByte tells the bytes that stand for themselves in a JSON string:
// printable ASCII but the quote and the backslash (plainRun tests eight at
// once).
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// hex4 reads the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// keep copies b into d.strs and returns it as a string.
func (d *bsoDecoder) keep(b []byte) string {
	off := d.strs.Len()
	d.strs.Write(b)
	return d.strs.String()[off:]
}

// keepUnquoted unescapes the contents of a string scanString accepted into
// d.strs and returns them.
func (d *bsoDecoder) keepUnquoted(s []byte) string {
	off := d.strs.Len()
	d.scratch = unquoteJSON(d.scratch[:0], s)
	d.strs.Write(d.scratch)
	return d.strs.String()[off:]
}

// unquoteJSON appends the contents of a string scanString accepted,
// unescaped the way encoding/json unescapes them, to dst.
func unquoteJSON(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, _ := hex4(s, i+2)
				i += 6
				if utf16.IsSurrogate(r) {
					// A pair of escapes is one character; anything
					// else is a replacement character.
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2, _ := hex4(s, i+2)
						if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // " \ /
				dst = append(dst, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			// Each byte of invalid UTF-8 decodes as one U+FFFD.
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		}
	}
	return dst
}
