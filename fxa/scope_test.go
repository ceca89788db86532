package fxa

import (
	"slices"
	"testing"
)

func TestScopeImplies(t *testing.T) {
	const apps = "https://identity.mozilla.com/apps"
	tests := []struct {
		granted, required string
		want              bool
	}{
		{OldSyncScope, OldSyncScope, true},
		{apps, OldSyncScope, true},
		{"https://identity.mozilla.com", OldSyncScope, true},
		{apps + "/", OldSyncScope, false},
		{"https://identity.mozilla.com/app", OldSyncScope, false},
		{OldSyncScope + "x", OldSyncScope, false},
		{OldSyncScope + "/sub", OldSyncScope, false},
		{OldSyncScope + "#read", OldSyncScope, false},
		{OldSyncScope, OldSyncScope + "#read", true},
		{OldSyncScope + "#read", OldSyncScope + "#read", true},
		{OldSyncScope + "#write", OldSyncScope + "#read", false},
		{apps + "#read", OldSyncScope + "#read", true},
		{"http://identity.mozilla.com/apps/oldsync", OldSyncScope, false},
		{"https://evil.example/apps/oldsync", OldSyncScope, false},
		{"https:", OldSyncScope, false},
		{"https://identity.mozilla.com/apps?x", OldSyncScope, false},
		{"profile", OldSyncScope, false},
		{OldSyncScope, "profile", false},
		{"profile", "profile", true},
		{"profile", "profile:email", true},
		{"profile:email", "profile", false},
		{"profile:write", "profile:email", true},
		{"profile", "profile:write", false},
		{"profile:write", "profile:email:write", true},
		{"profile:email:write", "profile:write", false},
	}
	for _, tt := range tests {
		if got := ScopeImplies(tt.granted, tt.required); got != tt.want {
			t.Errorf("ScopeImplies(%q, %q) = %v, want %v", tt.granted, tt.required, got, tt.want)
		}
	}
}

func TestSplitScope(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{OldSyncScope, []string{OldSyncScope}},
		{"profile " + OldSyncScope, []string{"profile", OldSyncScope}},
		{"profile," + OldSyncScope, []string{"profile", OldSyncScope}},
		{" profile ,\t" + OldSyncScope + "\n", []string{"profile", OldSyncScope}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := SplitScope(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("SplitScope(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
