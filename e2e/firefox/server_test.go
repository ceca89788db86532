package firefox

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// request is one line of nginx's access log: what Firefox asked and got.
type request struct {
	At     time.Time
	Method string
	URI    string // raw request-target
	Path   string // decoded path
	Query  url.Values
	Status int
}

func (r request) String() string { return fmt.Sprintf("%s %s → %d", r.Method, r.URI, r.Status) }

// requests reads nginx's access log (format e2e: $msec $request_method
// $request_uri $status …).
func (s *stack) requests(t *testing.T) []request {
	t.Helper()
	var out []request
	for _, line := range lines(t, s.accessLog) {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		sec, err1 := strconv.ParseFloat(f[0], 64)
		status, err2 := strconv.Atoi(f[3])
		u, err3 := url.ParseRequestURI(f[2])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("unexpected access log line %q", line)
		}
		out = append(out, request{
			At:     time.UnixMilli(int64(sec * 1000)),
			Method: f[1],
			URI:    f[2],
			Path:   u.Path,
			Query:  u.Query(),
			Status: status,
		})
	}
	return out
}

// mark is a position in the access log.
func (s *stack) mark(t *testing.T) int { return len(s.requests(t)) }

// since is what was logged after mark.
func (s *stack) since(t *testing.T, mark int) []request { return s.requests(t)[mark:] }

var storagePathRE = regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `storage/1\.5/(\d+)(?:/storage/([^/]+))?`)

// storageRequest splits a storage request's path: the uid and, for
// …/storage/<collection>…, the collection.
func storageRequest(r request) (uid int64, collection string, ok bool) {
	m := storagePathRE.FindStringSubmatch(r.Path)
	if m == nil {
		return 0, "", false
	}
	uid, _ = strconv.ParseInt(m[1], 10, 64)
	return uid, m[2], true
}

func isTokenRequest(r request) bool { return r.Path == prefix+"token/1.0/sync/1.5" }

// serverDB reads the server's sqlite database directly (read-only, beside
// the running server: WAL lets readers in).
type serverDB struct{ db *sql.DB }

func openServerDB(t *testing.T, path string) *serverDB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &serverDB{db: db}
}

// userRow is a row of the tokenserver's users table.
type userRow struct {
	UID           int64
	ClientState   string
	KeysChangedAt int64
	Replaced      bool
}

// users lists the rows of an FxA account, oldest first.
func (d *serverDB) users(t *testing.T, fxaUID string) []userRow {
	t.Helper()
	rows, err := d.db.Query(`SELECT uid, client_state, COALESCE(keys_changed_at, 0), replaced_at IS NOT NULL
		FROM users WHERE email LIKE ? ORDER BY created_at, uid`, fxaUID+"@%")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []userRow
	for rows.Next() {
		var u userRow
		if err := rows.Scan(&u.UID, &u.ClientState, &u.KeysChangedAt, &u.Replaced); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// currentUID is the uid of the account's row that is not replaced.
func (d *serverDB) currentUID(t *testing.T, fxaUID string) int64 {
	t.Helper()
	var cur []int64
	for _, u := range d.users(t, fxaUID) {
		if !u.Replaced {
			cur = append(cur, u.UID)
		}
	}
	if len(cur) != 1 {
		t.Fatalf("the server has %d current users rows for the account, want 1: %+v", len(cur), d.users(t, fxaUID))
	}
	return cur[0]
}

// standardCollections are the legacy server's fixed collection ids, which
// need no row in the collections table.
var standardCollections = map[string]int64{
	"clients": 1, "crypto": 2, "forms": 3, "history": 4, "keys": 5, "meta": 6,
	"bookmarks": 7, "prefs": 8, "tabs": 9, "passwords": 10, "addons": 11,
	"addresses": 12, "creditcards": 13,
}

// collectionID is the id of a collection name; ok is false when the
// server has never seen it.
func (d *serverDB) collectionID(t *testing.T, collection string) (id int64, ok bool) {
	t.Helper()
	err := d.db.QueryRow(`SELECT collectionid FROM collections WHERE name = ?`, collection).Scan(&id)
	switch {
	case err == sql.ErrNoRows:
		id, ok = standardCollections[collection]
		return id, ok
	case err != nil:
		t.Fatal(err)
	}
	return id, true
}

// bsoIDs is the set of BSO ids the server holds in a collection of a user.
func (d *serverDB) bsoIDs(t *testing.T, uid int64, collection string) map[string]bool {
	t.Helper()
	cid, ok := d.collectionID(t, collection)
	if !ok {
		return map[string]bool{}
	}
	rows, err := d.db.Query(`SELECT id FROM bso WHERE userid = ? AND collection = ?`, uid, cid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// tokenResponse is the tokenserver's answer, success or error.
type tokenResponse struct {
	Status      int
	UID         int64  `json:"uid"`
	APIEndpoint string `json:"api_endpoint"`
	Duration    int64  `json:"duration"`
	ErrStatus   string `json:"status"`
}

// token asks the tokenserver directly, as Firefox does, with a fresh
// OAuth token of the account and the given key id.
func (s *stack) token(t *testing.T, keyID string) tokenResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.tokenURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.fxa.JWT(s.account.UID))
	req.Header.Set("X-KeyID", keyID)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("tokenserver answered %s with %q: %v", resp.Status, body, err)
	}
	tr.Status = resp.StatusCode
	return tr
}
