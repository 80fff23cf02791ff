package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// probeSyscalls are the calls integration/testdata/seccompprobe tries, in
// its order: what Docker's default seccomp profile blocks.
var probeSyscalls = []string{
	"unshare(CLONE_NEWUSER)", "add_key", "keyctl", "request_key", "perf_event_open", "userfaultfd",
	"kcmp", "personality(ADDR_NO_RANDOMIZE)", "set_mempolicy", "move_pages", "fanotify_init", "socket(AF_VSOCK)",
}

// buildProbe builds the static seccomp probe into a new directory and
// returns the directory (bind-mount it, or use it as a build context).
func buildProbe(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the seccomp probe is built with the go command: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(dir, "seccompprobe"), "./testdata/seccompprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the seccomp probe: %v\n%s", err, out)
	}
	return dir
}

// probeTable parses the probe's output: syscall -> "ok" or an errno name.
func probeTable(t *testing.T, out string) map[string]string {
	t.Helper()
	table := map[string]string{}
	for _, l := range lines(out) {
		name, res, ok := strings.Cut(l, "\t")
		if !ok {
			continue
		}
		table[name] = res
	}
	for _, s := range probeSyscalls {
		if table[s] == "" {
			t.Fatalf("probe output lacks %s:\n%s", s, out)
		}
	}
	return table
}

