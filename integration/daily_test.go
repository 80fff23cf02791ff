package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestUpdate: docker update changes the cgroup limits of a running
// container at once and records them for its next start; dockerd's
// errors for bad values; a restart policy is changed, with create's
// checks.
func TestUpdate(t *testing.T) {
	e := newEnv(t)
	ctr := name("update")
	e.cleanupVolumes(t, []string{ctr}, nil)
	e.mustDocker(t, "run", "-d", "--name", ctr, "busybox", "sleep", "60")
	e.mustDocker(t, "update", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "50", "--cpu-shares", "512", ctr)
	got := e.mustDocker(t, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.CPUShares}}", ctr)
	if want := "67108864 134217728 50 512"; got != want {
		t.Errorf("recorded resources: %q, want %q", got, want)
	}
	pid := e.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", ctr)
	cg, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var pidsMax, memMax string
	for _, line := range strings.Split(string(cg), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch parts[1] {
		case "pids":
			b, _ := os.ReadFile("/sys/fs/cgroup/pids" + parts[2] + "/pids.max")
			pidsMax = strings.TrimSpace(string(b))
		case "memory":
			b, _ := os.ReadFile("/sys/fs/cgroup/memory" + parts[2] + "/memory.limit_in_bytes")
			memMax = strings.TrimSpace(string(b))
		case "":
			if b, err := os.ReadFile("/sys/fs/cgroup" + parts[2] + "/pids.max"); err == nil && pidsMax == "" {
				pidsMax = strings.TrimSpace(string(b))
			}
			if b, err := os.ReadFile("/sys/fs/cgroup" + parts[2] + "/memory.max"); err == nil && memMax == "" {
				memMax = strings.TrimSpace(string(b))
			}
		}
	}
	if pidsMax != "50" || memMax != "67108864" {
		t.Errorf("cgroup of the running container: pids.max %q, memory limit %q; want 50 and 67108864", pidsMax, memMax)
	}
	e.mustDocker(t, "restart", "-t", "0", ctr)
	if got := e.mustDocker(t, "exec", ctr, "cat", "/sys/fs/cgroup/pids/pids.max"); got != "50" {
		t.Logf("pids.max after a restart, seen inside: %q", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "1m"}, "Minimum memory limit allowed is 6MB"},
		{[]string{"--blkio-weight", "5"}, blkioWeightError("Range of blkio weight is from 10 to 1000")},
		{[]string{"--memory", "256m"}, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"},
		{[]string{"--restart", "always:3"}, "invalid restart policy: maximum retry count can only be used with 'on-failure'"},
	} {
		r := e.docker(t, append(append([]string{"update"}, c.args...), ctr)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("update %v:\n%s\nwant %q", c.args, r, c.want)
		}
	}
	e.mustDocker(t, "update", "--restart", "on-failure:3", ctr)
	if got := e.mustDocker(t, "inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", ctr); got != "on-failure:3" {
		t.Errorf("restart policy after update: %q, want on-failure:3", got)
	}
	// Memory below the usage: tmpfs pages in /dev/shm cannot be reclaimed
	// on a host without swap, so the kernel refuses the limit.
	if mem, err := os.ReadFile("/proc/meminfo"); err == nil && strings.Contains(string(mem), "SwapTotal:              0 kB") {
		big := name("updbig")
		e.cleanupVolumes(t, []string{big}, nil)
		e.mustDocker(t, "run", "-d", "--name", big, "--shm-size", "64m", "busybox", "sh", "-c", "dd if=/dev/zero of=/dev/shm/f bs=1M count=40 2>/dev/null; sleep 60")
		poll(t, 10*time.Second, "shm filled", func() (bool, string) {
			out := e.docker(t, "exec", big, "du", "-m", "/dev/shm/f").Stdout
			return strings.HasPrefix(out, "40"), out
		})
		r := e.docker(t, "update", "--memory", "10m", "--memory-swap", "10m", big)
		if r.Code == 0 || !strings.Contains(r.Stderr, "Cannot update container ") {
			t.Errorf("update of memory below the usage:\n%s", r)
		}
		if got := e.mustDocker(t, "inspect", "-f", "{{.HostConfig.Memory}}", big); got != "0" {
			t.Errorf("a refused update was recorded: Memory %s", got)
		}
	}
	r := e.docker(t, "update", "--memory", "64m", "gt-nope")
	if r.Code == 0 || !strings.Contains(r.Stderr, "No such container: gt-nope") {
		t.Errorf("update of a missing container:\n%s", r)
	}
	r = e.python(t, `
import sys, docker
c = docker.from_env().containers.get(sys.argv[1])
c.update(mem_limit="100m", memswap_limit="200m")
c.reload()
assert c.attrs["HostConfig"]["Memory"] == 100 * 1024 * 1024, c.attrs["HostConfig"]["Memory"]
print("ok")
`, ctr)
	if r.Code != 0 || r.Stdout != "ok\n" {
		t.Errorf("python SDK update:\n%s", r)
	}
}

// blkioWeightError is the error of a --blkio-weight on this host: the
// kernel's lack of a weight (no BFQ scheduler: dockerd discards the
// weight with a warning, gantry refuses it), else want.
func blkioWeightError(want string) string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		if b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); strings.Contains(string(b), "io") {
			return want
		}
	} else {
		for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
			if _, err := os.Stat("/sys/fs/cgroup/blkio/" + f); err == nil {
				return want
			}
		}
	}
	return "Your kernel does not support Block I/O weight or the cgroup is not mounted"
}

// TestBlkioWeight: --blkio-weight is written to the container's cgroup
// where the kernel has a weight, and refused with dockerd's words where
// it has none (runc's write of blkio.bfq.weight failed the start).
func TestBlkioWeight(t *testing.T) {
	e := newEnv(t)
	unsupported := blkioWeightError("") != ""
	ctr := name("blkio")
	e.cleanupVolumes(t, []string{ctr}, nil)
	r := e.docker(t, "run", "-d", "--name", ctr, "--blkio-weight", "300", "busybox", "sleep", "60")
	if unsupported {
		want := blkioWeightError("")
		if r.Code == 0 || !strings.Contains(r.Stderr, want) || strings.Contains(r.Stderr, "runc") {
			t.Errorf("--blkio-weight on a kernel without a weight:\n%s\nwant %q", r, want)
		}
		e.mustDocker(t, "run", "-d", "--name", ctr+"-u", "busybox", "sleep", "60")
		e.cleanupVolumes(t, []string{ctr + "-u"}, nil)
		if r := e.docker(t, "update", "--blkio-weight", "300", ctr+"-u"); r.Code == 0 || !strings.Contains(r.Stderr, want) {
			t.Errorf("update --blkio-weight on a kernel without a weight:\n%s", r)
		}
		return
	}
	if r.Code != 0 {
		t.Fatalf("--blkio-weight 300:\n%s", r)
	}
	if got := e.mustDocker(t, "inspect", "-f", "{{.HostConfig.BlkioWeight}}", ctr); got != "300" {
		t.Errorf("BlkioWeight %s", got)
	}
	e.mustDocker(t, "update", "--blkio-weight", "200", ctr)
}

