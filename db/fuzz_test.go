package db

// Fuzz targets for the values clients send back to us: timestamps (newer,
// older, X-If-*) and X-Weave-Next-Offset tokens; collection names and ids.

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"0", "0.00", "1388635807.41", "1.2301", "1e3", "1.5E1", ".5", "5.", "+5", " 5 ",
		"", "-3", "abc", "NaN", "1.2.3", "1e", ".", "1e-31", "1e13", "99999999999999999999", "0000000000000000001e2",
		"9999999999999.999", "1e+5", "1E-30", "+.5e1", "\t7\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTimestamp(s)
		want, ok := referenceTimestamp(s)
		if err != nil {
			if !errors.Is(err, ErrBadTimestamp) {
				t.Fatalf("ParseTimestamp(%q): %v is not ErrBadTimestamp", s, err)
			}
			if ok && want < 1e15 {
				t.Fatalf("ParseTimestamp(%q): %v, want %d", s, err, want)
			}
			return
		}
		if !ok || got != want {
			t.Fatalf("ParseTimestamp(%q) = %d, want %d (valid %v)", s, got, want, ok)
		}
		if back, err := ParseTimestamp(got.String()); err != nil || back != got {
			t.Fatalf("ParseTimestamp(%q) = %d, whose wire form %s reads back as %d, %v", s, got, got, back, err)
		}
	})
}

// timestampSyntax is a non-negative decimal number with an optional
// exponent, the form ParseTimestamp documents.
var timestampSyntax = regexp.MustCompile(`^\+?([0-9]+\.?[0-9]*|\.[0-9]+)([eE]([+-]?[0-9]+))?$`)

// referenceTimestamp computes what ParseTimestamp should return, with
// arbitrary-precision arithmetic: the value in milliseconds rounded up to
// 10 ms. Exponents outside -30…12 are refused, as documented.
func referenceTimestamp(s string) (Timestamp, bool) {
	s = strings.TrimSpace(s)
	m := timestampSyntax.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	if m[3] != "" {
		var e big.Int
		e.SetString(m[3], 10)
		if e.Cmp(big.NewInt(12)) > 0 || e.Cmp(big.NewInt(-30)) < 0 {
			return 0, false
		}
	}
	// The value is digits × 10^(exponent − decimals), exactly.
	intPart, frac, _ := strings.Cut(m[1], ".")
	digits, ok := new(big.Int).SetString("0"+intPart+frac, 10)
	if !ok {
		return 0, false
	}
	exp := big.NewInt(-int64(len(frac)))
	if m[3] != "" {
		e, _ := new(big.Int).SetString(m[3], 10)
		exp.Add(exp, e)
	}
	r := new(big.Rat).SetInt(digits)
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), new(big.Int).Abs(exp), nil))
	if exp.Sign() >= 0 {
		r.Mul(r, p)
	} else {
		r.Quo(r, p)
	}
	// Centiseconds, rounded up: ceil(r * 100), then back to milliseconds.
	r.Mul(r, big.NewRat(100, 1))
	q, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if rem.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	q.Mul(q, big.NewInt(10))
	if !q.IsInt64() {
		return 1 << 62, true
	}
	return Timestamp(q.Int64()), true
}

func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"", "0", "25", "-1", "abc", "1700000000010:3", "10:x", "100:1", "1:2:3", "+5", " 5",
		"00:00", "9223372036854775807:0", "9223372036854775808:0", ":", "5:", ":5"} {
		for sort := range 4 {
			f.Add(s, uint8(sort), int64(0), int64(0), false)
			f.Add(s, uint8(sort), int64(150), int64(200), true)
		}
	}
	f.Fuzz(func(t *testing.T, s string, sort uint8, newer, older int64, hasOlder bool) {
		q := Query{Sort: Sort(sort % 4), Newer: Timestamp(newer), Older: Timestamp(older), HasOlder: hasOlder}
		o, err := ParseOffset(s, q)
		if err != nil {
			if !errors.Is(err, ErrBadOffset) {
				t.Fatalf("ParseOffset(%q): %v is not ErrBadOffset", s, err)
			}
			return
		}
		if s == "" && o != (Offset{}) {
			t.Fatalf("ParseOffset(\"\") = %+v", o)
		}
		if o.Skip < 0 || o.HasBound && (o.Bound < 0 || q.Sort == SortIndex || o.Bound < q.Newer || q.HasOlder && o.Bound > q.Older) {
			t.Fatalf("ParseOffset(%q, %+v) = %+v, outside the query", s, q, o)
		}
		if back, err := ParseOffset(o.String(), q); err != nil || back != o {
			t.Fatalf("ParseOffset(%q) = %+v, whose token %q reads back as %+v, %v", s, o, o.String(), back, err)
		}
	})
}

