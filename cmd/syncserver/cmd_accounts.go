package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"syncserver/accounts"
	"syncserver/accounts/onepw"
	"syncserver/db"
)

// syncserver accounts: the built-in accounts that Firefox signs in to
// ([accounts] enabled). An account is named by its email or its uid (32
// hex digits). Passwords never leave this process: add stretches the
// password here exactly as the page does in the browser and stores only
// what the page would send, as a verifier.

func accountsCommand() command {
	return command{
		summary: "add, list, show, disable, enable, remove built-in accounts; reset a password; invite someone",
		run:     runAccounts,
	}
}

const accountsUsage = `Usage: syncserver [-config FILE] accounts COMMAND [--json] ...

  add EMAIL                  create an account for yourself: asks for its
                             password twice, or reads it as one line from
                             standard input when that is not a terminal
  list                       the accounts: email, uid, state, creation
  disable ACCOUNT            refuse its sign-in and token requests; signs out
                             every browser of the account
  enable ACCOUNT             let a disabled account sign in again
  remove ACCOUNT [--yes]     delete the account and its Sync data
  show ACCOUNT               its devices, sessions, last sign-in and storage
  reset-password ACCOUNT [--password-file FILE] [--yes]
                             a forgotten password: sets a new one (asked
                             twice, or the first line of FILE or of standard
                             input) and thereby new keys; the old Sync data,
                             which nobody could read any more, is deleted, and
                             the browsers upload theirs again
  invite [EMAIL]             print a single-use sign-up link, valid for
                             [accounts] invite_ttl, at which a person picks
                             their own password (for EMAIL only, when given)

ACCOUNT is an email or a uid (32 hex digits). Use add for your own account
and invite for anyone else's, so that only they ever know their password.
`

func runAccounts(ctx context.Context, m *Main) int {
	rest, err := m.leadingGlobalFlags(m.Args)
	if err != nil {
		return flagError(err)
	}
	if len(rest) == 0 {
		fmt.Fprint(m.Stderr, accountsUsage)
		return exitUsage
	}
	sub, args := rest[0], rest[1:]
	run := map[string]func(context.Context, *Main, []string) int{
		"add":     accountsAdd,
		"list":    accountsList,
		"disable": accountsDisable,
		"enable":  accountsEnable,
		"remove":  accountsRemove,
		"invite":  accountsInvite,
		// A forgotten password (accounts_reset.go) and the admin view
		// (accounts_show.go).
		"reset-password": accountsResetPassword,
		"show":           accountsShow,
	}[sub]
	if run == nil {
		if sub == "-h" || sub == "--help" || sub == "help" {
			fmt.Fprint(m.Stdout, accountsUsage)
			return exitOK
		}
		fmt.Fprintf(m.Stderr, "syncserver: accounts: unknown command %q\n%s", sub, accountsUsage)
		return exitUsage
	}
	return run(ctx, m, args)
}

// openAccounts loads the configuration and opens the database's accounts
// tables. The caller closes m when the error is nil. Without [accounts]
// enabled the commands still work (accounts may be prepared before the
// service is turned on), with a note.
func (m *Main) openAccounts(ctx context.Context) (db.AccountsStore, error) {
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	as, ok := m.Store.(db.AccountsStore)
	if !ok {
		m.Close()
		return nil, errors.New("this database does not support the built-in accounts")
	}
	if !m.Config.Accounts.Enabled {
		fmt.Fprintln(m.Stderr, "syncserver: note: [accounts] enabled is false: Firefox cannot sign in to these accounts until it is true")
	}
	return as, nil
}

// openBuiltinAccount opens the accounts tables, as openAccounts does, and
// finds the built-in account who names, as disable, enable and remove
// start (openAccount is its twin for the tokenserver's records). The
// caller closes m when the error is nil.
func (m *Main) openBuiltinAccount(ctx context.Context, who string) (db.AccountsStore, db.Account, error) {
	as, err := m.openAccounts(ctx)
	if err != nil {
		return nil, db.Account{}, err
	}
	a, err := findAccount(ctx, as, who)
	if err != nil {
		m.Close()
		return nil, db.Account{}, err
	}
	return as, a, nil
}

