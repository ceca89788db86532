// Package config reads syncserver.ini: the TOML file we ship, or the legacy
// INI file of Mozilla's Python syncserver read with konfig's rules, so that an
// operator who migrates keeps the file they have. Load applies the
// SYNCSERVER_* environment variables (one for every key, see env.go), fills
// defaults and validates every value, reporting problems as one line that
// names the file and the line, or the variable.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is the whole configuration of one server process. Durations are
// written in the file as seconds.
type Config struct {
	File   string // absolute path of the file read ("" when none was)
	Format string // "toml" or "ini" ("" when no file was read)

	Server ServerConfig

	// PublicURL is the URL Firefox uses to reach this server: Hawk checks,
	// token nodes and api_endpoint are built from it.
	PublicURL    PublicURL
	PublicURLSet bool // false when the default was used

	// Secrets sign tokens: the newest (last) signs, any verifies, so a secret
	// can be rotated. Empty means "generate one and keep it in the database".
	Secrets           []string
	SecretFromEnvFile bool // read from SYNCSERVER_SECRET_FILE

	// Role is what this process serves: "all" (the default), "token"
	// (the tokenserver only: it hands out tokens for storage nodes it
	// does not serve) or "storage" (a storage node only, for the tokens
	// minted for its public_url).
	Role string

	SQLURI SQLURI
	// SQLURIPasswordFile is the file the database password was read from
	// and put into SQLURI ("" when none), so that it needs no encoding.
	SQLURIPasswordFile string

	// IdentityProvider is the Firefox Accounts server ("" means Mozilla's).
	IdentityProvider string
	// OAuthVerifier overrides the FxA OAuth server found from IdentityProvider.
	OAuthVerifier string

	AllowNewUsers      bool // false answers new users 401 new-users-disabled
	ForceWSGIEnviron   bool // take scheme, host and prefix from PublicURL, never from the request
	DebugEnabled       bool
	LogFormat          string   // "text" or "json"
	LogLevel           string   // "debug", "info", "warn" or "error"
	CORSAllowedOrigins []string // "*" allows any origin

	Storage     StorageConfig
	Tokenserver TokenserverConfig
	Hawk        HawkConfig
	Purge       PurgeConfig
	Accounts    AccountsConfig

	// MetricsListen is the address of the Prometheus /metrics endpoint
	// ("host:port"); "" serves none.
	MetricsListen string

	// EndpointPattern builds a token's api_endpoint from {node} and {uid}
	// (and {service}).
	EndpointPattern string
}

// ServerConfig is [server:main]: how the standalone and FastCGI front-ends listen.
type ServerConfig struct {
	Host string
	Port int
	// ForwardedAllowIPs are the peers whose X-Forwarded-Proto is believed
	// (addresses, CIDR ranges or "*"), as gunicorn's setting of that name.
	ForwardedAllowIPs []string
	ReadTimeout       time.Duration // 0 means none
	WriteTimeout      time.Duration // 0 means none
	IdleTimeout       time.Duration // 0 means none
	ShutdownTimeout   time.Duration // how long a graceful stop waits for requests
	MaxHeaderBytes    int
	SocketMode        os.FileMode // of a unix socket made by -fcgi unix:PATH
	SocketGroup       string      // group name or id given to that socket ("" keeps ours)

	// MaxBodyBufferBytes bounds the request bodies held in memory by all
	// requests together; past it uploads wait, then get 503.
	MaxBodyBufferBytes int64
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (runtime/debug.SetMemoryLimit) when the environment sets no
	// GOMEMLIMIT; 0 leaves the runtime's default (no limit).
	MemoryLimit int64
}

// StorageConfig is [storage]: the limits Firefox reads from info/configuration.
type StorageConfig struct {
	BatchUploadEnabled    bool
	QuotaSize             int64 // bytes per user; 0 means no quota
	MaxRequestBytes       int64
	MaxRecordPayloadBytes int64
	MaxPostRecords        int64
	MaxPostBytes          int64
	MaxTotalRecords       int64
	MaxTotalBytes         int64
	// SQLiteSynchronous is the PRAGMA synchronous level: FULL survives power
	// loss, NORMAL (safe with WAL against crashes) is faster.
	SQLiteSynchronous string
	// SQLiteCacheBytes is sqlite's page cache of each reader connection
	// (the writer gets four times it); 0 selects the backend's default.
	SQLiteCacheBytes int64
	// The connection pools of a MySQL or PostgreSQL database (the legacy
	// pool_* keys; sqlite ignores them). Each of the two pools, for reads
	// and for writes, opens up to PoolSize + PoolMaxOverflow connections,
	// each closed once unused for five minutes; PoolRecycle replaces a connection
	// older than that (0: never); PoolTimeout bounds the wait
	// for a connection, connecting included.
	PoolSize        int
	PoolMaxOverflow int
	PoolRecycle     time.Duration
	PoolTimeout     time.Duration
}

