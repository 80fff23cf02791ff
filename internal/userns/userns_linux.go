// Package userns creates user namespaces with given id mappings: for
// idmapped mounts (package mount), and for the network namespaces of
// containers that run in one (package network), which must belong to it.
package userns

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
)

// Open returns a new user namespace with the given mappings and, when net
// is set, a new network namespace that it owns (nil otherwise), as open
// files for the caller to close; each lives on while a descriptor or a
// bind mount holds it.
//
// A namespace needs a process: a child of this program is started in the
// new namespaces and stopped at its exec (ptrace), before it runs any
// code, long enough to open them; then it is killed and reaped. So Open
// fails where Yama forbids PTRACE_TRACEME (kernel.yama.ptrace_scope 3).
func Open(uids, gids []syscall.SysProcIDMap, net bool) (user, netns *os.File, err error) {
	if len(uids) == 0 || len(gids) == 0 {
		return nil, nil, fmt.Errorf("user namespace: empty uid or gid mapping")
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	flags := uintptr(syscall.CLONE_NEWUSER)
	if net {
		flags |= syscall.CLONE_NEWNET
	}
	// The tracer is the thread that started the child, until it is reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command(self)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  flags,
		UidMappings: uids,
		GidMappings: gids,
		Ptrace:      true,
		Pdeathsig:   syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("create user namespace: %w", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	dir := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/"
	if user, err = os.Open(dir + "user"); err != nil {
		return nil, nil, fmt.Errorf("open user namespace: %w", err)
	}
	if net {
		if netns, err = os.Open(dir + "net"); err != nil {
			user.Close()
			return nil, nil, fmt.Errorf("open network namespace: %w", err)
		}
	}
	return user, netns, nil
}