// TestPruneAndDiskUsage: system df reports real sizes (a container's
// SizeRw, an image's unique and shared parts, a volume's data); container,
// image and builder prune remove what they should, with the space
// reclaimed; unknown filters are dockerd's error.
func TestPruneAndDiskUsage(t *testing.T) {
	e := newEnv(t)
	ctr, keep, vol := name("df"), name("dfkeep"), name("dfvol")
	e.cleanupVolumes(t, []string{ctr, keep}, []string{vol})
	e.mustDocker(t, "run", "--name", ctr, "-v", vol+":/v", "--label", "gt=prune", "busybox", "sh", "-c",
		"dd if=/dev/zero of=/big bs=1024 count=300 2>/dev/null; dd if=/dev/zero of=/v/data bs=1024 count=200 2>/dev/null")
	e.mustDocker(t, "create", "--name", keep, "busybox", "true")
	got := e.mustDocker(t, "system", "df", "-v", "--format", "{{json .}}")
	var du struct {
		Containers []struct{ Names, Size string }
		Volumes    []struct{ Name, Size string }
	}
	if err := json.Unmarshal([]byte(got), &du); err != nil {
		t.Fatalf("system df -v: %v\n%s", err, got)
	}
	sizes := map[string]string{}
	for _, c := range du.Containers {
		sizes[c.Names] = c.Size
	}
	for _, v := range du.Volumes {
		sizes[v.Name] = v.Size
	}
	if sizes[ctr] != "307kB" || sizes[vol] != "204.8kB" {
		t.Errorf("system df -v sizes: container %q (want 307kB), volume %q (want 204.8kB)\n%s", sizes[ctr], sizes[vol], got)
	}
	r := e.python(t, `
import sys, docker
df = docker.from_env().df()
c = [x for x in df["Containers"] if x["Names"] == ["/" + sys.argv[1]]][0]
assert c["SizeRw"] == 300 * 1024 and c["SizeRootFs"] > c["SizeRw"], c
assert df["LayersSize"] > 0 and len(df["Images"]) >= 1, df
print("ok")
`, ctr)
	if r.Code != 0 || r.Stdout != "ok\n" {
		t.Errorf("python SDK df:\n%s", r)
	}

	r = e.docker(t, "container", "prune", "-f", "--filter", "nope=1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "invalid filter 'nope'") {
		t.Errorf("prune with an unknown filter:\n%s", r)
	}
	out := e.mustDocker(t, "container", "prune", "-f", "--filter", "label=gt=prune")
	if r := e.docker(t, "inspect", ctr); r.Code == 0 {
		t.Errorf("container prune left %s:\n%s", ctr, out)
	}
	if r := e.docker(t, "inspect", keep); r.Code != 0 {
		t.Errorf("container prune removed %s, which lacks the label:\n%s", keep, out)
	}
	if !strings.Contains(out, "Total reclaimed space: 307.2kB") {
		t.Errorf("container prune output:\n%s\nwant Total reclaimed space: 307.2kB", out)
	}

	// An image of its own (a commit with 100 KiB), made dangling by
	// another commit of the same name, goes with image prune; busybox,
	// tagged, stays unless -a, and then only if no container uses it.
	img := name("dfimg")
	e.mustDocker(t, "run", "--name", img, "busybox", "dd", "if=/dev/zero", "of=/one", "bs=1024", "count=100")
	e.mustDocker(t, "commit", img, img+":1")
	e.mustDocker(t, "rm", img)
	first := e.mustDocker(t, "inspect", "-f", "{{.Id}}", img+":1")
	e.mustDocker(t, "run", "--name", img, "busybox", "true")
	e.mustDocker(t, "commit", "-c", "LABEL x=y", img, img+":1")
	e.mustDocker(t, "rm", img)
	out = e.mustDocker(t, "image", "prune", "-f")
	if !strings.Contains(out, "deleted: "+first) || !strings.Contains(out, "Total reclaimed space: 102.4kB") {
		t.Errorf("image prune:\n%s\nwant %s deleted and 102.4kB reclaimed", out, first)
	}
	if r := e.docker(t, "image", "inspect", "busybox"); r.Code != 0 {
		t.Errorf("image prune removed busybox, which is tagged:\n%s", out)
	}
	out = e.mustDocker(t, "image", "prune", "-a", "-f")
	if !strings.Contains(out, "untagged: "+img+":1") {
		t.Errorf("image prune -a:\n%s\nwant %s:1 untagged", out, img)
	}
	if r := e.docker(t, "image", "inspect", "busybox"); r.Code != 0 {
		t.Errorf("image prune -a removed busybox, which %s uses:\n%s", keep, out)
	}
}

// TestBuilderPrune: builder prune -a removes the build cache records, so
// the next build runs its steps again.
func TestBuilderPrune(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	tag := name("bp")
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo "+tag+" > /f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.docker(t, "rmi", "-f", tag) })
	build := func() string {
		r := e.run(t, nil, "docker", "build", "-t", tag, dir)
		if r.Code != 0 {
			t.Fatalf("build:\n%s", r)
		}
		return r.Stdout + r.Stderr
	}
	build()
	if out := build(); !strings.Contains(out, "Using cache") {
		t.Fatalf("second build did not use the cache:\n%s", out)
	}
	out := e.mustDocker(t, "builder", "prune", "-a", "-f")
	if !strings.Contains(out, "Deleted build cache objects:") {
		t.Errorf("builder prune -a:\n%s", out)
	}
	if out := build(); strings.Contains(out, "Using cache") {
		t.Errorf("a build after builder prune -a used the cache:\n%s", out)
	}

	// RUN --mount=type=cache directories go with a plain prune, as
	// BuildKit's exec.cachemount records do.
	cdir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=cache,target=/c ls /c > /seen; dd if=/dev/zero of=/c/blob bs=1M count=2\n"})
	seen := func() string {
		e.mustBuild(t, "docker", "--no-cache", "-t", tag, cdir)
		return strings.TrimSpace(e.mustDocker(t, "run", "--rm", tag, "cat", "/seen"))
	}
	seen()
	if got := seen(); got != "blob" {
		t.Fatalf("the cache mount did not keep its content across builds: /seen is %q", got)
	}
	if out := e.mustDocker(t, "builder", "prune", "-f"); !strings.Contains(out, "Total reclaimed space: 2.097MB") {
		t.Errorf("builder prune of a 2 MiB cache mount:\n%s", out)
	}
	if got := seen(); got != "" {
		t.Errorf("a build after builder prune still had its cache mount's content: /seen is %q", got)
	}
}

