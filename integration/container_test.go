package integration

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/client"
)

// waitLogs polls docker logs until they contain want.
func (e *env) waitLogs(t *testing.T, ctr, want string) {
	t.Helper()
	poll(t, 10*time.Second, "logs of "+ctr+" contain "+want, func() (bool, string) {
		r := e.docker(t, "logs", ctr)
		return strings.Contains(r.Stdout, want), r.String()
	})
}

func TestPs(t *testing.T) {
	e := newEnv(t)
	pre := name("ps")
	exited, running, created := pre+"-exited", pre+"-running", pre+"-created"
	e.docker(t, "run", "--name", exited, "--label", "gt.role=exited", "busybox", "sh", "-c", "exit 3")
	runID := e.mustDocker(t, "run", "-d", "--name", running, "--label", "gt.role=running", "busybox", "sleep", "100")
	e.mustDocker(t, "create", "--name", created, "--label", "gt.role=created", "busybox", "true")

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"running only", []string{"--filter", "name=" + pre}, []string{running}},
		{"all", []string{"-a", "--filter", "name=" + pre}, []string{created, exited, running}},
		{"status exited", []string{"-a", "--filter", "name=" + pre, "--filter", "status=exited"}, []string{exited}},
		{"status created", []string{"-a", "--filter", "name=" + pre, "--filter", "status=created"}, []string{created}},
		{"status running", []string{"-a", "--filter", "name=" + pre, "--filter", "status=running"}, []string{running}},
		{"name exact", []string{"-a", "--filter", "name=^" + exited + "$"}, []string{exited}},
		{"label key", []string{"-a", "--filter", "name=" + pre, "--filter", "label=gt.role"}, []string{created, exited, running}},
		{"label value", []string{"-a", "--filter", "label=gt.role=created", "--filter", "name=" + pre}, []string{created}},
		{"no match", []string{"-a", "--filter", "name=" + pre + "-nothing"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sorted(lines(e.mustDocker(t, append([]string{"ps", "--format", "{{.Names}}"}, tc.args...)...)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ps %v (-want +got):\n%s", tc.args, diff)
			}
		})
	}
	if got := e.mustDocker(t, "ps", "-q", "--filter", "name="+running); got != runID[:12] {
		t.Errorf("ps -q = %q, want %s", got, runID[:12])
	}
	if got := e.mustDocker(t, "ps", "-q", "--no-trunc", "--filter", "id="+runID[:10]); got != runID {
		t.Errorf("ps -q --no-trunc --filter id= = %q, want %s", got, runID)
	}
	got := e.mustDocker(t, "ps", "-a", "--filter", "name="+exited, "--format", "{{.Names}}|{{.Image}}|{{.Command}}|{{.State}}|{{.Labels}}")
	if want := exited + `|busybox|"sh -c 'exit 3'"|exited|gt.role=exited`; got != want {
		t.Errorf("ps --format = %q, want %q", got, want)
	}
	status := e.mustDocker(t, "ps", "-a", "--filter", "name="+exited, "--format", "{{.Status}}")
	if !regexp.MustCompile(`^Exited \(3\) (Less than a second|\d+ seconds?) ago$`).MatchString(status) {
		t.Errorf("Status = %q, want Exited (3) ... ago", status)
	}
	status = e.mustDocker(t, "ps", "--filter", "name="+running, "--format", "{{.Status}}")
	if !strings.HasPrefix(status, "Up ") {
		t.Errorf("Status of a running container = %q, want Up ...", status)
	}
	// The default table has Docker's header.
	header := lines(e.mustDocker(t, "ps", "-a", "--filter", "name="+pre))[0]
	if !regexp.MustCompile(`^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$`).MatchString(header) {
		t.Errorf("ps header = %q", header)
	}
}

