package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/db"
)

// The built-in accounts' administration commands, run as an operator runs
// them, against a sqlite database in a temporary directory.

const testPassword = "correct horse battery staple"

// accountsConfig enables the accounts on a loopback origin.
const accountsConfig = `[syncserver]
public_url = "http://127.0.0.1:5000/"
sqluri = "sqlite:///syncserver.db"

[accounts]
enabled = true
invite_ttl = 3600
`

// runCmd runs syncserver with args against cfg, with stdin as standard
// input (nil: an empty pipe), and returns the exit status and output.
func runCmd(t *testing.T, ctx context.Context, cfg string, stdin *os.File, args ...string) (int, string, string) {
	t.Helper()
	if stdin == nil {
		stdin = pipeInput(t, "")
	}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	m := NewMain()
	m.Stdin, m.Stdout, m.Stderr = stdin, stdout, stderr
	m.Getenv = func(string) string { return "" }
	if err := m.ParseFlags(ctx, append([]string{"-config", cfg}, args...)); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	status := m.Main(ctx)
	return status, stdout.String(), stderr.String()
}

// pipeInput is a standard input that is not a terminal, holding s.
func pipeInput(t *testing.T, s string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	go func() {
		w.WriteString(s)
		w.Close()
	}()
	return r
}

// openAccountsStore opens the database of cfg as the server does.
func openAccountsStore(t *testing.T, cfg string) (db.AccountsStore, *Main) {
	t.Helper()
	m, logs := newTestMain(t, "-config", cfg)
	if err := m.load(t.Context()); err != nil {
		t.Fatalf("load: %v\n%s", err, logs)
	}
	t.Cleanup(func() { m.Close() })
	as, ok := m.Store.(db.AccountsStore)
	if !ok {
		t.Fatal("the store has no accounts")
	}
	return as, m
}

// pageAuthPW is what the page sends for password: stretched with the
// account's client salt.
func pageAuthPW(a db.Account, password string) []byte {
	return onepw.AuthPW(onepw.QuickStretchV2(password, a.ClientSalt))
}

