// Package cmalloc caps the arenas of the C library's allocator, which
// holds the memory of sqlite: its page caches, statements and rows.
//
// glibc gives a thread that finds the malloc arenas busy an arena of its
// own, up to eight per CPU. A Go program calls C from whichever of its
// threads runs the goroutine, so sqlite's allocations spread over many
// arenas, each keeping freed memory for its own threads: megabytes of
// resident memory that nothing uses. Two arenas keep that memory where
// the next call finds it, and two threads in sqlite from waiting on each
// other's allocations.
//
// Importing the package sets the cap when the program starts, before Go's
// runtime starts its threads: set later, it would only stop arenas being
// added to those the threads already made. An operator's own cap
// (MALLOC_ARENA_MAX, or glibc.malloc.arena_max in GLIBC_TUNABLES) wins.
// Where the C library is not glibc, or without cgo, nothing is done.
package cmalloc

// Cap returns the cap on the arenas set at start (two), or 0 when none was
// set: the environment chose its own, or the C library has no such
// setting.
func Cap() int { return capSet() }

// Count returns the number of arenas the C allocator has made, or -1
// where it cannot tell.
func Count() int { return count() }