// findAccount finds the account named on the command line: an email, or a
// uid of 32 hex digits.
func findAccount(ctx context.Context, as db.AccountsStore, who string) (db.Account, error) {
	var a db.Account
	var err error
	if isAccountUID(who) {
		a, err = as.AccountByUID(ctx, strings.ToLower(who))
	} else {
		a, err = as.AccountByEmail(ctx, db.NormaliseEmail(who))
	}
	if errors.Is(err, db.ErrNotFound) {
		return a, fmt.Errorf("no account %q (try syncserver accounts list)", who)
	}
	return a, err
}

func isAccountUID(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == 32 && err == nil
}

// checkEmail refuses what cannot be an email address; the page's
// input[type=email] accepts the rest.
func checkEmail(s string) error {
	local, domain, ok := strings.Cut(s, "@")
	switch {
	case !ok || local == "" || domain == "" || strings.Contains(domain, "@"):
		return fmt.Errorf("%q is not an email address", s)
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("%q: an email address has no spaces or control characters", s)
	case len(s) > 255:
		return fmt.Errorf("an email address of %d characters is too long (at most 255)", len(s))
	}
	return nil
}

// accountJSONOut is one built-in account for scripts.
type accountJSONOut struct {
	Email    string `json:"email"`
	UID      string `json:"uid"`
	Disabled bool   `json:"disabled"`
	// SyncUser is the account's email in the tokenserver's records
	// (syncserver users), where its Sync data is found.
	SyncUser      string  `json:"sync_user"`
	CreatedAt     *string `json:"created_at"`
	KeysChangedAt *string `json:"keys_changed_at"`
	PasswordSetAt *string `json:"password_set_at"`
}

func (m *Main) accountOut(a db.Account) accountJSONOut {
	return accountJSONOut{Email: a.Email, UID: a.UID, Disabled: a.Disabled, SyncUser: m.syncUser(a),
		CreatedAt: jsonTime(a.CreatedAt), KeysChangedAt: jsonTime(a.KeysChangedAt), PasswordSetAt: jsonTime(a.VerifierSetAt)}
}

// syncUser is the email under which the tokenserver keeps the account's
// Sync records: its uid at the host of the accounts origin, spelt as the
// service spells it. The configuration has validated the origin, so
// IssuerOf cannot fail here.
func (m *Main) syncUser(a db.Account) string {
	issuer, _ := accounts.IssuerOf(m.Config.Accounts.PublicURL)
	return a.UID + "@" + issuer
}

func accountState(a db.Account) string {
	if a.Disabled {
		return "disabled"
	}
	return "active"
}