// seedAccount stores an account directly, without the cost of a stretch,
// for the tests of the commands that only find accounts.
func seedAccount(t *testing.T, as db.AccountsStore, email string) db.Account {
	t.Helper()
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	ms := time.Now().UnixMilli()
	a := db.Account{UID: hex.EncodeToString(random(16)), Email: email, ClientSalt: onepw.NewClientSalt(),
		AuthSalt: random(32), VerifyHash: random(32), WrapWrapKb: random(32), KA: random(32),
		KeysChangedAt: ms, VerifierSetAt: ms, CreatedAt: ms}
	if err := as.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestAccountsAddFromStdin: the password piped in (one line, its CRLF
// dropped) is stretched as the page does and opens the account, and it is
// written nowhere: not in the output, not in the database. (Each stretch
// and verifier costs a second, several under -race: this test and the
// terminal one are the only ones that pay it.)
func TestAccountsAddFromStdin(t *testing.T) {
	port := freePort(t)
	origin := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := writeConfig(t, strings.Replace(accountsConfig, "127.0.0.1:5000", origin, 1))
	before := time.Now().UnixMilli()
	status, out, errOut := runCmd(t, t.Context(), cfg, pipeInput(t, testPassword+"\r\nnext line\n"), "accounts", "add", " Me@Example.ORG ", "--json")
	if status != 0 {
		t.Fatalf("accounts add: exit %d\n%s%s", status, out, errOut)
	}
	var got accountJSONOut
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("accounts add --json: %v\n%s", err, out)
	}
	if got.Email != "me@example.org" || !hex32.MatchString(got.UID) || got.Disabled || got.SyncUser != got.UID+"@"+origin ||
		got.CreatedAt == nil || got.KeysChangedAt == nil {
		t.Errorf("accounts add --json: %+v", got)
	}
	if strings.Contains(out+errOut, "horse") {
		t.Errorf("the output shows the password:\n%s%s", out, errOut)
	}
	as, _ := openAccountsStore(t, cfg)
	a, err := as.AccountByEmail(t.Context(), "me@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if a.UID != got.UID || !strings.HasPrefix(a.ClientSalt, onepw.NS+"quickStretchV2:") || len(a.KA) != 32 {
		t.Errorf("stored %+v", a)
	}
	if a.KeysChangedAt < before || a.KeysChangedAt != a.VerifierSetAt || a.CreatedAt != a.KeysChangedAt {
		t.Errorf("keysChangedAt %d, verifierSetAt %d, createdAt %d: want equal and not before %d", a.KeysChangedAt, a.VerifierSetAt, a.CreatedAt, before)
	}
	// The accounts service lets the page sign in with what it derives
	// from the password, and with nothing else.
	m, logs := newTestMain(t, "-config", cfg, "-http", origin)
	runMain(t, m, logs)
	authPW := pageAuthPW(a, testPassword)
	wrong := bytes.Clone(authPW)
	wrong[0] ^= 1
	for _, tc := range []struct {
		authPW []byte
		want   int
	}{{authPW, http.StatusOK}, {wrong, http.StatusBadRequest}} {
		body := fmt.Sprintf(`{"email":"me@example.org","authPW":"%x"}`, tc.authPW)
		resp, err := http.Post("http://"+origin+"/v1/account/login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want == http.StatusOK) != strings.Contains(string(answer), `"uid":"`+a.UID+`"`) {
			t.Errorf("login with authPW %x…: %d %s, want %d", tc.authPW[:4], resp.StatusCode, answer, tc.want)
		}
	}
	// Neither the password nor authPW (what the page sends) is in any
	// file of the database.
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(cfg), "syncserver.db*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(testPassword)) || bytes.Contains(data, authPW) {
			t.Errorf("%s holds the password or authPW", f)
		}
	}

	// A second account of the same email is refused before any password
	// is read.
	status, out, errOut = runCmd(t, t.Context(), cfg, pipeInput(t, "another password\n"), "accounts", "add", "me@example.org")
	if status != exitFail || !strings.Contains(errOut, "an account me@example.org exists already") {
		t.Errorf("second add: exit %d\n%s%s", status, out, errOut)
	}
}

func TestAccountsAddRefuses(t *testing.T) {
	cfg := writeConfig(t, accountsConfig)
	for _, tc := range []struct {
		name, stdin string
		args        []string
		status      int
		want        string
	}{
		{"empty input", "", []string{"a@example.org"}, exitFail, "no password"},
		{"empty line", "\nsecond line\n", []string{"a@example.org"}, exitFail, "no password"},
		{"short password", "short\n", []string{"a@example.org"}, exitFail, "too short: at least 8 characters"},
		{"not UTF-8", "pass\xffword\n", []string{"a@example.org"}, exitFail, "not valid UTF-8"},
		{"a line too long", strings.Repeat("x", 5000) + "\n", []string{"a@example.org"}, exitFail, "longer than 4096 bytes"},
		{"no email", testPassword, nil, exitUsage, "accounts add takes one email address"},
		{"not an email", testPassword, []string{"someone"}, exitUsage, `"someone" is not an email address`},
		{"two @", testPassword, []string{"a@b@example.org"}, exitUsage, "is not an email address"},
		{"two emails", testPassword, []string{"a@example.org", "b@example.org"}, exitUsage, "takes one email address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, errOut := runCmd(t, t.Context(), cfg, pipeInput(t, tc.stdin), append([]string{"accounts", "add"}, tc.args...)...)
			if status != tc.status || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d; stderr lacks %q:\n%s%s", status, tc.status, tc.want, out, errOut)
			}
		})
	}
	as, _ := openAccountsStore(t, cfg)
	if list, err := as.ListAccounts(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("accounts after refusals: %v, %v", list, err)
	}
}

