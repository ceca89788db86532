package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"syncserver/db"
)

// syncserver users: the accounts that sync here. An account is named by
// any of its uids, its email as the tokenserver keeps it ("<FxA
// uid>@<issuer>") or its FxA uid; the commands act on the whole account.

func usersCommand() command {
	return command{
		summary: "list, show, delete, retire accounts; set an account's quota",
		run:     runUsers,
	}
}

const usersUsage = `Usage: syncserver [-config FILE] users COMMAND [--json] ...

  list [--all]               accounts: uid, client state, last activity, storage
  show USER                  one account: its records, collections and quota
  delete USER [--yes]        delete the account's data; its Firefox uploads
                             everything again at its next sync
  retire USER [--yes]        refuse the account from now on; its data is purged
                             after [purge] replaced_grace
  set-quota USER SIZE        the account's own quota: bytes (or 500MB, 2GiB),
                             "unlimited", or "default" for [storage] quota_size

USER is a uid, an FxA uid, or the email the tokenserver keeps
("<FxA uid>@api.accounts.firefox.com").
`

// tokenNodeCapacity is the capacity the tokenserver gives the node it
// registers (handlers' nodeCapacity): a single server never turns users
// away for load.
const tokenNodeCapacity = 1<<31 - 1

func runUsers(ctx context.Context, m *Main) int {
	rest, err := m.leadingGlobalFlags(m.Args)
	if err != nil {
		return flagError(err)
	}
	if len(rest) == 0 {
		fmt.Fprint(m.Stderr, usersUsage)
		return exitUsage
	}
	sub, args := rest[0], rest[1:]
	run := map[string]func(context.Context, *Main, []string) int{
		"list":      usersList,
		"show":      usersShow,
		"delete":    usersDelete,
		"retire":    usersRetire,
		"set-quota": usersSetQuota,
	}[sub]
	if run == nil {
		if sub == "-h" || sub == "--help" || sub == "help" {
			fmt.Fprint(m.Stdout, usersUsage)
			return exitOK
		}
		fmt.Fprintf(m.Stderr, "syncserver: users: unknown command %q\n%s", sub, usersUsage)
		return exitUsage
	}
	return run(ctx, m, args)
}

// openAdmin loads the configuration, opens the database and makes sure
// the tokenserver's tables are in Mozilla's layout (a legacy users table
// is converted, as at the server's first token request).
func (m *Main) openAdmin(ctx context.Context) (db.Admin, error) {
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	admin, ok := m.Store.(db.Admin)
	if !ok {
		return nil, errors.New("this database does not support administration")
	}
	if node, ok := ownNode(m.Config); ok {
		if err := m.Store.Users().EnsureNode(ctx, db.Service, node, tokenNodeCapacity); err != nil {
			return nil, err
		}
	}
	return admin, nil
}

// openAccount opens the database for administration and finds the account
// named by who (an email, FxA uid or uid), as every per-account command
// starts. The caller closes m when the error is nil.
func (m *Main) openAccount(ctx context.Context, who string) (db.Admin, db.UID, error) {
	admin, err := m.openAdmin(ctx)
	if err != nil {
		return nil, 0, err
	}
	uid, err := resolve(ctx, admin, who)
	if err != nil {
		m.Close()
		return nil, 0, err
	}
	return admin, uid, nil
}

// resolve finds the account named on the command line.
func resolve(ctx context.Context, admin db.Admin, who string) (db.UID, error) {
	uid, err := admin.ResolveUser(ctx, who)
	if errors.Is(err, db.ErrNotFound) {
		return 0, fmt.Errorf("no account matches %q (try syncserver users list)", who)
	}
	return uid, err
}

