package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"syncserver/accounts"
	"syncserver/accounts/onepw"
	"syncserver/db"
)

// resetExplanation is what a reset costs, said by the command exactly as
// the sign-in page says it: the server never knows the Sync key, so it
// cannot carry the data over to the new password.
const resetExplanation = "A new password means new keys: this server never knew the old Sync key, so nobody could read\n" +
	"the data synced so far any more, and it is deleted. Every browser and phone of the account is\n" +
	"signed out; sign in again with the new password, and they upload their data again.\n"

// accountsResetPassword is `accounts reset-password ACCOUNT`: a forgotten
// password. The new password is asked for twice on a terminal, or read as
// the first line of --password-file or of standard input; never from the
// command line, where other users see it.
func accountsResetPassword(ctx context.Context, m *Main, args []string) int {
	fs := m.newFlags("accounts reset-password", "accounts reset-password ACCOUNT [--password-file FILE] [--yes] [--json]")
	pwFile := fs.String("password-file", "", "read the new password from the first line of `FILE` instead of asking")
	yes := fs.Bool("yes", false, "do it without asking")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		return m.badArgs(fs, "accounts reset-password takes one account (an email or a uid)")
	}
	as, a, err := m.openBuiltinAccount(ctx, pos[0])
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	if !*yes {
		fmt.Fprint(m.Stderr, resetExplanation)
		ok, err := m.confirm(fmt.Sprintf("Reset the password of %s (uid %s) and delete its Sync data?", a.Email, a.UID))
		if err != nil || !ok {
			return m.fail(firstErr(err, errors.New("nothing changed")))
		}
	}
	var pw string
	if *pwFile != "" {
		pw, err = readPasswordFile(*pwFile)
	} else {
		pw, err = m.askNewPassword(ctx, a.Email, "the password is unchanged")
	}
	if err != nil {
		return m.fail(err)
	}
	// What the page will send for this password, with a fresh client
	// salt; the password itself goes no further than this function.
	clientSalt := onepw.NewClientSalt()
	authPW := onepw.AuthPW(onepw.QuickStretchV2(pw, clientSalt))
	a, err = accounts.ResetPassword(ctx, as, a.UID, clientSalt, authPW, time.Now())
	clear(authPW)
	if err != nil {
		return m.fail(err)
	}
	syncUser := m.syncUser(a)
	res, found, err := m.deleteSyncData(ctx, syncUser)
	if err != nil {
		return m.fail(fmt.Errorf("the password of %s is reset, but deleting its old Sync data failed (run syncserver users delete %s): %w",
			a.Email, syncUser, err))
	}
	if *asJSON {
		uids := res.UIDs
		if uids == nil {
			uids = []db.UID{}
		}
		out := map[string]any{"email": a.Email, "uid": a.UID, "reset": true, "sync_user": syncUser,
			"keys_changed_at": jsonTime(a.KeysChangedAt), "deleted_uids": uids, "records": res.Records}
		if err := writeJSON(m.Stdout, out); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	fmt.Fprintf(m.Stdout, "Reset the password of %s.\n", a.Email)
	fmt.Fprint(m.Stdout, resetExplanation)
	if found {
		fmt.Fprintf(m.Stdout, "Deleted its old Sync data: %d records (uids %v).\n", res.Records, res.UIDs)
	} else {
		fmt.Fprintln(m.Stdout, "It had no Sync data here.")
	}
	return exitOK
}

// deleteSyncData empties the storage of every tokenserver record of
// syncUser, keeping the records: the tokenserver sees the new key id at the
// next sign-in and starts a new storage user. found is false when the
// account never synced.
func (m *Main) deleteSyncData(ctx context.Context, syncUser string) (res db.DeleteResult, found bool, err error) {
	admin, uid, found, err := m.resolveSyncUser(ctx, syncUser)
	if !found || err != nil {
		return res, found, err
	}
	res, err = admin.DeleteUserData(ctx, uid)
	return res, true, err
}

// readPasswordFile reads a password as the first line of a file, and
// refuses what the page would refuse.
func readPasswordFile(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	defer f.Close()
	pw, err := readPasswordLine(f)
	if err != nil {
		return "", fmt.Errorf("--password-file %s: %w", name, err)
	}
	return pw, checkPassword(pw)
}
