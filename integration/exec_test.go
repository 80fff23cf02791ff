package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestExec(t *testing.T) {
	e := newEnv(t)
	ctr := name("exec")
	e.mustDocker(t, "run", "-d", "--name", ctr, "busybox", "sleep", "300")
	stopped := name("exec-stopped")
	stoppedID := e.mustDocker(t, "create", "--name", stopped, "busybox", "true")
	for _, prog := range []string{"docker", "gantry"} {
		for _, tc := range []struct {
			name       string
			stdin      string
			args       []string
			wantCode   int
			wantStdout string
			wantStderr string // substring
		}{
			{name: "exit code and streams", args: []string{ctr, "sh", "-c", "echo out; echo err >&2; exit 4"}, wantCode: 4, wantStdout: "out\n", wantStderr: "err\n"},
			{name: "true", args: []string{ctr, "true"}},
			{name: "piped stdin", stdin: "hi\n", args: []string{"-i", ctr, "sh", "-c", "cat; echo done"}, wantStdout: "hi\ndone\n"},
			{name: "env user workdir", args: []string{"-e", "FOO=bar", "-u", "1000", "-w", "/tmp", ctr, "sh", "-c", "echo $FOO; id -u; pwd"}, wantStdout: "bar\n1000\n/tmp\n"},
			{name: "container env and hostname", args: []string{ctr, "sh", "-c", "echo $PATH; test \"$HOSTNAME\" = \"$(hostname)\" && echo same"},
				wantStdout: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nsame\n"},
			{name: "not found", args: []string{ctr, "nonexistent"}, wantCode: 126, wantStdout: "executable file not found"},
			{name: "unknown user", args: []string{"-u", "nosuch", ctr, "true"}, wantCode: 126, wantStdout: "unable to find user nosuch"},
			{name: "relative workdir", args: []string{"-w", "rel", ctr, "pwd"}, wantCode: 126, wantStdout: "Cwd must be an absolute path"},
			{name: "stopped container", args: []string{stopped, "true"}, wantCode: 1, wantStderr: "Container " + stoppedID + " is not running"},
			{name: "missing container", args: []string{"gt-nosuch-exec", "true"}, wantCode: 1, wantStderr: "No such container: gt-nosuch-exec"},
		} {
			t.Run(prog+" "+tc.name, func(t *testing.T) {
				r := e.cliIn(t, prog, tc.stdin, append([]string{"exec"}, tc.args...)...)
				stdoutOK := r.Stdout == tc.wantStdout || (tc.wantCode == 126 && strings.Contains(r.Stdout, tc.wantStdout))
				if r.Code != tc.wantCode || !stdoutOK || !strings.Contains(r.Stderr, tc.wantStderr) {
					t.Errorf("exec %s:\n%s\nwant exit %d, stdout %q, stderr with %q", strings.Join(tc.args, " "), r, tc.wantCode, tc.wantStdout, tc.wantStderr)
				}
			})
		}
		t.Run(prog+" detached", func(t *testing.T) {
			marker := "/tmp/detached-" + prog
			r := e.cli(t, prog, "exec", "-d", ctr, "sh", "-c", "sleep 0.3; touch "+marker)
			if r.Code != 0 || r.Stdout != "" {
				t.Fatalf("exec -d:\n%s", r)
			}
			poll(t, 10*time.Second, "the detached exec ran", func() (bool, string) {
				r := e.docker(t, "exec", ctr, "ls", marker)
				return r.Code == 0, r.String()
			})
		})
		t.Run(prog+" tty", func(t *testing.T) {
			term := e.startTerminal(t, 30, 90, append(e.cliPath(t, prog), "exec", "-it", ctr, "sh", "-c", "tty; stty size; exit 6")...)
			if code := term.wait(); code != 6 {
				t.Errorf("exec -it exited %d, want 6; terminal:\n%s", code, term.output())
			}
			// The terminal's reader may lag behind the client's exit.
			term.expect("/dev/pts/")
			// Before API 1.42 the size comes with a resize after the start,
			// too late for stty.
			if !e.External || !e.apiVersionBelow(t, "1.42") {
				term.expect("30 90")
			}
		})
		t.Run(prog+" interactive tty", func(t *testing.T) {
			term := e.startTerminal(t, 24, 80, append(e.cliPath(t, prog), "exec", "-it", ctr, "sh")...)
			term.expect("# ")
			term.send("echo hi-$((1+2)); exit 5\r")
			if code := term.wait(); code != 5 {
				t.Errorf("exec -it sh exited %d, want 5; terminal:\n%s", code, term.output())
			}
			term.expect("hi-3")
		})
	}

	t.Run("inspect", func(t *testing.T) {
		status, _, body := e.api(t, "POST", "/containers/"+ctr+"/exec", strings.NewReader(`{"Cmd":["sleep","30"]}`))
		var created struct{ Id string }
		if status != 201 || json.Unmarshal([]byte(body), &created) != nil {
			t.Fatalf("exec create = %d %s", status, body)
		}
		inspect := func() map[string]any {
			status, _, body := e.api(t, "GET", "/exec/"+created.Id+"/json", nil)
			var m map[string]any
			if status != 200 || json.Unmarshal([]byte(body), &m) != nil {
				t.Fatalf("exec inspect = %d %s", status, body)
			}
			return m
		}
		if m := inspect(); m["Running"] != false || m["ExitCode"] != nil {
			t.Errorf("created exec: %v, want not running and ExitCode null", m)
		}
		if status, _, body := e.api(t, "POST", "/exec/"+created.Id+"/start", strings.NewReader(`{"Detach":true}`)); status != 200 || body != "" {
			t.Fatalf("detached start = %d %q", status, body)
		}
		m := inspect()
		if m["Running"] != true || m["ExitCode"] != nil || m["Pid"].(float64) <= 0 {
			t.Errorf("running exec: %v, want running with a pid and ExitCode null", m)
		}
		if ids := e.mustDocker(t, "inspect", "-f", "{{json .ExecIDs}}", ctr); !strings.Contains(ids, created.Id) {
			t.Errorf("container ExecIDs = %s, want %s", ids, created.Id)
		}
		if status, _, body := e.api(t, "POST", "/exec/"+created.Id+"/start", strings.NewReader(`{"Detach":true}`)); status != 409 || !strings.Contains(body, "is already running") {
			t.Errorf("second start = %d %s, want 409 already running", status, body)
		}
		if status, _, _ := e.api(t, "GET", "/exec/nosuch/json", nil); status != 404 {
			t.Errorf("inspect of a missing exec = %d, want 404", status)
		}
	})

	t.Run("dropped at stop", func(t *testing.T) {
		short := name("exec-short")
		e.mustDocker(t, "run", "-d", "--name", short, "busybox", "sleep", "300")
		t.Cleanup(func() { e.docker(t, "rm", "-f", short) })
		status, _, body := e.api(t, "POST", "/containers/"+short+"/exec", strings.NewReader(`{"Cmd":["true"]}`))
		var created struct{ Id string }
		if status != 201 || json.Unmarshal([]byte(body), &created) != nil {
			t.Fatalf("exec create = %d %s", status, body)
		}
		e.mustDocker(t, "kill", short)
		e.mustDocker(t, "wait", short)
		if status, _, body := e.api(t, "GET", "/exec/"+created.Id+"/json", nil); status != 404 {
			t.Errorf("inspect of a stopped container's exec = %d %s, want 404", status, body)
		}
	})

	t.Run("top", func(t *testing.T) {
		for _, prog := range []string{"docker", "gantry"} {
			r := e.cli(t, prog, "top", ctr)
			if r.Code != 0 || !strings.HasPrefix(r.Stdout, "UID ") || !strings.Contains(r.Stdout, "sleep 300") {
				t.Errorf("%s top:\n%s", prog, r)
			}
			r = e.cli(t, prog, "top", ctr, "-o", "pid,comm")
			if lines := strings.Split(strings.TrimSpace(r.Stdout), "\n"); r.Code != 0 || !strings.HasPrefix(lines[0], "PID") || !strings.Contains(r.Stdout, "sleep") {
				t.Errorf("%s top -o pid,comm:\n%s", prog, r)
			}
			if r := e.cli(t, prog, "top", stopped); r.Code != 1 || !strings.Contains(r.Stderr, "is not running") {
				t.Errorf("%s top of a stopped container:\n%s", prog, r)
			}
		}
	})

	t.Run("stats", func(t *testing.T) {
		for _, prog := range []string{"docker", "gantry"} {
			r := e.cli(t, prog, "stats", "--no-stream", ctr)
			lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
			if r.Code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ID   NAME ") {
				t.Fatalf("%s stats --no-stream:\n%s", prog, r)
			}
			f := strings.Fields(lines[1])
			// ID NAME CPU% USAGE / LIMIT MEM% NET... : usage must not be 0B.
			if len(f) < 7 || f[1] != ctr || !strings.HasSuffix(f[2], "%") || f[3] == "0B" || f[4] != "/" {
				t.Errorf("%s stats row %q, want name, CPU %% and a non-zero memory usage", prog, lines[1])
			}
			// Streaming, a container that does not exist ends the command.
			missing := name("nosuch")
			if r := e.cli(t, prog, "stats", ctr, missing); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: "+missing) {
				t.Errorf("%s stats %s %s:\n%s", prog, ctr, missing, r)
			}
		}
	})
}

