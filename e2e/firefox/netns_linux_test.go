//go:build linux

package firefox

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"
)

// usernsEnv tells the copy in the namespaces that it runs in a user
// namespace (the outer test was not root), where it is root only in name.
const usernsEnv = "SYNCSERVER_E2E_FIREFOX_USERNS"

// namespaceAttr makes cmd start in new network and PID namespaces (and a
// user namespace mapping the current user to root when not root), and die
// when this test does. Pdeathsig fires when the creating thread exits, so
// the thread stays locked until the returned function is called.
func namespaceAttr(cmd *exec.Cmd) (unlock func()) {
	runtime.LockOSThread()
	attr := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWPID,
		Pdeathsig:  syscall.SIGKILL,
	}
	if os.Geteuid() != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		cmd.Env = append(cmd.Env, usernsEnv+"=1")
	}
	cmd.SysProcAttr = attr
	return runtime.UnlockOSThread
}

// inUserNamespace reports whether this copy runs in the user namespace of
// a non-root outer test.
func inUserNamespace() bool { return os.Getenv(usernsEnv) == "1" }

// loopbackUp brings up "lo", which a new network namespace starts with
// down (what "ip link set lo up" does, without needing iproute2).
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(fd)
	// struct ifreq: a 16-byte name, then a union whose first member here is
	// the short ifr_flags.
	var ifr [40]byte
	copy(ifr[:], "lo")
	if err := ioctl(fd, syscall.SIOCGIFFLAGS, &ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS lo: %w", err)
	}
	flags := (*uint16)(unsafe.Pointer(&ifr[16]))
	*flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	if err := ioctl(fd, syscall.SIOCSIFFLAGS, &ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS lo: %w", err)
	}
	return nil
}

func ioctl(fd int, req uintptr, ifr *[40]byte) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(ifr))); errno != 0 {
		return errno
	}
	return nil
}
