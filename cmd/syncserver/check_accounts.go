package main

import (
	"context"

	"syncserver/db"
	"syncserver/internal/config"
)

// allowHTTPPref lets Firefox sign in over plain http, which it otherwise
// refuses: for tests on this machine only.
const allowHTTPPref = "identity.fxaccounts.allowHttp"

// checkAccounts reports the built-in accounts: on or off, their origin,
// who may sign up, and the one Firefox setting. A plain-http origin on
// another machine fails: the page cannot derive keys there (WebCrypto
// needs a secure origin), and passwords would cross the network for
// anyone to read. Loading the configuration refuses it already; this
// says it again in check's own words in case the configuration changes.
func (m *Main) checkAccounts(ctx context.Context, cfg *config.Config, rep *checkReport) {
	a := cfg.Accounts
	if !a.Enabled {
		who := "Mozilla accounts"
		if cfg.IdentityProvider != "" {
			who = cfg.IdentityProvider
		}
		rep.add("accounts", checkOK, "built-in accounts off: Firefox signs in with %s ([accounts] enabled = true serves accounts here)", who)
		return
	}
	u, err := config.ParsePublicURL(a.PublicURL)
	if err == nil {
		err = config.SecureOrigin(u)
	}
	if err != nil {
		rep.add("accounts", checkFail, "[accounts] public_url: %v", err)
		return
	}
	shared := u.Origin() == cfg.PublicURL.Origin()
	switch {
	case u.Scheme == "http":
		rep.add("accounts", checkWarn, "origin %s is plain http on this machine: for tests only; Firefox also needs %s = true",
			a.PublicURL, allowHTTPPref)
	case shared:
		rep.add("accounts", checkWarn, "origin %s is that of public_url: a dedicated origin (an https host of its own, "+
			"[accounts] public_url) is safer, since any other page served on this origin could read a signed-in session", a.PublicURL)
	default:
		rep.add("accounts", checkOK, "origin %s, dedicated: your web server must pass requests for %s to this server too", a.PublicURL, u.Host)
	}
	signup := "only accounts made with syncserver accounts add or invite links (open_signup = false)"
	if a.OpenSignup {
		signup = "anyone who reaches " + a.PublicURL + " may create an account (open_signup = true)"
	}
	rep.add("accounts", checkOK, "%s; invitations last %s; access tokens %s", signup, formatGrace(a.InviteTTL), formatGrace(a.AccessTokenTTL))
	if as, ok := m.Store.(db.AccountsStore); ok && m.Store != nil {
		// A database the server has yet to migrate has no accounts
		// tables: nothing to count then.
		if list, err := as.ListAccounts(ctx); err == nil {
			disabled := 0
			for _, acc := range list {
				if acc.Disabled {
					disabled++
				}
			}
			if len(list) == 0 {
				rep.add("accounts", checkOK, "no accounts yet: syncserver accounts add EMAIL (yours), syncserver accounts invite (anyone else's)")
			} else {
				rep.add("accounts", checkOK, "%d accounts, %d disabled", len(list), disabled)
			}
		}
	}
	if rep.Firefox == nil {
		rep.Firefox = map[string]string{}
	}
	rep.Firefox[autoconfigPref] = a.PublicURL
	// Mozilla's accounts are trusted beside ours only when the
	// configuration names them (accountsVerifier).
	if cfg.IdentityProvider == "" && cfg.OAuthVerifier == "" {
		delete(rep.Firefox, firefoxPref)
		rep.add("accounts", checkOK, "only these accounts may sync here (set identity_provider to accept Mozilla accounts too)")
	} else {
		rep.add("accounts", checkOK, "Mozilla accounts (%s) may sync here too, kept apart from these", orDefault(cfg.IdentityProvider, cfg.OAuthVerifier))
	}
}

func orDefault(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}
