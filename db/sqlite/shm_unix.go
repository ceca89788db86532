//go:build unix

package sqlite

import (
	"errors"
	"os"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// walHeaderWords is the first copy of the WAL-index header, 48 bytes, as
// 64-bit words.
const walHeaderWords = 6

// shmHeader is a read-only mapping of the start of the database's -shm
// file, the WAL-index that every process using the file shares. Its
// header (https://sqlite.org/walformat.html) begins with iChange, which
// the committing connection increments, and the WAL's size and salts;
// SQLite rewrites the header at every commit, second copy first, first
// copy last. So the first copy's bytes differ after any commit by any
// process, and reading them tells what PRAGMA data_version would, without
// a call into SQLite, a lock or a system call: the S1 poll asks it on
// every info/collections.
//
// Reading while a commit rewrites the header may see half of it: that is
// a change, and costs the cache a drop, never a missed commit. A reader
// that saw no change yet read before the commit's header write, and a
// request that commits finishes writing the header before its response
// leaves, so any client told of a commit is also seen by the next read.
type shmHeader struct {
	mem []byte
}

// mapSHM maps the header of path's -shm file. The caller must hold a
// connection open on the database in WAL mode: as long as one is open,
// SQLite never truncates the -shm file, which would make the mapping's
// pages fault (see read).
func mapSHM(path string) (*shmHeader, error) {
	f, err := os.Open(path + "-shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	const size = 4096 // a page; the header is the first 136 bytes
	if fi.Size() < size {
		return nil, errors.New("sqlite: -shm file too small to hold a WAL-index")
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return &shmHeader{mem: mem}, nil
}

// read copies the header's first copy into h. ok is false if the page
// faulted (the file was truncated under the mapping by something other
// than SQLite): the caller then stops using the mapping.
func (s *shmHeader) read(h *[walHeaderWords]uint64) (ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	for i := range h {
		// Atomic loads: another process writes these bytes.
		h[i] = atomic.LoadUint64((*uint64)(unsafe.Pointer(&s.mem[i*8])))
	}
	return true
}

// WAL-index offsets (https://sqlite.org/walformat.html): mxFrame in the
// header's first copy, nBackfill in the checkpoint information that
// follows the header's two copies. Both are 32-bit, in native byte order.
const (
	shmMxFrame   = 16
	shmNBackfill = 96
)

// walFrames reads how many frames the WAL holds (mxFrame: it falls back
// to 0 when a writer starts the WAL over) and how many of them a
// checkpoint has copied into the database (nBackfill). The two are read
// apart, each atomically; a commit or checkpoint in between makes them
// one step out of date, which is all the checkpointer's thresholds need.
// ok is false if the page faulted, as for read.
func (s *shmHeader) walFrames() (frames, backfilled uint32, ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	frames = atomic.LoadUint32((*uint32)(unsafe.Pointer(&s.mem[shmMxFrame])))
	backfilled = atomic.LoadUint32((*uint32)(unsafe.Pointer(&s.mem[shmNBackfill])))
	return frames, backfilled, true
}

// close unmaps the header.
func (s *shmHeader) close() {
	if s != nil && s.mem != nil {
		syscall.Munmap(s.mem)
		s.mem = nil
	}
}
