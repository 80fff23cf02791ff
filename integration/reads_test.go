package integration

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newWrappedMonitorEnv starts a gantryd whose gantry-monitor is script (a
// shell script run before the real monitor; "$MONITOR" names the real one
// and "$DIR" a scratch directory): gantryd is copied into a directory of
// its own, as it looks for gantry-monitor beside its executable.
func newWrappedMonitorEnv(t *testing.T, script string) (*env, string) {
	t.Helper()
	if os.Getenv(envDaemon) != "" || os.Getenv(envDockerHost) != "" {
		t.Skip("wraps gantryd's own monitor")
	}
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(binDir, "gantryd"))
	if err != nil {
		t.Fatalf("gantryd not found: run make build first: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gantryd"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nMONITOR=%s\nDIR=%s\n%s\nexec \"$MONITOR\" \"$@\"\n",
		filepath.Join(binDir, "gantry-monitor"), dir, script)
	if err := os.WriteFile(filepath.Join(dir, "gantry-monitor"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envDaemon, filepath.Join(dir, "gantryd"))
	return newEnv(t), dir
}

// TestReadsDuringSlowStart: a start held in the middle (its monitor waits
// on a FIFO before it starts, while gantryd holds the container's lock
// with the rootfs mounted and the network set up) does not hold up `docker
// ps`, `docker inspect` and `docker info`: they answer with the container
// as it was before the start. On main they waited for the start.
func TestReadsDuringSlowStart(t *testing.T) {
	e, dir := newWrappedMonitorEnv(t, `if [ -p "$DIR/gate" ]; then touch "$DIR/waiting"; read x < "$DIR/gate"; fi`)
	gate := filepath.Join(dir, "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	n := name("slowstart")
	e.mustDocker(t, "create", "--name", n, "busybox", "sleep", "600")
	t.Cleanup(func() { e.docker(t, "rm", "-f", n) })

	started := make(chan string, 1)
	go func() {
		cmd := exec.Command("docker", "start", n)
		cmd.Env = e.clientEnv()
		out, err := cmd.CombinedOutput()
		started <- fmt.Sprintf("%v: %s", err, out)
	}()
	poll(t, 20*time.Second, "the start to reach its monitor", func() (bool, string) {
		_, err := os.Stat(filepath.Join(dir, "waiting"))
		return err == nil, fmt.Sprint(err)
	})
	// The start is let go after 8 s at the latest (gantryd waits 10 s for
	// its monitor): reads that wait for it take that long.
	release := func() {
		if f, err := os.OpenFile(gate, os.O_WRONLY, 0); err == nil {
			io.WriteString(f, "go\n")
			f.Close()
		}
	}
	timer := time.AfterFunc(8*time.Second, release)

	t0 := time.Now()
	ps := e.mustDocker(t, "ps", "-a", "--filter", "name="+n, "--format", "{{.Names}} {{.State}}")
	psTook := time.Since(t0)
	t1 := time.Now()
	status := e.mustDocker(t, "inspect", "-f", "{{.State.Status}} {{.State.Running}}", n)
	inspectTook := time.Since(t1)
	t2 := time.Now()
	e.mustDocker(t, "info", "--format", "{{.Containers}}")
	infoTook := time.Since(t2)
	if timer.Stop() {
		release()
	}
	t.Logf("daemon %s, ps %q, inspect %q", e.Host, ps, status)
	t.Logf("during the start: ps %v, inspect %v, info %v", psTook, inspectTook, infoTook)
	if ps != n+" created" {
		t.Errorf("ps during the start: %q, want %q", ps, n+" created")
	}
	if status != "created false" {
		t.Errorf("inspect during the start: %q, want %q", status, "created false")
	}
	for what, took := range map[string]time.Duration{"ps": psTook, "inspect": inspectTook, "info": infoTook} {
		if took > 4*time.Second {
			t.Errorf("docker %s took %v during a start held for 8 s: it waited for the start", what, took)
		}
	}
	select {
	case out := <-started:
		if !strings.HasPrefix(out, "<nil>") {
			t.Fatalf("docker start: %s", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("docker start did not end once let go")
	}
	os.Remove(gate)
	if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}}", n); got != "running" {
		t.Errorf("after the start: %q, want running", got)
	}
}
