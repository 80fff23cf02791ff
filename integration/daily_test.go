package integration

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSingleFileBind: -v of a host file (or a socket) binds that file, as
// docker run -v /host/file.txt:/etc/app.conf and -v
// /var/run/docker.sock:/var/run/docker.sock do with dockerd; a missing
// source is made a directory for -v and refused for --mount.
func TestSingleFileBind(t *testing.T) {
	e := newEnv(t)
	host := t.TempDir()
	file := filepath.Join(host, "file.txt")
	if err := os.WriteFile(file, []byte("conf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(host, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := e.mustDocker(t, "run", "--rm", "-v", file+":/etc/app.conf:ro", "-v", sock+":/var/run/x.sock",
		"busybox", "sh", "-c", "cat /etc/app.conf; test -S /var/run/x.sock && echo socket")
	if want := "conf\nsocket"; got != want {
		t.Errorf("single-file binds: got %q, want %q", got, want)
	}
	e.mustDocker(t, "run", "--rm", "-v", file+":/etc/app.conf", "busybox", "sh", "-c", "echo changed > /etc/app.conf")
	if b, _ := os.ReadFile(file); string(b) != "changed\n" {
		t.Errorf("write through a file bind: host file holds %q", b)
	}
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the bound file is no longer a file: %v %v", fi, err)
	}
	missing := filepath.Join(host, "nofile")
	r := e.docker(t, "run", "--rm", "--mount", "type=bind,src="+missing+",dst=/etc/app.conf", "busybox", "true")
	if want := `invalid mount config for type "bind": bind source path does not exist: ` + missing; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("--mount of a missing file:\n%s\nwant %q", r, want)
	}
}

// TestPauseUnpause: pause freezes the processes (State.Paused, "(Paused)"
// in ps, exec refused with dockerd's words), unpause thaws them, and a
// paused container stops with docker stop, as with dockerd.
func TestPauseUnpause(t *testing.T) {
	e := newEnv(t)
	ctr := name("pause")
	e.cleanupVolumes(t, []string{ctr}, nil)
	e.mustDocker(t, "run", "-d", "--name", ctr, "busybox", "sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.1; done")
	e.mustDocker(t, "pause", ctr)
	if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", ctr); got != "paused true true" {
		t.Errorf("state of a paused container: %q", got)
	}
	if got := e.mustDocker(t, "ps", "--filter", "name="+ctr, "--format", "{{.Status}}"); !strings.HasSuffix(got, "(Paused)") {
		t.Errorf("ps status of a paused container: %q", got)
	}
	id := e.mustDocker(t, "inspect", "-f", "{{.Id}}", ctr)
	r := e.docker(t, "exec", ctr, "true")
	if want := "Container " + id + " is paused, unpause the container before exec"; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("exec into a paused container:\n%s\nwant %q", r, want)
	}
	r = e.docker(t, "pause", ctr)
	if want := "Container " + id + " is already paused"; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("pause of a paused container:\n%s\nwant %q", r, want)
	}
	e.mustDocker(t, "unpause", ctr)
	if got := e.mustDocker(t, "exec", ctr, "echo", "thawed"); got != "thawed" {
		t.Errorf("exec after unpause: %q", got)
	}
	r = e.docker(t, "unpause", ctr)
	if want := "Container " + id + " is not paused"; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("unpause of a running container:\n%s\nwant %q", r, want)
	}
	e.mustDocker(t, "pause", ctr)
	e.mustDocker(t, "stop", "-t", "5", ctr)
	if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", ctr); got != "exited 3" {
		t.Errorf("a paused container stopped: %q (want the TERM trap's exit 3)", got)
	}
	r = e.python(t, `
import sys, docker
c = docker.from_env().containers.run("busybox", ["sleep", "60"], detach=True)
c.pause(); c.reload()
assert c.status == "paused", c.status
c.unpause(); c.reload()
assert c.status == "running", c.status
c.remove(force=True)
print("ok")
`)
	if r.Code != 0 || r.Stdout != "ok\n" {
		t.Errorf("python SDK pause/unpause:\n%s", r)
	}
}

// TestDiff: docker diff lists what a container added (A), changed (C) and
// deleted (D), as dockerd does, and the SDK's diff() reads the same.
func TestDiff(t *testing.T) {
	e := newEnv(t)
	ctr := name("diff")
	e.cleanupVolumes(t, []string{ctr}, nil)
	e.mustDocker(t, "run", "--name", ctr, "busybox", "sh", "-c", "mkdir /data && echo x > /data/f && echo y >> /etc/passwd && rm /etc/group")
	got := e.mustDocker(t, "diff", ctr)
	want := "A /data\nA /data/f\nC /etc\nD /etc/group\nC /etc/passwd"
	if got != want {
		t.Errorf("docker diff:\n%s\nwant:\n%s", got, want)
	}
	r := e.python(t, `
import sys, docker
d = docker.from_env().containers.get(sys.argv[1]).diff()
print(sorted((x["Kind"], x["Path"]) for x in d))
`, ctr)
	if want := "[(0, '/etc'), (0, '/etc/passwd'), (1, '/data'), (1, '/data/f'), (2, '/etc/group')]\n"; r.Code != 0 || r.Stdout != want {
		t.Errorf("python SDK diff:\n%s\nwant %q", r, want)
	}
	r = e.docker(t, "diff", "gt-nope")
	if r.Code == 0 || !strings.Contains(r.Stderr, "No such container: gt-nope") {
		t.Errorf("diff of a missing container:\n%s", r)
	}
}
