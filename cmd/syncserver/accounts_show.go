package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"syncserver/accounts"
	"syncserver/db"
)

// accounts show: what an operator wants to know about one built-in
// account: its devices, its sessions and OAuth clients (the phones' refresh
// tokens), when it last signed in, and how much Sync data it keeps.

type showDeviceJSON struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Type      string  `json:"type"`
	Via       string  `json:"via"` // "session" or the OAuth client's name
	CreatedAt *string `json:"created_at"`
	LastSeen  *string `json:"last_seen"`
}

type showSessionJSON struct {
	CreatedAt *string `json:"created_at"`
	LastUsed  *string `json:"last_used"`
	UserAgent string  `json:"user_agent"`
	Device    *string `json:"device"`
}

type showClientJSON struct {
	ClientID  string   `json:"client_id"`
	Name      string   `json:"name"`
	Scope     []string `json:"scope"`
	CreatedAt *string  `json:"created_at"`
	LastUsed  *string  `json:"last_used"`
	Device    *string  `json:"device"`
}

type showStorageJSON struct {
	UID        db.UID  `json:"uid"`
	Status     string  `json:"status"`
	Records    int64   `json:"records"`
	Bytes      int64   `json:"bytes"`
	LastActive *string `json:"last_active"`
}

type showAccountJSON struct {
	accountJSONOut
	// LastSignIn is the newest session or refresh token: a sign-out
	// everywhere forgets it.
	LastSignIn   *string           `json:"last_sign_in"`
	LastSeen     *string           `json:"last_seen"`
	Devices      []showDeviceJSON  `json:"devices"`
	Sessions     []showSessionJSON `json:"sessions"`
	OAuthClients []showClientJSON  `json:"oauth_clients"`
	// Storage lists the tokenserver records of the account (a key change
	// or a password reset leaves the old one until purged).
	Storage      []showStorageJSON `json:"storage"`
	Records      int64             `json:"records"`
	StorageBytes int64             `json:"storage_bytes"`
}

