// deathsig_linux.go: a helper process ends with cnngpu, however cnngpu
// ends.

package loader

import (
	"os/exec"
	"syscall"
)

// endWithUs has cmd's process killed when this process ends (SIGKILL
// included: a `go mod download` left running after cnngpu was killed kept
// its temporary folder).
func endWithUs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