// TestPsFiltersAndInfo: ps filters network, volume, before, since,
// publish, expose, is-task, isolation, exited (integers) and health; ps -s
// sizes; docker info counts running, paused and
// stopped containers and has no stale warning.
func TestPsFiltersAndInfo(t *testing.T) {
	e := newEnv(t)
	a, b, c, vol, net := name("psa"), name("psb"), name("psc"), name("psvol"), name("psnet")
	e.cleanupVolumes(t, []string{a, b, c}, []string{vol})
	e.mustDocker(t, "network", "create", net)
	t.Cleanup(func() { e.docker(t, "network", "rm", net) })
	e.mustDocker(t, "create", "--name", a, "-v", vol+":/data", "--expose", "8080", "busybox", "true")
	e.mustDocker(t, "run", "-d", "--name", b, "--network", net, "-p", "8000:80", "busybox", "sleep", "60")
	e.mustDocker(t, "run", "-d", "--name", c, "busybox", "sh", "-c", "echo hello > /f; sleep 60")
	e.mustDocker(t, "pause", c)
	ps := func(filter string) string {
		return e.mustDocker(t, "ps", "-a", "--filter", filter, "--format", "{{.Names}}")
	}
	for _, tc := range []struct{ filter, want string }{
		{"network=" + net, b},
		{"volume=" + vol, a},
		{"volume=/data", a},
		{"before=" + b, a},
		{"since=" + b, c},
		{"publish=80", b},
		{"publish=70-90/tcp", b},
		{"expose=8080", a},
		{"is-task=true", ""},
		{"health=healthy", ""},
	} {
		if got := ps(tc.filter); got != tc.want {
			t.Errorf("ps --filter %s: %q, want %q", tc.filter, got, tc.want)
		}
	}
	for _, f := range []string{"health=none", "isolation=default"} {
		if got := ps(f); len(lines(got)) != 3 {
			t.Errorf("ps --filter %s: %q, want the three containers", f, got)
		}
	}
	if got := ps("isolation=hyperv"); got != "" {
		t.Errorf("ps --filter isolation=hyperv: %q, want none", got)
	}
	if r := e.docker(t, "ps", "--filter", "exited=x"); r.Code == 0 || !strings.Contains(r.Stderr, `strconv.Atoi: parsing "x": invalid syntax`) {
		t.Errorf("ps --filter exited=x:\n%s\nwant dockerd's error", r)
	}
	r := e.docker(t, "ps", "--filter", "before=gt-nope")
	if r.Code == 0 || !strings.Contains(r.Stderr, "No such container: gt-nope") {
		t.Errorf("ps --filter before= a missing container:\n%s", r)
	}
	if got := e.mustDocker(t, "ps", "-s", "--filter", "name="+c, "--format", "{{.Size}}"); !strings.HasPrefix(got, "6B (virtual ") || strings.HasSuffix(got, "(virtual 0B)") {
		t.Errorf("ps -s: %q, want 6B (virtual <the image's size and 6B>)", got)
	}
	var rw, rootfs int64
	got := e.mustDocker(t, "inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", c)
	if _, err := fmt.Sscan(got, &rw, &rootfs); err != nil || rw != 6 || rootfs <= rw {
		t.Errorf("inspect -s: %q, want SizeRw 6 and a larger SizeRootFs", got)
	}
	got = e.mustDocker(t, "info", "--format", "{{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{json .Warnings}}")
	if got != "1 1 1 []" && got != "1 1 1 null" {
		t.Errorf("info counts and warnings: %q, want 1 1 1 and no warning", got)
	}
}

// TestDevicesAndPrivileged: --device puts the node in the container with
// its cgroup rule (permissions honoured), --device-cgroup-rule allows a
// device, --privileged gives every capability, the host's devices and no
// seccomp; a missing device and --gpus are dockerd's errors.
func TestDevicesAndPrivileged(t *testing.T) {
	e := newEnv(t)
	got := e.mustDocker(t, "run", "--rm", "--device", "/dev/fuse", "busybox", "sh", "-c", "ls -l /dev/fuse | cut -c1")
	if got != "c" {
		t.Errorf("--device /dev/fuse: %q, want the character device", got)
	}
	r := e.docker(t, "run", "--rm", "--device", "/dev/fuse:/dev/fuse:r", "busybox", "sh", "-c", "echo x > /dev/fuse")
	if r.Code == 0 || !strings.Contains(r.Stderr, "can't create /dev/fuse: Operation not permitted") {
		t.Errorf("--device with permissions r: opening for writing must be refused:\n%s", r)
	}
	r = e.docker(t, "run", "--rm", "--device", "/dev/fuse:/dev/fuse:rw", "busybox", "sh", "-c", "echo x > /dev/fuse")
	if strings.Contains(r.Stderr, "can't create") {
		t.Errorf("--device with permissions rw: opening for writing must be allowed:\n%s", r)
	}
	probe := "mknod /dev/t c 10 229 && echo x > /dev/t"
	r = e.docker(t, "run", "--rm", "busybox", "sh", "-c", probe)
	if !strings.Contains(r.Stderr, "can't create /dev/t: Operation not permitted") {
		t.Errorf("a device without a rule must be refused:\n%s", r)
	}
	r = e.docker(t, "run", "--rm", "--device-cgroup-rule", "c 10:229 rwm", "busybox", "sh", "-c", probe)
	if strings.Contains(r.Stderr, "can't create") {
		t.Errorf("--device-cgroup-rule c 10:229 rwm did not allow the device:\n%s", r)
	}
	r = e.docker(t, "run", "--rm", "--device", "/dev/nope", "busybox", "true")
	if want := `error gathering device information while adding custom device "/dev/nope": no such file or directory`; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("--device of a missing path:\n%s\nwant %q", r, want)
	}
	r = e.docker(t, "run", "--rm", "--gpus", "all", "busybox", "true")
	if want := `could not select device driver "" with capabilities: [[gpu]]`; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("--gpus:\n%s\nwant %q", r, want)
	}
	got = e.mustDocker(t, "run", "--rm", "--privileged", "busybox", "sh", "-c",
		"grep -E '^(CapEff|Seccomp):' /proc/self/status | tr -s '\\t ' ' '; test -e /dev/fuse && echo fuse; grep ' /sys sysfs' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null; echo w$?")
	capBnd := ""
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
				capBnd = strings.TrimSpace(v)
			}
		}
	}
	if want := "CapEff: " + capBnd + "\nSeccomp: 0\nfuse\nrw\nw0"; got != want {
		t.Errorf("--privileged:\n%s\nwant:\n%s", got, want)
	}
	ctr := name("privexec")
	e.cleanupVolumes(t, []string{ctr}, nil)
	e.mustDocker(t, "run", "-d", "--name", ctr, "--cap-drop", "ALL", "busybox", "sleep", "60")
	got = e.mustDocker(t, "exec", "--privileged", ctr, "sh", "-c", "grep CapEff: /proc/self/status | tr -s '\t ' ' '")
	if want := "CapEff: " + capBnd; got != want {
		t.Errorf("exec --privileged: %q, want %q", got, want)
	}
	if got := e.mustDocker(t, "exec", ctr, "sh", "-c", "grep CapEff: /proc/self/status | tr -s '\t ' ' '"); got != "CapEff: 0000000000000000" {
		t.Errorf("exec without --privileged in a container without capabilities: %q", got)
	}
}

