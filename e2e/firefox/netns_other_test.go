//go:build !linux

package firefox

import (
	"errors"
	"os/exec"
)

const usernsEnv = "SYNCSERVER_E2E_FIREFOX_USERNS"

func namespaceAttr(*exec.Cmd) func() { return func() {} }

func inUserNamespace() bool { return false }

func loopbackUp() error { return errors.New("network namespaces need Linux") }