func TestLogs(t *testing.T) {
	e := newEnv(t)
	id := e.mustDocker(t, "run", "-d", "busybox", "sh", "-c", "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three") // sleeps: stdout and stderr are separate pipes
	e.mustDocker(t, "wait", id)
	t.Run("plain", func(t *testing.T) {
		r := e.docker(t, "logs", id)
		if r.Code != 0 || r.Stdout != "one\nthree\n" || r.Stderr != "two\n" {
			t.Errorf("logs:\n%s", r)
		}
	})
	t.Run("tail", func(t *testing.T) {
		r := e.docker(t, "logs", "--tail", "1", id)
		if r.Stdout+r.Stderr != "three\n" {
			t.Errorf("logs --tail 1:\n%s", r)
		}
		r = e.docker(t, "logs", "--tail", "0", id)
		if r.Stdout+r.Stderr != "" {
			t.Errorf("logs --tail 0:\n%s", r)
		}
	})
	t.Run("timestamps", func(t *testing.T) {
		r := e.docker(t, "logs", "-t", id)
		re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (one|three)$`)
		for _, l := range lines(r.Stdout) {
			if !re.MatchString(l) {
				t.Errorf("logs -t line %q, want RFC3339Nano timestamp then text", l)
			}
		}
		if len(lines(r.Stdout)) != 2 {
			t.Errorf("logs -t:\n%s", r)
		}
	})
	t.Run("follow", func(t *testing.T) {
		id := e.mustDocker(t, "run", "-d", "busybox", "sh", "-c", "for i in 1 2 3 4; do echo line $i; sleep 0.4; done")
		start := time.Now()
		r := e.docker(t, "logs", "-f", id) // returns only when the container exits
		if r.Code != 0 || r.Stdout != "line 1\nline 2\nline 3\nline 4\n" {
			t.Errorf("logs -f:\n%s", r)
		}
		if d := time.Since(start); d < 800*time.Millisecond {
			t.Errorf("logs -f returned after %v, before the container could have finished", d)
		}
		if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}}", id); got != "exited" {
			t.Errorf("after logs -f returned the container is %s", got)
		}
	})
	t.Run("missing", func(t *testing.T) {
		r := e.docker(t, "logs", "nosuch-gt")
		if r.Code != 1 || !strings.Contains(r.Stderr, "No such container: nosuch-gt") {
			t.Errorf("logs of a missing container:\n%s", r)
		}
	})
}

func TestStopKillRestart(t *testing.T) {
	e := newEnv(t)
	t.Run("stop -t", func(t *testing.T) {
		n := name("stop")
		e.mustDocker(t, "run", "-d", "--name", n, "busybox", "sleep", "100") // PID 1 ignores SIGTERM
		start := time.Now()
		if got := e.mustDocker(t, "stop", "-t", "1", n); got != n {
			t.Errorf("stop printed %q, want %s", got, n)
		}
		if d := time.Since(start); d < 900*time.Millisecond || d > 8*time.Second {
			t.Errorf("stop -t 1 took %v, want about 1s", d)
		}
		if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}", n); got != "exited 137 false" {
			t.Errorf("after stop: %q, want exited 137 false", got)
		}
		// Stopping a stopped container: 304, the CLI prints the name, exit 0.
		r := e.docker(t, "stop", n)
		if r.Code != 0 || r.Stdout != n+"\n" {
			t.Errorf("stop of a stopped container:\n%s", r)
		}
		if status, _, body := e.api(t, http.MethodPost, "/containers/"+n+"/stop", nil); status != http.StatusNotModified {
			t.Errorf("POST stop on a stopped container = %d %s, want 304", status, body)
		}
		if r := e.docker(t, "stop", "nosuch-gt"); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: nosuch-gt") {
			t.Errorf("stop of a missing container:\n%s", r)
		}
	})
	t.Run("stop sends SIGTERM", func(t *testing.T) {
		n := name("term")
		e.mustDocker(t, "run", "-d", "--name", n, "busybox", "sh", "-c", `trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done`)
		e.waitLogs(t, n, "ready")
		e.mustDocker(t, "stop", "-t", "20", n)
		if got := e.mustDocker(t, "inspect", "-f", "{{.State.ExitCode}}", n); got != "0" {
			t.Errorf("exit code after a handled SIGTERM = %s, want 0", got)
		}
		if got := e.mustDocker(t, "logs", n); got != "ready\ngot TERM" {
			t.Errorf("logs = %q", got)
		}
	})
	t.Run("kill -s", func(t *testing.T) {
		n := name("kill")
		e.mustDocker(t, "run", "-d", "--name", n, "busybox", "sh", "-c", `trap 'echo got USR1; exit 7' USR1; echo ready; while true; do sleep 0.1; done`)
		e.waitLogs(t, n, "ready")
		if got := e.mustDocker(t, "kill", "-s", "USR1", n); got != n {
			t.Errorf("kill printed %q", got)
		}
		if got := e.mustDocker(t, "wait", n); got != "7" {
			t.Errorf("wait after kill -s USR1 = %s, want 7", got)
		}
		if got := e.mustDocker(t, "logs", n); got != "ready\ngot USR1" {
			t.Errorf("logs = %q", got)
		}
		r := e.docker(t, "kill", n)
		if r.Code != 1 || !strings.Contains(r.Stderr, "is not running") {
			t.Errorf("kill of a stopped container:\n%s\nwant exit 1, is not running", r)
		}
	})
	t.Run("kill default", func(t *testing.T) {
		id := e.mustDocker(t, "run", "-d", "busybox", "sleep", "100")
		e.mustDocker(t, "kill", id)
		if got := e.mustDocker(t, "wait", id); got != "137" {
			t.Errorf("wait after kill = %s, want 137", got)
		}
	})
	t.Run("restart", func(t *testing.T) {
		n := name("restart")
		e.mustDocker(t, "run", "-d", "--name", n, "busybox", "sh", "-c", "echo start; sleep 100")
		e.waitLogs(t, n, "start")
		pid1 := e.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", n)
		if got := e.mustDocker(t, "restart", "-t", "1", n); got != n {
			t.Errorf("restart printed %q", got)
		}
		if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}}", n); got != "running" {
			t.Errorf("after restart status = %s", got)
		}
		if pid2 := e.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", n); pid2 == pid1 || pid2 == "0" {
			t.Errorf("pid after restart = %s (before %s)", pid2, pid1)
		}
		poll(t, 10*time.Second, "second start in the logs", func() (bool, string) {
			out := e.mustDocker(t, "logs", n)
			return out == "start\nstart", out
		})
		// restart of an exited container starts it.
		id := e.mustDocker(t, "run", "-d", "busybox", "sh", "-c", "echo run")
		e.mustDocker(t, "wait", id)
		e.mustDocker(t, "restart", id)
		e.mustDocker(t, "wait", id)
		if got := e.mustDocker(t, "logs", id); got != "run\nrun" {
			t.Errorf("logs after restarting an exited container = %q", got)
		}
	})
}

func TestRmRenameWait(t *testing.T) {
	e := newEnv(t)
	t.Run("rm running", func(t *testing.T) {
		id := e.mustDocker(t, "run", "-d", "busybox", "sleep", "100")
		r := e.docker(t, "rm", id)
		if r.Code != 1 || !strings.Contains(r.Stderr, "Stop the container") || !strings.Contains(r.Stderr, "force") {
			t.Errorf("rm of a running container:\n%s\nwant exit 1, saying to stop it or force", r)
		}
		status, _, body := e.api(t, http.MethodDelete, "/containers/"+id, nil)
		if status != http.StatusConflict {
			t.Errorf("DELETE running container = %d %s, want 409", status, body)
		}
		if got := e.mustDocker(t, "rm", "-f", id); got != id {
			t.Errorf("rm -f printed %q", got)
		}
		if got := e.mustDocker(t, "ps", "-aq", "--filter", "id="+id); got != "" {
			t.Errorf("container still listed after rm -f: %q", got)
		}
	})
	t.Run("rm several", func(t *testing.T) {
		a := e.mustDocker(t, "create", "busybox", "true")
		b := e.mustDocker(t, "run", "-d", "busybox", "sleep", "100")
		r := e.docker(t, "rm", "-f", a[:12], b[:12])
		if r.Code != 0 || len(lines(r.Stdout)) != 2 {
			t.Errorf("rm -f a b:\n%s", r)
		}
		if r := e.docker(t, "rm", "nosuch-gt"); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: nosuch-gt") {
			t.Errorf("rm of a missing container:\n%s", r)
		}
	})
	t.Run("rename", func(t *testing.T) {
		old, new := name("old"), name("new")
		e.mustDocker(t, "create", "--name", old, "busybox", "true")
		e.mustDocker(t, "rename", old, new)
		if got := e.mustDocker(t, "inspect", "-f", "{{.Name}}", new); got != "/"+new {
			t.Errorf("Name after rename = %q", got)
		}
		if r := e.docker(t, "container", "inspect", old); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: "+old) {
			t.Errorf("old name still resolves:\n%s", r)
		}
		other := name("other")
		e.mustDocker(t, "create", "--name", other, "busybox", "true")
		if r := e.docker(t, "rename", other, new); r.Code != 1 || !strings.Contains(r.Stderr, "already in use") {
			t.Errorf("rename to a name in use:\n%s", r)
		}
	})
	t.Run("wait", func(t *testing.T) {
		id := e.mustDocker(t, "run", "-d", "busybox", "sh", "-c", "sleep 0.5; exit 9")
		if got := e.mustDocker(t, "wait", id); got != "9" {
			t.Errorf("wait = %q, want 9", got)
		}
		if got := e.mustDocker(t, "wait", id); got != "9" { // already exited
			t.Errorf("second wait = %q, want 9", got)
		}
		if r := e.docker(t, "wait", "nosuch-gt"); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: nosuch-gt") {
			t.Errorf("wait of a missing container:\n%s", r)
		}
	})
}

func TestContainerInspect(t *testing.T) {
	e := newEnv(t)
	n := name("insp")
	bbID := e.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", "busybox")
	e.docker(t, "run", "--name", n, "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", "--label", "k=v", "busybox", "sh", "-c", "exit 5")
	for _, tc := range []struct{ format, want string }{
		{"{{.Name}}", "/" + n},
		{"{{.Image}}", bbID},
		{"{{.Path}} {{json .Args}}", `sh ["-c","exit 5"]`},
		{"{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.Pid}}", "exited false 5 0"},
		{"{{.Config.Image}}", "busybox"},
		{"{{json .Config.Cmd}}", `["sh","-c","exit 5"]`},
		{"{{.Config.WorkingDir}} {{.Config.User}}", "/tmp nobody"},
		{"{{json .Config.Labels}}", `{"k":"v"}`},
		{"{{.Config.Tty}} {{.Config.OpenStdin}}", "false false"},
	} {
		if got := e.mustDocker(t, "inspect", "-f", tc.format, n); got != tc.want {
			t.Errorf("inspect -f %s = %q, want %q", tc.format, got, tc.want)
		}
	}
	env := e.mustDocker(t, "inspect", "-f", `{{range .Config.Env}}{{println .}}{{end}}`, n)
	if !strings.Contains(env, "FOO=bar\n") {
		t.Errorf("Config.Env = %q, want FOO=bar in it", env)
	}
	for _, f := range []string{"{{.State.StartedAt}}", "{{.State.FinishedAt}}", "{{.Created}}"} {
		got := e.mustDocker(t, "inspect", "-f", f, n)
		if _, err := time.Parse(time.RFC3339Nano, got); err != nil || strings.HasPrefix(got, "0001") {
			t.Errorf("inspect %s = %q, want a real RFC3339 time", f, got)
		}
	}
	if r := e.docker(t, "inspect", "nosuch-gt"); r.Code != 1 || !strings.Contains(r.Stderr, "No such object: nosuch-gt") {
		t.Errorf("inspect of a missing object:\n%s", r)
	}
	// Go client view of the same container.
	res, err := e.client(t).ContainerInspect(context.Background(), n, client.ContainerInspectOptions{})
	if err != nil || res.Container.State.ExitCode != 5 || res.Container.Config.User != "nobody" {
		t.Errorf("Go ContainerInspect = %+v, %v", res.Container.State, err)
	}
}

func TestCommit(t *testing.T) {
	e := newEnv(t)
	n := name("commit")
	e.mustDocker(t, "run", "--name", n, "busybox", "sh", "-c", "mkdir -p /data && echo payload > /data/file && rm /bin/vi")
	repo := name("committed")
	id := e.mustDocker(t, "commit",
		"-c", `CMD ["cat","/data/file"]`, "-c", "ENV A=b", "-c", "EXPOSE 8080", "-c", "WORKDIR /work",
		"-c", "USER nobody", "-c", "LABEL team=gantry", "-m", "a message", "-a", "Probe Author <p@example.com>",
		n, repo+":v1")
	if !imageIDRe.MatchString(id) {
		t.Fatalf("commit printed %q, want sha256:<id>", id)
	}
	for _, tc := range []struct{ format, want string }{
		{"{{.Id}}", id},
		{"{{json .Config.Cmd}}", `["cat","/data/file"]`},
		{"{{json .Config.ExposedPorts}}", `{"8080/tcp":{}}`},
		{"{{.Config.WorkingDir}}|{{.Config.User}}", "/work|nobody"},
		{"{{json .Config.Labels}}", `{"team":"gantry"}`},
		{"{{.Comment}}|{{.Author}}", "a message|Probe Author <p@example.com>"},
		{"{{len .RootFS.Layers}}", "2"},
		{"{{json .RepoTags}}", `["` + repo + `:v1"]`},
	} {
		if got := e.mustDocker(t, "image", "inspect", "-f", tc.format, repo+":v1"); got != tc.want {
			t.Errorf("image inspect -f %s = %q, want %q", tc.format, got, tc.want)
		}
	}
	if env := e.mustDocker(t, "image", "inspect", "-f", "{{json .Config.Env}}", repo+":v1"); !strings.Contains(env, `"A=b"`) {
		t.Errorf("Config.Env = %s, want A=b", env)
	}
	hist := lines(e.mustDocker(t, "history", "--format", "{{.Comment}}", repo+":v1"))
	if len(hist) != 2 || hist[0] != "a message" {
		t.Errorf("history comments = %q, want 2 entries, newest \"a message\"", hist)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"new CMD", nil, "payload\n"},
		{"user workdir env", []string{"sh", "-c", "id -u; pwd; echo $A"}, "65534\n/work\nb\n"},
		{"whiteout", []string{"sh", "-c", "test -e /bin/vi && echo present || echo deleted"}, "deleted\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.docker(t, append([]string{"run", "--rm", repo + ":v1"}, tc.args...)...)
			if r.Code != 0 || r.Stdout != tc.want {
				t.Errorf("run of the committed image:\n%s\nwant %q", r, tc.want)
			}
		})
	}
	t.Run("untagged", func(t *testing.T) {
		id := e.mustDocker(t, "commit", n)
		if got := e.mustDocker(t, "image", "inspect", "-f", "{{json .RepoTags}} {{json .Config.Cmd}}", id); got != `[] ["sh","-c","mkdir -p /data && echo payload > /data/file && rm /bin/vi"]` {
			t.Errorf("untagged commit: %s", got)
		}
	})
	t.Run("missing container", func(t *testing.T) {
		if r := e.docker(t, "commit", "nosuch-gt"); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: nosuch-gt") {
			t.Errorf("commit of a missing container:\n%s", r)
		}
	})
}

// TestStartAttachExited: `start -a` of an exited container attaches to its
// next run (the daemon takes an attach to a stopped container), with both
// CLIs.
func TestStartAttachExited(t *testing.T) {
	e := newEnv(t)
	for _, prog := range []string{"docker", "gantry"} {
		ctr := name("startattach")
		e.docker(t, "run", "--name", ctr, "busybox", "sh", "-c", "echo run; exit 3")
		r := e.cli(t, prog, "start", "-a", ctr)
		if r.Stdout != "run\n" || r.Code != 3 {
			t.Errorf("%s start -a of an exited container: %s", prog, r)
		}
		e.mustDocker(t, "rm", ctr)
	}
}
