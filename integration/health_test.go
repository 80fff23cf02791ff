package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHealthcheck: --health-* probes run through exec: a container is
// "(health: starting)" in ps, unhealthy after its retries fail, healthy
// once its probe passes, with the last 5 results in State.Health, a
// health_status event at each change, ps --filter health=; an image's
// HEALTHCHECK, --no-healthcheck, dockerd's error for an interval below
// 1 ms; probes going on after a gantryd restart (adoption); the Python
// SDK's healthcheck.
func TestHealthcheck(t *testing.T) {
	e := newEnv(t)
	since := fmt.Sprint(time.Now().Unix() - 1)
	n := name("hc")
	e.mustDocker(t, "run", "-d", "--name", n, "--health-cmd", "test -e /tmp/ok && echo fine", "--health-interval", "300ms",
		"--health-retries", "2", "--health-timeout", "5s", "busybox", "sh", "-c", "sleep 3; touch /tmp/ok; exec sleep 300")
	if got := e.mustDocker(t, "ps", "--filter", "name="+n, "--format", "{{.Status}}"); !strings.HasSuffix(got, "(health: starting)") {
		t.Errorf("ps status at start: %q", got)
	}
	poll(t, 20*time.Second, "unhealthy after two failures", func() (bool, string) {
		got := e.inspectField(t, n, "{{.State.Health.Status}}")
		return got == "unhealthy", got
	})
	if got := e.mustDocker(t, "ps", "-q", "--filter", "health=unhealthy", "--filter", "name="+n); got == "" {
		t.Errorf("ps --filter health=unhealthy does not list it")
	}
	poll(t, 20*time.Second, "healthy once the probe passes", func() (bool, string) {
		got := e.mustDocker(t, "ps", "--filter", "name="+n, "--format", "{{.Status}}")
		return strings.HasSuffix(got, "(healthy)"), got
	})
	var health struct {
		Status        string
		FailingStreak int
		Log           []struct {
			Start, End time.Time
			ExitCode   int
			Output     string
		}
	}
	if err := json.Unmarshal([]byte(e.inspectField(t, n, "{{json .State.Health}}")), &health); err != nil {
		t.Fatal(err)
	}
	last := health.Log[len(health.Log)-1]
	if health.Status != "healthy" || health.FailingStreak != 0 || len(health.Log) == 0 || len(health.Log) > 5 ||
		last.ExitCode != 0 || last.Output != "fine\n" || last.End.Before(last.Start) {
		t.Errorf("State.Health: %+v", health)
	}
	if got := e.mustDocker(t, "ps", "-q", "--filter", "health=healthy", "--filter", "name="+n); got == "" {
		t.Errorf("ps --filter health=healthy does not list it")
	}
	if r := e.docker(t, "ps", "--filter", "health=fine"); r.Code == 0 || !strings.Contains(r.Stderr, "Unrecognised filter value for health: fine") {
		t.Errorf("ps --filter health=fine:\n%s", r)
	}
	evs := e.mustDocker(t, "events", "--since", since, "--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "event=health_status", "--format", "{{.Action}}")
	if evs != "health_status: unhealthy\nhealth_status: healthy" {
		t.Errorf("health_status events:\n%s", evs)
	}

	r := e.docker(t, "run", "--rm", "--health-cmd", "true", "--health-interval", "500us", "busybox", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Interval in Healthcheck cannot be less than 1ms") {
		t.Errorf("--health-interval 500us:\n%s", r)
	}

	// An image's HEALTHCHECK, and --no-healthcheck.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nHEALTHCHECK --interval=200ms CMD [\"true\"]\n"), 0o644)
	img := name("hcimg")
	e.mustDocker(t, "build", "-q", "-t", img, dir)
	fromImg, none := name("hc-img"), name("hc-none")
	e.mustDocker(t, "run", "-d", "--name", fromImg, img, "sleep", "300")
	e.mustDocker(t, "run", "-d", "--name", none, "--no-healthcheck", img, "sleep", "300")
	poll(t, 20*time.Second, "the image's healthcheck passes", func() (bool, string) {
		got := e.inspectField(t, fromImg, "{{.State.Health.Status}}")
		return got == "healthy", got
	})
	if got := e.inspectField(t, none, "{{json .State.Health}}"); got != "null" {
		t.Errorf("--no-healthcheck: State.Health %s", got)
	}
	if got := e.mustDocker(t, "ps", "--filter", "name="+none, "--format", "{{.Status}}"); strings.Contains(got, "(") {
		t.Errorf("--no-healthcheck: ps status %q", got)
	}

	// Probes go on for containers a new gantryd adopts.
	if !e.External {
		e.killDaemon(t)
		restarted := time.Now()
		e.startDaemon(t)
		poll(t, 20*time.Second, "a probe after the restart", func() (bool, string) {
			var h struct{ Log []struct{ Start time.Time } }
			json.Unmarshal([]byte(e.inspectField(t, fromImg, "{{json .State.Health}}")), &h)
			return len(h.Log) > 0 && h.Log[len(h.Log)-1].Start.After(restarted), fmt.Sprint(h)
		})
	}
	e.mustDocker(t, "rm", "-f", n, fromImg, none)

	py := e.python(t, `
import sys, time, docker
c = docker.from_env(timeout=60)
ctr = c.containers.run("busybox", ["sleep", "300"], detach=True, name=sys.argv[1],
    healthcheck={"test": ["CMD", "true"], "interval": 200000000, "retries": 1})
deadline = time.time() + 20
while True:
    ctr.reload()
    if ctr.attrs["State"]["Health"]["Status"] == "healthy":
        break
    assert time.time() < deadline, ctr.attrs["State"]
    time.sleep(0.1)
ctr.remove(force=True)
`, name("hc-py"))
	if py.Code != 0 {
		t.Errorf("python SDK healthcheck:\n%s", py)
	}
}

// TestComposeServiceHealthy: docker-compose 1.29 starts a service that
// depends on another with condition service_healthy once that one is
// healthy.
func TestComposeServiceHealthy(t *testing.T) {
	e := newEnv(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker-compose not installed")
	}
	dir := t.TempDir()
	project := strings.ReplaceAll(name("hcc"), "-", "")
	file := filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(file, []byte(`version: "2.4"
services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/up; exec sleep 300"]
    healthcheck:
      test: ["CMD", "test", "-e", "/tmp/up"]
      interval: 200ms
      retries: 30
  app:
    image: busybox
    command: ["sleep", "300"]
    depends_on:
      db:
        condition: service_healthy
`), 0o644)
	compose := func(args ...string) result {
		return e.run(t, nil, "docker-compose", append([]string{"--project-directory", dir, "-f", file, "-p", project}, args...)...)
	}
	t.Cleanup(func() { compose("down", "-t", "0") })
	if r := compose("up", "-d"); r.Code != 0 {
		t.Fatalf("docker-compose up:\n%s", r)
	}
	if got := e.inspectField(t, project+"_db_1", "{{.State.Health.Status}}"); got != "healthy" {
		t.Errorf("db when app started: %s", got)
	}
	if got := e.inspectField(t, project+"_app_1", "{{.State.Status}}"); got != "running" {
		t.Errorf("app: %s", got)
	}
}
