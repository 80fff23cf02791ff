package integration

import (
	"strings"
	"testing"
	"time"
)

// TestInit: --init runs tini as PID 1 (/sbin/docker-init) that forwards
// docker stop's SIGTERM to a command that ignores it as PID 1 (sleep) and
// reaps orphans; gantryd's --init makes it the default, --init=false opts
// out.
func TestInit(t *testing.T) {
	e := newEnv(t)
	n := name("init")
	e.mustDocker(t, "run", "-d", "--init", "--name", n, "busybox", "sh", "-c", "(sleep 0.2 &); exec sleep 300")
	if got := e.mustDocker(t, "exec", n, "cat", "/proc/1/cmdline"); !strings.HasPrefix(got, "/sbin/docker-init\x00--\x00sh\x00") {
		t.Errorf("PID 1 is %q, want /sbin/docker-init -- sh ...", got)
	}
	time.Sleep(time.Second) // the orphaned sleep has exited
	if got := e.mustDocker(t, "exec", n, "ps", "-o", "stat,comm"); strings.Contains(got, "Z ") || strings.Contains(got, "\nZ") {
		t.Errorf("a zombie is left with --init:\n%s", got)
	}
	start := time.Now()
	e.mustDocker(t, "stop", n)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("docker stop with --init took %v, want well under the 10 s grace", d)
	}
	if got := e.inspectField(t, n, "{{.State.ExitCode}} {{.HostConfig.Init}}"); got != "143 true" {
		t.Errorf("after stop: %q, want 143 (SIGTERM through tini) and Init true", got)
	}

	if e.External {
		return
	}
	e.stopDaemon(t)
	e.d.args = append(e.d.args, "--init")
	e.startDaemon(t)
	if got := e.mustDocker(t, "run", "--rm", "busybox", "cat", "/proc/1/cmdline"); !strings.HasPrefix(got, "/sbin/docker-init\x00") {
		t.Errorf("with gantryd --init, PID 1 is %q", got)
	}
	if got := e.mustDocker(t, "run", "--rm", "--init=false", "busybox", "cat", "/proc/1/cmdline"); !strings.HasPrefix(got, "cat\x00") {
		t.Errorf("with --init=false, PID 1 is %q", got)
	}
}
