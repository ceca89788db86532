package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100
// on every Linux).
const clockTick = 10 * time.Millisecond

// procStat is the parent and the CPU time (user + system, all threads) of a
// process, from /proc/PID/stat; ok is false when it cannot be read.
func procStat(pid int) (ppid int, cpu time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return ppid, time.Duration(ut+st) * clockTick, true
}

// treeCPU is the CPU time used so far by pid and its children (a web
// server's master and its workers), each counted while it is alive.
func treeCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	_, total, _ := procStat(pid)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		child, err := strconv.Atoi(filepath.Base(d))
		if err != nil || child == pid {
			continue
		}
		if ppid, cpu, ok := procStat(child); ok && ppid == pid {
			total += cpu
		}
	}
	return total
}

// cpuSample is the CPU time of each process of a run at one moment.
type cpuSample struct{ server, web, load time.Duration }

func sampleCPU(server, web, load int) cpuSample {
	_, s, _ := procStat(server)
	_, l, _ := procStat(load)
	return cpuSample{server: s, web: treeCPU(web), load: l}
}