// TokenserverConfig is [tokenserver] with the [oauth] and [fxa] keys it uses.
type TokenserverConfig struct {
	TokenDuration time.Duration
	NodeURL       string // the {node} of EndpointPattern; PublicURL unless set
	// JWKS is a JSON key set ({"keys":[…]}) for verifying FxA access tokens
	// without asking the FxA OAuth server for its keys.
	JWKS                string
	OAuthTimeout        time.Duration
	DefaultIssuer       string
	MetricsUIDSecretKey string
	MaxUsers            int      // 0 means no limit
	AllowedUsers        []string // emails or FxA uids; empty allows everyone
	// MultiNode assigns newcomers among the nodes table (`syncserver
	// nodes`) and names each user's node in tokens; false: every user is
	// on NodeURL.
	MultiNode bool
	// SecretsFile is the absolute path of Mozilla's per-node secrets file
	// ([tokenserver] or [hawkauth] secrets_file): CSV lines
	// "node URL,timestamp:secret,…". When set, each node's tokens are
	// signed with that node's newest secret instead of [syncserver]
	// secret. "" when unset.
	SecretsFile string
	// CapacityReleaseRate is Mozilla's capacity_release_rate: when no
	// node has room for a newcomer, this share of each node's capacity
	// is made available again.
	CapacityReleaseRate float64

	// OAuthScopes are the scopes of which an FxA access token must grant
	// one ([oauth] scope): Firefox's oldsync, and others for other clients.
	OAuthScopes []string
}

// PurgeConfig is [purge]: the background deletion of what nobody can see
// any more (expired records, abandoned batches, replaced users' storage).
type PurgeConfig struct {
	// Interval is the time between two purges; 0 turns the background
	// purge off (run `syncserver purge` from cron instead).
	Interval time.Duration
	// Grace is how long expired records and abandoned batches are kept.
	Grace time.Duration
	// ReplacedGrace is how long the storage of a uid replaced by a key
	// change, or of a retired account, is kept.
	ReplacedGrace time.Duration
	// RowsPerTransaction bounds each purge transaction.
	RowsPerTransaction int
}

// AccountsConfig is [accounts]: the built-in accounts service that Firefox
// signs in to instead of Mozilla's accounts.
type AccountsConfig struct {
	Enabled bool
	// PublicURL is the accounts origin, scheme://host[:port] without a
	// path or trailing slash: the public_url of [accounts] when set, else
	// the origin of [syncserver] public_url. Firefox needs the accounts at
	// the root of an origin, and WebCrypto a secure one: https, or http on
	// a loopback host.
	PublicURL    string
	PublicURLSet bool // false when taken from [syncserver] public_url
	// OpenSignup lets anyone create an account on the page; false: only
	// `syncserver accounts add` and invitations create them.
	OpenSignup bool
	// InviteTTL is how long a link of `syncserver accounts invite` works.
	InviteTTL time.Duration
	// AccessTokenTTL caps the OAuth access tokens handed to Firefox
	// (at most 6 hours).
	AccessTokenTTL time.Duration
	// LoginsPerAccount and LoginsPerAddress bound the sign-in attempts
	// per account and per client address in 15 minutes.
	LoginsPerAccount int
	LoginsPerAddress int
}

// HawkConfig is [hawkauth].
type HawkConfig struct {
	// ExpiredTokenTimeout is how long past expiry a token still reads
	// info/collections.
	ExpiredTokenTimeout time.Duration
	// TimestampWindow is how far a Hawk timestamp may be from our clock.
	// It is wide because clients' clocks are often wrong; 0 disables the check.
	TimestampWindow time.Duration
	// TokenCacheBytes bounds the memory of the parsed-token cache.
	TokenCacheBytes int64
}

