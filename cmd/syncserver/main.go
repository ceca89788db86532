// Command syncserver is a self-hosted Firefox Sync 1.5 server: tokenserver
// and SyncStorage in one binary, served over standalone HTTP or FastCGI.
//
// Usage:
//
//	syncserver [-config PATH] [-http ADDR | -fcgi ADDR]
//	syncserver version
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"syncserver/internal/cmalloc"
)

// version is set at build time with -ldflags "-X main.version=…"; when it
// is empty the module's build information is used.
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := NewMain()
	m.SetMemoryLimit = debug.SetMemoryLimit
	m.SetGCPercent = debug.SetGCPercent
	m.MallocArenas = cmalloc.Cap()
	if err := m.ParseFlags(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, errHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "syncserver:", err)
		os.Exit(2)
	}
	os.Exit(m.Main(ctx))
}
