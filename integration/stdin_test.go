package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStdinWithoutI: without -i a container's stdin is /dev/null, as
// Docker's: `cat` reads end of file at once and exits 0, and what the
// process writes to fd 0 lands nowhere on the host (it used to land in the
// bundle's runc.log). The same holds for exec and build RUN steps.
func TestStdinWithoutI(t *testing.T) {
	e := newEnv(t)
	script := "cat; echo cat=$?; echo leaked-through-fd0 >&0; echo done"
	t.Run("run", func(t *testing.T) {
		r := e.docker(t, "run", "--rm", "busybox", "sh", "-c", script)
		if r.Code != 0 || r.Stdout != "cat=0\ndone\n" {
			t.Errorf("docker run busybox sh -c %q:\n%s\nwant exit 0, stdout cat=0 and done", script, r)
		}
	})
	t.Run("exec", func(t *testing.T) {
		ctr := name("stdin")
		e.mustDocker(t, "run", "-d", "--name", ctr, "busybox", "sleep", "300")
		r := e.docker(t, "exec", ctr, "sh", "-c", script)
		if r.Code != 0 || r.Stdout != "cat=0\ndone\n" {
			t.Errorf("docker exec %s sh -c %q:\n%s\nwant exit 0, stdout cat=0 and done", ctr, script, r)
		}
	})
	t.Run("build", func(t *testing.T) {
		dir := writeContext(t, map[string]string{
			"Dockerfile": "FROM busybox\nRUN " + script + " " + randHex(6) + "\n",
		})
		r := e.build(t, "docker", nil, "", "--no-cache", dir)
		if r.Code != 0 || !strings.Contains(r.Stdout+r.Stderr, "cat=0") {
			t.Errorf("docker build with RUN %s:\n%s\nwant success with cat=0", script, r)
		}
	})
	if e.External {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(e.Root, "containers", "*", "bundle", "runc.log"))
	more, _ := filepath.Glob(filepath.Join(e.Root, "tmp", "*", "runc.log"))
	for _, p := range append(logs, more...) {
		if b, _ := os.ReadFile(p); strings.Contains(string(b), "leaked-through-fd0") {
			t.Errorf("a container wrote into %s through fd 0", p)
		}
	}
}
