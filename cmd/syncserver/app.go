package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"syncserver/db"
	"syncserver/fcgi"
	"syncserver/handlers"
	"syncserver/httpd"
	"syncserver/internal/config"
)

var errHelp = flag.ErrHelp

// Main is the program: ParseFlags reads the command line, Run opens the
// database and starts serving, Close stops gracefully. Tests drive it the
// same way main does, on port 0 with a temporary database.
type Main struct {
	Stdin  *os.File
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (SYNCSERVER_* overrides).
	Getenv func(string) string

	ConfigPath string
	HTTPAddr   string
	FCGIAddr   string
	// Command is the subcommand ("" serves); Args are its arguments.
	Command string
	Args    []string

	// ConfigOptional: ConfigPath is the default, not asked for, so the
	// server may run without it from the environment alone (config.go).
	ConfigOptional bool
	// Environ lists the environment, to point out a misspelt variable
	// (nil: not checked).
	Environ func() []string
	// SetMemoryLimit applies [server:main] memory_limit when serving:
	// runtime/debug.SetMemoryLimit in the real program. It is process-wide,
	// so NewMain leaves it nil (not applied) for tests that run Main.
	SetMemoryLimit func(int64) int64
	// SetGCPercent sets the garbage collector's pace along with that
	// limit: runtime/debug.SetGCPercent in the real program, nil (not
	// applied) in tests, as SetMemoryLimit.
	SetGCPercent func(int) int
	// MallocArenas is the cap on the C allocator's arenas (sqlite's
	// memory) that internal/cmalloc set when the program started, for the
	// log; 0 when none was set.
	MallocArenas int

	Config *config.Config
	Logger *slog.Logger
	Store  db.Store

	handler handlers.Handler
	// standby waits for a database that did not answer at start.
	standby  *standby
	listener net.Listener
	frontEnd string
	// activation names the socket systemd passed (LISTEN_FDS), if any.
	activation string
	stopper    interface{ Shutdown(context.Context) error }
	served     chan error
	// ops are the purge and metrics running beside the server (ops.go).
	ops *operations
	// parts are built from the configuration before the database is
	// opened (startup.go).
	parts *startParts
}

// NewMain returns a Main wired to the process's standard streams and
// environment.
func NewMain() *Main {
	return &Main{
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,

		Environ: os.Environ,
	}
}

const usage = `Usage:
  syncserver [flags]              serve (standalone HTTP, or FastCGI)
  syncserver [flags] COMMAND ...  run a command (listed below); the flags
                                  may also follow the command

Without -fcgi, syncserver serves FastCGI on standard input when it is a
socket (Apache mod_fcgid starts it that way) and -http is not given, and
otherwise standalone HTTP: on the socket systemd passes (LISTEN_FDS, socket
activation by syncserver.socket) if any, else on -http or [server:main] host
and port (default 127.0.0.1:5000).

Flags:
`

// ParseFlags reads the command line.
func (m *Main) ParseFlags(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("syncserver", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	defConfig := m.Getenv("SYNCSERVER_CONFIG")
	if defConfig == "" {
		defConfig = "./syncserver.ini"
	}
	m.ConfigPath = defConfig
	m.globalFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nCommands:")
		cmds := commands()
		for _, name := range slices.Sorted(maps.Keys(cmds)) {
			fmt.Fprintf(fs.Output(), "  %-12s %s\n", name, cmds[name].summary)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	m.ConfigOptional = m.Getenv(config.EnvConfig) == ""
	fs.Visit(func(f *flag.Flag) { m.ConfigOptional = m.ConfigOptional && f.Name != "config" })
	if rest := fs.Args(); len(rest) > 0 {
		m.Command, m.Args = rest[0], rest[1:]
	}
	if m.Command == "serve" {
		// "syncserver serve -config X": serve's flags are the program's.
		if err := fs.Parse(m.Args); err != nil {
			return err
		}
		if rest := fs.Args(); len(rest) > 0 {
			return fmt.Errorf("serve takes no arguments, got %q (try -h)", rest)
		}
		m.Args = nil
	}
	if _, ok := commands()[m.Command]; !ok && m.Command != "" && m.Command != "serve" {
		return fmt.Errorf("unknown command %q (try -h)", m.Command)
	}
	if m.HTTPAddr != "" && m.FCGIAddr != "" {
		return errors.New("-http and -fcgi cannot be used together")
	}
	return nil
}

// Main runs the command until ctx is cancelled (SIGTERM, SIGINT) and returns
// the process exit status.
func (m *Main) Main(ctx context.Context) int {
	if cmd, ok := commands()[m.Command]; ok {
		return cmd.run(ctx, m)
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(m.Stderr, "syncserver:", err)
		m.Close()
		return 1
	}
	status := 0
	select {
	case <-ctx.Done():
		m.Logger.Info("stopping: letting requests in flight finish")
	case err := <-m.served:
		if err != nil {
			m.Logger.Error("server stopped", "error", err.Error())
			status = 1
		}
	}
	if err := m.Close(); err != nil {
		m.Logger.Error("stopping", "error", err.Error())
		status = 1
	}
	return status
}

// Version is the program version: the one set at build time, else the
// module version and VCS revision from the build information.
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			rev := s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
			v += " " + rev
		}
	}
	return v
}