// TestAccountsAddOnTerminal: on a terminal the password is asked twice,
// without echo, and the two must match; an interrupt gives the terminal
// its echo back.
func TestAccountsAddOnTerminal(t *testing.T) {
	cfg := writeConfig(t, accountsConfig)
	type result struct {
		status      int
		out, errOut string
	}
	// typeAt runs accounts add on a fresh terminal and types each
	// password once the terminal stopped echoing for its prompt.
	typeAt := func(t *testing.T, email string, typed ...string) (result, *os.File, *os.File) {
		master, slave := openPTY(t)
		ctx, cancel := context.WithCancel(t.Context())
		t.Cleanup(cancel)
		done := make(chan result, 1)
		stderr := &syncBuffer{}
		go func() {
			m := NewMain()
			stdout := &syncBuffer{}
			m.Stdin, m.Stdout, m.Stderr = slave, stdout, stderr
			m.Getenv = func(string) string { return "" }
			if err := m.ParseFlags(ctx, []string{"-config", cfg, "accounts", "add", email}); err != nil {
				done <- result{status: -1, errOut: err.Error()}
				return
			}
			status := m.Main(ctx)
			done <- result{status, stdout.String(), stderr.String()}
		}()
		prompts := []string{"Password for " + email + ": ", "The same password again: "}
		for i, pw := range typed {
			eventually(t, 30*time.Second, "no prompt "+prompts[i]+" with echo off", func() bool {
				return strings.Count(stderr.String(), prompts[i]) == 1 && !echoOn(t, slave)
			})
			if pw == "" { // interrupt instead of typing
				cancel()
				break
			}
			if _, err := master.WriteString(pw + "\n"); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case r := <-done:
			return r, master, slave
		case <-time.After(60 * time.Second):
			t.Fatal("accounts add did not finish")
		}
		return result{}, nil, nil
	}

	t.Run("match", func(t *testing.T) {
		r, master, slave := typeAt(t, "tty@example.org", testPassword, testPassword)
		if r.status != 0 {
			t.Fatalf("exit %d\n%s%s", r.status, r.out, r.errOut)
		}
		for _, want := range []string{"Created the account tty@example.org (uid ", "identity.fxaccounts.autoconfig.uri = http://127.0.0.1:5000 in about:config"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("output lacks %q:\n%s", want, r.out)
			}
		}
		if !echoOn(t, slave) {
			t.Error("the terminal does not echo any more")
		}
		// Nothing typed came back on the terminal.
		master.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		echoed := make([]byte, 4096)
		n, _ := master.Read(echoed)
		if strings.Contains(string(echoed[:n]), "horse") {
			t.Errorf("the password was echoed: %q", echoed[:n])
		}
		as, _ := openAccountsStore(t, cfg)
		if _, err := as.AccountByEmail(t.Context(), "tty@example.org"); err != nil {
			t.Errorf("no account: %v", err)
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		r, _, _ := typeAt(t, "typo@example.org", testPassword, testPassword+"!")
		if r.status != exitFail || !strings.Contains(r.errOut, "the two passwords differ; nothing created") {
			t.Fatalf("exit %d\n%s%s", r.status, r.out, r.errOut)
		}
	})
	t.Run("interrupt", func(t *testing.T) {
		r, _, slave := typeAt(t, "gone@example.org", "")
		if r.status != exitFail || !strings.Contains(r.errOut, "interrupted; nothing created") {
			t.Fatalf("exit %d\n%s%s", r.status, r.out, r.errOut)
		}
		if !echoOn(t, slave) {
			t.Error("after the interrupt the terminal does not echo")
		}
	})
	as, _ := openAccountsStore(t, cfg)
	for _, email := range []string{"typo@example.org", "gone@example.org"} {
		if _, err := as.AccountByEmail(t.Context(), email); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("%s: %v, want no account", email, err)
		}
	}
}

