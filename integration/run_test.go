package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var containerIDRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestRun(t *testing.T) {
	e := newEnv(t)
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	bind := t.TempDir()
	if err := os.WriteFile(filepath.Join(bind, "in.txt"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		stdin      string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // exact unless stderrHas
		stderrHas  bool
	}{
		{name: "output", args: []string{"busybox", "echo", "hello"}, wantStdout: "hello\n"},
		{name: "stdout and stderr", args: []string{"busybox", "sh", "-c", "echo out; echo err >&2"}, wantStdout: "out\n", wantStderr: "err\n"},
		{name: "exit code", args: []string{"busybox", "sh", "-c", "exit 3"}, wantCode: 3},
		{name: "piped stdin", stdin: "hi\n", args: []string{"-i", "busybox", "cat"}, wantStdout: "hi\n"},
		{name: "env", args: []string{"-e", "FOO=bar", "-e", "EMPTY=", "busybox", "sh", "-c", `echo "$FOO|$EMPTY|$HOME|$PATH"`},
			wantStdout: "bar||/root|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"},
		{name: "workdir created", args: []string{"-w", "/new/dir", "busybox", "pwd"}, wantStdout: "/new/dir\n"},
		{name: "user by name", args: []string{"-u", "nobody", "busybox", "sh", "-c", "id -u; id -g"}, wantStdout: "65534\n65534\n"},
		{name: "user by uid:gid", args: []string{"-u", "123:456", "busybox", "sh", "-c", "id -u; id -g"}, wantStdout: "123\n456\n"},
		{name: "entrypoint", args: []string{"--entrypoint", "echo", "busybox", "a", "b"}, wantStdout: "a b\n"},
		{name: "entrypoint without args", args: []string{"--entrypoint", "pwd", "busybox"}, wantStdout: "/\n"},
		{name: "bind mount", args: []string{"-v", bind + ":/data", "busybox", "sh", "-c", "cat /data/in.txt; echo out > /data/out.txt"}, wantStdout: "from host\n"},
		{name: "bind mount read-only", args: []string{"-v", bind + ":/data:ro", "busybox", "sh", "-c", "cat /data/in.txt; touch /data/ro.txt"},
			wantCode: 1, wantStdout: "from host\n", wantStderr: "Read-only file system", stderrHas: true},
		{name: "network none", args: []string{"--network", "none", "busybox", "ls", "/sys/class/net"}, wantStdout: "lo\n"},
		{name: "network host", args: []string{"--network", "host", "busybox", "hostname"}, wantStdout: hostname + "\n"},
		{name: "proc and dev", args: []string{"busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; test -c /dev/null && test -d /dev/pts && test -d /dev/shm && echo dev"},
			wantStdout: "sh -c cat /proc/1/cmdline | tr '\\0' ' '; echo; test -c /dev/null && test -d /dev/pts && test -d /dev/shm && echo dev \ndev\n"},
		{name: "sys read-only", args: []string{"busybox", "sh", "-c", "grep -q ' /sys .*ro,' /proc/mounts && echo ro"}, wantStdout: "ro\n"},
		{name: "etc files", args: []string{"busybox", "sh", "-c", "test -s /etc/hostname && test -s /etc/hosts && test -e /etc/resolv.conf && test \"$(cat /etc/hostname)\" = \"$HOSTNAME\" && echo ok"}, wantStdout: "ok\n"},
		{name: "cgroup limits", args: []string{"--memory", "64m", "--cpus", "1.5", "--pids-limit", "50", "busybox", "sh", "-c",
			"cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max"},
			wantStdout: "67108864\n150000\n50\n"},
		// Exit codes of docker run itself, as Docker's.
		{name: "not executable is 126", args: []string{"busybox", "/etc/passwd"}, wantCode: 126, wantStderr: "permission denied", stderrHas: true},
		{name: "not found is 127", args: []string{"busybox", "nonexistent"}, wantCode: 127, wantStderr: "nonexistent", stderrHas: true},
		{name: "bad flag value is 125", args: []string{"--memory", "abc", "busybox", "true"}, wantCode: 125, wantStderr: "invalid argument", stderrHas: true},
		{name: "unknown user is 125", args: []string{"-u", "nosuchuser", "busybox", "true"}, wantCode: 125, wantStderr: "nosuchuser", stderrHas: true},
		{name: "invalid reference is 125", args: []string{"Bad..Ref"}, wantCode: 125, wantStderr: "invalid reference format", stderrHas: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.dockerIn(t, tc.stdin, append([]string{"run", "--rm"}, tc.args...)...)
			stderrOK := r.Stderr == tc.wantStderr
			if tc.stderrHas {
				stderrOK = strings.Contains(r.Stderr, tc.wantStderr)
			}
			if r.Code != tc.wantCode || r.Stdout != tc.wantStdout || !stderrOK {
				t.Errorf("docker run --rm %s:\n%s\nwant exit %d, stdout %q, stderr %q", strings.Join(tc.args, " "), r, tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(bind, "out.txt")); err != nil || string(b) != "out\n" {
		t.Errorf("file written through the bind mount: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(bind, "ro.txt")); err == nil {
		t.Errorf("a read-only bind mount was written to")
	}
}

func TestRunDetachedAndRemove(t *testing.T) {
	e := newEnv(t)
	t.Run("detached", func(t *testing.T) {
		id := e.mustDocker(t, "run", "-d", "busybox", "sh", "-c", "echo detached; exit 4")
		if !containerIDRe.MatchString(id) {
			t.Fatalf("run -d printed %q, want a 64-hex ID", id)
		}
		if got := e.mustDocker(t, "wait", id); got != "4" {
			t.Errorf("wait = %q, want 4", got)
		}
		if got := e.mustDocker(t, "logs", id); got != "detached" {
			t.Errorf("logs = %q, want detached", got)
		}
		if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", id); got != "exited 4" {
			t.Errorf("state = %q, want exited 4", got)
		}
	})
	t.Run("rm", func(t *testing.T) {
		n := name("rm")
		r := e.docker(t, "run", "--rm", "--name", n, "busybox", "sh", "-c", "echo bye; exit 2")
		if r.Code != 2 || r.Stdout != "bye\n" {
			t.Fatalf("run --rm:\n%s", r)
		}
		// docker run --rm waits for condition=removed: gone at once.
		if got := e.mustDocker(t, "ps", "-aq", "--filter", "name="+n); got != "" {
			t.Errorf("ps -a after run --rm lists %q", got)
		}
		if r := e.docker(t, "container", "inspect", n); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: "+n) {
			t.Errorf("inspect after run --rm:\n%s", r)
		}
	})
	t.Run("rm detached", func(t *testing.T) {
		id := e.mustDocker(t, "run", "-d", "--rm", "busybox", "true")
		poll(t, 10*time.Second, "detached --rm container removed", func() (bool, string) {
			out := e.mustDocker(t, "ps", "-aq", "--no-trunc", "--filter", "id="+id)
			return out == "", out
		})
	})
	t.Run("name in use", func(t *testing.T) {
		n := name("dup")
		e.mustDocker(t, "create", "--name", n, "busybox", "true")
		r := e.docker(t, "run", "--name", n, "busybox", "true")
		if r.Code != 125 || !strings.Contains(r.Stderr, `"/`+n+`" is already in use`) {
			t.Errorf("run with a name in use:\n%s\nwant 125 and is already in use", r)
		}
	})
}

// TestPublishInvalid: a host port that is not a port number is refused at
// create with 400 naming it (the docker CLI checks -p itself, so this goes
// through the API).
func TestPublishInvalid(t *testing.T) {
	e := newEnv(t)
	body := `{"Image":"busybox","Cmd":["true"],"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"http"}]}}}`
	code, _, resp := e.api(t, "POST", "/containers/create", strings.NewReader(body))
	if code != 400 || !strings.Contains(apiMessage(t, resp), `"http"`) {
		t.Errorf("create with host port http: %d %s, want 400 naming it", code, resp)
	}
	r := e.docker(t, "run", "--rm", "-p", "99999:80", "busybox", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "99999") {
		t.Errorf("docker run -p 99999:80:\n%s\nwant an error naming the port", r)
	}
}
