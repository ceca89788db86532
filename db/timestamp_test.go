package db

import (
	"errors"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want Timestamp
		ok   bool
	}{
		{"0", 0, true},
		{"0.00", 0, true},
		{"1388635807.40", 1388635807400, true},
		{"1388635807.41", 1388635807410, true}, // a float would lose 1 ms here
		{"1.234", 1240, true},                  // rounded up to 10 ms, like the legacy server
		{"1.2301", 1240, true},
		{"1.23", 1230, true},
		{"12", 12000, true},
		{"1e3", 1000000, true},
		{"1.5E1", 15000, true},
		{".5", 500, true},
		{"5.", 5000, true},
		{"+5", 5000, true},
		{" 5 ", 5000, true},
		{"", 0, false},
		{"-3", 0, false},
		{"-0.01", 0, false},
		{"abc", 0, false},
		{"NaN", 0, false},
		{"inf", 0, false},
		{"1.2.3", 0, false},
		{"1e", 0, false},
		{".", 0, false},
		{"99999999999999999999", 0, false},
		{"9999999999999.99", 9999999999999990, true},
		{"9999999999999.999", 0, false}, // rounds up to 10^16 ms, out of range
		{"9999999999999999e-3", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTimestamp(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ParseTimestamp(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadTimestamp) {
				t.Errorf("error %v is not ErrBadTimestamp", err)
			}
			if got != tt.want {
				t.Errorf("ParseTimestamp(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestTimestampString(t *testing.T) {
	tests := map[Timestamp]string{
		0:             "0.00",
		10:            "0.01",
		1388635807400: "1388635807.40",
		1388635807410: "1388635807.41",
		1234567:       "1234.56",
	}
	for ts, want := range tests {
		if got := ts.String(); got != want {
			t.Errorf("Timestamp(%d).String() = %q, want %q", ts, got, want)
		}
		if got, _ := ts.MarshalJSON(); string(got) != want {
			t.Errorf("MarshalJSON = %s, want %s", got, want)
		}
	}
}

func TestTimestampOfRoundsUp(t *testing.T) {
	base := time.Unix(1700000000, 0)
	tests := []struct {
		d    time.Duration
		want Timestamp
	}{
		{0, 1700000000000},
		{time.Nanosecond, 1700000000010},
		{10 * time.Millisecond, 1700000000010},
		{11 * time.Millisecond, 1700000000020},
		{19*time.Millisecond + 999*time.Microsecond, 1700000000020},
	}
	for _, tt := range tests {
		if got := TimestampOf(base.Add(tt.d)); got != tt.want {
			t.Errorf("TimestampOf(+%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
