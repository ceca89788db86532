//go:build !unix

package fcgi

import (
	"testing"
	"time"
)

// processCPU is not measured here: cpu-µs/op reads 0.
func processCPU(testing.TB) time.Duration { return 0 }
