package db

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadOffset is returned by ParseOffset for a token this server would not
// have issued for the query.
var ErrBadOffset = errors.New("db: invalid offset")

// Offset is a decoded X-Weave-Next-Offset token. Timestamp sorts use the
// "<bound_ms>:<n>" form: continue at records whose modified is at or beyond
// Bound (in the sort's direction), skipping the first N of them. The index
// sort uses a plain count of records to skip.
type Offset struct {
	HasBound bool
	Bound    Timestamp
	// Skip is the number of records to skip after the bound filter.
	Skip int
}

// ParseOffset decodes a token for query q (whose Sort, Newer and Older must
// be set). Both forms are accepted for every sort; a bound outside the
// query's newer/older range is rejected.
func ParseOffset(s string, q Query) (Offset, error) {
	if s == "" {
		return Offset{}, nil
	}
	bound, n, hasBound := strings.Cut(s, ":")
	if !hasBound {
		skip, err := strconv.Atoi(s)
		if err != nil || skip < 0 {
			return Offset{}, fmt.Errorf("%w: %q", ErrBadOffset, s)
		}
		return Offset{Skip: skip}, nil
	}
	b, err1 := strconv.ParseInt(bound, 10, 64)
	skip, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || b < 0 || skip < 0 {
		return Offset{}, fmt.Errorf("%w: %q", ErrBadOffset, s)
	}
	o := Offset{HasBound: true, Bound: Timestamp(b), Skip: skip}
	if q.Sort == SortIndex {
		return Offset{}, fmt.Errorf("%w: %q is not an index offset", ErrBadOffset, s)
	}
	if o.Bound < q.Newer || q.HasOlder && o.Bound > q.Older {
		return Offset{}, fmt.Errorf("%w: %q is outside newer/older", ErrBadOffset, s)
	}
	return o, nil
}

// String encodes o as a token.
func (o Offset) String() string {
	if !o.HasBound {
		return strconv.Itoa(o.Skip)
	}
	return strconv.FormatInt(int64(o.Bound), 10) + ":" + strconv.Itoa(o.Skip)
}

// NextOffset computes the token that continues after page, the records
// returned for q (already cut to q.Limit). Backends call it only when more
// records follow. A query that came with a plain count to skip continues
// with a plain count whatever the sort: its rows before the page were
// skipped by position, so a bound token could not account for them.
func NextOffset(q Query, page []BSO) string {
	if q.Sort == SortIndex || len(page) == 0 || !q.Offset.HasBound && q.Offset.Skip > 0 {
		prev := 0
		if !q.Offset.HasBound {
			prev = q.Offset.Skip
		}
		return Offset{Skip: prev + len(page)}.String()
	}
	last := page[len(page)-1].Modified
	n := 0
	for i := len(page) - 1; i >= 0 && page[i].Modified == last; i-- {
		n++
	}
	if n == len(page) && q.Offset.HasBound && q.Offset.Bound == last {
		n += q.Offset.Skip
	}
	return Offset{HasBound: true, Bound: last, Skip: n}.String()
}
