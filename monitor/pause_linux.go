package monitor

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// pauseArg is the argument that makes gantry-monitor a pod's pause process
// instead of a container's monitor.
const pauseArg = "pause"

// StartPause starts a pod's pause process: binary (gantry-monitor) in new
// namespaces of the kinds flags asks for (CLONE_NEWPID, CLONE_NEWIPC,
// CLONE_NEWUTS), in a session of its own so that it outlives gantryd. It
// holds the namespaces the pod's containers join (/proc/<pid>/ns/...),
// reaps the orphans of its PID namespace and exits on SIGTERM or SIGKILL.
func StartPause(binary string, flags uintptr) (int, error) {
	cmd := exec.Command(binary, pauseArg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: flags}
	cmd.Dir = "/"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start pause process: %w", err)
	}
	// It says it is ready once confined; a failure is its exit.
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != readyWord+"\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf("start pause process: %s", strings.TrimSpace(stderr.String()))
	}
	pid := cmd.Process.Pid
	// The process is not waited for by this one: whoever stops the pod
	// kills it, and gantryd (the child subreaper) reaps it.
	cmd.Process.Release()
	return pid, nil
}

// IsPause reports whether pid is a pause process started from binary.
func IsPause(pid int, binary string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && string(b) == binary+"\x00"+pauseArg+"\x00"
}

// pause is the pause process's life: reap children until told to stop.
// It first gives up what it does not need, since the pod's containers see
// it in their PID namespace: its root becomes an empty directory (its
// /proc/1/root shows them nothing of the host) and it drops every
// capability.
func pause() int {
	if err := confinePause(); err != nil {
		fmt.Fprintln(os.Stderr, "gantry-monitor pause:", err)
		return 1
	}
	os.Stdout.WriteString(readyWord + "\n")
	os.Stdout.Close()
	os.Stderr.Close()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			return 0
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
	return 0
}

// confinePause chroots into an empty directory, removed once entered, and
// drops all capabilities and privileges.
func confinePause() error {
	dir, err := os.MkdirTemp("", "gantry-pause-")
	if err != nil {
		return err
	}
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return err
	}
	err = unix.Chroot(dir)
	// By the old root's descriptor, closed before anything can see it.
	unix.Unlinkat(oldRoot, strings.TrimPrefix(dir, "/"), unix.AT_REMOVEDIR)
	unix.Close(oldRoot)
	if err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("drop capabilities: %w", err)
	}
	return nil
}
