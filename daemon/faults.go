package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/runtime"
)

// cgroupOf is the cgroup path c's bundle gives runc, "" if unknown.
func cgroupOf(c *gcontainer.Container) string {
	data, err := os.ReadFile(filepath.Join(bundlePath(c), "config.json"))
	if err != nil {
		return ""
	}
	var spec specs.Spec
	if json.Unmarshal(data, &spec) != nil || spec.Linux == nil {
		return ""
	}
	return spec.Linux.CgroupsPath
}

// signalByCgroup signals running container c without runc, whose state of
// c is gone (the exec root vanished under a running gantryd): SIGKILL goes
// to every process of its cgroup, another signal to its init, once its
// /proc entry shows it is in that cgroup. It reports whether it did. The
// caller holds c's Lock.
func (d *Daemon) signalByCgroup(c *gcontainer.Container, sig unix.Signal) bool {
	cg := cgroupOf(c)
	if cg == "" {
		return false
	}
	d.log.Warn("the runtime state of a running container is gone; signalling it through its cgroup", "container", c.ID, "signal", sig)
	if sig == unix.SIGKILL {
		n, err := runtime.KillCgroup(cg)
		if err != nil {
			d.log.Warn("kill the processes of a container's cgroup", "container", c.ID, "cgroup", cg, "error", err)
		}
		return n > 0
	}
	pid := c.State.Pid
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if pid <= 0 || err != nil || !strings.Contains(string(data), ":"+cg+"\n") {
		return false
	}
	return unix.Kill(pid, sig) == nil
}

// killByCgroup kills the processes of c found through the cgroup its
// bundle names, for when runc's state of c is gone (the exec root
// vanished): it returns how many there were.
func (d *Daemon) killByCgroup(c *gcontainer.Container) int {
	cg := cgroupOf(c)
	if cg == "" {
		return 0
	}
	n, err := runtime.KillCgroup(cg)
	if err != nil {
		d.log.Warn("kill the processes of a container's cgroup", "container", c.ID, "cgroup", cg, "error", err)
	}
	if n > 0 {
		d.log.Warn("killed the processes of a container whose runtime state is gone", "container", c.ID, "processes", n)
	}
	return n
}

// waitGone waits up to timeout for process pid, not a child of gantryd,
// to be gone (or a zombie its parent has yet to reap).
func waitGone(pid int, timeout time.Duration) {
	if pid <= 0 {
		return
	}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if unix.Kill(pid, 0) != nil {
			return
		}
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err != nil || zombie(st) {
			return
		}
	}
}

// zombie reports whether /proc/PID/stat says the process is a zombie.
func zombie(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(s[i+1:], " Z")
}