// FuzzNextOffset pages through a collection the way a client does, with
// the offset decoding rule of SyncStorage 1.5 (a bound keeps the records
// at or beyond it in the sort's direction, then n are skipped), and checks
// that every record comes exactly once, in order.
func FuzzNextOffset(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 1, 2, 2, 2, 2}, uint8(1), uint8(1))
	f.Add([]byte{5, 5, 5, 5}, uint8(2), uint8(0))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7}, uint8(3), uint8(2))
	f.Add([]byte{9, 9, 1, 9, 9, 9, 1, 1}, uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, mods []byte, sortSel, limitSel uint8) {
		if len(mods) > 200 {
			return
		}
		sort := Sort(sortSel % 4)
		limit := int(limitSel%5) + 1
		recs := make([]BSO, len(mods))
		for i, b := range mods {
			si := int64(b >> 3)
			recs[i] = BSO{ID: fmt.Sprintf("i%03d", i), Modified: 1000 + 10*Timestamp(b&7), SortIndex: &si}
		}
		slices.SortFunc(recs, func(a, b BSO) int { return order(sort, a, b) })
		q := Query{Sort: sort, Limit: limit}
		pos := 0
		for page := 0; ; page++ {
			if page > len(recs) {
				t.Fatalf("still paging after %d pages", page)
			}
			rest := applyOffset(recs, q)
			got := rest[:min(limit, len(rest))]
			if !slices.EqualFunc(got, recs[pos:min(pos+len(got), len(recs))], func(a, b BSO) bool { return a.ID == b.ID }) {
				t.Fatalf("page %d with offset %+v: %v, want records from %d of %v", page, q.Offset, ids(got), pos, ids(recs))
			}
			pos += len(got)
			if len(rest) <= limit {
				break
			}
			tok := NextOffset(q, got)
			o, err := ParseOffset(tok, q)
			if err != nil {
				t.Fatalf("NextOffset(%+v, %v) = %q, which does not parse: %v", q, ids(got), tok, err)
			}
			q.Offset = o
		}
		if pos != len(recs) {
			t.Fatalf("paging returned %d of %d records", pos, len(recs))
		}
	})
}

// order is the listing order of a collection GET, with the id as tie-breaker.
func order(s Sort, a, b BSO) int {
	switch s {
	case SortOldest:
		if c := int(a.Modified - b.Modified); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	case SortIndex:
		if c := int(*b.SortIndex - *a.SortIndex); c != 0 {
			return c
		}
	default:
		if c := int(b.Modified - a.Modified); c != 0 {
			return c
		}
	}
	return strings.Compare(b.ID, a.ID)
}

// applyOffset is SyncStorage's decoding of q.Offset over the sorted records.
func applyOffset(recs []BSO, q Query) []BSO {
	out := recs
	if o := q.Offset; o.HasBound {
		out = nil
		for _, r := range recs {
			if q.Sort == SortOldest && r.Modified >= o.Bound || q.Sort != SortOldest && r.Modified <= o.Bound {
				out = append(out, r)
			}
		}
	}
	return out[min(q.Offset.Skip, len(out)):]
}

func ids(recs []BSO) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s@%d", r.ID, r.Modified))
	}
	return out
}

// FuzzValidNames holds the hand-written checks of collection names and
// ids to the patterns the spec states, and PayloadSize to a count of the
// payload's runes as a []rune conversion makes them.
func FuzzValidNames(f *testing.F) {
	for _, s := range []string{"", "a", "bookmarks", "a.b_c-D9", "a b", "é", "~", " ", "\x7f", "\x1f", "a\n",
		strings.Repeat("x", 32), strings.Repeat("x", 33), strings.Repeat("~", 64), strings.Repeat(" ", 65), "\xff\xfe",
		"ciphertext0123456é789", "0123456789abcdef\xffxyz"} {
		f.Add(s)
	}
	collection := regexp.MustCompile(`^[a-zA-Z0-9._-]{1,32}$`)
	id := regexp.MustCompile(`^[ -~]{1,64}$`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidCollection(s), collection.MatchString(s); got != want {
			t.Errorf("ValidCollection(%q) = %v, want %v", s, got, want)
		}
		if got, want := ValidID(s), id.MatchString(s); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, got, want)
		}
		if got, want := (BSOUpdate{Payload: &s}).PayloadSize(), int64(len([]rune(s))); got != want {
			t.Errorf("PayloadSize(%q) = %d, want %d", s, got, want)
		}
	})
}

// TestPayloadSizeEveryOffset puts a character of several bytes, or a byte
// that is not UTF-8, at each offset of the first words of a payload: the
// ASCII start is counted eight bytes at a time, and what follows it must
// still be counted rune by rune.
func TestPayloadSizeEveryOffset(t *testing.T) {
	for off := 0; off <= 17; off++ {
		for _, c := range []string{"", "é", "€", "😀", "\xff", "\xc3", "\xed\xa0\x80", "a\x80"} {
			s := strings.Repeat("a", off) + c + strings.Repeat("b", off%9)
			if got, want := (BSOUpdate{Payload: &s}).PayloadSize(), int64(len([]rune(s))); got != want {
				t.Errorf("PayloadSize(%q) = %d, want %d", s, got, want)
			}
		}
	}
}
