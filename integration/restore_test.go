package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// TestLiveRestore kills gantryd with SIGKILL while containers run: a web
// server publishing a port, a counter writing a line every 50 ms, a shell
// with a terminal, one on a user network, and one that exits while
// gantryd is down. The containers run on under their monitors; the port
// answers while gantryd is down; the next gantryd adopts them with the
// same pids, and ps, inspect, logs (with the lines written meanwhile and
// no gap), logs -f, attach, exec, top, stats, kill, stop, wait and rm -f
// work on them.
func TestLiveRestore(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	port := randomPort()
	web, counter, shell, user, short := name("lr-web"), name("lr-count"), name("lr-sh"), name("lr-user"), name("lr-short")
	netName := name("lr-net")
	e.mustDocker(t, "network", "create", netName)
	t.Cleanup(func() { e.docker(t, "network", "rm", netName) })
	e.mustDocker(t, append([]string{"run", "-d", "--name", web, "-p", port + ":80"}, httpd("alive")...)...)
	e.mustDocker(t, "run", "-d", "--name", counter, "busybox", "sh", "-c", "i=0; while true; do echo n$i; i=$((i+1)); sleep 0.05; done")
	e.mustDocker(t, "run", "-dit", "--name", shell, "busybox", "sh")
	e.mustDocker(t, "run", "-d", "--name", user, "--network", netName, "busybox", "sleep", "300")
	e.waitHTTP(t, "http://127.0.0.1:"+port+"/", "alive")
	e.waitLogs(t, counter, "n3\n")
	pids := map[string]string{}
	for _, n := range []string{web, counter, shell, user} {
		pids[n] = e.inspectField(t, n, "{{.State.Pid}}")
	}
	e.mustDocker(t, "run", "-d", "--name", short, "busybox", "sh", "-c", "sleep 1; exit 7")
	// An exec that runs across the restart, and one that ended before.
	api := e.client(t)
	ctx := context.Background()
	execOf := func(cmd ...string) string {
		t.Helper()
		x, err := api.ExecCreate(ctx, user, client.ExecCreateOptions{Cmd: cmd})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := api.ExecStart(ctx, x.ID, client.ExecStartOptions{Detach: true}); err != nil {
			t.Fatal(err)
		}
		return x.ID
	}
	longExec, doneExec := execOf("sh", "-c", "sleep 6; exit 5"), execOf("sh", "-c", "exit 4")
	poll(t, 10*time.Second, "the short exec ended", func() (bool, string) {
		x, err := api.ExecInspect(ctx, doneExec, client.ExecInspectOptions{})
		return err == nil && !x.Running, fmt.Sprint(x, err)
	})
	xl, _ := api.ExecInspect(ctx, longExec, client.ExecInspectOptions{})

	e.killDaemon(t)
	killedAt := time.Now()
	for n, pid := range pids {
		p, _ := strconv.Atoi(pid)
		if !pidAlive(p) {
			t.Errorf("container %s (pid %s) died with gantryd", n, pid)
		}
	}
	// The published port keeps answering: its DNAT rules stay.
	if r := e.inDaemonNet(t, "curl", "-sS", "--max-time", "2", "http://127.0.0.1:"+port+"/"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "alive" {
		t.Errorf("the published port does not answer while gantryd is down:\n%s", r)
	}
	time.Sleep(1500 * time.Millisecond) // short exits, counter writes on
	e.startDaemon(t)

	ps := e.mustDocker(t, "ps", "--format", "{{.Names}}")
	for n, pid := range pids {
		if !strings.Contains(ps, n) {
			t.Errorf("ps after restart does not list %s:\n%s", n, ps)
		}
		if got := e.inspectField(t, n, "{{.State.Status}} {{.State.Pid}}"); got != "running "+pid {
			t.Errorf("%s after restart: %s, want running %s", n, got, pid)
		}
	}
	if got := e.inspectField(t, short, "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}"); got != "exited 7" {
		t.Errorf("the container that exited while gantryd was down: %q, want exited 7 with no error", got)
	}
	if fin, err := time.Parse(time.RFC3339Nano, e.inspectField(t, short, "{{.State.FinishedAt}}")); err != nil || fin.After(time.Now()) || fin.Before(killedAt.Add(-time.Second)) {
		t.Errorf("FinishedAt of the container that exited while gantryd was down: %v (%v); killed at %v", fin, err, killedAt)
	}
	e.waitHTTP(t, "http://127.0.0.1:"+port+"/", "alive")
	// The execs are known again: the one that ended with its code, the one
	// running with its pid, and its exit once it comes.
	api = e.client(t)
	if x, err := api.ExecInspect(ctx, doneExec, client.ExecInspectOptions{}); err != nil || x.Running || x.ExitCode != 4 {
		t.Errorf("the exec that ended before the restart: %+v, %v; want exit code 4", x, err)
	}
	if x, err := api.ExecInspect(ctx, longExec, client.ExecInspectOptions{}); err != nil || !x.Running || x.PID != xl.PID {
		t.Errorf("the exec running across the restart: %+v, %v; want running with pid %d", x, err, xl.PID)
	}
	poll(t, 15*time.Second, "the exec running across the restart ends with 5", func() (bool, string) {
		x, err := api.ExecInspect(ctx, longExec, client.ExecInspectOptions{})
		return err == nil && !x.Running && x.ExitCode == 5, fmt.Sprint(x, err)
	})
	if got := e.inspectField(t, web, "{{range $p, $b := .NetworkSettings.Ports}}{{$p}}->{{(index $b 0).HostPort}}{{end}}"); got != "80/tcp->"+port {
		t.Errorf("ports of the adopted web server: %q", got)
	}

	// The counter's log has the lines written while gantryd was down, with
	// no gap, and logs -f follows it.
	time.Sleep(300 * time.Millisecond)
	logs := e.mustDocker(t, "logs", counter)
	ls := lines(logs)
	if len(ls) < 30 {
		t.Errorf("counter logged %d lines across the restart, want 30 or more", len(ls))
	}
	for i, l := range ls {
		if l != "n"+strconv.Itoa(i) {
			t.Errorf("log line %d is %q, want n%d (a gap)", i, l, i)
			break
		}
	}
	follow := e.startTerminal(t, 24, 80, append(e.cliPath(t, "docker"), "logs", "-f", "--tail", "1", counter)...)
	next := "n" + strconv.Itoa(len(ls)+10)
	follow.expect(next)

	// exec, top, stats on an adopted container.
	if got := e.mustDocker(t, "exec", user, "sh", "-c", "echo in-$((1+1))"); got != "in-2" {
		t.Errorf("exec in an adopted container printed %q", got)
	}
	if top := e.mustDocker(t, "top", user); !strings.Contains(top, "sleep 300") {
		t.Errorf("top of an adopted container:\n%s", top)
	}
	if st := e.mustDocker(t, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", user); !strings.HasPrefix(st, user+" ") {
		t.Errorf("stats of an adopted container: %q", st)
	}
	// The user network still resolves the adopted container by name.
	if r := e.docker(t, "run", "--rm", "--network", netName, "busybox", "ping", "-c", "1", "-W", "2", user); r.Code != 0 {
		t.Errorf("ping of the adopted container by name on its user network:\n%s", r)
	}
	// And the adopted container's own DNS server answers again: its
	// sockets went with the killed gantryd.
	if r := e.docker(t, "exec", user, "nslookup", user); r.Code != 0 || !strings.Contains(r.Stdout, "Address") {
		t.Errorf("nslookup in the adopted container of its own name:\n%s", r)
	}

	// attach: typed input reaches the adopted shell, and its output comes.
	term := e.startTerminal(t, 24, 80, append(e.cliPath(t, "docker"), "attach", shell)...)
	poll(t, 15*time.Second, "the adopted shell runs typed input", func() (bool, string) {
		term.send("echo adopted-$((6*7))\r")
		time.Sleep(100 * time.Millisecond)
		out := term.output()
		return strings.Contains(out, "adopted-42"), out
	})
	term.send("exit\r")
	term.wait()
	if got := e.mustDocker(t, "wait", shell); got != "0" {
		t.Errorf("wait of the adopted shell after exit: %q", got)
	}

	// kill, stop and rm -f.
	e.mustDocker(t, "kill", counter)
	if got := e.mustDocker(t, "wait", counter); got != "137" {
		t.Errorf("wait after kill of the adopted counter: %q, want 137", got)
	}
	e.mustDocker(t, "stop", "-t", "1", web)
	if got := e.inspectField(t, web, "{{.State.Status}}"); got != "exited" {
		t.Errorf("adopted web server after stop: %s", got)
	}
	e.waitHTTPGone(t, port)
	e.mustDocker(t, "rm", "-f", user)
	for n, pid := range pids {
		p, _ := strconv.Atoi(pid)
		poll(t, 10*time.Second, n+"'s process is gone", func() (bool, string) { return !pidAlive(p), "pid " + pid + " alive" })
	}
	if m := e.leftoverMounts(); len(m) > 0 {
		t.Errorf("mounts left once the adopted containers stopped:\n%s", strings.Join(m, "\n"))
	}
}

// TestMonitorKilled: a container whose monitor is killed is marked exited
// with the reason in State.Error, and its processes are gone.
func TestMonitorKilled(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	n := name("monkill")
	id := e.mustDocker(t, "run", "-d", "--name", n, "busybox", "sleep", "300")
	pid, _ := strconv.Atoi(e.inspectField(t, n, "{{.State.Pid}}"))
	b, err := os.ReadFile(filepath.Join(e.d.runDir, "x", "mon", id, "monitor.pid"))
	if err != nil {
		t.Fatalf("the container's monitor pid file: %v", err)
	}
	mpid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(mpid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the monitor %d: %v", mpid, err)
	}
	poll(t, 10*time.Second, "the container is marked exited", func() (bool, string) {
		got := e.inspectField(t, n, "{{.State.Status}}")
		return got == "exited", got
	})
	if got := e.inspectField(t, n, "{{.State.ExitCode}} {{.State.Error}}"); !strings.HasPrefix(got, "137 ") || !strings.Contains(got, "monitor") {
		t.Errorf("after its monitor was killed: %q, want 137 and an error naming the monitor", got)
	}
	poll(t, 10*time.Second, "the container's process is gone", func() (bool, string) { return !pidAlive(pid), "alive" })
	e.mustDocker(t, "start", n) // it can run again

	// A monitor killed while gantryd is down: the next gantryd finds the
	// container unmanaged, kills it and says why.
	pid, _ = strconv.Atoi(e.inspectField(t, n, "{{.State.Pid}}"))
	b, err = os.ReadFile(filepath.Join(e.d.runDir, "x", "mon", id, "monitor.pid"))
	if err != nil {
		t.Fatalf("the container's monitor pid file: %v", err)
	}
	mpid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	e.killDaemon(t)
	syscall.Kill(mpid, syscall.SIGKILL)
	e.startDaemon(t)
	if got := e.inspectField(t, n, "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}"); !strings.HasPrefix(got, "exited 137 ") || !strings.Contains(got, "monitor") {
		t.Errorf("after its monitor was killed while gantryd was down: %q, want exited 137 and an error naming the monitor", got)
	}
	poll(t, 10*time.Second, "the container's process is gone", func() (bool, string) { return !pidAlive(pid), "alive" })
	e.mustDocker(t, "rm", "-f", n)
}

// TestLiveRestoreOff: with --live-restore=false a SIGTERM stops the
// containers, as dockerd's default.
func TestLiveRestoreOff(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	e.d.args = append(e.d.args, "--live-restore=false")
	e.stopDaemon(t)
	e.startDaemon(t)
	n := name("lroff")
	e.mustDocker(t, "run", "-d", "--name", n, "busybox", "sleep", "300")
	pid, _ := strconv.Atoi(e.inspectField(t, n, "{{.State.Pid}}"))
	e.stopDaemon(t)
	if pidAlive(pid) {
		t.Errorf("the container (pid %d) runs on after SIGTERM with --live-restore=false", pid)
	}
	e.startDaemon(t)
	if got := e.inspectField(t, n, "{{.State.Status}}"); got != "exited" {
		t.Errorf("after the restart the container is %s, want exited", got)
	}
}

// TestMonitorsReaped: the monitors of containers that exited are reaped
// (no zombie children of gantryd), and gantryd does not spend a thread per
// running container waiting for its monitor, nor more than one descriptor
// (the connection that carries its output, input and exit; there were
// three: a pidfd and a wait connection besides).
func TestMonitorsReaped(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	for i := 0; i < 3; i++ {
		e.mustDocker(t, "run", "--rm", "busybox", "true")
	}
	gpid := strconv.Itoa(e.d.cmd.Process.Pid)
	poll(t, 10*time.Second, "no zombie child of gantryd", func() (bool, string) {
		entries, _ := os.ReadDir("/proc")
		for _, ent := range entries {
			b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat"))
			if err != nil {
				continue
			}
			s := string(b)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			if len(f) > 1 && f[0] == "Z" && f[1] == gpid {
				return false, "zombie: " + s
			}
		}
		return true, ""
	})
	threads := func() int {
		b, _ := os.ReadFile("/proc/" + gpid + "/status")
		for _, l := range lines(string(b)) {
			if v, ok := strings.CutPrefix(l, "Threads:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n
			}
		}
		return 0
	}
	fds := func() int {
		ents, _ := os.ReadDir("/proc/" + gpid + "/fd")
		return len(ents)
	}
	before, beforeFDs := threads(), fds()
	var ids []string
	for i := 0; i < 20; i++ {
		// No network: a sandbox's descriptors are not the monitor's.
		ids = append(ids, e.mustDocker(t, "run", "-d", "--network", "none", "busybox", "sleep", "300"))
	}
	if after := threads(); after > before+8 {
		t.Errorf("gantryd has %d threads with 20 more running containers, %d before", after, before)
	}
	if after := fds(); after > beforeFDs+20+5 {
		out, _ := exec.Command("ls", "-l", "/proc/"+gpid+"/fd").CombinedOutput()
		t.Errorf("gantryd has %d descriptors with 20 more running containers, %d before: more than one each\n%s", after, beforeFDs, out)
	}
	e.mustDocker(t, append([]string{"rm", "-f"}, ids...)...)
}
