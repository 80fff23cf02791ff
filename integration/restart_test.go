package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestartPolicies: on-failure:N stops after N restarts with the count
// in inspect; always keeps a crashing container coming back, shown as
// "Restarting (1) ..." in ps between runs, until docker stop ends the loop;
// dockerd's errors for bad policies; the Python SDK's restart_policy.
func TestRestartPolicies(t *testing.T) {
	e := newEnv(t)
	fail := name("rp-fail")
	e.mustDocker(t, "run", "-d", "--name", fail, "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")
	poll(t, 30*time.Second, "on-failure:2 gives up after two restarts", func() (bool, string) {
		got := e.inspectField(t, fail, "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}} {{.HostConfig.RestartPolicy.Name}}")
		return got == "exited 3 2 on-failure", got
	})
	time.Sleep(time.Second)
	if got := e.inspectField(t, fail, "{{.RestartCount}}"); got != "2" {
		t.Errorf("RestartCount went on to %s", got)
	}

	crash := name("rp-always")
	e.mustDocker(t, "run", "-d", "--name", crash, "--restart", "always", "busybox", "sh", "-c", "exit 1")
	poll(t, 30*time.Second, "two restarts", func() (bool, string) {
		got := e.inspectField(t, crash, "{{.RestartCount}}")
		n, _ := strconv.Atoi(got)
		return n >= 2, got
	})
	poll(t, 30*time.Second, "ps shows the container restarting", func() (bool, string) {
		got := e.mustDocker(t, "ps", "--filter", "name="+crash, "--format", "{{.Status}}")
		return strings.HasPrefix(got, "Restarting (1) "), got
	})
	// Between two back-offs the container runs for a moment: poll.
	poll(t, 30*time.Second, "inspect shows the container restarting", func() (bool, string) {
		got := e.inspectField(t, crash, "{{.State.Status}} {{.State.Running}} {{.State.Restarting}}")
		return got == "restarting true true", got
	})
	poll(t, 30*time.Second, "ps --filter status=restarting lists it", func() (bool, string) {
		got := e.mustDocker(t, "ps", "-q", "--filter", "status=restarting", "--filter", "name="+crash)
		return got != "", got
	})
	start := time.Now()
	e.mustDocker(t, "stop", crash)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("docker stop of a restarting container took %v", d)
	}
	count := e.inspectField(t, crash, "{{.RestartCount}}")
	time.Sleep(2 * time.Second)
	if got := e.inspectField(t, crash, "{{.State.Status}} {{.RestartCount}}"); got != "exited "+count {
		t.Errorf("after docker stop: %q, want exited with RestartCount %s", got, count)
	}
	// A running container with always, stopped by hand: not restarted.
	up := name("rp-up")
	e.mustDocker(t, "run", "-d", "--name", up, "--restart", "always", "busybox", "sleep", "300")
	e.mustDocker(t, "stop", "-t", "0", up)
	time.Sleep(time.Second)
	if got := e.inspectField(t, up, "{{.State.Status}} {{.RestartCount}}"); got != "exited 0" {
		t.Errorf("always after docker stop: %q, want exited 0", got)
	}

	for _, tc := range []struct{ policy, want string }{
		{"sometimes", "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{"always:3", "invalid restart policy: maximum retry count can only be used with 'on-failure'"},
		{"on-failure:-1", "invalid restart policy: maximum retry count cannot be negative"},
	} {
		r := e.docker(t, "create", "--restart", tc.policy, "busybox", "true")
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("create --restart %s:\n%s\nwant %q", tc.policy, r, tc.want)
		}
	}

	py := e.python(t, `
import sys, time, docker
c = docker.from_env(timeout=60)
ctr = c.containers.run("busybox", ["sh", "-c", "exit 5"], detach=True, name=sys.argv[1], restart_policy={"Name": "on-failure", "MaximumRetryCount": 1})
deadline = time.time() + 30
while True:
    ctr.reload()
    if ctr.attrs["RestartCount"] == 1 and ctr.status == "exited":
        break
    assert time.time() < deadline, ctr.attrs["State"]
    time.sleep(0.1)
assert ctr.attrs["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 1}, ctr.attrs["HostConfig"]["RestartPolicy"]
ctr.remove()
`, name("rp-py"))
	if py.Code != 0 {
		t.Errorf("python SDK restart_policy:\n%s", py)
	}
}

