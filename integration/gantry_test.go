package integration

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGantryMatchesDocker runs the same commands with bin/gantry and the
// docker CLI against gantryd: output and exit codes must be Docker's (the
// program name aside).
func TestGantryMatchesDocker(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	n := name("parity")
	if r := e.docker(t, "run", "--name", n, "--label", "k=v", "busybox", "sh", "-c", "echo one; echo two >&2; exit 3"); r.Code != 3 {
		t.Fatalf("run exited %d, want 3:\n%s", r.Code, r)
	}
	e.mustDocker(t, "tag", "busybox", n+":tagged")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"run output", []string{"run", "--rm", "busybox", "echo", "hello"}},
		{"run exit code", []string{"run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"}},
		{"run env workdir user", []string{"run", "--rm", "-e", "A=b", "-w", "/w", "-u", "nobody", "busybox", "sh", "-c", "echo $A; pwd; id -u"}},
		{"run entrypoint", []string{"run", "--rm", "--entrypoint", "echo", "busybox", "x"}},
		{"run 126", []string{"run", "--rm", "busybox", "/etc/passwd"}},
		{"run 127", []string{"run", "--rm", "busybox", "nonexistent"}},
		{"run bad image", []string{"run", "--rm", "Bad..Ref"}},
		{"images", []string{"images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"}},
		{"images filter", []string{"images", "-q", "--filter", "reference=" + n}},
		{"image inspect", []string{"image", "inspect", "-f", "{{.Id}} {{json .RepoTags}}", "busybox"}},
		{"image inspect missing", []string{"image", "inspect", "nosuch-gt:1"}},
		{"history", []string{"history", "-q", "busybox"}},
		{"ps", []string{"ps", "-a", "--filter", "name=" + n, "--format", "{{.Names}} {{.Image}} {{.Command}} {{.State}} {{.Labels}}"}},
		{"ps -q", []string{"ps", "-aq", "--filter", "label=k=v"}},
		{"logs", []string{"logs", n}},
		{"logs tail", []string{"logs", "--tail", "1", n}},
		{"inspect", []string{"inspect", "-f", "{{.Name}} {{.State.ExitCode}} {{json .Config.Cmd}}", n}},
		{"inspect missing", []string{"inspect", "nosuch-gt"}},
		{"wait", []string{"wait", n}},
		{"stop stopped", []string{"stop", n}},
		{"kill stopped", []string{"kill", n}},
		{"rm missing", []string{"rm", "nosuch-gt"}},
		{"rmi missing", []string{"rmi", "nosuch-gt:1"}},
		{"run stdin", []string{"run", "--rm", "-i", "busybox", "cat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := e.dockerIn(t, "piped\n", tc.args...)
			g := e.run(t, strings.NewReader("piped\n"), e.cliPath(t, "gantry")[0], append(e.cliPath(t, "gantry")[1:], tc.args...)...)
			g.Stderr = strings.ReplaceAll(g.Stderr, "gantry", "docker")
			if tc.name == "images" {
				// Both CLIs sort images by creation time only, so the two
				// tags of one image come in either order.
				d.Stdout, g.Stdout = strings.Join(sorted(lines(d.Stdout)), "\n"), strings.Join(sorted(lines(g.Stdout)), "\n")
			}
			if diff := cmp.Diff(d, g); diff != "" {
				t.Errorf("gantry %s differs from docker (-docker +gantry):\n%s", strings.Join(tc.args, " "), diff)
			}
		})
	}
	// Verbs that change state, checked by their effect.
	if r := e.gantry(t, "rename", n, n+"-renamed"); r.Code != 0 {
		t.Errorf("gantry rename:\n%s", r)
	}
	if r := e.gantry(t, "commit", "-c", `CMD ["echo","c"]`, "-m", "msg", n+"-renamed", n+":committed"); r.Code != 0 || !imageIDRe.MatchString(strings.TrimSpace(r.Stdout)) {
		t.Errorf("gantry commit:\n%s", r)
	}
	if r := e.gantry(t, "run", "--rm", n+":committed"); r.Stdout != "c\n" {
		t.Errorf("gantry run of the committed image:\n%s", r)
	}
	id := strings.TrimSpace(e.gantry(t, "run", "-d", "busybox", "sleep", "100").Stdout)
	if !containerIDRe.MatchString(id) {
		t.Fatalf("gantry run -d printed %q", id)
	}
	for _, args := range [][]string{{"restart", "-t", "0", id}, {"kill", "-s", "KILL", id}, {"start", id}, {"stop", "-t", "1", id}, {"rm", "-f", id}} {
		if r := e.gantry(t, args...); r.Code != 0 || r.Stdout != id+"\n" {
			t.Errorf("gantry %v:\n%s", args, r)
		}
	}
	if r := e.gantry(t, "rmi", n+":tagged"); r.Code != 0 || r.Stdout != "Untagged: "+n+":tagged\n" {
		t.Errorf("gantry rmi:\n%s", r)
	}
	for _, args := range [][]string{{"version"}, {"info"}} {
		if r := e.gantry(t, args...); r.Code != 0 || r.Stdout == "" {
			t.Errorf("gantry %v:\n%s", args, r)
		}
	}
	if r := e.gantry(t, "import", busyboxTar, n+":imported"); r.Code != 0 || !imageIDRe.MatchString(strings.TrimSpace(r.Stdout)) {
		t.Errorf("gantry import:\n%s", r)
	}
}