// Run loads the configuration, opens the database, builds the handlers and
// starts serving in the background. It returns once the server listens.
func (m *Main) Run(ctx context.Context) error {
	if err := m.load(ctx); err != nil {
		return err
	}
	m.applyMemoryLimit()
	h, err := m.buildHandler(ctx)
	switch {
	case err == nil:
		m.handler = h
		m.ensureNode(ctx)
	case errors.Is(err, db.ErrUnavailable):
		// The database does not answer yet: listen anyway (standby.go).
		m.standby = m.startStandby(err)
		m.handler = m.standby
	default:
		return err
	}
	if err := m.listen(); err != nil {
		return err
	}
	if m.standby != nil {
		return nil // the background work starts with the database
	}
	return m.startOperations()
}

// applyMemoryLimit sets the Go runtime's soft memory limit from
// [server:main] memory_limit, unless GOMEMLIMIT is set: the operator's
// explicit environment wins, as the runtime itself reads it at start.
//
// With its own limit in force, and no GOGC from the operator, it also lets
// the heap grow by gcPercentUnderLimit % over its live data between
// collections instead of Go's default 100 %: the limit, not the pace,
// bounds the memory then. See gcPercentUnderLimit.
func (m *Main) applyMemoryLimit() {
	limit := m.Config.Server.MemoryLimit
	switch {
	case m.SetMemoryLimit == nil:
	case m.Getenv("GOMEMLIMIT") != "":
		m.Logger.Info("memory limit from GOMEMLIMIT; [server:main] memory_limit is not used", "GOMEMLIMIT", m.Getenv("GOMEMLIMIT"))
	case limit > 0:
		m.SetMemoryLimit(limit)
		attrs := []any{"memory_limit", limit}
		if m.SetGCPercent != nil && m.Getenv("GOGC") == "" {
			m.SetGCPercent(gcPercentUnderLimit)
			attrs = append(attrs, "gc_percent", gcPercentUnderLimit)
		}
		m.Logger.Info("memory limit set", attrs...)
	}
	if m.MallocArenas > 0 {
		m.Logger.Info("C allocator arenas capped (MALLOC_ARENA_MAX sets another cap)", "malloc_arenas", m.MallocArenas)
	}
}

// gcPercentUnderLimit is the garbage collector's pace (GOGC) while
// memory_limit is in force. At Go's default of 100 a collection runs each
// time the heap has doubled from its live data, which here is small (about
// 6 MB: the caches are bounded), so a collection ran every 6 MB allocated:
// behind FastCGI that is every hundred or so requests, as net/http/fcgi
// allocates a 64 KiB buffer for each response, and the collector took a
// third of the server's CPU there. At 400 the heap may grow to five times
// the live data, which memory_limit caps first, so the resident size under
// sustained load is the same (the limit sets it) and collections are
// several times rarer. Measured on two vCPUs, in alternating runs: S1
// through nginx went from 114–124 to 86–100 µs of the server's CPU per
// request, S5 from 2,272 to 2,580 requests/s (medians of three), and the
// peak RSS of 90 seconds of S6 stayed at 56 MB. Without a memory limit the
// pace stays at Go's default, as the heap would then have no bound.
const gcPercentUnderLimit = 400

// ensureNode creates the tokenserver's service and node rows at start, and
// with them converts a legacy single-node users table (the store copies the
// file first and logs it), so that happens when the operator is watching
// rather than on the first token request. A failure is not fatal: the
// tokenserver tries again on its first request.
func (m *Main) ensureNode(ctx context.Context) {
	node, ok := ownNode(m.Config)
	if !ok {
		return
	}
	if err := m.Store.Users().EnsureNode(ctx, db.Service, node, tokenNodeCapacity); err != nil {
		m.Logger.Warn("could not prepare the tokenserver tables; the first token request will try again", "node", node, "error", err.Error())
	}
}

// ownNode is the node this process registers in the nodes table: its
// node_url (by default public_url), unless it is a storage-only node
// (whose row the operator adds with syncserver nodes add, on the
// tokenserver's side) or a token-only server spreading users over nodes
// it does not serve.
func ownNode(cfg *config.Config) (string, bool) {
	switch {
	case cfg.Role == "storage":
		return "", false
	case cfg.Role == "token" && cfg.Tokenserver.MultiNode:
		return "", false
	}
	return cfg.Tokenserver.NodeURL, true
}

