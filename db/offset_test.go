package db

import (
	"errors"
	"testing"
)

func TestParseOffset(t *testing.T) {
	newest := Query{Sort: SortNewest}
	tests := []struct {
		name string
		in   string
		q    Query
		want Offset
		ok   bool
	}{
		{"empty", "", newest, Offset{}, true},
		{"numeric", "25", Query{Sort: SortIndex}, Offset{Skip: 25}, true},
		{"numeric on timestamp sort", "0", newest, Offset{}, true},
		{"bound", "1700000000010:3", newest, Offset{HasBound: true, Bound: 1700000000010, Skip: 3}, true},
		{"bound with index sort", "1700000000010:3", Query{Sort: SortIndex}, Offset{}, false},
		{"negative", "-1", newest, Offset{}, false},
		{"junk", "abc", newest, Offset{}, false},
		{"junk n", "10:x", newest, Offset{}, false},
		{"bound below newer", "100:1", Query{Newer: 200}, Offset{}, false},
		{"bound above older", "300:1", Query{Older: 200, HasOlder: true}, Offset{}, false},
		{"bound inside", "150:1", Query{Newer: 100, Older: 200, HasOlder: true}, Offset{HasBound: true, Bound: 150, Skip: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOffset(tt.in, tt.q)
			if tt.ok != (err == nil) {
				t.Fatalf("error = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadOffset) {
				t.Errorf("error %v is not ErrBadOffset", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if tt.ok && tt.in != "" {
				if round := got.String(); round != tt.in && !(tt.in == "0" && round == "0") {
					t.Errorf("String() = %q, want %q", round, tt.in)
				}
			}
		})
	}
}

func TestNextOffset(t *testing.T) {
	page := func(ms ...Timestamp) []BSO {
		var out []BSO
		for _, m := range ms {
			out = append(out, BSO{Modified: m})
		}
		return out
	}
	tests := []struct {
		name string
		q    Query
		page []BSO
		want string
	}{
		{"index sort counts", Query{Sort: SortIndex, Offset: Offset{Skip: 4}}, page(1, 2), "6"},
		{"tail sharing the bound", Query{Sort: SortNewest}, page(30, 20, 20), "20:2"},
		{"whole page at the previous bound adds up", Query{Sort: SortNewest, Offset: Offset{HasBound: true, Bound: 20, Skip: 2}}, page(20, 20), "20:4"},
		{"whole page at a new bound", Query{Sort: SortOldest, Offset: Offset{HasBound: true, Bound: 10, Skip: 2}}, page(20, 20), "20:2"},
		{"empty page", Query{Sort: SortNewest}, nil, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextOffset(tt.q, tt.page); got != tt.want {
				t.Errorf("NextOffset = %q, want %q", got, tt.want)
			}
		})
	}
}
