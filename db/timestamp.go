package db

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Timestamp is a Sync timestamp in integer milliseconds since the epoch.
// Timestamps the server writes are multiples of 10 ms; on the wire they are
// decimal seconds with exactly two decimals ("1388635807.40").
type Timestamp int64

// ErrBadTimestamp is returned by ParseTimestamp for anything that is not a
// non-negative decimal number of seconds.
var ErrBadTimestamp = errors.New("db: invalid timestamp")

// TimestampOf converts a clock time to a Timestamp, rounded up to the next
// 10 ms step as the legacy server did.
func TimestampOf(t time.Time) Timestamp {
	ms := t.UnixMilli()
	if t.UnixNano()%int64(time.Millisecond) != 0 {
		ms++
	}
	return Timestamp(ms).Ceil10()
}

// Ceil10 rounds t up to a multiple of 10 ms.
func (t Timestamp) Ceil10() Timestamp {
	if r := t % 10; r != 0 {
		return t + 10 - r
	}
	return t
}

// Seconds returns the whole seconds of t, rounded down.
func (t Timestamp) Seconds() int64 { return int64(t) / 1000 }

// String formats t as decimal seconds with two decimals, the wire form.
func (t Timestamp) String() string {
	return string(t.AppendTo(nil))
}

// AppendTo appends the wire form of t to b.
func (t Timestamp) AppendTo(b []byte) []byte {
	ms := int64(t)
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	cs := (ms % 1000) / 10
	b = append(b, '.', byte('0'+cs/10), byte('0'+cs%10))
	return b
}

// MarshalJSON writes t as a JSON number with two decimals.
func (t Timestamp) MarshalJSON() ([]byte, error) { return t.AppendTo(nil), nil }

// ParseTimestamp parses a client-supplied timestamp in decimal seconds
// exactly (no floating point) and rounds it up to 10 ms, as the legacy server
// did. An exponent form such as "1e3" is accepted; negative, NaN, infinite or
// malformed values are rejected.
func ParseTimestamp(s string) (Timestamp, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, ErrBadTimestamp
	}
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(s[i+1:], 10, 32)
		if err != nil || e > 12 || e < -30 {
			return 0, fmt.Errorf("%w: %q", ErrBadTimestamp, s)
		}
		mant, exp = s[:i], e
	}
	if strings.HasPrefix(mant, "+") {
		mant = mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, fmt.Errorf("%w: %q", ErrBadTimestamp, s)
	}
	// Value = digits × 10^(exp - len(frac)) seconds; we want milliseconds,
	// rounded up: shift = exp - len(frac) + 3.
	digits := strings.TrimLeft(intPart+frac, "0")
	shift := exp - int64(len(frac)) + 3
	var ms int64
	switch {
	case digits == "":
		ms = 0
	case shift >= 0:
		if int64(len(digits))+shift > 16 {
			return 0, fmt.Errorf("%w: %q out of range", ErrBadTimestamp, s)
		}
		v, _ := strconv.ParseInt(digits, 10, 64)
		for i := int64(0); i < shift; i++ {
			v *= 10
		}
		ms = v
	default:
		cut := int64(len(digits)) + shift // digits kept before the point
		var head, tail string
		if cut <= 0 {
			head, tail = "", digits
		} else {
			head, tail = digits[:cut], digits[cut:]
		}
		if len(head) > 16 {
			return 0, fmt.Errorf("%w: %q out of range", ErrBadTimestamp, s)
		}
		if head != "" {
			ms, _ = strconv.ParseInt(head, 10, 64)
		}
		if strings.Trim(tail, "0") != "" {
			ms++ // round up any sub-millisecond remainder
		}
	}
	// Rounding up can carry a 16-digit value to 10^16 ms, whose wire form
	// would then be refused: keep every accepted value below it.
	t := Timestamp(ms).Ceil10()
	if t >= 1e16 {
		return 0, fmt.Errorf("%w: %q out of range", ErrBadTimestamp, s)
	}
	return t, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