// load reads the configuration, sets up the logger, runs the start-up
// validation (prepareStart) and opens the database: what serving and
// every command that touches data need.
func (m *Main) load(ctx context.Context) error {
	cfg, notices, err := m.loadConfig()
	if err != nil {
		return err
	}
	m.Config = cfg
	m.Logger = newLogger(m.Stderr, cfg)
	if cfg.File == "" && m.ConfigPath != "" {
		m.Logger.Info("config: no file " + m.ConfigPath + ": configured by the SYNCSERVER_* environment variables and the defaults")
	}
	for _, n := range notices {
		m.Logger.Info("config: " + n.String())
	}
	if m.parts, err = prepareStart(cfg, m.Logger); err != nil {
		return err
	}
	m.Store, err = openStore(ctx, cfg, m.Logger)
	return err
}

// newLogger builds the process logger from [syncserver] log_format and
// log_level (debug_enabled lowers the level to debug).
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(cfg.LogLevel) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	if cfg.DebugEnabled {
		level = slog.LevelDebug
	}
	hopts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
}

// listen picks the front-end and starts it.
func (m *Main) listen() error {
	cfg := m.Config
	shutdown := cfg.Server.ShutdownTimeout
	m.served = make(chan error, 1)
	switch {
	case m.FCGIAddr != "" || (m.HTTPAddr == "" && fcgi.StdinIsSocket()):
		var (
			l   net.Listener
			err error
		)
		fopts := fcgiOptions(cfg, m.Logger)
		if m.FCGIAddr != "" {
			l, err = fcgi.Listen(m.FCGIAddr, fopts)
			if err != nil {
				return m.listenError(err, m.FCGIAddr)
			}
		} else if l, err = fcgi.ListenerFromStdin(); err != nil {
			return err
		}
		srv := fcgi.NewServer(m.handler, fopts)
		m.listener, m.stopper, m.frontEnd = l, srv, "fastcgi"
		go func() { m.served <- srv.Serve(l) }()
	default:
		addr := m.HTTPAddr
		if addr == "" {
			addr = net.JoinHostPort(cfg.Server.Host, strconv.Itoa(cfg.Server.Port))
		}
		// A socket from systemd (syncserver.socket) wins over the
		// address: it stays open across restarts, so connections made
		// while the server restarts wait instead of being refused.
		act, err := httpd.ListenerFromEnv(m.Getenv)
		if err != nil {
			return err
		}
		var l net.Listener
		if act != nil {
			l = act.Listener
			name := act.Name
			if name == "" {
				name = "unnamed"
			}
			m.activation = name
			m.Logger.Info("socket activation: serving HTTP on the socket passed by systemd (LISTEN_FDS); "+
				"the address "+addr+" is not used", "socket", name, "addr", l.Addr().String())
		} else if l, err = net.Listen("tcp", addr); err != nil {
			return m.listenError(err, addr)
		}
		srv, err := httpd.NewServer(m.handler, httpd.Options{
			MaxRequestBytes:   cfg.Storage.MaxRequestBytes,
			MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
			ReadTimeout:       cfg.Server.ReadTimeout,
			WriteTimeout:      cfg.Server.WriteTimeout,
			IdleTimeout:       cfg.Server.IdleTimeout,
			ShutdownTimeout:   shutdown,
			ForwardedAllowIPs: cfg.Server.ForwardedAllowIPs,
			Logger:            m.Logger,
		})
		if err != nil {
			l.Close()
			return err
		}
		m.listener, m.stopper, m.frontEnd = l, srv, "http"
		go func() { m.served <- srv.Serve(l) }()
	}
	attrs := []any{"front_end", m.frontEnd, "addr", m.listener.Addr().String()}
	if m.activation != "" {
		attrs = append(attrs, "socket", m.activation)
	}
	m.Logger.Info("serving", append(attrs, "public_url", m.Config.PublicURL.String(), "config", m.Config.File, "version", Version())...)
	if m.frontEnd == "http" {
		m.Logger.Info("point Firefox at this server: set identity.sync.tokenserver.uri to " +
			m.Config.PublicURL.String() + "/token/1.0/sync/1.5 in about:config")
	}
	return nil
}

// Addr is the address the server listens on (useful with port 0).
func (m *Main) Addr() net.Addr {
	if m.listener == nil {
		return nil
	}
	return m.listener.Addr()
}

// Close stops accepting requests, lets those in flight finish (bounded by
// [server:main] shutdown_timeout) and closes the database.
func (m *Main) Close() error {
	var errs []error
	if m.stopper != nil {
		timeout := 30 * time.Second
		if m.Config != nil && m.Config.Server.ShutdownTimeout > 0 {
			timeout = m.Config.Server.ShutdownTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if err := m.stopper.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		cancel()
		m.stopper = nil
	}
	if m.standby != nil {
		m.standby.stop()
		m.standby = nil
	}
	if err := m.stopOperations(context.Background()); err != nil {
		errs = append(errs, fmt.Errorf("stopping the metrics endpoint: %w", err))
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing database: %w", err))
		}
		m.Store = nil
	}
	return errors.Join(errs...)
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
