package main

// Helpers of the fault-injection tests (kill -9 under load, disk full): a
// storage client that mints its own tokens with the server's secret, as a
// storage node sharing the tokenserver's secret accepts them, and signs
// its requests with Hawk; and a record of what the server acknowledged.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/hawk"
	"syncserver/internal/testdb"
	"syncserver/token"
)

// storageClient talks to one user's storage over real HTTP.
type storageClient struct {
	port    int
	base    string // http://127.0.0.1:port/storage/1.5/uid
	prefix  string // the path of base
	id, key string // Hawk credentials
	hc      *http.Client
}

// newStorageClient mints a token for uid, valid for a day, on the node
// http://127.0.0.1:port (the server's public_url).
func newStorageClient(t testing.TB, port int, uid int64) *storageClient {
	t.Helper()
	secrets, err := token.NewSecrets([]string{testSecret})
	if err != nil {
		t.Fatal(err)
	}
	node := fmt.Sprintf("http://127.0.0.1:%d", port)
	id, key, err := secrets.Mint(token.Payload{UID: uid, Node: node, Expires: time.Now().Add(24 * time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	prefix := "/storage/1.5/" + strconv.FormatInt(uid, 10)
	return &storageClient{
		port: port, base: node + prefix, prefix: prefix, id: id, key: key,
		// A killed server must not leave a client waiting forever.
		hc: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	}
}

// storageReply is one answer of the storage.
type storageReply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *storageReply) String() string {
	return fmt.Sprintf("%d %.200s", r.Status, r.Body)
}

// do sends a Hawk-signed request for rel below the user's storage root
// ("/storage/bookmarks?full=1"). A nil body sends none.
func (c *storageClient) do(method, rel string, body []byte) (*storageReply, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+rel, r)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 9)
	rand.Read(nonce)
	a := hawk.Auth{ID: c.id, TS: time.Now().Unix(), Nonce: base64.RawURLEncoding.EncodeToString(nonce)}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		a.Hash = hawk.PayloadHash("application/json", body)
	}
	a.MAC = hawk.Sign([]byte(c.key), a, hawk.Request{Method: method, Host: "127.0.0.1", Port: c.port, Resource: req.URL.RequestURI()})
	req.Header.Set("Authorization", a.Header())
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &storageReply{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// storedBSO is a record as GET ?full=1 returns it.
type storedBSO struct {
	ID       string
	Payload  string
	Modified db.Timestamp
}

// readCollection returns every record of a collection by id (none for an
// unknown collection).
func (c *storageClient) readCollection(t testing.TB, coll string) map[string]storedBSO {
	t.Helper()
	r, err := c.do(http.MethodGet, "/storage/"+coll+"?full=1", nil)
	if err != nil {
		t.Fatalf("GET %s: %v", coll, err)
	}
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %s", coll, r)
	}
	var list []struct {
		ID       string      `json:"id"`
		Payload  string      `json:"payload"`
		Modified json.Number `json:"modified"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&list); err != nil {
		t.Fatalf("GET %s: %v in %.200s", coll, err, r.Body)
	}
	out := make(map[string]storedBSO, len(list))
	for _, b := range list {
		m, err := db.ParseTimestamp(b.Modified.String())
		if err != nil {
			t.Fatalf("GET %s: record %s: modified %q: %v", coll, b.ID, b.Modified, err)
		}
		out[b.ID] = storedBSO{ID: b.ID, Payload: b.Payload, Modified: m}
	}
	return out
}

// postAnswer is the body of a POST's 200 or 202.
type postAnswer struct {
	Modified json.Number       `json:"modified"`
	Batch    string            `json:"batch"`
	Success  []string          `json:"success"`
	Failed   map[string]string `json:"failed"`
}

func decodePost(body []byte) (postAnswer, db.Timestamp, error) {
	var a postAnswer
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		return a, 0, fmt.Errorf("POST answer %.200q: %w", body, err)
	}
	if len(a.Failed) > 0 {
		return a, 0, fmt.Errorf("POST answer %.200q: records failed", body)
	}
	if a.Modified == "" {
		return a, 0, nil
	}
	m, err := db.ParseTimestamp(a.Modified.String())
	return a, m, err
}

// recordsJSON is the JSON list of records ids with payload(id).
func recordsJSON(ids []string, payload func(string) string) []byte {
	type rec struct {
		ID      string `json:"id"`
		Payload string `json:"payload"`
	}
	list := make([]rec, len(ids))
	for i, id := range ids {
		list[i] = rec{ID: id, Payload: payload(id)}
	}
	b, err := json.Marshal(list)
	if err != nil {
		panic(err)
	}
	return b
}

// needRoot skips a test that must run as root (to mount a file system),
// or fails it when SYNCSERVER_TEST_REQUIRE lists "root".
func needRoot(t *testing.T, why string) {
	t.Helper()
	msg := "needs root (" + why + "); run as root, as CI does"
	if testdb.Required("root") {
		t.Fatalf("%s, and %s lists \"root\", so this is a failure, not a skip", msg, testdb.RequireEnv)
	}
	t.Skip(msg)
}

// payloadOf makes a payload that names its record and version, so that a
// record read back shows which write it came from, padded to about size
// bytes so that writes take some room. The padding is pseudo-random (the
// same for the same arguments): PostgreSQL compresses what repeats.
func payloadOf(id string, version, size int) string {
	p := fmt.Sprintf("%s#%d#", id, version)
	n := size - len(p)
	if n <= 0 {
		return p
	}
	h := fnv.New64a()
	h.Write([]byte(p))
	r := mrand.New(mrand.NewPCG(h.Sum64(), uint64(size)))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return p + string(b)
}

// mustJSONBody encodes v, which cannot fail for the maps and slices the
// tests build.
func mustJSONBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// parseTimestampBody reads a PUT's answer: the new timestamp, bare.
func parseTimestampBody(body []byte) (db.Timestamp, error) {
	return db.ParseTimestamp(strings.TrimSpace(string(body)))
}