func accountsShow(ctx context.Context, m *Main, args []string) int {
	who, _, asJSON, status := m.oneAccountFlags("show", false, args)
	if status >= 0 {
		return status
	}
	as, a, err := m.openBuiltinAccount(ctx, who)
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	out, err := m.showAccount(ctx, as, a)
	if err != nil {
		return m.fail(err)
	}
	if asJSON {
		if err := writeJSON(m.Stdout, out); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	w := m.Stdout
	t := newTable(w, "Account", a.Email)
	t.row("UID", a.UID)
	t.row("State", accountState(a))
	t.row("Created", formatMillis(a.CreatedAt))
	t.row("Password set", formatMillis(a.VerifierSetAt))
	t.row("Keys changed", formatMillis(a.KeysChangedAt))
	t.row("Last sign-in", deref(out.LastSignIn, "none of its sessions is left"))
	t.row("Last seen", deref(out.LastSeen, "never"))
	t.row("Sync user", out.SyncUser)
	t.row("Storage", fmt.Sprintf("%d live records, %s", out.Records, formatBytes(out.StorageBytes)))
	t.flush()
	fmt.Fprintf(w, "\nDevices (%d):\n", len(out.Devices))
	if len(out.Devices) > 0 {
		t = newTable(w, "  NAME", "TYPE", "VIA", "REGISTERED", "LAST SEEN", "ID")
		for _, d := range out.Devices {
			t.row("  "+orDash(d.Name), d.Type, d.Via, deref(d.CreatedAt, "-"), deref(d.LastSeen, "never"), d.ID)
		}
		t.flush()
	}
	fmt.Fprintf(w, "\nSessions (%d):\n", len(out.Sessions))
	if len(out.Sessions) > 0 {
		t = newTable(w, "  SIGNED IN", "LAST USED", "DEVICE", "USER AGENT")
		for _, s := range out.Sessions {
			t.row("  "+deref(s.CreatedAt, "-"), deref(s.LastUsed, "never"), deref(s.Device, "-"), orDash(s.UserAgent))
		}
		t.flush()
	}
	fmt.Fprintf(w, "\nOAuth clients (%d; phones keep a refresh token):\n", len(out.OAuthClients))
	if len(out.OAuthClients) > 0 {
		t = newTable(w, "  CLIENT", "SIGNED IN", "LAST USED", "DEVICE", "SCOPE")
		for _, c := range out.OAuthClients {
			t.row("  "+c.Name, deref(c.CreatedAt, "-"), deref(c.LastUsed, "never"), deref(c.Device, "-"), strings.Join(c.Scope, " "))
		}
		t.flush()
	}
	if len(out.Storage) == 0 {
		fmt.Fprintln(w, "\nNo Sync data: the account has not synced here yet.")
		return exitOK
	}
	fmt.Fprintf(w, "\nSync data (syncserver users show %s for its collections):\n", out.SyncUser)
	t = newTable(w, "  UID", "STATUS", "RECORDS", "STORAGE", "LAST WRITE")
	for _, s := range out.Storage {
		t.row(fmt.Sprintf("  %d", s.UID), s.Status, s.Records, formatBytes(s.Bytes), deref(s.LastActive, "never"))
	}
	t.flush()
	return exitOK
}

// deref is a time of the JSON view as the text view writes times
// (formatMillis), or none.
func deref(s *string, none string) string {
	if s == nil {
		return none
	}
	if t, err := time.Parse(time.RFC3339Nano, *s); err == nil {
		return formatMillis(t.UnixMilli())
	}
	return *s
}

// showAccount gathers what accounts show prints.
func (m *Main) showAccount(ctx context.Context, as db.AccountsStore, a db.Account) (showAccountJSON, error) {
	out := showAccountJSON{accountJSONOut: m.accountOut(a), Devices: []showDeviceJSON{}, Sessions: []showSessionJSON{},
		OAuthClients: []showClientJSON{}, Storage: []showStorageJSON{}}
	devs, err := as.Devices(ctx, a.UID)
	if err != nil {
		return out, err
	}
	sessions, err := as.Sessions(ctx, a.UID)
	if err != nil {
		return out, err
	}
	refresh, err := as.RefreshTokens(ctx, a.UID)
	if err != nil {
		return out, err
	}
	var lastSignIn, lastSeen int64
	deviceOf := func(credential []byte) *db.Device {
		for i := range devs {
			if bytes.Equal(devs[i].CredentialHash, credential) {
				return &devs[i]
			}
		}
		return nil
	}
	nameOf := func(d *db.Device) *string {
		if d == nil {
			return nil
		}
		n := d.Name
		if n == "" {
			n = d.ID
		}
		return &n
	}
	// A device is last seen when its credential was last used.
	seen := map[string]int64{}
	via := map[string]string{}
	for _, s := range sessions {
		lastSignIn, lastSeen = max(lastSignIn, s.CreatedAt), max(lastSeen, s.LastUsed)
		d := deviceOf(s.IDHash)
		if d != nil {
			seen[d.ID], via[d.ID] = s.LastUsed, "session"
		}
		out.Sessions = append(out.Sessions, showSessionJSON{CreatedAt: jsonTime(s.CreatedAt), LastUsed: jsonTime(s.LastUsed),
			UserAgent: s.UserAgent, Device: nameOf(d)})
	}
	for _, r := range refresh {
		lastSignIn, lastSeen = max(lastSignIn, r.CreatedAt), max(lastSeen, r.LastUsed)
		d := deviceOf(r.Hash)
		if d != nil {
			seen[d.ID], via[d.ID] = r.LastUsed, accounts.ClientName(r.ClientID)
		}
		scope := strings.Fields(r.Scope)
		if scope == nil {
			scope = []string{}
		}
		out.OAuthClients = append(out.OAuthClients, showClientJSON{ClientID: r.ClientID, Name: accounts.ClientName(r.ClientID),
			Scope: scope, CreatedAt: jsonTime(r.CreatedAt), LastUsed: jsonTime(r.LastUsed), Device: nameOf(d)})
	}
	for _, d := range devs {
		v := via[d.ID]
		if v == "" {
			v = "-"
		}
		out.Devices = append(out.Devices, showDeviceJSON{ID: d.ID, Name: d.Name, Type: d.Type, Via: v,
			CreatedAt: jsonTime(d.CreatedAt), LastSeen: jsonTime(max(d.LastAccess, seen[d.ID]))})
		lastSeen = max(lastSeen, d.LastAccess)
	}
	out.LastSignIn, out.LastSeen = jsonTime(lastSignIn), jsonTime(lastSeen)

	admin, ok := m.Store.(db.Admin)
	if !ok {
		return out, nil
	}
	uid, err := admin.ResolveUser(ctx, out.SyncUser)
	if errors.Is(err, db.ErrNotFound) {
		return out, nil
	} else if err != nil {
		return out, err
	}
	info, err := admin.UserInfo(ctx, uid)
	if err != nil {
		return out, err
	}
	for _, r := range info.Records {
		out.Storage = append(out.Storage, showStorageJSON{UID: r.UID, Status: string(r.Status), Records: r.Records, Bytes: r.Bytes,
			LastActive: jsonTime(int64(r.LastActive))})
		out.Records += r.Records
		out.StorageBytes += r.Bytes
	}
	return out, nil
}
