//go:build unix

package main

import (
	"io/fs"
	"os/user"
	"strconv"
	"syscall"
)

// Access modes of access(2).
const (
	accessW = 0x2
	accessX = 0x1
	accessR = 0x4
)

// canWriteDir reports whether this process may create files in dir (it
// asks the kernel, which knows read-only mounts, ACLs and root; nothing is
// created).
func canWriteDir(dir string) bool { return syscall.Access(dir, accessW|accessX) == nil }

// canReadWrite reports whether this process may open path for reading
// and writing.
func canReadWrite(path string) bool { return syscall.Access(path, accessR|accessW) == nil }

// ownerName is the name (or uid) of a file's owner, "" when unknown.
func ownerName(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	uid := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return uid
}

// ownerIDs is a file's owner and group ids.
func ownerIDs(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}