// Defaults that are referred to by more than one place.
const (
	DefaultPublicURL       = "http://localhost:5000/"
	DefaultEndpointPattern = "{node}/storage/1.5/{uid}"
	defaultDBFile          = "syncserver.db"

	// DefaultMemoryLimit is [server:main] memory_limit's default. It is
	// soft: past it the garbage collector runs more often (using at most
	// half the CPU), nothing is refused. It counts only Go's memory, not
	// sqlite's page caches nor the binary's code, which take the rest of
	// a 64 MB budget: about 8 and 18 MB. Go keeps the memory it freed
	// until it nears the limit, so under sustained load the limit, more
	// than the live data, sets the resident size: at 40 MiB a 90-second
	// S6 run peaked at 67 MB, at 28 MiB at 57 MB, at the same throughput
	// (at 24 MiB the collector began to cost throughput). While a limit
	// set here is in force the program also sets the collector's pace to
	// 400 (cmd/syncserver's gcPercentUnderLimit), so that the limit, not
	// the doubling of a small live heap, decides when garbage is collected.
	DefaultMemoryLimit = 28 << 20
	// DefaultTokenCacheBytes is [hawkauth] token_cache_bytes' default:
	// about 4,000 clients' tokens of about 1 KB.
	DefaultTokenCacheBytes = 4 << 20

	// MaxAccessTokenTTL is the longest life of an access token of our
	// accounts: Firefox asks for 6 hours, and a stolen token must not
	// outlive that.
	MaxAccessTokenTTL = 6 * time.Hour
)

// Default returns the configuration used for everything the file does not
// set. The sqlite database is syncserver.db in dir, which should be absolute.
func Default(dir string) *Config {
	u, err := ParsePublicURL(DefaultPublicURL)
	if err != nil {
		panic(err) // a constant
	}
	c := &Config{
		PublicURL:          u,
		SQLURI:             sqliteURI(filepath.Join(dir, defaultDBFile)),
		Role:               "all",
		AllowNewUsers:      true,
		LogFormat:          "text",
		LogLevel:           "info",
		CORSAllowedOrigins: []string{"*"},
		EndpointPattern:    DefaultEndpointPattern,
	}
	c.Server = ServerConfig{
		Host:              "127.0.0.1",
		Port:              5000,
		ForwardedAllowIPs: []string{"127.0.0.1", "::1"},
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		SocketMode:        0o660,

		// 15 bodies of the largest size at once, hundreds of usual ones;
		// see handlers.DefaultBodyBufferBytes.
		MaxBodyBufferBytes: 32 << 20,

		// With the page caches and the caches below, what keeps the
		// server's RSS within 64 MB under load (README, Performance).
		MemoryLimit: DefaultMemoryLimit,
	}
	c.Storage = StorageConfig{
		BatchUploadEnabled:    true,
		MaxRequestBytes:       2<<20 + 4096,
		MaxRecordPayloadBytes: 2 << 20,
		MaxPostRecords:        100,
		MaxPostBytes:          2 << 20,
		MaxTotalRecords:       10000,
		MaxTotalBytes:         200 << 20,
		SQLiteSynchronous:     "FULL",
		PoolSize:              5,
		PoolMaxOverflow:       10,
		PoolRecycle:           time.Hour,
		PoolTimeout:           30 * time.Second,
	}
	c.Tokenserver = TokenserverConfig{
		TokenDuration: time.Hour,
		NodeURL:       u.String(),
		OAuthTimeout:  10 * time.Second,
		OAuthScopes:   []string{OldSyncScope},

		CapacityReleaseRate: 0.1,
	}
	c.Purge = PurgeConfig{
		Interval:           time.Hour,
		Grace:              24 * time.Hour,
		ReplacedGrace:      7 * 24 * time.Hour,
		RowsPerTransaction: 1000,
	}
	c.Accounts = AccountsConfig{
		PublicURL:        u.Origin(),
		InviteTTL:        7 * 24 * time.Hour,
		AccessTokenTTL:   MaxAccessTokenTTL,
		LoginsPerAccount: 10,
		LoginsPerAddress: 30,
	}
	c.Hawk = HawkConfig{
		ExpiredTokenTimeout: 2 * time.Hour,
		TimestampWindow:     365 * 24 * time.Hour,
		TokenCacheBytes:     DefaultTokenCacheBytes,
	}
	return c
}

// Notice reports something in the configuration that is accepted but has no
// effect (a legacy key) or that the operator should look at.
type Notice struct {
	File string // "" when the notice is about the environment
	Line int    // 0 when the notice is not about one line
	Msg  string
}

func (n Notice) String() string { return position(n.File, n.Line) + n.Msg }

// Error is a configuration error; its text is one line naming the file and
// the line ("syncserver.ini:14: [syncserver] public_url: …"), or the
// environment variable at fault.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return position(e.File, e.Line) + ClipMessage(e.Msg) }

func position(file string, line int) string {
	switch {
	case file == "":
		return ""
	case line <= 0:
		return file + ": "
	}
	return fmt.Sprintf("%s:%d: ", file, line)
}

// oneLine keeps a message on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
