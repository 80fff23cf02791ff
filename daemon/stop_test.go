package daemon

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProcessGone: a kill that races the init's exit is no error once the
// process is gone or a zombie; a live process is not gone.
func TestProcessGone(t *testing.T) {
	if processGone(os.Getpid()) {
		t.Error("this process is reported gone")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	// Wait for the exit without reaping: the child is then a zombie.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Error("a zombie is not reported gone")
	}
	cmd.Wait()
	if !processGone(pid) {
		t.Error("a reaped process is not reported gone")
	}
}
