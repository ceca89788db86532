package fxa

import (
	"encoding/json"
	"net/url"
	"strings"
)

// SplitScope splits a scope claim into its scopes. FxA joins scopes with a
// space; the Rust tokenserver splits on commas, so both are accepted.
func SplitScope(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
	})
}

// scopeList reads a scope claim that is a string (JWT) or an array of
// strings (/v1/verify). ok is false for anything else.
func scopeList(raw json.RawMessage) (scopes []string, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return SplitScope(s), true
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, false
	}
	for _, item := range list {
		scopes = append(scopes, SplitScope(item)...)
	}
	return scopes, true
}

// ScopeSetImplies reports whether any of granted implies required.
func ScopeSetImplies(granted []string, required string) bool {
	for _, g := range granted {
		if ScopeImplies(g, required) {
			return true
		}
	}
	return false
}

// ScopeImplies reports whether the granted scope implies the required one
// under FxA's rules (fxa-shared scopes.ts, PyFxA scope_matches), so that a
// token granting a parent scope is accepted as FxA itself would:
//
//   - URL scopes (https:…) imply a URL scope equal to them or below them at
//     a "/" boundary (…/apps implies …/apps/oldsync, …/app does not); a
//     granted scope with a #fragment implies only scopes with the same
//     fragment.
//   - Short names (profile, profile:email) imply themselves and their
//     ":"-separated sub-scopes; a ":write" scope implies its read form, but
//     a read scope never implies ":write".
//
// A URL scope and a short name never imply each other.
func ScopeImplies(granted, required string) bool {
	gURL := strings.HasPrefix(granted, "https:")
	rURL := strings.HasPrefix(required, "https:")
	if gURL != rURL {
		return false
	}
	if gURL {
		return urlScopeImplies(granted, required)
	}
	return nameScopeImplies(granted, required)
}

func urlScopeImplies(granted, required string) bool {
	if !validURLScope(granted) || !validURLScope(required) {
		return false
	}
	gPath, gFrag, gHasFrag := strings.Cut(granted, "#")
	rPath, rFrag, rHasFrag := strings.Cut(required, "#")
	if gPath != rPath && !strings.HasPrefix(rPath, gPath+"/") {
		return false
	}
	if gHasFrag && (!rHasFrag || gFrag != rFrag) {
		return false
	}
	return true
}

// validURLScope refuses what FxA would never grant, so that a degenerate
// value such as "https:" cannot imply every URL scope.
func validURLScope(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil &&
		u.RawQuery == "" && !u.ForceQuery && u.Opaque == ""
}

func nameScopeImplies(granted, required string) bool {
	g := strings.Split(granted, ":")
	r := strings.Split(required, ":")
	switch {
	case r[len(r)-1] == "write":
		if g[len(g)-1] != "write" {
			return false
		}
		g, r = g[:len(g)-1], r[:len(r)-1]
	case g[len(g)-1] == "write":
		g = g[:len(g)-1]
	}
	if len(g) > len(r) {
		return false
	}
	for i := range g {
		if g[i] != r[i] {
			return false
		}
	}
	return true
}
