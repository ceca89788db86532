package config

import (
	"fmt"
	"net/url"
	"regexp"
)

// OldSyncScope is the OAuth scope Firefox's Sync access tokens grant, the
// one accepted unless [oauth] scope says otherwise.
const OldSyncScope = "https://identity.mozilla.com/apps/oldsync"

// shortScope is FxA's form of a scope that is not a URL ("profile",
// "profile:email").
var shortScope = regexp.MustCompile(`^[A-Za-z0-9_]+(:[A-Za-z0-9_]+)*$`)

// setScopes reads [oauth] scope: the scopes a token may grant to be
// accepted, one of them being enough. The legacy server read one scope
// here; a list lets other clients of Sync 1.5 in, such as Thunderbird
// (https://identity.thunderbird.net/apps/sync).
func setScopes(l *loader, p parsed) error {
	if len(p.list) == 0 {
		l.c.Tokenserver.OAuthScopes = []string{OldSyncScope}
		return nil
	}
	for _, s := range p.list {
		if shortScope.MatchString(s) {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" {
			return fmt.Errorf("%q is not an OAuth scope such as %s", s, OldSyncScope)
		}
	}
	l.c.Tokenserver.OAuthScopes = p.list
	return nil
}
