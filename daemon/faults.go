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

// killByCgroup kills the processes of c found through the cgroup its
// bundle names, for when runc's state of c is gone (the exec root
// vanished): it returns how many there were.
func (d *Daemon) killByCgroup(c *gcontainer.Container) int {
	data, err := os.ReadFile(filepath.Join(bundlePath(c), "config.json"))
	if err != nil {
		return 0
	}
	var spec specs.Spec
	if json.Unmarshal(data, &spec) != nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return 0
	}
	n, err := runtime.KillCgroup(spec.Linux.CgroupsPath)
	if err != nil {
		d.log.Warn("kill the processes of a container's cgroup", "container", c.ID, "cgroup", spec.Linux.CgroupsPath, "error", err)
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