// TestVolumesFromAndMAC: --volumes-from mounts another container's
// volumes and binds (:ro read-only); --mac-address is the MAC of the
// container's interface.
func TestVolumesFromAndMAC(t *testing.T) {
	e := newEnv(t)
	src, vol := name("vfsrc"), name("vfvol")
	host := t.TempDir()
	e.cleanupVolumes(t, []string{src}, []string{vol})
	e.mustDocker(t, "run", "--name", src, "-v", vol+":/data", "-v", host+":/h", "busybox", "sh", "-c", "echo v > /data/f; echo h > /h/f")
	if got := e.mustDocker(t, "run", "--rm", "--volumes-from", src, "busybox", "sh", "-c", "cat /data/f /h/f; echo w > /data/g && echo wrote"); got != "v\nh\nwrote" {
		t.Errorf("--volumes-from: %q", got)
	}
	r := e.docker(t, "run", "--rm", "--volumes-from", src+":ro", "busybox", "sh", "-c", "cat /data/g; touch /data/x")
	if r.Code == 0 || r.Stdout != "w\n" || !strings.Contains(r.Stderr, "Read-only file system") {
		t.Errorf("--volumes-from :ro:\n%s", r)
	}
	got := e.mustDocker(t, "run", "--rm", "--mac-address", "02:42:ac:11:99:99", "busybox", "cat", "/sys/class/net/eth0/address")
	if got != "02:42:ac:11:99:99" {
		t.Errorf("--mac-address: eth0 has %q", got)
	}
	ctr := name("mac")
	e.cleanupVolumes(t, []string{ctr}, nil)
	e.mustDocker(t, "run", "-d", "--name", ctr, "--mac-address", "02:42:ac:11:99:98", "busybox", "sleep", "60")
	if got := e.mustDocker(t, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.MacAddress}}", ctr); got != "02:42:ac:11:99:98" {
		t.Errorf("inspect MacAddress: %q", got)
	}
	r = e.docker(t, "run", "--rm", "--network", "host", "--mac-address", "02:42:ac:11:99:99", "busybox", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "conflicting options: mac-address and the network mode") {
		t.Errorf("--mac-address with --network host:\n%s", r)
	}
}

// TestOomKillDisable: --oom-kill-disable is honoured through the memory
// cgroup (v1: memory.oom_control), and refused where runc uses cgroup v2.
func TestOomKillDisable(t *testing.T) {
	e := newEnv(t)
	ctr := name("oom")
	e.cleanupVolumes(t, []string{ctr}, nil)
	r := e.docker(t, "run", "-d", "--name", ctr, "--oom-kill-disable", "-m", "32m", "busybox", "sleep", "60")
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		if r.Code == 0 || !strings.Contains(r.Stderr, "--oom-kill-disable is not supported on cgroup v2") {
			t.Errorf("--oom-kill-disable on cgroup v2:\n%s", r)
		}
		return
	}
	if r.Code != 0 {
		t.Fatalf("--oom-kill-disable:\n%s", r)
	}
	pid := e.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", ctr)
	cg, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(cg), "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && parts[1] == "memory" {
			b, err := os.ReadFile("/sys/fs/cgroup/memory" + parts[2] + "/memory.oom_control")
			if err != nil || !strings.Contains(string(b), "oom_kill_disable 1") {
				t.Errorf("memory.oom_control: %q %v", b, err)
			}
			return
		}
	}
	t.Errorf("no memory cgroup in %s", cg)
}

// TestSystemPrune: docker system prune -a --volumes calls each kind's
// prune; the stopped container, its unused network and anonymous volume
// (named ones stay, as with dockerd since API 1.42), and the images no
// container uses go, with the total reclaimed.
func TestSystemPrune(t *testing.T) {
	e := newEnv(t)
	ctr, net := name("sp"), name("spnet")
	e.mustDocker(t, "network", "create", net)
	e.mustDocker(t, "run", "--name", ctr, "--network", net, "-v", "/v", "busybox", "sh", "-c", "echo x > /v/f; echo y > /f")
	vol := e.mustDocker(t, "inspect", "-f", "{{(index .Mounts 0).Name}}", ctr)
	r := e.docker(t, "system", "prune", "-f", "--filter", "nope=x")
	if r.Code == 0 || !strings.Contains(r.Stderr, "invalid filter 'nope'") {
		t.Errorf("system prune with an unknown filter:\n%s", r)
	}
	out := e.mustDocker(t, "system", "prune", "-a", "-f", "--volumes")
	for _, want := range []string{"Deleted Containers:", "Deleted Networks:\n" + net, "Deleted Volumes:\n" + vol, "untagged: busybox:latest", "Total reclaimed space:"} {
		if !strings.Contains(out, want) {
			t.Errorf("system prune -a --volumes: %q missing:\n%s", want, out)
		}
	}
	if got := e.mustDocker(t, "ps", "-aq"); got != "" {
		t.Errorf("containers left: %q", got)
	}
	if got := e.mustDocker(t, "images", "-q"); got != "" {
		t.Errorf("images left: %q", got)
	}
}