// TestNewPasswordOnTerminal: what newPassword returns is exactly what was
// typed on the terminal, line ending excluded, non-ASCII included, so the
// stretch sees the password the page would see.
func TestNewPasswordOnTerminal(t *testing.T) {
	const typed = "pässwörd mit Ümläuten ✓"
	master, slave := openPTY(t)
	stderr := &syncBuffer{}
	m := NewMain()
	m.Stdin, m.Stderr = slave, stderr
	type answer struct {
		pw  string
		err error
	}
	done := make(chan answer, 1)
	go func() {
		pw, err := m.newPassword(t.Context(), "me@example.org")
		done <- answer{pw, err}
	}()
	for _, prompt := range []string{"Password for me@example.org: ", "The same password again: "} {
		eventually(t, 30*time.Second, "no prompt "+prompt+" with echo off", func() bool {
			return strings.Contains(stderr.String(), prompt) && !echoOn(t, slave)
		})
		if _, err := master.WriteString(typed + "\r"); err != nil { // Enter sends CR; the terminal makes it NL
			t.Fatal(err)
		}
	}
	select {
	case a := <-done:
		if a.err != nil || a.pw != typed {
			t.Errorf("newPassword = %q, %v; want %q", a.pw, a.err, typed)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("newPassword did not return")
	}
}

func TestReadPasswordLine(t *testing.T) {
	for in, want := range map[string]string{
		"secret\n": "secret", "secret": "secret", "secret\r\n": "secret", "two words \n": "two words ",
		"first\nsecond\n": "first", " padded\t\n": " padded\t",
	} {
		got, err := readPasswordLine(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("readPasswordLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "\n", "\r\n", strings.Repeat("p", 4097)} {
		if got, err := readPasswordLine(strings.NewReader(in)); err == nil {
			t.Errorf("readPasswordLine(%.20q…) = %.20q…, want an error", in, got)
		}
	}
}

func TestAccountsListDisableEnable(t *testing.T) {
	cfg := writeConfig(t, accountsConfig)
	status, out, _ := runCmd(t, t.Context(), cfg, nil, "accounts", "list")
	if status != 0 || !strings.Contains(out, "No accounts yet") {
		t.Errorf("empty list: exit %d\n%s", status, out)
	}
	status, out, _ = runCmd(t, t.Context(), cfg, nil, "accounts", "list", "--json")
	if status != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty list --json: exit %d\n%s", status, out)
	}
	as, _ := openAccountsStore(t, cfg)
	b := seedAccount(t, as, "b@example.org")
	a := seedAccount(t, as, "a@example.org")

	// A session and a refresh token of b, which disable revokes.
	now := time.Now().UnixMilli()
	session := db.AuthToken{IDHash: onepw.HashID(strings.Repeat("ab", 32)), Kind: db.TokenSession, UID: b.UID, HMACKey: make([]byte, 32), CreatedAt: now, LastUsed: now}
	refresh := db.RefreshToken{Hash: onepw.HashID(strings.Repeat("cd", 32)), ClientID: "5882386c6d801776", UID: b.UID, Scope: onepw.ScopeOldSync, CreatedAt: now, LastUsed: now}
	if err := as.PutAuthToken(t.Context(), session); err != nil {
		t.Fatal(err)
	}
	if err := as.PutRefreshToken(t.Context(), refresh); err != nil {
		t.Fatal(err)
	}

	status, out, errOut := runCmd(t, t.Context(), cfg, nil, "accounts", "disable", "B@example.org")
	if status != 0 || !strings.Contains(out, "Disabled b@example.org: its browsers are signed out") {
		t.Fatalf("disable: exit %d\n%s%s", status, out, errOut)
	}
	if _, err := as.AuthToken(t.Context(), session.IDHash); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("session after disable: %v, want ErrNotFound", err)
	}
	if _, err := as.RefreshToken(t.Context(), refresh.Hash); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("refresh token after disable: %v, want ErrNotFound", err)
	}
	if got, err := as.AccountByUID(t.Context(), b.UID); err != nil || !got.Disabled {
		t.Errorf("b after disable: %+v, %v", got, err)
	}
	if got, err := as.AccountByUID(t.Context(), a.UID); err != nil || got.Disabled {
		t.Errorf("a after disabling b: %+v, %v", got, err)
	}

	status, out, _ = runCmd(t, t.Context(), cfg, nil, "accounts", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if status != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "EMAIL") ||
		!regexp.MustCompile(`^a@example.org\s+`+a.UID+`\s+active\s`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^b@example.org\s+`+b.UID+`\s+disabled\s`).MatchString(lines[2]) || lines[3] != "2 accounts, 1 disabled." {
		t.Errorf("list: exit %d\n%s", status, out)
	}
	var list []accountJSONOut
	status, out, _ = runCmd(t, t.Context(), cfg, nil, "accounts", "list", "--json")
	if err := json.Unmarshal([]byte(out), &list); status != 0 || err != nil || len(list) != 2 ||
		list[0].Email != "a@example.org" || list[0].Disabled || list[1].UID != b.UID || !list[1].Disabled ||
		list[1].SyncUser != b.UID+"@127.0.0.1:5000" || list[1].CreatedAt == nil {
		t.Errorf("list --json: exit %d, %v\n%s", status, err, out)
	}

	// enable, by uid, with --json.
	var enabled accountJSONOut
	status, out, _ = runCmd(t, t.Context(), cfg, nil, "accounts", "enable", b.UID, "--json")
	if err := json.Unmarshal([]byte(out), &enabled); status != 0 || err != nil || enabled.Email != "b@example.org" || enabled.Disabled {
		t.Errorf("enable --json: exit %d, %v\n%s", status, err, out)
	}
	if got, err := as.AccountByUID(t.Context(), b.UID); err != nil || got.Disabled {
		t.Errorf("b after enable: %+v, %v", got, err)
	}
	var disabled accountJSONOut
	status, out, _ = runCmd(t, t.Context(), cfg, nil, "accounts", "disable", "--json", "a@example.org")
	if err := json.Unmarshal([]byte(out), &disabled); status != 0 || err != nil || disabled.Email != "a@example.org" || !disabled.Disabled {
		t.Errorf("disable --json: exit %d, %v\n%s", status, err, out)
	}

	for _, args := range [][]string{{"disable", "nobody@example.org"}, {"enable", strings.Repeat("0", 32)}, {"remove", "nobody@example.org", "--yes"}} {
		status, out, errOut := runCmd(t, t.Context(), cfg, nil, append([]string{"accounts"}, args...)...)
		if status != exitFail || !strings.Contains(errOut, "no account ") {
			t.Errorf("%v: exit %d\n%s%s", args, status, out, errOut)
		}
	}
	for _, args := range [][]string{{"disable"}, {"enable", "a@example.org", "b@example.org"}, {"list", "x"}, {"frobnicate"}, {}} {
		if status, out, errOut := runCmd(t, t.Context(), cfg, nil, append([]string{"accounts"}, args...)...); status != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s%s", args, status, exitUsage, out, errOut)
		}
	}
}

// TestAccountsRemove: remove deletes the account with its sessions and its
// Sync data, kept under <uid>@<accounts host> by the tokenserver.
func TestAccountsRemove(t *testing.T) {
	cfg := writeConfig(t, accountsConfig)
	as, m := openAccountsStore(t, cfg)
	gone := seedAccount(t, as, "gone@example.org")
	stays := seedAccount(t, as, "stays@example.org")
	syncUser := func(a db.Account) string { return a.UID + "@127.0.0.1:5000" }
	ctx := t.Context()
	users := m.Store.Users()
	if err := users.EnsureNode(ctx, db.Service, m.Config.Tokenserver.NodeURL, tokenNodeCapacity); err != nil {
		t.Fatal(err)
	}
	// Their tokenserver records, with a record of Sync data each.
	syncUIDs := map[string]db.UID{}
	for _, a := range []db.Account{gone, stays} {
		ms := time.Now().UnixMilli()
		u, err := users.AllocateUser(ctx, db.Service, syncUser(a), ms, ms, "", m.Config.Tokenserver.NodeURL)
		if err != nil {
			t.Fatal(err)
		}
		syncUIDs[a.Email] = u.UID
		payload := "data of " + a.Email
		if err := m.Store.Update(ctx, u.UID, func(tx db.Tx) error {
			return tx.PutBSO("bookmarks", db.BSOUpdate{ID: "b1", Payload: &payload})
		}); err != nil {
			t.Fatal(err)
		}
	}
	session := db.AuthToken{IDHash: onepw.HashID(strings.Repeat("ef", 32)), Kind: db.TokenSession, UID: gone.UID, HMACKey: make([]byte, 32), CreatedAt: 1, LastUsed: 1}
	if err := as.PutAuthToken(ctx, session); err != nil {
		t.Fatal(err)
	}

	// Without --yes and without a terminal to ask on: nothing happens.
	status, out, errOut := runCmd(t, ctx, cfg, nil, "accounts", "remove", "gone@example.org")
	if status != exitFail || !strings.Contains(errOut, "add --yes") {
		t.Fatalf("remove without --yes: exit %d\n%s%s", status, out, errOut)
	}
	if _, err := as.AccountByUID(ctx, gone.UID); err != nil {
		t.Fatalf("the account went without --yes: %v", err)
	}

	status, out, errOut = runCmd(t, ctx, cfg, nil, "accounts", "remove", "gone@example.org", "--yes", "--json")
	var res struct {
		Email       string   `json:"email"`
		UID         string   `json:"uid"`
		Removed     bool     `json:"removed"`
		SyncUser    string   `json:"sync_user"`
		DeletedUIDs []db.UID `json:"deleted_uids"`
		Records     int64    `json:"records"`
	}
	if err := json.Unmarshal([]byte(out), &res); status != 0 || err != nil {
		t.Fatalf("remove --json: exit %d, %v\n%s%s", status, err, out, errOut)
	}
	if res.Email != "gone@example.org" || res.UID != gone.UID || !res.Removed || res.SyncUser != syncUser(gone) ||
		len(res.DeletedUIDs) != 1 || res.DeletedUIDs[0] != syncUIDs["gone@example.org"] || res.Records != 1 {
		t.Errorf("remove --json: %+v", res)
	}
	if _, err := as.AccountByUID(ctx, gone.UID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("account after remove: %v", err)
	}
	if _, err := as.AuthToken(ctx, session.IDHash); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("session after remove: %v", err)
	}
	if n := bookmarkCount(t, m, syncUIDs["gone@example.org"]); n > 0 {
		t.Errorf("%d bookmarks of the removed account remain", n)
	}
	if n := bookmarkCount(t, m, syncUIDs["stays@example.org"]); n != 1 {
		t.Errorf("the other account has %d bookmarks, want 1", n)
	}
	// Its tokenserver record is retired: no token for it any more.
	u, err := users.GetUser(ctx, db.Service, syncUser(gone))
	if err != nil || u.Generation != db.RetiredGeneration {
		t.Errorf("tokenserver record after remove: %+v, %v", u, err)
	}

	// An account that never synced: removed, text output.
	never := seedAccount(t, as, "never@example.org")
	status, out, errOut = runCmd(t, ctx, cfg, nil, "accounts", "remove", never.UID, "--yes")
	if status != 0 || !strings.Contains(out, "Removed the account never@example.org; it had no Sync data here.") {
		t.Errorf("remove: exit %d\n%s%s", status, out, errOut)
	}
}

// TestAccountsInvite: the link is on the accounts origin, works once, and
// the database keeps only its hash.
func TestAccountsInvite(t *testing.T) {
	cfg := writeConfig(t, accountsConfig)
	start := time.Now()
	status, out, errOut := runCmd(t, t.Context(), cfg, nil, "accounts", "invite")
	if status != 0 {
		t.Fatalf("invite: exit %d\n%s%s", status, out, errOut)
	}
	link := strings.TrimSpace(out)
	secret, ok := strings.CutPrefix(link, "http://127.0.0.1:5000/?invite=")
	if !ok || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(secret) || strings.Contains(link, "\n") {
		t.Fatalf("invite printed %q", out)
	}
	if !strings.Contains(errOut, "This link lets one person create an account") || !strings.Contains(errOut, "(1 hour)") {
		t.Errorf("invite explained:\n%s", errOut)
	}
	as, _ := openAccountsStore(t, cfg)
	inv, err := as.TakeInvite(t.Context(), inviteHash(secret), time.Now().UnixMilli())
	if err != nil {
		t.Fatalf("the invite is not stored under the hash of its secret: %v", err)
	}
	if inv.Email != "" || inv.Expires < start.Add(time.Hour).UnixMilli() || inv.Expires > time.Now().Add(time.Hour).UnixMilli() {
		t.Errorf("invite %+v: want no email and an expiry an hour from now", inv)
	}
	if _, err := as.TakeInvite(t.Context(), inviteHash(secret), time.Now().UnixMilli()); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("the invite works twice: %v", err)
	}
	// Expired after invite_ttl.
	status, out, _ = runCmd(t, t.Context(), cfg, nil, "accounts", "invite", "--json")
	var late struct{ Link string }
	if err := json.Unmarshal([]byte(out), &late); status != 0 || err != nil {
		t.Fatalf("invite --json: %d %v\n%s", status, err, out)
	}
	lateSecret := inviteSecret(t, late.Link)
	if _, err := as.TakeInvite(t.Context(), inviteHash(lateSecret), time.Now().Add(time.Hour+time.Minute).UnixMilli()); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("an invite past invite_ttl works: %v", err)
	}

	// For one email, with --json.
	status, out, errOut = runCmd(t, t.Context(), cfg, nil, "accounts", "invite", "Friend@Example.org", "--json")
	var got struct {
		Link      string  `json:"link"`
		Email     *string `json:"email"`
		ExpiresAt *string `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(out), &got); status != 0 || err != nil {
		t.Fatalf("invite --json: exit %d, %v\n%s%s", status, err, out, errOut)
	}
	if got.Email == nil || *got.Email != "friend@example.org" || got.ExpiresAt == nil || !strings.HasPrefix(got.Link, "http://127.0.0.1:5000/?invite=") {
		t.Errorf("invite --json: %+v", got)
	}
	if exp, err := time.Parse(time.RFC3339Nano, *got.ExpiresAt); err != nil || exp.Before(start.Add(time.Hour)) || exp.After(time.Now().Add(time.Hour)) {
		t.Errorf("expires_at %s, %v: want an hour from now", *got.ExpiresAt, err)
	}
	inv, err = as.TakeInvite(t.Context(), inviteHash(inviteSecret(t, got.Link)), time.Now().UnixMilli())
	if err != nil || inv.Email != "friend@example.org" {
		t.Errorf("invite for an email: %+v, %v", inv, err)
	}

	// Not for an email that has an account; not for two.
	seedAccount(t, as, "taken@example.org")
	if status, out, errOut := runCmd(t, t.Context(), cfg, nil, "accounts", "invite", "taken@example.org"); status != exitFail || !strings.Contains(errOut, "exists already") {
		t.Errorf("invite for an existing account: exit %d\n%s%s", status, out, errOut)
	}
	if status, _, _ := runCmd(t, t.Context(), cfg, nil, "accounts", "invite", "a@example.org", "b@example.org"); status != exitUsage {
		t.Errorf("invite for two: exit %d", status)
	}
}

