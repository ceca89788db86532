// Command syncload drives a running syncserver with the request mixes of
// docs/BENCHMARKS.md and reports throughput and latency percentiles. It signs its
// own tokens with the server's secret, so it needs no accounts server:
//
//	syncload -url http://localhost:5000 -secret SECRET -scenario s1 -c 32 -d 60s
//
// Scenarios: s1 (idle poll: info/collections, 70 % with
// X-If-Modified-Since), s5 (Mozilla's load-test mix: sessions of
// info/collections, meta/global, GETs since, POSTs and batches, deletes),
// s6 (the blend: polls, small reads and writes, batches, 1000-record
// pages, deletes), get100 (GET 100 newest of a 20,000-record history
// collection), post100 (POST 100 records of about 450 bytes), token (S7:
// storage tokens for FxA JWTs the server verifies locally, see token.go),
// token-free lbheartbeat (the HTTP ceiling).
//
// -node-secrets spreads the users over several storage nodes (role =
// "storage" behind one token server): it reads the token server's secrets
// file and gives each user, in turn, a token for the next node of the
// file, minted with that node's secret, and sends the user's requests
// there. -url and -secret then serve only -scenario lbheartbeat.
//
// -storage-path names where the server keeps the storage API
// ("/storage/1.5", syncserver's api_endpoint; "/1.5" is the bare Sync 1.5
// layout other servers use), so the same scenarios drive any Sync 1.5
// server that verifies tokenlib tokens made with a shared secret.
package main

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"syncserver/hawk"
	"syncserver/token"
)

type options struct {
	base        string
	secret      string
	scenario    string
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	users       int
	firstUID    int64
	jwtKey      string // the token scenario's signing key (PEM)
	storagePath string
	nodeSecrets string // a secrets file: users spread over its nodes
}

func main() {
	var o options
	flag.StringVar(&o.base, "url", "http://localhost:5000", "the server's public_url")
	flag.StringVar(&o.secret, "secret", "", "the server's token secret ([syncserver] secret)")
	flag.StringVar(&o.scenario, "scenario", "s1", "s1, s5, s6, get100, post100, token or lbheartbeat")
	flag.IntVar(&o.concurrency, "c", 32, "concurrent clients")
	flag.DurationVar(&o.duration, "d", 30*time.Second, "measured duration")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "unmeasured warm-up")
	flag.IntVar(&o.users, "users", 100, "distinct users")
	flag.Int64Var(&o.firstUID, "first-uid", 1000000, "uid of the first user (use a range no real user has)")
	flag.StringVar(&o.jwtKey, "jwt-key", "", "token scenario: RSA private key (PEM) signing the JWTs; created when missing")
	printJWKS := flag.Bool("print-jwks", false, "print the key set of -jwt-key for the server's [oauth] jwks, and exit")
	flag.StringVar(&o.storagePath, "storage-path", "/storage/1.5", "path of the storage API under -url, before /{uid}")
	flag.StringVar(&o.nodeSecrets, "node-secrets", "", "spread the users over the storage nodes of this secrets file (the token server's [tokenserver] secrets_file), each user with a token of its node")
	flag.Parse()
	if *printJWKS {
		k, err := loadJWTKey(o.jwtKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, "syncload:", err)
			os.Exit(1)
		}
		fmt.Println(jwksOf(k))
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "syncload:", err)
		os.Exit(1)
	}
}

// user is one synthetic client with its own token.
type user struct {
	uid     int64
	id, key string
	// lastSeen is the X-Last-Modified of its last info/collections; the
	// clients of the load share users, so it is read and written atomically.
	lastSeen  atomic.Pointer[string]
	prefixURL string
	// node is where the user's requests go: its storage node, or -url.
	node  *target
	token *tokenUser // the token scenario's credentials
	// inSession is held by the s5 client syncing as this user: a user's
	// devices do not sync at the same instant, and two sessions of one
	// user would delete each other's batches.
	inSession atomic.Bool
}