// TestGantryDailyVerbs: the gantry client's pause, unpause, diff, update,
// system df and prune verbs and the run flags it lacked (unknown flag:
// --memory on main), and its shell completion.
func TestGantryDailyVerbs(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	ctr := name("gverbs")
	e.cleanupVolumes(t, []string{ctr}, nil)
	must := func(args ...string) string {
		t.Helper()
		r := e.gantry(t, args...)
		if r.Code != 0 {
			t.Fatalf("gantry %s:\n%s", strings.Join(args, " "), r)
		}
		return strings.TrimSuffix(r.Stdout, "\n")
	}
	must("run", "-d", "--name", ctr, "--memory", "64m", "--cpus", "0.5", "--cap-drop", "ALL", "--add-host", "db:10.0.0.2",
		"--ulimit", "nofile=512:512", "--read-only", "--tmpfs", "/tmp", "--pids-limit", "40", "--mac-address", "02:42:ac:11:77:77",
		"busybox", "sh", "-c", "echo x > /tmp/f; sleep 60")
	got := e.mustDocker(t, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.CapDrop}} {{.HostConfig.ExtraHosts}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.PidsLimit}}", ctr)
	if want := "67108864 500000000 [ALL] [db:10.0.0.2] true 40"; got != want {
		t.Errorf("gantry run flags: %q, want %q", got, want)
	}
	if got := e.mustDocker(t, "exec", ctr, "sh", "-c", "ulimit -n; cat /sys/class/net/eth0/address"); got != "512\n02:42:ac:11:77:77" {
		t.Errorf("ulimit and MAC inside: %q", got)
	}
	// Restart policy, init and healthcheck flags.
	life := name("glife")
	e.cleanupVolumes(t, []string{life}, nil)
	must("run", "-d", "--name", life, "--restart", "on-failure:2", "--init", "--health-cmd", "true", "--health-interval", "200ms", "busybox", "sleep", "60")
	poll(t, 10*time.Second, "gantry run's healthcheck reports healthy", func() (bool, string) {
		got := e.mustDocker(t, "inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Init}} {{.State.Health.Status}}", life)
		return got == "on-failure:2 true healthy", got
	})
	if got := e.mustDocker(t, "exec", life, "cat", "/proc/1/cmdline"); !strings.HasPrefix(got, "/sbin/docker-init") {
		t.Errorf("PID 1 with gantry run --init: %q", got)
	}
	if got := must("pause", ctr); got != ctr {
		t.Errorf("gantry pause printed %q", got)
	}
	if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}}", ctr); got != "paused" {
		t.Errorf("after gantry pause: %q", got)
	}
	must("unpause", ctr)
	must("update", "--memory", "128m", "--memory-swap", "256m", ctr)
	if got := e.mustDocker(t, "inspect", "-f", "{{.HostConfig.Memory}}", ctr); got != "134217728" {
		t.Errorf("after gantry update: %q", got)
	}
	must("stop", "-t", "0", ctr)
	if got := must("diff", ctr); got != e.mustDocker(t, "diff", ctr) {
		t.Errorf("gantry diff %q differs from docker diff", got)
	}
	if out := must("system", "df"); !strings.HasPrefix(out, "TYPE") || !strings.Contains(out, "Containers") {
		t.Errorf("gantry system df:\n%s", out)
	}
	if out := must("system", "df", "-v"); !strings.Contains(out, ctr) {
		t.Errorf("gantry system df -v does not list %s:\n%s", ctr, out)
	}
	if out := must("container", "prune", "-f"); !strings.Contains(out, "Deleted Containers:") || !strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("gantry container prune:\n%s", out)
	}
	for _, args := range [][]string{{"image", "prune", "-f"}, {"builder", "prune", "-f"}, {"system", "prune", "-f"}} {
		if out := must(args...); !strings.Contains(out, "Total reclaimed space:") {
			t.Errorf("gantry %v:\n%s", args, out)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if out := must("completion", shell); !strings.Contains(out, "gantry") {
			t.Errorf("gantry completion %s: %.200s", shell, out)
		}
	}
}

// TestDistributionInspect: GET /distribution/{name}/json answers the
// registry's descriptor of the manifest (its digest, as push printed it)
// and the image's platform, for the API and the Python SDK
// (get_registry_data); an unknown tag is the registry's not found.
func TestDistributionInspect(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t, e, false)
	ref := reg.Host + "/" + name("dist") + ":1"
	e.mustDocker(t, "tag", "busybox", ref)
	t.Cleanup(func() { e.docker(t, "rmi", ref) })
	out := e.mustDocker(t, "push", ref)
	i := strings.Index(out, "digest: ")
	if i < 0 {
		t.Fatalf("push printed no digest:\n%s", out)
	}
	pushed := strings.Fields(out[i+len("digest: "):])[0]
	status, _, body := e.api(t, "GET", "/distribution/"+ref+"/json", nil)
	var di struct {
		Descriptor struct {
			MediaType, Digest string
			Size              int64
		}
		Platforms []struct{ Architecture, OS string }
	}
	if err := json.Unmarshal([]byte(body), &di); status != 200 || err != nil {
		t.Fatalf("distribution inspect: %d %s (%v)", status, body, err)
	}
	if di.Descriptor.Digest != pushed || di.Descriptor.Size == 0 || len(di.Platforms) != 1 || di.Platforms[0].OS != "linux" {
		t.Errorf("distribution inspect: %s\nwant digest %s and one linux platform", body, pushed)
	}
	r := e.python(t, `
import sys, docker
d = docker.from_env().images.get_registry_data(sys.argv[1])
print(d.id, d.has_platform("linux"))
`, ref)
	if want := pushed + " True\n"; r.Code != 0 || r.Stdout != want {
		t.Errorf("python SDK get_registry_data:\n%s\nwant %q", r, want)
	}
	status, _, body = e.api(t, "GET", "/distribution/"+reg.Host+"/gt-nope:1/json", nil)
	if status != 404 || !strings.Contains(body, "manifest unknown") {
		t.Errorf("distribution inspect of an unknown image: %d %s", status, body)
	}
}

// TestPruneUntilAndLabel: the until and label! filters of every prune
// (system prune --filter passes them to each kind, networks included).
func TestPruneUntilAndLabel(t *testing.T) {
	e := newEnv(t)
	keep, gone, net := name("pkeep"), name("pgone"), name("pnet")
	e.mustDocker(t, "network", "create", "--label", "keep=yes", net)
	t.Cleanup(func() { e.docker(t, "network", "rm", net) })
	e.cleanupVolumes(t, []string{keep, gone}, nil)
	e.mustDocker(t, "create", "--name", keep, "--label", "keep=yes", "busybox", "true")
	e.mustDocker(t, "create", "--name", gone, "busybox", "true")
	out := e.mustDocker(t, "system", "prune", "-f", "--filter", "until=1h")
	if strings.Contains(out, "Deleted Containers") {
		t.Errorf("until=1h removed containers created just now:\n%s", out)
	}
	out = e.mustDocker(t, "system", "prune", "-f", "--filter", "label!=keep=yes")
	if e.docker(t, "inspect", gone).Code == 0 || e.docker(t, "inspect", keep).Code != 0 || e.docker(t, "network", "inspect", net).Code != 0 {
		t.Errorf("system prune --filter label!=keep=yes:\n%s", out)
	}
	r := e.docker(t, "network", "prune", "-f", "--filter", "until=soon")
	if r.Code == 0 || !strings.Contains(r.Stderr, `failed to parse value as time or duration: "soon"`) {
		t.Errorf("network prune until=soon:\n%s", r)
	}
}