// TestAccountsCommandsWithAccountsOff work, with a note that Firefox cannot
// use the accounts yet.
func TestAccountsCommandsWithAccountsOff(t *testing.T) {
	cfg := writeConfig(t, minimalConfig)
	status, out, errOut := runCmd(t, t.Context(), cfg, nil, "accounts", "list")
	if status != 0 || !strings.Contains(errOut, "[accounts] enabled is false") {
		t.Errorf("exit %d\n%s%s", status, out, errOut)
	}
}

// TestCheckAccounts: check reports the accounts and the one Firefox
// setting, and refuses an accounts origin that is plain http on another
// machine.
func TestCheckAccounts(t *testing.T) {
	cfg := writeConfig(t, accountsConfig)
	as, m := openAccountsStore(t, cfg)
	seedAccount(t, as, "me@example.org")
	m.Close()
	status, out, errOut := runCmd(t, t.Context(), cfg, nil, "check")
	if status != 0 {
		t.Fatalf("check: exit %d\n%s%s", status, out, errOut)
	}
	for _, want := range []string{
		"origin http://127.0.0.1:5000 is plain http on this machine: for tests only",
		"only accounts made with syncserver accounts add or invite links (open_signup = false)",
		"1 accounts, 0 disabled",
		"identity.fxaccounts.autoconfig.uri = http://127.0.0.1:5000\n",
		"identity.fxaccounts.allowHttp = true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	var rep checkReport
	status, out, _ = runCmd(t, t.Context(), cfg, nil, "check", "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || status != 0 || rep.Firefox[autoconfigPref] != "http://127.0.0.1:5000" {
		t.Errorf("check --json: exit %d, %v, firefox %v", status, err, rep.Firefox)
	}

	// A dedicated https origin.
	cfg = writeConfig(t, `[syncserver]
public_url = "https://sync.example.org/"
sqluri = "sqlite:///syncserver.db"

[accounts]
enabled = true
public_url = "https://accounts.example.org/"
open_signup = true
`)
	status, out, _ = runCmd(t, t.Context(), cfg, nil, "check")
	for _, want := range []string{"origin https://accounts.example.org, dedicated", "anyone who reaches https://accounts.example.org may create an account",
		"identity.fxaccounts.autoconfig.uri = https://accounts.example.org\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "allowHttp") {
		t.Errorf("check advises allowHttp for https:\n%s", out)
	}
	// Without identity_provider only our accounts sync: one setting.
	if !strings.Contains(out, "only these accounts may sync here") || strings.Contains(out, firefoxPref) {
		t.Errorf("check without identity_provider:\n%s", out)
	}
	// Mixed mode: Mozilla accounts too, with their own setting.
	cfg = writeConfig(t, `[syncserver]
public_url = "https://sync.example.org/"
sqluri = "sqlite:///syncserver.db"
identity_provider = "https://accounts.firefox.com/"

[accounts]
enabled = true
public_url = "https://accounts.example.org/"
`)
	status, out, _ = runCmd(t, t.Context(), cfg, nil, "check")
	for _, want := range []string{"Mozilla accounts (https://accounts.firefox.com/) may sync here too",
		"identity.fxaccounts.autoconfig.uri = https://accounts.example.org\n", "For Mozilla accounts, set instead:\n  identity.sync.tokenserver.uri = https://sync.example.org/token/1.0/sync/1.5"} {
		if !strings.Contains(out, want) {
			t.Errorf("mixed check output lacks %q:\n%s", want, out)
		}
	}

	// Plain http on another machine: refused, whether the origin is
	// [accounts] public_url or that of [syncserver] public_url.
	for _, body := range []string{
		"[syncserver]\npublic_url = \"https://sync.example.org/\"\n[accounts]\nenabled = true\npublic_url = \"http://accounts.example.org/\"\n",
		"[syncserver]\npublic_url = \"http://sync.example.org/\"\n[accounts]\nenabled = true\n",
	} {
		cfg := writeConfig(t, body)
		status, out, _ := runCmd(t, t.Context(), cfg, nil, "check")
		if status != exitFail || !regexp.MustCompile(`FAIL\s+config\s+\S+syncserver.ini:\d+: \[accounts\] `).MatchString(out) ||
			!strings.Contains(out, "WebCrypto") || !strings.Contains(out, "plain http on a host that is not loopback") {
			t.Errorf("check of\n%s: exit %d\n%s", body, status, out)
		}
		if status, _, errOut := runCmd(t, t.Context(), cfg, nil, "accounts", "list"); status != exitFail || !strings.Contains(errOut, "WebCrypto") {
			t.Errorf("accounts list with an insecure origin: exit %d\n%s", status, errOut)
		}
	}
	// Accounts off: said so, no autoconfig setting.
	cfg = writeConfig(t, minimalConfig)
	status, out, _ = runCmd(t, t.Context(), cfg, nil, "check")
	if !strings.Contains(out, "built-in accounts off") || strings.Contains(out, autoconfigPref) {
		t.Errorf("check with accounts off: exit %d\n%s", status, out)
	}
}

// inviteSecret is the secret of an invitation link.
func inviteSecret(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("invite") == "" {
		t.Fatalf("%q is not an invitation link: %v", link, err)
	}
	return u.Query().Get("invite")
}

// inviteHash is how the database finds an invitation: SHA-256 of the
// secret as the link carries it, never the secret itself.
func inviteHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