// userJSON is one record for scripts.
type userJSON struct {
	UID           db.UID  `json:"uid"`
	Email         string  `json:"email"`
	FxAUID        string  `json:"fxa_uid"`
	Status        string  `json:"status"`
	ClientState   string  `json:"client_state"`
	Generation    int64   `json:"generation"`
	KeysChangedAt int64   `json:"keys_changed_at"`
	CreatedAt     *string `json:"created_at"`
	ReplacedAt    *string `json:"replaced_at"`
	LastActive    *string `json:"last_active"`
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	Node          string  `json:"node"`
}

func toJSON(u db.UserInfo) userJSON {
	fxa, _, _ := strings.Cut(u.Email, "@")
	return userJSON{UID: u.UID, Email: u.Email, FxAUID: fxa, Status: string(u.Status), ClientState: u.ClientState,
		Generation: u.Generation, KeysChangedAt: u.KeysChangedAt, CreatedAt: jsonTime(u.CreatedAt),
		ReplacedAt: jsonTime(u.ReplacedAt), LastActive: jsonTime(int64(u.LastActive)),
		Records: u.Records, Bytes: u.Bytes, Node: u.Node}
}

func usersList(ctx context.Context, m *Main, args []string) int {
	fs := m.newFlags("users list", "users list [--all] [--json]")
	all := fs.Bool("all", false, "list every record, replaced ones (left by key changes) included")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		return m.badArgs(fs, "users list takes no arguments, got %q", pos)
	}
	admin, err := m.openAdmin(ctx)
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	users, err := admin.ListUsers(ctx, *all)
	if err != nil {
		return m.fail(err)
	}
	if *asJSON {
		out := make([]userJSON, 0, len(users))
		for _, u := range users {
			out = append(out, toJSON(u))
		}
		if err := writeJSON(m.Stdout, out); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	if len(users) == 0 {
		fmt.Fprintln(m.Stdout, "No account has synced with this server yet.")
		return exitOK
	}
	t := newTable(m.Stdout, "UID", "EMAIL", "CLIENT STATE", "STATUS", "LAST ACTIVE", "RECORDS", "STORAGE")
	var bytes, records int64
	for _, u := range users {
		t.row(u.UID, u.Email, orDash(u.ClientState), u.Status, formatMillis(int64(u.LastActive)), u.Records, formatBytes(u.Bytes))
		bytes += u.Bytes
		records += u.Records
	}
	t.flush()
	noun := "accounts"
	if *all {
		noun = "records of accounts"
	}
	fmt.Fprintf(m.Stdout, "%d %s; %d live records, %s.\n", len(users), noun, records, formatBytes(bytes))
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// accountJSON is `users show --json`.
type accountJSON struct {
	Email       string           `json:"email"`
	FxAUID      string           `json:"fxa_uid"`
	UID         db.UID           `json:"uid"`
	Status      string           `json:"status"`
	Quota       quotaJSON        `json:"quota"`
	Records     []userJSON       `json:"records"`
	Collections []collectionJSON `json:"collections"`
}

type quotaJSON struct {
	// Bytes is the quota in force, 0 for none; Own tells whether it is the
	// account's own (set-quota) or the server's.
	Bytes int64 `json:"bytes"`
	Own   bool  `json:"own"`
}

type collectionJSON struct {
	Name     string  `json:"name"`
	Modified *string `json:"modified"`
	Records  int64   `json:"records"`
	Bytes    int64   `json:"bytes"`
}

func (m *Main) quotaOf(a db.AccountInfo) quotaJSON {
	if a.Quota != nil {
		return quotaJSON{Bytes: *a.Quota, Own: true}
	}
	return quotaJSON{Bytes: m.Config.Storage.QuotaSize}
}

func describeQuota(q quotaJSON) string {
	s := "none"
	if q.Bytes > 0 {
		s = formatBytes(q.Bytes)
	}
	if q.Own {
		if q.Bytes == 0 {
			s = "unlimited"
		}
		return s + " (the account's own)"
	}
	return s + " (the server's [storage] quota_size)"
}

func usersShow(ctx context.Context, m *Main, args []string) int {
	fs := m.newFlags("users show", "users show USER [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		return m.badArgs(fs, "users show takes one account")
	}
	admin, uid, err := m.openAccount(ctx, pos[0])
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	a, err := admin.UserInfo(ctx, uid)
	if err != nil {
		return m.fail(err)
	}
	cur := a.Records[0]
	fxa, _, _ := strings.Cut(a.Email, "@")
	out := accountJSON{Email: a.Email, FxAUID: fxa, UID: cur.UID, Status: string(cur.Status), Quota: m.quotaOf(a),
		Records: []userJSON{}, Collections: []collectionJSON{}}
	for _, r := range a.Records {
		out.Records = append(out.Records, toJSON(r))
	}
	for _, c := range a.Collections {
		out.Collections = append(out.Collections, collectionJSON{Name: c.Name, Modified: jsonTime(int64(c.Modified)), Records: c.Records, Bytes: c.Bytes})
	}
	if *asJSON {
		if err := writeJSON(m.Stdout, out); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	w := m.Stdout
	t := newTable(w, "Account", a.Email)
	t.row("FxA uid", fxa)
	t.row("Current uid", cur.UID)
	t.row("Status", cur.Status)
	t.row("Client state", orDash(cur.ClientState))
	t.row("Last active", formatMillis(int64(cur.LastActive)))
	t.row("Storage", fmt.Sprintf("%d live records, %s", cur.Records, formatBytes(cur.Bytes)))
	t.row("Quota", describeQuota(out.Quota))
	t.flush()
	fmt.Fprintln(w, "\nRecords (a key change leaves the old one behind, with its data until purged):")
	t = newTable(w, "  UID", "STATUS", "CLIENT STATE", "CREATED", "REPLACED", "LAST ACTIVE", "RECORDS", "STORAGE")
	for _, r := range a.Records {
		t.row(fmt.Sprintf("  %d", r.UID), r.Status, orDash(r.ClientState), formatMillis(r.CreatedAt), formatMillis(r.ReplacedAt),
			formatMillis(int64(r.LastActive)), r.Records, formatBytes(r.Bytes))
	}
	t.flush()
	if len(a.Collections) == 0 {
		fmt.Fprintf(w, "\nuid %d has no collections.\n", cur.UID)
		return exitOK
	}
	fmt.Fprintf(w, "\nCollections of uid %d:\n", cur.UID)
	t = newTable(w, "  NAME", "MODIFIED", "RECORDS", "STORAGE")
	for _, c := range a.Collections {
		t.row("  "+c.Name, formatMillis(int64(c.Modified)), c.Records, formatBytes(c.Bytes))
	}
	t.flush()
	return exitOK
}

// accountFlags parses "USER [--yes] [--json]".
func (m *Main) accountFlags(name string, args []string) (who string, yes, asJSON bool, status int) {
	fs := m.newFlags("users "+name, "users "+name+" USER [--yes] [--json]")
	y := fs.Bool("yes", false, "do it without asking")
	j := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return "", false, false, flagError(err)
	}
	if len(pos) != 1 {
		return "", false, false, m.badArgs(fs, "users %s takes one account", name)
	}
	return pos[0], *y, *j, -1
}

func usersDelete(ctx context.Context, m *Main, args []string) int {
	who, yes, asJSON, status := m.accountFlags("delete", args)
	if status >= 0 {
		return status
	}
	admin, uid, err := m.openAccount(ctx, who)
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	a, err := admin.UserInfo(ctx, uid)
	if err != nil {
		return m.fail(err)
	}
	if !yes {
		var records int64
		for _, r := range a.Records {
			records += r.Records
		}
		ok, err := m.confirm(fmt.Sprintf("Delete all data of %s (uid %d, %d live records)?", a.Email, uid, records))
		if err != nil || !ok {
			return m.fail(firstErr(err, errors.New("nothing deleted")))
		}
	}
	res, err := admin.DeleteUserData(ctx, uid)
	if err != nil {
		return m.fail(err)
	}
	if asJSON {
		if err := writeJSON(m.Stdout, map[string]any{"email": a.Email, "uid": uid, "deleted_uids": res.UIDs, "records": res.Records}); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	fmt.Fprintf(m.Stdout, "Deleted %d records of %s (uids %v).\n", res.Records, a.Email, res.UIDs)
	fmt.Fprintf(m.Stdout, "The account keeps uid %d: at its next sync its Firefox finds an empty server and uploads its data again.\n"+
		"To refuse the account from now on, use syncserver users retire.\n", uid)
	return exitOK
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func usersRetire(ctx context.Context, m *Main, args []string) int {
	who, yes, asJSON, status := m.accountFlags("retire", args)
	if status >= 0 {
		return status
	}
	admin, uid, err := m.openAccount(ctx, who)
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	a, err := admin.UserInfo(ctx, uid)
	if err != nil {
		return m.fail(err)
	}
	if !yes {
		ok, err := m.confirm(fmt.Sprintf("Retire %s (uid %d)? It can never sync here again.", a.Email, uid))
		if err != nil || !ok {
			return m.fail(firstErr(err, errors.New("nothing retired")))
		}
	}
	if err := admin.RetireUser(ctx, uid); err != nil {
		return m.fail(err)
	}
	grace := m.Config.Purge.ReplacedGrace
	if asJSON {
		if err := writeJSON(m.Stdout, map[string]any{"email": a.Email, "uid": uid, "retired": true,
			"purged_after_seconds": grace.Seconds()}); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	fmt.Fprintf(m.Stdout, "Retired %s: its next token request is refused (401 invalid-generation), and its data\n"+
		"is deleted by the first purge after %s ([purge] replaced_grace).\n", a.Email, formatGrace(grace))
	return exitOK
}

// formatGrace is a period for people: "7 days", "1 hour", "90m0s".
func formatGrace(d time.Duration) string {
	plural := func(n time.Duration, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d == 0:
		return "none"
	case d%(24*time.Hour) == 0:
		return plural(d/(24*time.Hour), "day")
	case d%time.Hour == 0:
		return plural(d/time.Hour, "hour")
	case d%time.Minute == 0:
		return plural(d/time.Minute, "minute")
	}
	return d.String()
}

func usersSetQuota(ctx context.Context, m *Main, args []string) int {
	fs := m.newFlags("users set-quota", "users set-quota USER SIZE|unlimited|default [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 2 {
		return m.badArgs(fs, "users set-quota takes an account and a size")
	}
	var bytes int64
	useDefault := false
	switch strings.ToLower(pos[1]) {
	case "default":
		useDefault = true
	case "unlimited", "none":
	default:
		if bytes, err = parseBytes(pos[1]); err != nil {
			return m.badArgs(fs, "%v", err)
		}
		if bytes == 0 {
			return m.badArgs(fs, "a quota of 0 bytes: say \"unlimited\" for no limit, or give a size")
		}
	}
	admin, uid, err := m.openAccount(ctx, pos[0])
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	if useDefault {
		err = admin.ClearUserQuota(ctx, uid)
	} else {
		err = admin.SetUserQuota(ctx, uid, bytes)
	}
	if err != nil {
		return m.fail(err)
	}
	a, err := admin.UserInfo(ctx, uid)
	if err != nil {
		return m.fail(err)
	}
	q := m.quotaOf(a)
	if *asJSON {
		if err := writeJSON(m.Stdout, map[string]any{"email": a.Email, "uid": uid, "quota": q}); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	printQuota(m.Stdout, a, q)
	return exitOK
}

func printQuota(w io.Writer, a db.AccountInfo, q quotaJSON) {
	cur := a.Records[0]
	fmt.Fprintf(w, "Quota of %s: %s; it uses %s.\n", a.Email, describeQuota(q), formatBytes(cur.Bytes))
}