// TestComposeFileVolumeAndPause: docker-compose 1.29 brings up a service
// with a single-file volume (./app.env:/app.env:ro), pauses and unpauses
// it, and takes it down.
func TestComposeFileVolumeAndPause(t *testing.T) {
	e := newEnv(t)
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose not installed (Debian package docker-compose, 1.29)")
	}
	dir := t.TempDir()
	project := strings.ReplaceAll(name("cmp"), "-", "")
	if err := os.WriteFile(filepath.Join(dir, "app.env"), []byte("MODE=compose\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yml := "version: \"3.8\"\nservices:\n  app:\n    image: busybox\n    command: [\"sleep\", \"300\"]\n    volumes:\n      - ./app.env:/app.env:ro\n"
	file := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	dc := func(args ...string) result {
		return e.run(t, nil, compose, append([]string{"-f", file, "-p", project}, args...)...)
	}
	t.Cleanup(func() { dc("down", "-v", "-t", "0") })
	if r := dc("up", "-d"); r.Code != 0 {
		t.Fatalf("docker-compose up:\n%s", r)
	}
	if r := dc("exec", "-T", "app", "cat", "/app.env"); r.Code != 0 || r.Stdout != "MODE=compose\n" {
		t.Errorf("single-file volume in compose:\n%s", r)
	}
	if r := dc("pause"); r.Code != 0 {
		t.Fatalf("docker-compose pause:\n%s", r)
	}
	ctr := project + "_app_1"
	if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}}", ctr); got != "paused" {
		t.Errorf("after docker-compose pause: %q", got)
	}
	if r := dc("ps"); r.Code != 0 || !strings.Contains(r.Stdout, "Paused") {
		t.Errorf("docker-compose ps of a paused service:\n%s", r)
	}
	if r := dc("unpause"); r.Code != 0 {
		t.Fatalf("docker-compose unpause:\n%s", r)
	}
	if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}}", ctr); got != "running" {
		t.Errorf("after docker-compose unpause: %q", got)
	}
	if r := dc("down", "-t", "1"); r.Code != 0 {
		t.Errorf("docker-compose down:\n%s", r)
	}
}

// TestCreateMissingReferences: a container, or a network, that run names
// and that does not exist is dockerd's error (a bad request), not a not
// found that the docker CLI takes for a missing image and tries to pull.
func TestCreateMissingReferences(t *testing.T) {
	e := newEnv(t)
	src := name("mrsrc")
	e.cleanupVolumes(t, []string{src}, nil)
	e.mustDocker(t, "create", "--name", src, "-v", "/data", "busybox", "true")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--volumes-from", "gt-nope"}, "No such container: gt-nope"},
		{[]string{"--volumes-from", src + ":xx"}, "invalid mode: xx"},
		{[]string{"--link", "gt-nope:db"}, "could not get container for gt-nope: No such container: gt-nope"},
		{[]string{"--network", "container:gt-nope"}, "No such container: gt-nope"},
		{[]string{"--network", "gt-nonet"}, "network gt-nonet not found"},
	} {
		r := e.docker(t, append(append([]string{"run", "--rm"}, c.args...), "busybox", "true")...)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.want) || strings.Contains(r.Stderr, "Unable to find image") {
			t.Errorf("run %v:\n%s\nwant %q and no pull", c.args, r, c.want)
		}
	}
	status, _, body := e.api(t, "POST", "/containers/create", strings.NewReader(`{"Image":"busybox","Cmd":["true"],"HostConfig":{"VolumesFrom":["gt-nope"]}}`))
	if status != 400 {
		t.Errorf("create with --volumes-from of a missing container: %d %s, want 400 as dockerd", status, body)
	}
}

// TestGantryEvents: gantry events (and gantry system events) replays
// --since/--until with filters and prints each event as docker events
// does, by default, with --format json and with a template (legacy
// status, id and from included); an unknown filter is dockerd's error.
func TestGantryEvents(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	now := time.Now()
	since := fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond())
	ctr := name("gev")
	e.cleanupVolumes(t, []string{ctr}, nil)
	if r := e.docker(t, "run", "--name", ctr, "--label", "tier=front", "busybox", "sh", "-c", "exit 3"); r.Code != 3 {
		t.Fatalf("docker run:\n%s", r)
	}
	until := fmt.Sprint(time.Now().Unix() + 1)
	for _, args := range [][]string{
		{"--filter", "container=" + ctr},
		{"--filter", "container=" + ctr, "--filter", "event=die", "--format", "json"},
		{"--filter", "type=container", "--filter", "event=die", "--format", "{{.Status}} {{.ID}} {{.From}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.tier}}"},
	} {
		args = append([]string{"events", "--since", since, "--until", until}, args...)
		want := e.mustDocker(t, args...)
		if want == "" {
			t.Fatalf("docker %v printed nothing", args)
		}
		for _, verb := range [][]string{nil, {"system"}} {
			r := e.gantry(t, append(verb, args...)...)
			if got := strings.TrimSuffix(r.Stdout, "\n"); r.Code != 0 || got != want {
				t.Errorf("gantry %v:\n%s\nwant (docker's):\n%s", append(verb, args...), r, want)
			}
		}
	}
	r := e.gantry(t, "events", "--filter", "colour=red", "--until", until)
	if r.Code == 0 || !strings.Contains(r.Stderr, "invalid filter 'colour'") {
		t.Errorf("gantry events with an unknown filter:\n%s", r)
	}
}

// TestGantryPsFormat: gantry ps --format json and {{json .}} give each
// container as docker ps does (every field docker's has, but Platform),
// and .LocalVolumes counts the local volumes.
func TestGantryPsFormat(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	ctr, vol := name("gpsf"), name("gpsfvol")
	e.cleanupVolumes(t, []string{ctr}, []string{vol})
	e.mustDocker(t, "run", "-d", "--name", ctr, "--label", "a=b", "-p", "8080:80", "-v", vol+":/data", "busybox", "sleep", "300")
	args := []string{"ps", "-s", "--filter", "name=" + ctr}
	decode := func(out string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		delete(m, "Platform")   // docker 28's, null for a local container
		delete(m, "RunningFor") // may tick between the two
		return m
	}
	want := decode(e.mustDocker(t, append(args, "--format", "json")...))
	for _, format := range []string{"json", "{{json .}}"} {
		r := e.gantry(t, append(args, "--format", format)...)
		if r.Code != 0 {
			t.Fatalf("gantry ps --format %s:\n%s", format, r)
		}
		if got := decode(strings.TrimSpace(r.Stdout)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("gantry ps --format %s:\n%v\nwant (docker's):\n%v", format, got, want)
		}
	}
	r := e.gantry(t, append(args, "--format", "{{.Names}} {{.LocalVolumes}}")...)
	if got := strings.TrimSpace(r.Stdout); r.Code != 0 || got != ctr+" 1" {
		t.Errorf("gantry ps --format {{.LocalVolumes}}:\n%s", r)
	}
}