// seen returns lastSeen, or "" before the first info/collections.
func (u *user) seen() string {
	if p := u.lastSeen.Load(); p != nil {
		return *p
	}
	return ""
}

// target is a server requests go to, with the host and port Hawk signs.
type target struct {
	url  *url.URL // no trailing slash
	host string
	port int
}

func newTarget(raw string) (*target, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL", raw)
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	return &target{url: u, host: strings.ToLower(u.Hostname()), port: port}, nil
}

type loader struct {
	o      options
	base   *url.URL
	def    *target // -url
	client *fasthttp.Client
	users  []*user
	errors atomic.Int64
	status map[int]int
}

func run(o options) error {
	sum, err := load(o)
	if err != nil {
		return err
	}
	fmt.Println(sum)
	return nil
}

// summary is the result of one measured run.
type summary struct {
	scenario      string
	clients       int
	duration      time.Duration
	requests      int
	p50, p95, p99 time.Duration
	errors        int64
	status        map[int]int
	// ops are the latencies of each kind of request, for the scenarios
	// that mix several (s5 and s6), sorted by name.
	ops []opSummary
}

// opSummary is the latency of one kind of request of a mix.
type opSummary struct {
	name                   string
	requests               int
	p50, p95, p99, slowest time.Duration
}

// String is the summary line, and for a mix one more line per kind of
// request (`op "NAME": requests=… p50=… p95=… p99=… max=…`), so that a
// requirement on every operation's p99 can be read off the run.
func (s summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario=%s clients=%d duration=%s requests=%d rps=%.0f p50=%s p95=%s p99=%s errors=%d status=%v",
		s.scenario, s.clients, s.duration, s.requests, float64(s.requests)/s.duration.Seconds(),
		s.p50.Round(time.Microsecond), s.p95.Round(time.Microsecond), s.p99.Round(time.Microsecond), s.errors, s.status)
	for _, o := range s.ops {
		fmt.Fprintf(&b, "\nop %q: requests=%d p50=%s p95=%s p99=%s max=%s", o.name, o.requests,
			o.p50.Round(time.Microsecond), o.p95.Round(time.Microsecond), o.p99.Round(time.Microsecond), o.slowest.Round(time.Microsecond))
	}
	return b.String()
}

// percentile is the p-th quantile of the sorted latencies lat.
func percentile(lat []time.Duration, p float64) time.Duration {
	return lat[int(float64(len(lat)-1)*p)]
}

// storagePath is o.storagePath with one leading slash and none trailing;
// empty means syncserver's /storage/1.5.
func storagePath(o options) string {
	p := strings.Trim(o.storagePath, "/")
	if p == "" {
		p = "storage/1.5"
	}
	return "/" + p
}

func load(o options) (summary, error) {
	def, err := newTarget(o.base)
	if err != nil {
		return summary{}, fmt.Errorf("-url: %w", err)
	}
	l := &loader{
		o: o, base: def.url, def: def,
		client: newClient(o.concurrency),
		status: make(map[int]int),
	}
	if o.scenario != "lbheartbeat" {
		if err := l.mintUsers(); err != nil {
			return summary{}, err
		}
		setup := l.setup
		if o.scenario == "token" {
			if o.jwtKey == "" {
				return summary{}, errors.New("the token scenario needs -jwt-key")
			}
			if o.nodeSecrets != "" {
				return summary{}, errors.New("the token scenario gets its tokens from the token server at -url: leave out -node-secrets")
			}
			setup = l.setupTokenUsers
		}
		if err := setup(); err != nil {
			return summary{}, err
		}
	}
	return l.measure()
}

// newClient is the load's HTTP client. No retries: a resent request
// carries the same Hawk nonce, which a server rightly rejects as a replay;
// a broken connection is one error, not a 403 after it.
func newClient(concurrency int) *fasthttp.Client {
	return &fasthttp.Client{MaxConnsPerHost: concurrency * 2, ReadTimeout: 30 * time.Second,
		MaxIdemponentCallAttempts: 1}
}