func accountsAdd(ctx context.Context, m *Main, args []string) int {
	fs := m.newFlags("accounts add", "accounts add EMAIL [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		return m.badArgs(fs, "accounts add takes one email address")
	}
	email := db.NormaliseEmail(pos[0])
	if err := checkEmail(email); err != nil {
		return m.badArgs(fs, "%v", err)
	}
	as, err := m.openAccounts(ctx)
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	// Before the password is asked for: nobody should type one in vain.
	if _, err := as.AccountByEmail(ctx, email); err == nil {
		return m.fail(fmt.Errorf("an account %s exists already", email))
	} else if !errors.Is(err, db.ErrNotFound) {
		return m.fail(err)
	}
	pw, err := m.newPassword(ctx, email)
	if err != nil {
		return m.fail(err)
	}
	// Exactly what the page computes in the browser and sends: the
	// password itself goes no further than this function.
	clientSalt := onepw.NewClientSalt()
	authPW := onepw.AuthPW(onepw.QuickStretchV2(pw, clientSalt))
	a, err := accounts.CreateAccount(ctx, as, email, clientSalt, authPW, time.Now())
	clear(authPW)
	if errors.Is(err, db.ErrExists) {
		return m.fail(fmt.Errorf("an account %s exists already", email))
	} else if err != nil {
		return m.fail(err)
	}
	if *asJSON {
		if err := writeJSON(m.Stdout, m.accountOut(a)); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	fmt.Fprintf(m.Stdout, "Created the account %s (uid %s).\n", a.Email, a.UID)
	fmt.Fprintf(m.Stdout, "In Firefox, set %s = %s in about:config, then sign in with this email and password.\n",
		autoconfigPref, m.Config.Accounts.PublicURL)
	return exitOK
}

func accountsList(ctx context.Context, m *Main, args []string) int {
	fs := m.newFlags("accounts list", "accounts list [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		return m.badArgs(fs, "accounts list takes no arguments, got %q", pos)
	}
	as, err := m.openAccounts(ctx)
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	list, err := as.ListAccounts(ctx)
	if err != nil {
		return m.fail(err)
	}
	if *asJSON {
		out := make([]accountJSONOut, 0, len(list))
		for _, a := range list {
			out = append(out, m.accountOut(a))
		}
		if err := writeJSON(m.Stdout, out); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	if len(list) == 0 {
		fmt.Fprintln(m.Stdout, "No accounts yet: create yours with syncserver accounts add EMAIL, or invite someone with syncserver accounts invite.")
		return exitOK
	}
	t := newTable(m.Stdout, "EMAIL", "UID", "STATE", "CREATED", "PASSWORD SET")
	disabled := 0
	for _, a := range list {
		t.row(a.Email, a.UID, accountState(a), formatMillis(a.CreatedAt), formatMillis(a.VerifierSetAt))
		if a.Disabled {
			disabled++
		}
	}
	t.flush()
	fmt.Fprintf(m.Stdout, "%d accounts, %d disabled.\n", len(list), disabled)
	return exitOK
}

// oneAccountFlags parses "ACCOUNT [--json]" (and --yes when yes is set).
func (m *Main) oneAccountFlags(name string, withYes bool, args []string) (who string, yes, asJSON bool, status int) {
	usage := "accounts " + name + " ACCOUNT [--json]"
	if withYes {
		usage = "accounts " + name + " ACCOUNT [--yes] [--json]"
	}
	fs := m.newFlags("accounts "+name, usage)
	var y *bool
	if withYes {
		y = fs.Bool("yes", false, "do it without asking")
	}
	j := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return "", false, false, flagError(err)
	}
	if len(pos) != 1 {
		return "", false, false, m.badArgs(fs, "accounts %s takes one account (an email or a uid)", name)
	}
	return pos[0], y != nil && *y, *j, -1
}

func accountsDisable(ctx context.Context, m *Main, args []string) int {
	return m.setDisabled(ctx, "disable", true, args)
}

func accountsEnable(ctx context.Context, m *Main, args []string) int {
	return m.setDisabled(ctx, "enable", false, args)
}

func (m *Main) setDisabled(ctx context.Context, name string, disabled bool, args []string) int {
	who, _, asJSON, status := m.oneAccountFlags(name, false, args)
	if status >= 0 {
		return status
	}
	as, a, err := m.openBuiltinAccount(ctx, who)
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	if err := as.SetAccountDisabled(ctx, a.UID, disabled); err != nil {
		return m.fail(err)
	}
	if disabled {
		// Sessions, refresh tokens, codes and devices: every browser of
		// the account is signed out at its next request.
		if err := as.DeleteAuthTokens(ctx, a.UID); err != nil {
			return m.fail(fmt.Errorf("%s is disabled, but signing out its browsers failed: %w", a.Email, err))
		}
	}
	a.Disabled = disabled
	if asJSON {
		if err := writeJSON(m.Stdout, m.accountOut(a)); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	if disabled {
		fmt.Fprintf(m.Stdout, "Disabled %s: its browsers are signed out, and its sign-in and token requests are refused.\n"+
			"Storage tokens already handed out stay valid for at most %s ([tokenserver] token_duration).\n"+
			"syncserver accounts enable %s undoes it.\n", a.Email, formatGrace(m.Config.Tokenserver.TokenDuration), a.Email)
	} else {
		fmt.Fprintf(m.Stdout, "Enabled %s: it can sign in again.\n", a.Email)
	}
	return exitOK
}

func accountsRemove(ctx context.Context, m *Main, args []string) int {
	who, yes, asJSON, status := m.oneAccountFlags("remove", true, args)
	if status >= 0 {
		return status
	}
	as, a, err := m.openBuiltinAccount(ctx, who)
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	if !yes {
		ok, err := m.confirm(fmt.Sprintf("Remove the account %s (uid %s) and all its Sync data? This cannot be undone.", a.Email, a.UID))
		if err != nil || !ok {
			return m.fail(firstErr(err, errors.New("nothing removed")))
		}
	}
	// The account first, with its sessions and tokens: nothing can sign
	// in or get a token any more while its data goes.
	if err := as.DeleteAccount(ctx, a.UID); err != nil {
		return m.fail(err)
	}
	syncUser := m.syncUser(a)
	res, found, err := m.removeSyncData(ctx, syncUser)
	if err != nil {
		return m.fail(fmt.Errorf("the account %s is removed, but deleting its Sync data failed (run syncserver users delete %s): %w",
			a.Email, syncUser, err))
	}
	if asJSON {
		out := map[string]any{"email": a.Email, "uid": a.UID, "removed": true, "sync_user": syncUser,
			"deleted_uids": res.UIDs, "records": res.Records}
		if res.UIDs == nil {
			out["deleted_uids"] = []db.UID{}
		}
		if err := writeJSON(m.Stdout, out); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	if !found {
		fmt.Fprintf(m.Stdout, "Removed the account %s; it had no Sync data here.\n", a.Email)
		return exitOK
	}
	fmt.Fprintf(m.Stdout, "Removed the account %s and its Sync data: %d records (uids %v).\n", a.Email, res.Records, res.UIDs)
	return exitOK
}

// removeSyncData deletes the Sync data of the tokenserver records of
// syncUser and retires them, as syncserver users delete and retire do;
// found is false when the account never synced.
func (m *Main) removeSyncData(ctx context.Context, syncUser string) (res db.DeleteResult, found bool, err error) {
	admin, uid, found, err := m.resolveSyncUser(ctx, syncUser)
	if !found || err != nil {
		return res, found, err
	}
	// Retired first: a storage token handed out before the removal can
	// no longer be renewed, and the purge takes whatever it still writes.
	if err := admin.RetireUser(ctx, uid); err != nil {
		return res, true, err
	}
	res, err = admin.DeleteUserData(ctx, uid)
	return res, true, err
}

// resolveSyncUser finds the storage user of the tokenserver records of
// syncUser, for removeSyncData and deleteSyncData; found is false (and err
// nil) when the account never synced.
func (m *Main) resolveSyncUser(ctx context.Context, syncUser string) (admin db.Admin, uid db.UID, found bool, err error) {
	admin, ok := m.Store.(db.Admin)
	if !ok {
		return nil, 0, false, errors.New("this database does not support administration")
	}
	uid, err = admin.ResolveUser(ctx, syncUser)
	if errors.Is(err, db.ErrNotFound) {
		return nil, 0, false, nil
	} else if err != nil {
		return nil, 0, false, err
	}
	return admin, uid, true, nil
}

func accountsInvite(ctx context.Context, m *Main, args []string) int {
	fs := m.newFlags("accounts invite", "accounts invite [EMAIL] [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 1 {
		return m.badArgs(fs, "accounts invite takes at most one email address")
	}
	email := ""
	if len(pos) == 1 {
		email = db.NormaliseEmail(pos[0])
		if err := checkEmail(email); err != nil {
			return m.badArgs(fs, "%v", err)
		}
	}
	as, err := m.openAccounts(ctx)
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	if email != "" {
		if _, err := as.AccountByEmail(ctx, email); err == nil {
			return m.fail(fmt.Errorf("an account %s exists already", email))
		} else if !errors.Is(err, db.ErrNotFound) {
			return m.fail(err)
		}
	}
	ttl, now := m.Config.Accounts.InviteTTL, time.Now()
	link, err := accounts.CreateInvite(ctx, as, m.Config.Accounts.PublicURL, email, ttl, now)
	if err != nil {
		return m.fail(err)
	}
	expires := now.Add(ttl).UnixMilli()
	if *asJSON {
		var forEmail *string
		if email != "" {
			forEmail = &email
		}
		if err := writeJSON(m.Stdout, map[string]any{"link": link, "email": forEmail, "expires_at": jsonTime(expires)}); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	fmt.Fprintln(m.Stdout, link)
	who := "one person"
	if email != "" {
		who = email
	}
	// The link on stdout alone, for scripts; the explanation beside it.
	fmt.Fprintf(m.Stderr, "This link lets %s create an account and choose its password, once, until %s (%s).\n"+
		"Send it privately: whoever opens it first gets the account. In Firefox, they set %s = %s.\n",
		who, formatMillis(expires), formatGrace(ttl), autoconfigPref, m.Config.Accounts.PublicURL)
	return exitOK
}