// statusField returns a field of /proc/self/status as the container's
// process sees it ("Seccomp", "NoNewPrivs").
func statusField(status, field string) string {
	for _, l := range lines(status) {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestSeccompProbe runs the probe in a default container, where Docker's
// profile answers every call with EPERM, and with seccomp=unconfined, where
// none is refused by a filter. The tables are logged for the closing
// report (go test -v -run TestSeccompProbe).
func TestSeccompProbe(t *testing.T) {
	e := newEnv(t)
	gantry := !e.External && !e.d.isDockerd()
	probe := buildProbe(t)
	run := func(opts ...string) map[string]string {
		args := append([]string{"run", "--rm", "-v", probe + ":/probe:ro"}, opts...)
		return probeTable(t, e.mustDocker(t, append(args, "busybox", "/probe/seccompprobe")...))
	}
	confined := run()
	unconfined := run("--security-opt", "seccomp=unconfined")
	var report strings.Builder
	fmt.Fprintf(&report, "%-32s %-10s %s\n", "syscall", "default", "seccomp=unconfined")
	for _, s := range probeSyscalls {
		fmt.Fprintf(&report, "%-32s %-10s %s\n", s, confined[s], unconfined[s])
		if s == "socket(AF_VSOCK)" && !gantry {
			// Docker 20.10's profile predates the AF_VSOCK block of
			// moby/profiles.
		} else if confined[s] != "EPERM" {
			t.Errorf("%s in a default container: %s, want EPERM (Docker's profile)", s, confined[s])
		}
		// With no filter a call may still fail (a sysctl, a missing
		// capability), but a refusal by the filter would read EPERM for
		// all of them.
		if unconfined[s] == "EPERM" {
			t.Errorf("%s with seccomp=unconfined: EPERM, want it through the filter", s)
		}
	}
	t.Logf("seccomp probe:\n%s", report.String())
}

// TestSecurityOpt drives --security-opt through the docker CLI: the
// filter and no_new_privs seen from inside, the custom profile file, the
// options refused, and what inspect shows.
func TestSecurityOpt(t *testing.T) {
	e := newEnv(t)
	gantry := !e.External && !e.d.isDockerd()
	status := func(opts ...string) string {
		args := append(append([]string{"run", "--rm"}, opts...), "busybox", "cat", "/proc/self/status")
		return e.mustDocker(t, args...)
	}
	for _, tc := range []struct {
		name                string
		opts                []string
		seccomp, noNewPrivs string
		gantryOnly          bool // dockerd 20.10 predates seccomp=builtin (moby 23)
	}{
		{name: "default", seccomp: "2", noNewPrivs: "0"},
		{name: "unconfined", opts: []string{"--security-opt", "seccomp=unconfined"}, seccomp: "0", noNewPrivs: "0"},
		{name: "builtin", opts: []string{"--security-opt", "seccomp=builtin"}, seccomp: "2", noNewPrivs: "0", gantryOnly: true},
		{name: "no-new-privileges", opts: []string{"--security-opt", "no-new-privileges"}, seccomp: "2", noNewPrivs: "1"},
		{name: "no-new-privileges=true", opts: []string{"--security-opt", "no-new-privileges=true"}, seccomp: "2", noNewPrivs: "1"},
		{name: "no-new-privileges:true", opts: []string{"--security-opt", "no-new-privileges:true"}, seccomp: "2", noNewPrivs: "1"},
		{name: "no-new-privileges=false", opts: []string{"--security-opt", "no-new-privileges=false"}, seccomp: "2", noNewPrivs: "0"},
		{name: "apparmor=unconfined", opts: []string{"--security-opt", "apparmor=unconfined"}, seccomp: "2", noNewPrivs: "0"},
		{name: "label=disable", opts: []string{"--security-opt", "label=disable"}, seccomp: "2", noNewPrivs: "0"},
		{name: "label:disable", opts: []string{"--security-opt", "label:disable"}, seccomp: "2", noNewPrivs: "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.gantryOnly && !gantry {
				t.Skip("dockerd 20.10 predates seccomp=builtin")
			}
			st := status(tc.opts...)
			if got := statusField(st, "Seccomp"); got != tc.seccomp {
				t.Errorf("Seccomp: %s, want %s", got, tc.seccomp)
			}
			if got := statusField(st, "NoNewPrivs"); got != tc.noNewPrivs {
				t.Errorf("NoNewPrivs: %s, want %s", got, tc.noNewPrivs)
			}
		})
	}

	t.Run("custom profile", func(t *testing.T) {
		profile := filepath.Join(t.TempDir(), "nomkdir.json")
		os.WriteFile(profile, []byte(`{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
}`), 0o644)
		for _, prog := range []string{"docker", "gantry"} {
			if prog == "gantry" && !gantry {
				continue
			}
			r := e.cli(t, prog, "run", "--rm", "--security-opt", "seccomp="+profile, "busybox", "sh", "-c", "touch /tmp/f && echo touched; mkdir /tmp/d")
			if r.Code == 0 || !strings.Contains(r.Stdout, "touched") || !strings.Contains(r.Stderr, "Operation not permitted") {
				t.Errorf("%s run: mkdir under a profile that blocks it:\n%s", prog, r)
			}
		}
		ctr := name("seccomp-file")
		e.mustDocker(t, "create", "--name", ctr, "--security-opt", "seccomp="+profile, "--security-opt", "no-new-privileges", "busybox", "true")
		var opts []string
		json.Unmarshal([]byte(e.mustDocker(t, "inspect", "-f", "{{json .HostConfig.SecurityOpt}}", ctr)), &opts)
		want := []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`, "no-new-privileges"}
		if fmt.Sprint(opts) != fmt.Sprint(want) {
			t.Errorf("inspect HostConfig.SecurityOpt: %q, want %q", opts, want)
		}
	})

	t.Run("python SDK profile", func(t *testing.T) {
		r := e.python(t, `
import json, docker
profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
c = docker.from_env(timeout=120)
out = c.containers.run("busybox", ["sh", "-c", "mkdir /tmp/d 2>&1; grep NoNewPrivs: /proc/self/status"],
    security_opt=["seccomp=" + json.dumps(profile), "no-new-privileges"], remove=True)
print(out.decode(), end="")
`)
		if r.Code != 0 || !strings.Contains(r.Stdout, "Operation not permitted") || !strings.Contains(r.Stdout, "NoNewPrivs:\t1") {
			t.Errorf("profile and no-new-privileges through the Python SDK:\n%s", r)
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			opt, want  string
			gantryOnly bool // dockerd ignores what the host cannot apply
		}{
			{opt: "foo=bar", want: `invalid --security-opt 2: "foo=bar"`},
			{opt: "no-new-privileges=maybe", want: `invalid --security-opt 2: "no-new-privileges=maybe"`},
			{opt: "apparmor=gantry-test-profile", want: "AppArmor is not enabled on this host", gantryOnly: true},
			{opt: "label=type:container_t", want: "SELinux is not enabled on this host", gantryOnly: true},
		} {
			if tc.gantryOnly && (!gantry || hostHasLSM()) {
				continue
			}
			r := e.docker(t, "run", "--rm", "--security-opt", tc.opt, "busybox", "true")
			t.Logf("--security-opt %s: %s", tc.opt, r.Stderr)
			if r.Code != 125 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("run --security-opt %s:\n%s\nwant exit 125 and %q", tc.opt, r, tc.want)
			}
		}
		if !gantry {
			return // dockerd takes a bad profile at create and fails at start
		}
		bad := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(bad, []byte(`{"defaultAction": "SCMP_ACT_BOGUS"}`), 0o644)
		r := e.docker(t, "create", "--security-opt", "seccomp="+bad, "busybox", "true")
		if r.Code != 1 || !strings.Contains(r.Stderr, `unknown action "SCMP_ACT_BOGUS"`) {
			t.Errorf("create with an unknown seccomp action:\n%s", r)
		}
		for _, opt := range []string{`seccomp={"defaultAction": `, "bogus"} {
			body := fmt.Sprintf(`{"Image":"busybox","Cmd":["true"],"HostConfig":{"SecurityOpt":[%q]}}`, opt)
			code, _, resp := e.api(t, "POST", "/containers/create", strings.NewReader(body))
			if code != http.StatusBadRequest {
				t.Errorf("create with SecurityOpt %q: %d %s, want 400", opt, code, resp)
			}
			t.Logf("SecurityOpt %q: %s", opt, apiMessage(t, resp))
		}
	})
}

// hostHasLSM reports whether the host runs AppArmor or SELinux, where the
// refusals of apparmor= and label= do not apply.
func hostHasLSM() bool {
	aa, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return strings.TrimSpace(string(aa)) == "Y" || err == nil
}

// TestSeccompExecAndBuild: an exec in a container and a build's RUN step
// get the container's confinement.
func TestSeccompExecAndBuild(t *testing.T) {
	e := newEnv(t)
	probe := buildProbe(t)
	plain, nnp := name("seccomp-exec"), name("seccomp-exec-nnp")
	e.mustDocker(t, "run", "-d", "--name", plain, "-v", probe+":/probe:ro", "busybox", "sleep", "300")
	e.mustDocker(t, "run", "-d", "--name", nnp, "--security-opt", "no-new-privileges", "busybox", "sleep", "300")
	defer e.docker(t, "rm", "-f", plain, nnp)

	gantry := !e.External && !e.d.isDockerd()
	vsockBlocked := func(s string) bool { return s != "socket(AF_VSOCK)" || gantry } // not by Docker 20.10
	table := probeTable(t, e.mustDocker(t, "exec", plain, "/probe/seccompprobe"))
	for _, s := range probeSyscalls {
		if table[s] != "EPERM" && vsockBlocked(s) {
			t.Errorf("exec: %s: %s, want EPERM", s, table[s])
		}
	}
	for _, tc := range []struct{ ctr, seccomp, nnp string }{{plain, "2", "0"}, {nnp, "2", "1"}} {
		st := e.mustDocker(t, "exec", tc.ctr, "cat", "/proc/self/status")
		if statusField(st, "Seccomp") != tc.seccomp || statusField(st, "NoNewPrivs") != tc.nnp {
			t.Errorf("exec in %s: Seccomp %s NoNewPrivs %s, want %s %s", tc.ctr, statusField(st, "Seccomp"), statusField(st, "NoNewPrivs"), tc.seccomp, tc.nnp)
		}
	}

	os.WriteFile(filepath.Join(probe, "Dockerfile"), []byte("FROM busybox\nCOPY seccompprobe /seccompprobe\nRUN grep Seccomp: /proc/self/status && /seccompprobe\n"), 0o644)
	out := e.mustDocker(t, "build", "--no-cache", probe)
	if !strings.Contains(out, "Seccomp:\t2") {
		t.Errorf("RUN step not under a seccomp filter:\n%s", out)
	}
	for _, s := range probeSyscalls {
		if !strings.Contains(out, s+"\tEPERM") && vsockBlocked(s) {
			t.Errorf("RUN step: %s not refused with EPERM:\n%s", s, out)
		}
	}
}

// TestDaemonSeccompFlags: gantryd's --seccomp-profile and
// --no-new-privileges, as docker info shows them and as containers get
// them; a profile that cannot be read stops gantryd before it starts.
func TestDaemonSeccompFlags(t *testing.T) {
	e := newEnv(t)
	if e.External || e.d.isDockerd() {
		t.Skip("restarts gantryd; dockerd 20.10 knows neither --seccomp-profile unconfined nor builtin (moby 23)")
	}
	infoOpts := func() string { return e.mustDocker(t, "info", "-f", "{{json .SecurityOptions}}") }
	if got := infoOpts(); !strings.Contains(got, `"name=seccomp,profile=builtin"`) || strings.Contains(got, "no-new-privileges") {
		t.Errorf("docker info SecurityOptions by default: %s", got)
	}
	status := func(opts ...string) (seccomp, nnp string) {
		st := e.mustDocker(t, append(append([]string{"run", "--rm"}, opts...), "busybox", "cat", "/proc/self/status")...)
		return statusField(st, "Seccomp"), statusField(st, "NoNewPrivs")
	}

	e.stopDaemon(t)
	e.d.args = []string{"--seccomp-profile", "unconfined", "--no-new-privileges"}
	e.startDaemon(t)
	if got := infoOpts(); !strings.Contains(got, `"name=seccomp,profile=unconfined"`) || !strings.Contains(got, `"name=no-new-privileges"`) {
		t.Errorf("docker info SecurityOptions with --seccomp-profile unconfined --no-new-privileges: %s", got)
	}
	if s, n := status(); s != "0" || n != "1" {
		t.Errorf("daemon unconfined + no-new-privileges: Seccomp %s NoNewPrivs %s, want 0 1", s, n)
	}
	if s, n := status("--security-opt", "seccomp=builtin", "--security-opt", "no-new-privileges=false"); s != "2" || n != "0" {
		t.Errorf("overridden per container: Seccomp %s NoNewPrivs %s, want 2 0", s, n)
	}

	profile := filepath.Join(t.TempDir(), "nomkdir.json")
	os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	e.stopDaemon(t)
	e.d.args = []string{"--seccomp-profile", profile}
	e.startDaemon(t)
	if got := infoOpts(); !strings.Contains(got, `"name=seccomp,profile=`+profile+`"`) {
		t.Errorf("docker info SecurityOptions with --seccomp-profile FILE: %s", got)
	}
	if r := e.docker(t, "run", "--rm", "busybox", "mkdir", "/tmp/d"); r.Code == 0 || !strings.Contains(r.Stderr, "Operation not permitted") {
		t.Errorf("mkdir under the daemon's profile:\n%s", r)
	}
	e.mustDocker(t, "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "mkdir", "/tmp/d")

	e.stopDaemon(t)
	missing := filepath.Join(t.TempDir(), "missing.json")
	out, err := exec.Command(e.d.bin, "--data-root", t.TempDir(), "-H", "unix://"+filepath.Join(t.TempDir(), "s.sock"),
		"--seccomp-profile", missing).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "opening seccomp profile ("+missing+") failed") {
		t.Errorf("gantryd with a missing --seccomp-profile: %v\n%s", err, out)
	}
	e.d.args = nil
	e.startDaemon(t)
}