// mintUsers gives each user a token: for -url, signed with -secret, or,
// with -node-secrets, for the nodes of the file in turn, each signed with
// its node's secret.
func (l *loader) mintUsers() error {
	o := l.o
	nodes := []*target{l.def}
	secretsOf := map[*target]*token.Secrets{}
	if o.nodeSecrets != "" {
		f, err := os.Open(o.nodeSecrets)
		if err != nil {
			return fmt.Errorf("-node-secrets: %w", err)
		}
		ns, err := token.ParseNodeSecrets(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("-node-secrets %s: %w", o.nodeSecrets, err)
		}
		nodes = nodes[:0]
		for _, n := range ns.Nodes() {
			t, err := newTarget(n)
			if err != nil {
				return fmt.Errorf("-node-secrets %s: node %w", o.nodeSecrets, err)
			}
			nodes = append(nodes, t)
			secretsOf[t] = ns.For(n)
		}
	} else {
		if o.secret == "" {
			return errors.New("-secret is required: the server's [syncserver] secret (or the generated one: sqlite3 syncserver.db \"select value from settings where name='secret'\")")
		}
		secrets, err := token.NewSecrets(strings.Fields(o.secret))
		if err != nil {
			return err
		}
		secretsOf[l.def] = secrets
	}
	for i := 0; i < o.users; i++ {
		uid := o.firstUID + int64(i)
		node := nodes[i%len(nodes)]
		id, key, err := secretsOf[node].Mint(token.Payload{UID: uid, Node: node.url.String(), Expires: time.Now().Add(24 * time.Hour).Unix()})
		if err != nil {
			return err
		}
		l.users = append(l.users, &user{uid: uid, id: id, key: key, node: node,
			prefixURL: node.url.Path + storagePath(o) + "/" + strconv.FormatInt(uid, 10)})
	}
	return nil
}

// do sends one request and returns its status, X-Last-Modified and error.
//
// The tool shares the machine with the server it measures, so a request
// costs it little: no body copy unless asked (doBody), nonces from the
// runtime's generator rather than a system call (they need to be unique,
// not secret).
func (l *loader) do(u *user, method, resource string, hdr map[string]string, body []byte) (int, string, error) {
	st, lm, _, err := l.send(u, method, resource, hdr, body, false)
	return st, lm, err
}

// doBody is do that also returns the response body.
func (l *loader) doBody(u *user, method, resource string, hdr map[string]string, body []byte) (int, string, []byte, error) {
	return l.send(u, method, resource, hdr, body, true)
}

