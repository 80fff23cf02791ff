package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExecRootVanished: gantryd killed, its exec root (runc's state, the
// monitors' sockets) removed while a container runs on: the next gantryd
// finds the container's processes through its cgroup, kills them and marks
// it exited with the reason. On main the container was marked exited while
// its process ran on, out of anyone's sight.
func TestExecRootVanished(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	n := name("noexecroot")
	e.mustDocker(t, "run", "-d", "--name", n, "busybox", "sleep", "300")
	pid, _ := strconv.Atoi(e.inspectField(t, n, "{{.State.Pid}}"))
	e.killDaemon(t)
	// Moved out of the way rather than removed: the network namespaces
	// are mounted in it.
	gone := filepath.Join(e.d.runDir, "x.gone")
	if err := os.Rename(filepath.Join(e.d.runDir, "x"), gone); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range mountsUnder(gone) {
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
		os.RemoveAll(gone)
	})
	e.startDaemon(t)
	got := e.inspectField(t, n, "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}")
	if !strings.HasPrefix(got, "exited 137 ") || !strings.Contains(got, "exec root") {
		t.Errorf("after the exec root vanished: %q, want exited 137 and an error naming the exec root", got)
	}
	poll(t, 10*time.Second, "the container's process is gone", func() (bool, string) { return !pidAlive(pid), "alive" })
	e.mustDocker(t, "start", n) // it can run again
	e.mustDocker(t, "rm", "-f", n)
}

// TestStaleMonitor: a live monitor that answers without this gantryd's
// protocol version (one of an older gantry: here a stand-in on its socket
// that answers as monitors did before the version) is not adopted: its
// container is killed and marked exited with the reason, never shown
// running. On main it was taken for a monitor of its own.
func TestStaleMonitor(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	n := name("stalemon")
	id := e.mustDocker(t, "run", "-d", "--name", n, "busybox", "sleep", "300")
	pid, _ := strconv.Atoi(e.inspectField(t, n, "{{.State.Pid}}"))
	dir := filepath.Join(e.d.runDir, "x", "mon", id)
	b, err := os.ReadFile(filepath.Join(dir, "monitor.pid"))
	if err != nil {
		t.Fatal(err)
	}
	mpid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	e.killDaemon(t)
	syscall.Kill(mpid, syscall.SIGKILL)
	poll(t, 5*time.Second, "the monitor is gone", func() (bool, string) { return !pidAlive(mpid), "alive" })
	os.Remove(filepath.Join(dir, "sock"))
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				bufio.NewReader(conn).ReadString('\n')
				fmt.Fprintf(conn, `{"state":{"pid":%d,"monitorPid":%d}}`+"\n", pid, os.Getpid())
			}()
		}
	}()
	e.startDaemon(t)
	got := e.inspectField(t, n, "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}")
	if !strings.HasPrefix(got, "exited 137 ") || !strings.Contains(got, "protocol version") {
		t.Errorf("with a monitor of an older version: %q, want exited 137 and an error naming the protocol version", got)
	}
	poll(t, 10*time.Second, "the container's process is gone", func() (bool, string) { return !pidAlive(pid), "alive" })
	if log, _ := os.ReadFile(e.d.log); !strings.Contains(string(log), "another protocol version") {
		t.Errorf("gantryd's log does not report the monitor's version:\n%s", tail(e.d.log, 20))
	}
}

