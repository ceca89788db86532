package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// What the administration commands share: flags anywhere on the line,
// tables for people, JSON for scripts, and the exit statuses.

// Exit statuses of the commands.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed, or check found a problem
	exitUsage = 2 // the command line is wrong
)

// parseInterleaved parses flags that may come before, between or after the
// positional arguments ("users delete 12 --yes"), and returns the
// positional ones. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlags returns a flag set for a command that prints its usage to
// stderr. It takes the flags of every command too (globalFlags).
func (m *Main) newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("syncserver "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	m.globalFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: syncserver [-config FILE] %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// globalFlags adds the flags of the whole program (-config, -http,
// -fcgi) to fs, bound to m. Every command's flag set takes them, so they
// work after the command's name as well as before it: people write
// "syncserver check -config /etc/syncserver/syncserver.ini".
func (m *Main) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&m.ConfigPath, "config", m.ConfigPath, "configuration `file`; $SYNCSERVER_CONFIG sets the default")
	fs.Var(&listenFlag{addr: &m.HTTPAddr, other: &m.FCGIAddr, otherName: "-fcgi"}, "http", "serve standalone HTTP on `host:port`")
	fs.Var(&listenFlag{addr: &m.FCGIAddr, other: &m.HTTPAddr, otherName: "-http"}, "fcgi", "serve FastCGI on `host:port` or unix:/path/to/socket")
}

// listenFlag is -http or -fcgi, which exclude each other.
type listenFlag struct {
	addr, other *string
	otherName   string
}

func (f *listenFlag) String() string {
	if f == nil || f.addr == nil {
		return ""
	}
	return *f.addr
}

func (f *listenFlag) Set(s string) error {
	if *f.other != "" && s != "" {
		return errors.New("-http and -fcgi cannot be used together")
	}
	*f.addr = s
	return nil
}

// leadingGlobalFlags reads the flags of the whole program that come
// between a command and its subcommand ("users -config X list") and
// returns the rest.
func (m *Main) leadingGlobalFlags(args []string) ([]string, error) {
	fs := flag.NewFlagSet("syncserver", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {} // the command prints its own
	m.globalFlags(fs)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return []string{"-h"}, nil
	} else if err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

// flagError is the status of a command line the flag package refused (it
// printed why); -h is no mistake.
func flagError(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// badArgs prints a mistake in the positional arguments and the usage.
func (m *Main) badArgs(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(m.Stderr, "syncserver: "+format+"\n", args...)
	fs.Usage()
	return exitUsage
}

// fail prints err and returns exitFail.
func (m *Main) fail(err error) int {
	fmt.Fprintln(m.Stderr, "syncserver:", err)
	return exitFail
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(headers) > 0 {
		t.row(anySlice(headers)...)
	}
	return t
}

func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	io.WriteString(t.tw, "\n")
}

func (t *table) flush() { t.tw.Flush() }

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// isTerminal reports whether w is a terminal, where progress is shown.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// formatBytes is n in binary units, to three significant digits.
func formatBytes(n int64) string {
	if n < 0 {
		return "unknown"
	}
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, i := float64(n), 0
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	for v /= unit; v >= unit && i < len(units)-1; i++ {
		v /= unit
	}
	prec := 2
	if v >= 100 {
		prec = 0
	} else if v >= 10 {
		prec = 1
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + " " + units[i]
}

// parseBytes reads a size: bytes, or a number with a unit (KB, MB, GB, TB
// are powers of 1000; KiB, MiB, GiB, TiB of 1024).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToLower(strings.TrimSpace(s[len(num):]))
	mult := map[string]int64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || mult == 0 || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with KB, MB, GB, KiB, MiB or GiB)", s)
	}
	return n * mult, nil
}

// formatMillis is an epoch-milliseconds time for people, "never" for 0.
func formatMillis(ms int64) string {
	if ms <= 0 {
		return "never"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05Z")
}

// jsonTime is an epoch-milliseconds time for scripts: RFC 3339, or null.
func jsonTime(ms int64) *string {
	if ms <= 0 {
		return nil
	}
	s := time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
	return &s
}

// parseDuration reads seconds ("3600") or a Go duration ("1h", "7d" is
// not one: use "168h").
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a number of seconds or a duration such as 36h", s)
	}
	return d, nil
}

// durationFlag is a flag of seconds or a Go duration.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	f.d, f.set = d, err == nil
	return err
}

// confirm asks a yes/no question on the terminal. Without a terminal on
// stdin it refuses: scripts pass --yes.
func (m *Main) confirm(question string) (bool, error) {
	if m.Stdin == nil || !isTerminal(m.Stdin) {
		return false, errors.New("not confirmed: add --yes to run this without a question")
	}
	fmt.Fprintf(m.Stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(m.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