func (l *loader) send(u *user, method, resource string, hdr map[string]string, body []byte, wantBody bool) (int, string, []byte, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	t := l.def
	if u != nil && u.node != nil {
		t = u.node
	}
	req.SetRequestURI(t.url.Scheme + "://" + t.url.Host + resource)
	req.Header.SetMethod(method)
	if u != nil {
		var nonce [8]byte
		binary.LittleEndian.PutUint64(nonce[:], mrand.Uint64())
		a := hawk.Auth{ID: u.id, TS: time.Now().Unix(), Nonce: base64.StdEncoding.EncodeToString(nonce[:])}
		a.MAC = hawk.Sign([]byte(u.key), a, hawk.Request{Method: method, Host: t.host, Port: t.port, Resource: resource})
		req.Header.Set("Authorization", a.Header())
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	if err := l.client.Do(req, resp); err != nil {
		return 0, "", nil, err
	}
	var rb []byte
	if wantBody {
		rb = slices.Clone(resp.Body())
	}
	return resp.StatusCode(), string(resp.Header.Peek("X-Last-Modified")), rb, nil
}

// records returns n history-like records with payloads of Pareto(α=3) ×
// 300 bytes, capped at 5,000 (docs/BENCHMARKS.md).
func records(n int, prefix string) []byte {
	b := make([]byte, 0, n*512)
	b = append(b, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		size := int(300 / math.Pow(1-mrand.Float64(), 1.0/3))
		if size > 5000 {
			size = 5000
		}
		b = append(b, `{"id":"`...)
		b = append(b, prefix...)
		id := strconv.Itoa(i)
		b = append(b, "0000000"[len(id):]...)
		b = append(b, id...)
		b = append(b, `","payload":"`...)
		b = append(b, filler[:size]...)
		b = append(b, `","sortindex":`...)
		b = strconv.AppendInt(b, int64(mrand.IntN(1000)), 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

// filler is the payload text records cut from.
var filler = strings.Repeat("x", 5000)

func (l *loader) setup() error {
	fmt.Fprintf(os.Stderr, "setting up %d users for %s…\n", len(l.users), l.o.scenario)
	for _, u := range l.users {
		if l.o.scenario == "s1" || l.o.scenario == "s5" {
			// A user who polls has synced before: info/collections lists
			// at least meta/global (as a real Firefox's does).
			if st, _, err := l.do(u, "PUT", u.prefixURL+"/storage/meta/global", nil, []byte(`{"payload":"`+strings.Repeat("m", 300)+`"}`)); err != nil || st != 200 {
				return fmt.Errorf("PUT meta/global for uid %d: status %d, %v (is -secret right, and -url the server's public_url?)", u.uid, st, err)
			}
		}
		st, lm, err := l.do(u, "GET", u.prefixURL+"/info/collections", nil, nil)
		if err != nil || st != 200 {
			return fmt.Errorf("info/collections for uid %d: status %d, %v (is -secret right, and -url the server's public_url?)", u.uid, st, err)
		}
		u.lastSeen.Store(&lm)
		if l.o.scenario == "s6" {
			if err := l.setupBlend(u); err != nil {
				return err
			}
			continue
		}
		if l.o.scenario == "get100" && u == l.users[0] {
			// One heavy user: 20,000 history records in batches.
			for i := 0; i < 200; i++ {
				if st, _, err := l.do(u, "POST", u.prefixURL+"/storage/history", nil, records(100, fmt.Sprintf("h%03d", i))); err != nil || st != 200 {
					return fmt.Errorf("loading history: status %d, %v", st, err)
				}
			}
		}
	}
	return nil
}

// heavyUsers is how many of the s6 users get a history long enough for a
// 1000-record page.
const heavyUsers = 10

// setupBlend gives a user what a synced Firefox has: meta/global,
// crypto/keys and a history (2,000 records for the first heavyUsers, 200
// for the others).
func (l *loader) setupBlend(u *user) error {
	for _, c := range []string{"meta/global", "crypto/keys"} {
		if st, _, err := l.do(u, "PUT", u.prefixURL+"/storage/"+c, nil, []byte(`{"payload":"`+strings.Repeat("k", 300)+`"}`)); err != nil || st != 200 {
			return fmt.Errorf("PUT %s: status %d, %v", c, st, err)
		}
	}
	posts := 2
	if u.uid < l.o.firstUID+heavyUsers {
		posts = 20
	}
	for i := 0; i < posts; i++ {
		if st, _, err := l.do(u, "POST", u.prefixURL+"/storage/history", nil, records(100, fmt.Sprintf("s%03d", i))); err != nil || st != 200 {
			return fmt.Errorf("loading history: status %d, %v", st, err)
		}
	}
	_, lm, err := l.do(u, "GET", u.prefixURL+"/info/collections", nil, nil)
	u.lastSeen.Store(&lm)
	return err
}

// blend is one request of the S6 mix (docs/BENCHMARKS.md): 60 % info/collections
// (mostly 304), 8 % meta/global or crypto/keys, 15 % small incremental
// GET, 10 % POST of 1–100 records (half as a one-shot batch), 3 % a
// 1000-record page, 2 % a single PUT, 1 % DELETE of a collection, 1 %
// another info view.
func (l *loader) blend(r *mrand.Rand) (op string, st int, err error) {
	u := l.users[r.IntN(len(l.users))]
	switch p := r.IntN(100); {
	case p < 60:
		op = "info/collections"
		var hdr map[string]string
		if seen := u.seen(); r.IntN(10) < 9 && seen != "" {
			hdr = map[string]string{"X-If-Modified-Since": seen}
		}
		var lm string
		st, lm, err = l.do(u, "GET", u.prefixURL+"/info/collections", hdr, nil)
		if st == 200 {
			u.lastSeen.Store(&lm)
		}
	case p < 68:
		op = "GET meta/global, crypto/keys"
		c := "meta/global"
		if p%2 == 1 {
			c = "crypto/keys"
		}
		st, _, err = l.do(u, "GET", u.prefixURL+"/storage/"+c, nil, nil)
	case p < 83:
		op = "GET newer"
		newer := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
		st, _, err = l.do(u, "GET", u.prefixURL+"/storage/history?full=1&newer="+newer, nil, nil)
	case p < 93:
		op = "POST"
		target := u.prefixURL + "/storage/history"
		if p%2 == 1 {
			target += "?batch=true&commit=true"
		}
		st, _, err = l.do(u, "POST", target, nil, records(1+r.IntN(100), fmt.Sprintf("b%d-", r.IntN(1000))))
	case p < 96:
		op = "GET 1000"
		heavy := l.users[r.IntN(min(heavyUsers, len(l.users)))]
		st, _, err = l.do(heavy, "GET", heavy.prefixURL+"/storage/history?full=1&limit=1000&sort=newest", nil, nil)
	case p < 98:
		op = "PUT"
		st, _, err = l.do(u, "PUT", u.prefixURL+"/storage/tabs/"+strconv.Itoa(r.IntN(5)), nil, []byte(`{"payload":"`+strings.Repeat("t", 5000)+`"}`))
	case p < 99:
		op = "DELETE collection"
		st, _, err = l.do(u, "DELETE", u.prefixURL+"/storage/forms", nil, nil)
	default:
		op = "info/collection_counts"
		st, _, err = l.do(u, "GET", u.prefixURL+"/info/collection_counts", nil, nil)
	}
	return op, st, err
}

// recorder takes the outcome of one request: the kind of request it was
// (op, a short name such as "GET collection"), its status, error and
// latency. expected marks a status >= 400 the scenario asked for (the 404
// of a missing meta/global), which is not an error.
type recorder func(op string, st int, err error, d time.Duration, expected bool)

// step runs one unit of the scenario: a session of requests for s5, one
// request otherwise, and records each request.
func (l *loader) step(r *mrand.Rand, rec recorder) {
	if l.o.scenario == "s5" {
		l.session(r, rec)
		return
	}
	t0 := time.Now()
	op, st, err := l.one(r)
	rec(op, st, err, time.Since(t0), false)
}

// one runs one request of the scenario for a random user, and names it.
func (l *loader) one(r *mrand.Rand) (string, int, error) {
	sc := l.o.scenario
	switch sc {
	case "lbheartbeat":
		st, _, err := l.do(nil, "GET", l.base.Path+"/__lbheartbeat__", nil, nil)
		return sc, st, err
	case "s1":
		u := l.users[r.IntN(len(l.users))]
		var hdr map[string]string
		if seen := u.seen(); r.IntN(10) < 7 && seen != "" {
			hdr = map[string]string{"X-If-Modified-Since": seen}
		}
		st, _, err := l.do(u, "GET", u.prefixURL+"/info/collections", hdr, nil)
		return sc, st, err
	case "get100":
		u := l.users[0]
		st, _, err := l.do(u, "GET", u.prefixURL+"/storage/history?full=1&limit=100&sort=newest", nil, nil)
		return sc, st, err
	case "post100":
		u := l.users[r.IntN(len(l.users))]
		st, _, err := l.do(u, "POST", u.prefixURL+"/storage/history", nil, records(100, "p"))
		return sc, st, err
	case "s6":
		return l.blend(r)
	case "token":
		st, err := l.getToken(l.users[r.IntN(len(l.users))])
		return sc, st, err
	case "s5":
		return sc, 0, errors.New("s5 runs sessions: use step")
	}
	return sc, 0, fmt.Errorf("unknown scenario %q", l.o.scenario)
}

func (l *loader) measure() (summary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.o.warmup+l.o.duration)
	defer cancel()
	start := time.Now().Add(l.o.warmup)
	// These two lines on stderr mark the measured window, for a tool
	// that samples the processes' CPU time over it (scripts/benchreport).
	go func() {
		select {
		case <-time.After(l.o.warmup):
			fmt.Fprintln(os.Stderr, "syncload: measuring")
		case <-ctx.Done():
		}
	}()
	var mu sync.Mutex
	var lat []time.Duration
	byOp := make(map[string][]time.Duration)
	var wg sync.WaitGroup
	for w := 0; w < l.o.concurrency; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(seed, seed*7+1))
			var mine []time.Duration
			// Statuses are counted per client and added up at the end:
			// a shared lock per request would cost the tool more.
			statuses := make(map[int]int)
			mineByOp := make(map[string][]time.Duration)
			rec := func(op string, st int, err error, d time.Duration, expected bool) {
				if end := time.Now(); end.Add(-d).Before(start) || ctx.Err() != nil {
					return
				}
				if err != nil || (st >= 400 && !expected) {
					l.errors.Add(1)
				}
				statuses[st]++
				mine = append(mine, d)
				mineByOp[op] = append(mineByOp[op], d)
			}
			for ctx.Err() == nil {
				l.step(r, rec)
			}
			mu.Lock()
			lat = append(lat, mine...)
			for op, ds := range mineByOp {
				byOp[op] = append(byOp[op], ds...)
			}
			for st, n := range statuses {
				l.status[st] += n
			}
			mu.Unlock()
		}(uint64(w + 1))
	}
	wg.Wait()
	fmt.Fprintln(os.Stderr, "syncload: measured")
	if len(lat) == 0 {
		return summary{}, errors.New("no request completed")
	}
	slices.Sort(lat)
	sum := summary{
		scenario: l.o.scenario, clients: l.o.concurrency, duration: l.o.duration, requests: len(lat),
		p50: percentile(lat, 0.50), p95: percentile(lat, 0.95), p99: percentile(lat, 0.99),
		errors: l.errors.Load(), status: l.status,
	}
	if len(byOp) > 1 {
		for _, name := range slices.Sorted(maps.Keys(byOp)) {
			ds := byOp[name]
			slices.Sort(ds)
			sum.ops = append(sum.ops, opSummary{name: name, requests: len(ds),
				p50: percentile(ds, 0.50), p95: percentile(ds, 0.95), p99: percentile(ds, 0.99), slowest: ds[len(ds)-1]})
		}
	}
	return sum, nil
}