// TestGantryRunFlags: the rest of docker's run and create flags in the
// gantry client (unknown flag on main): each reaches the container as with
// docker run, or is refused by name, with docker's words where docker
// refuses it; -a picks the attached streams; --sig-proxy sends the
// client's signals to the container; --cidfile writes the ID, once; -q
// keeps a pull silent.
func TestGantryRunFlags(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	must := func(args ...string) string {
		t.Helper()
		r := e.gantry(t, args...)
		if r.Code != 0 {
			t.Fatalf("gantry %s:\n%s", strings.Join(args, " "), r)
		}
		return strings.TrimSuffix(r.Stdout, "\n")
	}
	dir := t.TempDir()
	labels, cid := filepath.Join(dir, "labels"), filepath.Join(dir, "cid")
	if err := os.WriteFile(labels, []byte("from=file\nx=file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctr, db, net := name("grf"), name("grfdb"), name("grfnet")
	e.mustDocker(t, "network", "create", net)
	t.Cleanup(func() { e.docker(t, "network", "rm", net) })
	e.cleanupVolumes(t, []string{ctr, db}, nil)
	e.mustDocker(t, "run", "-d", "--name", db, "--network", net, "busybox", "sleep", "300")
	id := must("run", "-d", "--name", ctr, "--network", net, "--annotation", "an=1", "--cgroupns", "host", "--cidfile", cid,
		"--cpu-period", "100000", "--cpu-quota", "50000", "--dns-option", "ndots:3", "--dns-search", "example.com",
		"--domainname", "dom.example", "--ipc", "shareable", "--label-file", labels, "--label", "x=flag",
		"--link", db+":database", "--log-driver", "json-file", "--log-opt", "max-size=1m", "--oom-score-adj", "200",
		"--runtime", "runc", "--volume-driver", "local", "--isolation", "default", "--memory-swappiness", "-1",
		"busybox", "sleep", "300")
	if b, err := os.ReadFile(cid); err != nil || string(b) != id {
		t.Errorf("--cidfile holds %q (%v), want %s", b, err, id)
	}
	got := e.mustDocker(t, "inspect", "-f", `{{json .HostConfig.Annotations}} {{.HostConfig.CgroupnsMode}} {{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.DnsOptions}} {{.HostConfig.DnsSearch}} {{.Config.Domainname}} {{.HostConfig.IpcMode}} {{json .Config.Labels}} {{.HostConfig.Links}} {{json .HostConfig.LogConfig}} {{.HostConfig.OomScoreAdj}} {{.HostConfig.Runtime}} {{.HostConfig.VolumeDriver}} {{.HostConfig.Isolation}}`, ctr)
	want := `{"an":"1"} host 100000 50000 [ndots:3] [example.com] dom.example shareable {"from":"file","x":"flag"} [/` + db + `:/` + ctr + `/database] {"Config":{"max-size":"1m"},"Type":"json-file"} 200 runc local default`
	if got != want {
		t.Errorf("gantry run flags in inspect:\n%s\nwant:\n%s", got, want)
	}
	if got := e.mustDocker(t, "exec", ctr, "sh", "-c", "cat /proc/self/oom_score_adj; grep -E '^(search|options)' /etc/resolv.conf; cat /proc/sys/kernel/domainname"); got != "200\nsearch example.com\noptions ndots:3\ndom.example" {
		t.Errorf("inside the container: %q", got)
	}
	// (Apart: the search domain would send the name to the host's
	// servers first, which the test's network namespace cannot reach.)
	if got := must("run", "--rm", "--network", net, "--link", db+":database", "busybox", "sh", "-c", "nslookup database >/dev/null && echo linked"); got != "linked" {
		t.Errorf("--link on a user network: %q", got)
	}
	host, _ := os.Hostname()
	if got := must("run", "--rm", "--uts", "host", "--pid", "host", "busybox", "sh", "-c", "hostname; test $(cat /proc/1/comm) != sh && echo hostpid"); got != host+"\nhostpid" {
		t.Errorf("--uts host --pid host: %q", got)
	}
	if r := e.gantry(t, "run", "--rm", "--cidfile", cid, "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "container ID file found, make sure the other container isn't running or delete "+cid) {
		t.Errorf("--cidfile of an existing file:\n%s", r)
	}

	// -a: the streams named, on run and create.
	if r := e.gantry(t, "run", "--rm", "-a", "stderr", "busybox", "sh", "-c", "echo out; echo err >&2"); r.Code != 0 || r.Stdout != "" || r.Stderr != "err\n" {
		t.Errorf("run -a stderr:\n%s", r)
	}
	cr := name("grfa")
	e.cleanupVolumes(t, []string{cr}, nil)
	must("create", "--name", cr, "-a", "stdout", "busybox", "true")
	if got := e.mustDocker(t, "inspect", "-f", "{{.Config.AttachStdin}} {{.Config.AttachStdout}} {{.Config.AttachStderr}}", cr); got != "false true false" {
		t.Errorf("create -a stdout: %s", got)
	}

	// Refused: by the client with docker's words, or by gantryd by name.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cpu-count", "1"}, `"--cpu-count" is only supported on a Docker daemon running on windows, but the Docker daemon is running on linux`},
		{[]string{"--io-maxbandwidth", "1m"}, `"--io-maxbandwidth" is only supported on a Docker daemon running on windows`},
		{[]string{"--kernel-memory", "10m"}, "--kernel-memory is not supported by gantry"},
		{[]string{"--disable-content-trust=false"}, "content trust is not supported by gantry"},
		{[]string{"--use-api-socket"}, "--use-api-socket is not supported by gantry"},
		{[]string{"-d", "-a", "stdout"}, "conflicting options: cannot specify both --attach and --detach"},
		{[]string{"--ipc", "bogus"}, "--ipc: invalid IPC mode"},
		{[]string{"--cgroup-parent", "/gt"}, "cgroup-parent is not supported by gantry"},
		{[]string{"--memory-swappiness", "10"}, "memory-swappiness is not supported by gantry"},
		{[]string{"--device-read-bps", "/dev/null:1mb"}, "device-read-bps/device-write-bps/device-read-iops/device-write-iops is not supported by gantry"},
		{[]string{"--link-local-ip", "169.254.1.1"}, "link-local IPs of an endpoint on network default are not supported by gantry"},
		{[]string{"--isolation", "hyperv"}, `Invalid isolation: "hyperv" - linux only supports 'default'`},
	} {
		r := e.gantry(t, append(append([]string{"run", "--rm"}, c.args...), "busybox", "true")...)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("gantry run %v:\n%s\nwant %q", c.args, r, c.want)
		}
	}

	// --sig-proxy (the default): a SIGTERM to the client is the
	// container's; the client ends with the container's status.
	cmd := exec.Command(filepath.Join(binDir, "gantry"), "-H", e.Host, "run", "--rm", "busybox", "sh", "-c", `trap "echo got TERM; exit 9" TERM; echo up; sleep 60 & wait`)
	cmd.Env = e.clientEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "up\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("gantry run printed %q", line)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(out)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 9 || string(rest) != "got TERM\n" {
		t.Errorf("gantry run with a SIGTERM: %v, output %q; want the container's trap and exit status 9", err, rest)
	}

	// -q: a pull that says nothing.
	reg := startRegistry(t, e, false)
	ref := reg.Host + "/" + name("grfq") + ":1"
	e.mustDocker(t, "tag", "busybox", ref)
	e.mustDocker(t, "push", ref)
	e.mustDocker(t, "rmi", ref)
	t.Cleanup(func() { e.docker(t, "rmi", ref) })
	if r := e.gantry(t, "run", "--rm", "-q", ref, "echo", "quiet"); r.Code != 0 || r.Stdout != "quiet\n" || r.Stderr != "" {
		t.Errorf("gantry run -q of an image to pull:\n%s", r)
	}
}