// TestMonitorCannotStart: a gantry-monitor that fails, or one of another
// build (an older one, answering "ready" without a version), makes `docker
// start` fail with a clear error, the container exited with it, nothing
// left mounted; on main the older one was taken at its word, and the start
// failed on a missing socket.
func TestMonitorCannotStart(t *testing.T) {
	e, dir := newWrappedMonitorEnv(t, `case "$(cat "$DIR/mode" 2>/dev/null)" in
old) echo ready; exit 0 ;;
fail) echo "gantry-monitor: cannot run: testing" >&2; exit 1 ;;
esac`)
	mode := filepath.Join(dir, "mode")
	for _, c := range []struct{ mode, want string }{
		{"old", "speaks no protocol version (an older gantry-monitor); this gantryd speaks version"},
		{"fail", "the container's monitor did not start (EOF): gantry-monitor: cannot run: testing"},
	} {
		if err := os.WriteFile(mode, []byte(c.mode), 0o644); err != nil {
			t.Fatal(err)
		}
		n := name("monfail")
		e.mustDocker(t, "create", "--name", n, "busybox", "sleep", "300")
		r := e.docker(t, "start", n)
		if r.Code == 0 || !strings.Contains(r.Stderr, "Error response from daemon: ") || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("%s monitor: docker start:\n%s\nwant an error with %q", c.mode, r, c.want)
		}
		if c.mode == "old" && !strings.Contains(r.Stderr, "\nhint: ") {
			t.Errorf("%s monitor: no hint:\n%s", c.mode, r.Stderr)
		}
		if got := e.inspectField(t, n, "{{.State.Status}} {{.State.Error}}"); !strings.Contains(got, c.want) {
			t.Errorf("%s monitor: state %q, want the error", c.mode, got)
		}
		if m := e.leftoverMounts(); len(m) > 0 {
			t.Errorf("%s monitor: left mounted: %v", c.mode, m)
		}
		e.mustDocker(t, "rm", n)
	}
	os.Remove(mode)
	e.mustDocker(t, "run", "--rm", "busybox", "true")
}

// TestLogFullDisk: a container whose log fills its data root (a small
// tmpfs) runs on; its monitor drops the lines it cannot write and says so,
// with the count, in its monitor.log. On main the lines went silently.
func TestLogFullDisk(t *testing.T) {
	if os.Getenv(envDockerHost) != "" {
		t.Skip("needs a private gantryd on a tmpfs")
	}
	fs := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", fs).CombinedOutput(); err != nil {
		t.Skipf("mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", fs).Run() })
	e := newEnvAt(t, filepath.Join(fs, "root"))
	n := name("fulldisk")
	id := e.mustDocker(t, "run", "-d", "--name", n, "busybox", "sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 100000000; echo done; sleep 300")
	monlog := filepath.Join(e.d.runDir, "x", "mon", id, "monitor.log")
	poll(t, 60*time.Second, "the monitor reports dropped lines", func() (bool, string) {
		b, _ := os.ReadFile(monlog)
		return strings.Contains(string(b), "log lines dropped") && strings.Contains(string(b), "no space left on device"), string(b)
	})
	if got := e.inspectField(t, n, "{{.State.Status}}"); got != "running" {
		t.Errorf("with its data root full the container is %s, want running", got)
	}
	if r := e.docker(t, "logs", "--tail", "2", n); r.Code != 0 || !strings.Contains(r.Stdout, "0123456789abcdefghijklmnopqrstuvwxyz") {
		t.Errorf("logs --tail 2 of a log cut by a full disk:\n%s", r)
	}
	e.mustDocker(t, "rm", "-f", n)
}

// TestExecRootVanishedWhileRunning: runc's state and the monitors'
// sockets removed under a running gantryd: `docker stop` still stops the
// container (through its cgroup) and it is recorded exited. On main the
// stop failed, the container running on.
func TestExecRootVanishedWhileRunning(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	n := name("runcgone")
	e.mustDocker(t, "run", "-d", "--name", n, "busybox", "sleep", "300")
	pid, _ := strconv.Atoi(e.inspectField(t, n, "{{.State.Pid}}"))
	for _, d := range []string{"runc", "mon"} {
		if err := os.RemoveAll(filepath.Join(e.d.runDir, "x", d)); err != nil {
			t.Fatal(err)
		}
	}
	if r := e.docker(t, "stop", "-t", "1", n); r.Code != 0 {
		t.Fatalf("docker stop with runc's state gone:\n%s", r)
	}
	poll(t, 10*time.Second, "the container is recorded exited", func() (bool, string) {
		got := e.inspectField(t, n, "{{.State.Status}}")
		return got == "exited", got
	})
	poll(t, 10*time.Second, "the container's process is gone", func() (bool, string) { return !pidAlive(pid), "alive" })
	e.mustDocker(t, "start", n)
	e.mustDocker(t, "rm", "-f", n)
}