func TestExecPythonSDK(t *testing.T) {
	e := newEnv(t)
	ctr := name("exec-py")
	e.mustDocker(t, "run", "-d", "--name", ctr, "busybox", "sleep", "300")
	script := `
import sys, docker
c = docker.from_env(timeout=120).containers.get(sys.argv[1])
code, out = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"])
assert code == 3 and sorted(out.splitlines()) == [b"err", b"out"], (code, out)
code, (out, err) = c.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
assert (code, out, err) == (0, b"out\n", b"err\n"), (code, out, err)
code, out = c.exec_run("nonexistent")
assert code == 126 and b"executable file not found" in out, (code, out)
code, out = c.exec_run("pwd", workdir="/tmp", user="nobody", environment={"A": "b"})
assert (code, out) == (0, b"/tmp\n"), (code, out)
s = c.stats(stream=False)
assert s["memory_stats"]["usage"] > 0 and s["name"] == "/" + sys.argv[1], s
stream = c.stats(decode=True)
first, second = next(stream), next(stream)
assert second["precpu_stats"]["cpu_usage"]["total_usage"] == first["cpu_stats"]["cpu_usage"]["total_usage"], (first, second)
assert "memory_stats" in second and second["pids_stats"]["current"] >= 1, second
top = c.top()
assert "PID" in top["Titles"] and any("sleep 300" in p[-1] for p in top["Processes"]), top
print("ok")
`
	r := e.python(t, script, ctr)
	if r.Code != 0 || r.Stdout != "ok\n" {
		t.Errorf("python SDK exec/stats/top:\n%s", r)
	}
}