// TestUTSHostNames: a hostname or a domainname with --uts host is refused
// (dockerd's words for the hostname); gantryd dropped both.
func TestUTSHostNames(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ flag, want string }{
		{"--hostname", "conflicting options: hostname and the UTS mode"},
		{"--domainname", "conflicting options: domainname and the UTS mode"},
	} {
		r := e.docker(t, "run", "--rm", "--uts", "host", c.flag, "gt.example", "busybox", "true")
		if r.Code == 0 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("--uts host %s:\n%s\nwant %q", c.flag, r, c.want)
		}
	}
	host, _ := os.Hostname()
	if got := e.mustDocker(t, "run", "--rm", "--uts", "host", "busybox", "hostname"); got != host {
		t.Errorf("--uts host: hostname %q, want the host's %q", got, host)
	}
}

// TestPythonSDKPrune: the Python SDK's prunes (containers, images,
// networks, volumes, build cache) with filters, and their reports.
func TestPythonSDKPrune(t *testing.T) {
	e := newEnv(t)
	label := name("pyprune")
	r := e.python(t, `
import sys, docker
label = sys.argv[1]
c = docker.from_env(timeout=60)
ctr = c.containers.run("busybox", ["sh", "-c", "echo 12345 > /f"], detach=True, labels={label: "1"})
ctr.wait()
keep = c.containers.create("busybox", ["true"])
net = c.networks.create(label, labels={label: "1"})
vol = c.volumes.create(label, labels={label: "1"})
r = c.containers.prune(filters={"label": label})
assert r["ContainersDeleted"] == [ctr.id] and r["SpaceReclaimed"] == 6, r
keep.reload()
keep.remove()
r = c.networks.prune(filters={"label": label})
assert r["NetworksDeleted"] == [label], r
r = c.volumes.prune(filters={"label": label, "all": "true"})
assert r["VolumesDeleted"] == [label], r
r = c.images.prune(filters={"dangling": True})
assert r["SpaceReclaimed"] == 0 and "ImagesDeleted" in r, r
r = c.api.prune_builds()
assert r["SpaceReclaimed"] >= 0 and "CachesDeleted" in r, r
try:
    c.containers.prune(filters={"colour": "red"})
    raise SystemExit("prune with an unknown filter did not fail")
except docker.errors.APIError as err:
    assert err.status_code == 400 and "invalid filter 'colour'" in str(err.explanation), err
print("ok")
`, label)
	if r.Code != 0 || r.Stdout != "ok\n" {
		t.Errorf("python SDK prunes:\n%s", r)
	}
}

// TestGantryDfFormatAndRefusals: gantry system df --format (json, a
// template, a table) prints what docker's does; the flags of docker's
// update and builder prune that gantry had not (--cpu-rt-*,
// --keep-storage) reach gantryd, which refuses them by name.
func TestGantryDfFormatAndRefusals(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	ctr := name("gdf")
	e.cleanupVolumes(t, []string{ctr}, nil)
	e.mustDocker(t, "run", "-d", "--name", ctr, "busybox", "sleep", "300")
	for _, format := range []string{"json", "{{.Type}}: {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}", "table {{.Type}}\t{{.Size}}"} {
		want := e.mustDocker(t, "system", "df", "--format", format)
		if r := e.gantry(t, "system", "df", "--format", format); r.Code != 0 || strings.TrimSuffix(r.Stdout, "\n") != want {
			t.Errorf("gantry system df --format %q:\n%s\nwant (docker's):\n%s", format, r, want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"update", "--cpu-rt-runtime", "100", ctr}, "update of cpu-rt-period/cpu-rt-runtime is not supported by gantry"},
		{[]string{"builder", "prune", "-f", "--keep-storage", "1g"}, "is not supported by gantry"},
		{[]string{"system", "df", "-v", "--format", "{{json .}}"}, "--format with --verbose is not supported by gantry"},
	} {
		if r := e.gantry(t, c.args...); r.Code == 0 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("gantry %v:\n%s\nwant %q", c.args, r, c.want)
		}
	}
}

// TestInspectLinks: inspect lists legacy links as dockerd does,
// "/<linked>:/<container>/<alias>", whatever name or ID --link gave.
func TestInspectLinks(t *testing.T) {
	e := newEnv(t)
	db, web := name("ildb"), name("ilweb")
	e.cleanupVolumes(t, []string{db, web}, nil)
	e.mustDocker(t, "run", "-d", "--name", db, "busybox", "sleep", "300")
	short := e.mustDocker(t, "inspect", "-f", "{{.Id}}", db)[:12]
	e.mustDocker(t, "create", "--name", web, "--link", db+":database", "--link", short+":db2", "busybox", "true")
	if got, want := e.mustDocker(t, "inspect", "-f", "{{.HostConfig.Links}}", web), "[/"+db+":/"+web+"/database /"+db+":/"+web+"/db2]"; got != want {
		t.Errorf("HostConfig.Links: %s, want %s", got, want)
	}
}