// s5Collections are the collections Mozilla's load test reads and writes.
var s5Collections = []string{"bookmarks", "forms", "passwords", "history", "prefs"}

// weighted returns i with probability w[i] / sum(w).
func weighted(r *mrand.Rand, w ...int) int {
	total := 0
	for _, x := range w {
		total += x
	}
	n := r.IntN(total)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	return len(w) - 1
}

// session is one sync of Mozilla's load-test mix (S5 of
// docs/BENCHMARKS.md) for a random user: info/collections; 1–2 GETs of
// meta/global, with a PUT when it is missing; 10 % a GET of clients newer
// than a while ago; 20 % a POST of one clients record; 0–4 GETs of a
// collection with full=1&newer= (weights 71/15/7/4/3); 0–4 POSTs of 20–100
// records to one collection (weights 67/18/9/4/2), half of the time as one
// atomic batch (batch=true, then batch=<id>, the last with commit=true);
// then 1 % of sessions DELETE a collection, and 1 % of the others DELETE
// the whole storage. Each request is recorded on its own; a session stops
// at its first failed request. A user has one session at a time.
func (l *loader) session(r *mrand.Rand, rec recorder) {
	u := l.users[r.IntN(len(l.users))]
	for tries := 0; !u.inSession.CompareAndSwap(false, true); tries++ {
		if tries > 4*len(l.users) {
			return // more clients than users: nothing free now
		}
		u = l.users[r.IntN(len(l.users))]
	}
	defer u.inSession.Store(false)
	coll := u.prefixURL + "/storage/"
	ok := true
	call := func(op, method, resource string, body []byte, allowed ...int) (int, []byte) {
		if !ok {
			return 0, nil
		}
		t0 := time.Now()
		st, _, resp, err := l.doBody(u, method, resource, nil, body)
		d := time.Since(t0)
		expected := slices.Contains(allowed, st)
		rec(op, st, err, d, expected)
		if err != nil || (st >= 400 && !expected) {
			ok = false
		}
		return st, resp
	}
	// A time well before this run's writes: the GETs return the records.
	newer := func() string {
		return strconv.FormatInt(time.Now().Add(-time.Duration(1+r.IntN(100))*time.Hour).Unix(), 10)
	}

	call("info/collections", "GET", u.prefixURL+"/info/collections", nil)
	for range 1 + r.IntN(2) {
		if st, _ := call("GET meta/global", "GET", coll+"meta/global", nil, 404); st == 404 {
			call("PUT meta/global", "PUT", coll+"meta/global", []byte(`{"payload":"`+strings.Repeat("m", 300)+`"}`))
		}
	}
	if r.IntN(100) < 10 {
		call("GET clients", "GET", coll+"clients?full=1&newer="+newer(), nil)
	}
	if r.IntN(100) < 20 {
		call("POST clients", "POST", coll+"clients", records(1, fmt.Sprintf("c%d-", r.IntN(10))))
	}
	for range weighted(r, 71, 15, 7, 4, 3) {
		call("GET newer", "GET", coll+s5Collections[r.IntN(len(s5Collections))]+"?full=1&newer="+newer(), nil)
	}
	if posts := weighted(r, 67, 18, 9, 4, 2); posts > 0 {
		target := coll + s5Collections[r.IntN(len(s5Collections))]
		batch := r.IntN(2) == 0
		id := ""
		for i := range posts {
			q, op := "", "POST"
			switch last := i == posts-1; {
			case !batch:
			case i == 0 && last:
				q, op = "?batch=true&commit=true", "POST commit"
			case i == 0:
				q, op = "?batch=true", "POST batch=true"
			case last:
				q, op = "?batch="+url.QueryEscape(id)+"&commit=true", "POST commit"
			default:
				q, op = "?batch="+url.QueryEscape(id), "POST batch"
			}
			st, resp := call(op, "POST", target+q, records(20+r.IntN(81), fmt.Sprintf("%c%d-", 'a'+i, r.IntN(1000))))
			if batch && i == 0 && !(posts == 1) && ok {
				var b struct {
					Batch any `json:"batch"`
				}
				if json.Unmarshal(resp, &b) != nil || b.Batch == nil {
					rec(op, st, fmt.Errorf("no batch id in %q", resp), 0, false)
					return
				}
				id = fmt.Sprint(b.Batch)
			}
		}
	}
	switch p := r.IntN(10000); {
	case p < 100:
		call("DELETE collection", "DELETE", coll+s5Collections[r.IntN(len(s5Collections))], nil, 404)
	case p < 199: // 1 % of the other 99 %
		call("DELETE storage", "DELETE", u.prefixURL+"/storage", nil)
	}
}