// TestRestartPolicyAtStart: containers that are not running when gantryd
// starts come back per their policy, as after a reboot (their monitors
// killed while gantryd was down): always (even one stopped by hand), and
// unless-stopped unless stopped by hand; no and a stopped unless-stopped
// stay down.
func TestRestartPolicyAtStart(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	always, unless, unlessStopped, stoppedAlways, none := name("ra-always"), name("ra-unless"), name("ra-unless-stopped"), name("ra-always-stopped"), name("ra-no")
	for _, c := range [][2]string{{always, "always"}, {unless, "unless-stopped"}, {unlessStopped, "unless-stopped"}, {stoppedAlways, "always"}, {none, "no"}} {
		e.mustDocker(t, "run", "-d", "--name", c[0], "--restart", c[1], "busybox", "sleep", "300")
	}
	e.mustDocker(t, "stop", "-t", "0", unlessStopped, stoppedAlways)
	var monitors []int
	for _, n := range []string{always, unless, none} {
		id := e.inspectField(t, n, "{{.Id}}")
		b, err := os.ReadFile(filepath.Join(e.d.runDir, "x", "mon", id, "monitor.pid"))
		if err != nil {
			t.Fatalf("monitor pid file of %s: %v", n, err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		monitors = append(monitors, pid)
	}
	e.killDaemon(t)
	for _, pid := range monitors { // the reboot: monitors and containers gone
		syscall.Kill(pid, syscall.SIGKILL)
	}
	e.startDaemon(t)
	want := map[string]string{always: "running", unless: "running", stoppedAlways: "running", unlessStopped: "exited", none: "exited"}
	poll(t, 30*time.Second, "the containers per their policy", func() (bool, string) {
		var got []string
		ok := true
		for n, w := range want {
			st := e.inspectField(t, n, "{{.State.Status}}")
			ok = ok && st == w
			got = append(got, n+"="+st)
		}
		return ok, strings.Join(got, " ")
	})
	// They run under monitors of the new gantryd: a stop works.
	e.mustDocker(t, "stop", "-t", "0", always)
	if got := e.inspectField(t, always, "{{.State.Status}}"); got != "exited" {
		t.Errorf("after stop: %s", got)
	}
}

// TestComposeRestart: docker-compose 1.29's restart: key.
func TestComposeRestart(t *testing.T) {
	e := newEnv(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker-compose not installed")
	}
	dir := t.TempDir()
	project := strings.ReplaceAll(name("rc"), "-", "")
	os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(`version: "2.4"
services:
  crash:
    image: busybox
    command: ["sh", "-c", "exit 2"]
    restart: "on-failure:3"
`), 0o644)
	r := e.run(t, nil, "docker-compose", "--project-directory", dir, "-f", filepath.Join(dir, "docker-compose.yml"), "-p", project, "up", "-d")
	if r.Code != 0 {
		t.Fatalf("docker-compose up:\n%s", r)
	}
	t.Cleanup(func() {
		e.run(t, nil, "docker-compose", "--project-directory", dir, "-f", filepath.Join(dir, "docker-compose.yml"), "-p", project, "down")
	})
	ctr := project + "_crash_1"
	poll(t, 30*time.Second, "three restarts", func() (bool, string) {
		got := e.inspectField(t, ctr, "{{.State.Status}} {{.RestartCount}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}")
		return got == "exited 3 on-failure:3", got
	})
}
