//go:build !unix

package sqlite

import "errors"

const walHeaderWords = 6

// shmHeader is not mapped where there is no mmap: data_version is asked
// of SQLite instead.
type shmHeader struct{}

func mapSHM(string) (*shmHeader, error) { return nil, errors.New("sqlite: no mmap") }

func (*shmHeader) read(*[walHeaderWords]uint64) bool { return false }

func (*shmHeader) walFrames() (uint32, uint32, bool) { return 0, 0, false }

func (*shmHeader) close() {}
