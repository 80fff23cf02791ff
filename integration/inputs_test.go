package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Inputs that used to stall or bloat the daemon (issue 12).

// TestBuildSpecialFiles builds, with the docker CLI's classic builder, a
// context holding a FIFO and a character device: COPY copies them as what
// they are (a FIFO, a device node), as Docker copies them inside a
// directory. gantryd used to open the FIFO and wait for a writer forever,
// and to read the device forever.
func TestBuildSpecialFiles(t *testing.T) {
	e := newEnv(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY f /f\nCOPY z /z\nCOPY d /d\n"})
	for _, n := range []struct {
		name string
		mode uint32
		dev  uint64
	}{{"f", unix.S_IFIFO | 0o644, 0}, {"z", unix.S_IFCHR | 0o644, unix.Mkdev(1, 5)}, {"d/f", unix.S_IFIFO | 0o644, 0}, {"d/z", unix.S_IFCHR | 0o644, unix.Mkdev(1, 5)}} {
		p := filepath.Join(dir, n.name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := unix.Mknod(p, n.mode, int(n.dev)); err != nil {
			t.Fatal(err)
		}
	}
	tag := name("special") + ":1"
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "build", "-t", tag, dir)
	cmd.Env = append(e.clientEnv(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("docker build did not end within 40 s:\n%s", out)
	}
	if err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	ls := e.mustDocker(t, "run", "--rm", tag, "ls", "-ln", "/f", "/z", "/d/f", "/d/z")
	var kinds []string
	for _, l := range strings.Split(ls, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 {
			kinds = append(kinds, f[0][:1]+" "+f[len(f)-1])
		}
	}
	if got := strings.Join(kinds, ", "); got != "p /d/f, c /d/z, p /f, c /z" {
		t.Errorf("ls -ln says %q:\n%s", got, ls)
	}
}

// TestBuildClientHangsUp sends builds on the raw API and hangs up once
// their RUN step runs, some with a FIFO, some with a device in the context:
// each step's process is killed, and no staged context, container or
// thread blocked in openat2 stays behind.
func TestBuildClientHangsUp(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("counts the threads and staging directories of a gantryd the test started")
	}
	pid := e.d.cmd.Process.Pid
	threadsBefore := threadCount(t, pid)
	rnd := randHex(6)
	const rounds = 6
	for i := range rounds {
		src := "f"
		if i%2 == 1 {
			src = "z"
		}
		marker := fmt.Sprintf("started-%s-%d", rnd, i)
		body := specialContext(t, "FROM busybox\nCOPY "+src+" /x\nRUN echo "+marker+" && sleep 1000 && echo "+rnd+"\n")
		conn, err := net.Dial("unix", strings.TrimPrefix(e.Host, "unix://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /v1.41/build?rm=1 HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n", len(body))
		conn.Write(body)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		var seen strings.Builder
		sc := bufio.NewScanner(conn)
		found := false
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), marker+`\n`) {
				found = true
				break
			}
		}
		conn.Close()
		if !found {
			t.Fatalf("round %d (COPY %s): the RUN step did not start within 30 s:\n%s", i, src, seen.String())
		}
	}
	poll(t, 10*time.Second, "every RUN step's process is killed", func() (bool, string) {
		p := processesWith("sleep 1000 && echo " + rnd)
		return len(p) == 0, strings.Join(p, "\n")
	})
	poll(t, 10*time.Second, "no staged context, container or blocked thread is left", func() (bool, string) {
		tmp, _ := os.ReadDir(filepath.Join(e.Root, "tmp"))
		var names []string
		for _, d := range tmp {
			names = append(names, d.Name())
		}
		runc, _ := exec.Command("runc", "--root", filepath.Join(e.d.runDir, "x", "runc"), "list", "-q").Output()
		blocked := threadsIn(pid, 437) // openat2
		ok := len(names) == 0 && len(bytes.TrimSpace(runc)) == 0 && blocked == 0 && len(e.leftoverMounts()) == 0
		return ok, fmt.Sprintf("in tmp %q, runc containers %q, %d threads in openat2, mounts %q", names, runc, blocked, e.leftoverMounts())
	})
	// Go keeps idle threads; a thread per request would be rounds more.
	if after := threadCount(t, pid); after >= threadsBefore+rounds {
		t.Errorf("gantryd has %d threads, %d before the %d builds", after, threadsBefore, rounds)
	}
}

// specialContext is a build context tar holding dockerfile, a FIFO f and a
// /dev/zero-like device z.
func specialContext(t *testing.T, dockerfile string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeReg, Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))},
		{Typeflag: tar.TypeFifo, Name: "f", Mode: 0o644},
		{Typeflag: tar.TypeChar, Name: "z", Mode: 0o666, Devmajor: 1, Devminor: 5},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Name == "Dockerfile" {
			tw.Write([]byte(dockerfile))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// threadCount is the number of threads of process pid.
func threadCount(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(tasks)
}

// threadsIn counts the threads of process pid blocked in system call nr.
func threadsIn(pid, nr int) int {
	n := 0
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", pid))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if first, _, _ := strings.Cut(string(b), " "); first == strconv.Itoa(nr) {
			n++
		}
	}
	return n
}

// TestBodyLimits: JSON request bodies and image configs are refused past
// 16 MiB with a status and message naming the limit, before they are held
// in memory or written to disk; a 1 MiB environment still passes, through
// the API and through docker load.
func TestBodyLimits(t *testing.T) {
	e := newEnv(t)
	const want = "request body is larger than the limit of 16777216 bytes (16 MiB)"
	huge := fmt.Sprintf(`{"Image":"busybox","Cmd":["true"],"Env":["A=%s"]}`, strings.Repeat("x", 100<<20))
	for range 3 {
		status, _, body := e.api(t, "POST", "/containers/create", strings.NewReader(huge))
		if status != 413 || apiMessage(t, body) != want {
			t.Fatalf("create with a 100 MiB Env: %d %.200s, want 413 %q", status, body, want)
		}
	}
	if ps := e.mustDocker(t, "ps", "-aq"); ps != "" {
		t.Errorf("containers after refused creates: %q", ps)
	}
	// The other JSON bodies have the same bound.
	upd := name("bodylimit")
	e.mustDocker(t, "create", "--name", upd, "busybox", "true")
	for _, path := range []string{"/containers/" + upd + "/update", "/containers/" + upd + "/exec", "/networks/create", "/volumes/create", "/commit?container=" + upd, "/auth"} {
		status, _, body := e.api(t, "POST", path, strings.NewReader(huge))
		if status != 413 || apiMessage(t, body) != want {
			t.Errorf("POST %s with a 100 MiB body: %d %.200s, want 413 %q", path, status, body, want)
		}
	}
	e.mustDocker(t, "rm", upd)
	r := e.python(t, `
import docker
c = docker.from_env()
try:
    c.containers.create("busybox", ["true"], environment={"A": "x" * (100 << 20)})
    print("created")
except docker.errors.APIError as err:
    print(err.status_code, err.explanation)
ctr = c.containers.create("busybox", ["true"], environment={"A": "y" * (1 << 20)})
ctr.reload()
print(len([kv for kv in ctr.attrs["Config"]["Env"] if kv == "A=" + "y" * (1 << 20)]))
ctr.remove()
`)
	if r.Code != 0 || r.Stdout != "413 "+want+"\n1\n" {
		t.Errorf("python SDK:\n%s", r)
	}

	// docker load: a config over the limit is refused, one with 1 MiB of
	// environment loads.
	base, err := os.ReadFile(busyboxTar)
	if err != nil {
		t.Fatal(err)
	}
	archive := func(ref string, envSize int) []byte {
		c := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(base)}}}
		c.Config.Env = []string{"BIG=" + strings.Repeat("z", envSize)}
		cfg := mustJSON(t, c)
		return archiveOf(t, []archiveEntry{
			{"layer.tar", base},
			{"config.json", cfg},
			{"manifest.json", mustJSON(t, []map[string]any{{"Config": "config.json", "RepoTags": []string{ref}, "Layers": []string{"layer.tar"}}})},
		})
	}
	bigRef, okRef := name("bigconfig")+":1", name("okconfig")+":1"
	r = e.dockerIn(t, string(archive(bigRef, 64<<20)), "load")
	if r.Code != 1 || !strings.Contains(r.Stderr, "config.json is larger than the limit of 16777216 bytes (16 MiB)") {
		t.Errorf("docker load of a 64 MiB config:\n%s", r)
	}
	r = e.dockerIn(t, string(archive(okRef, 1<<20)), "load")
	if r.Code != 0 {
		t.Fatalf("docker load of a 1 MiB config:\n%s", r)
	}
	if env := e.mustDocker(t, "image", "inspect", "-f", "{{len (index .Config.Env 0)}}", okRef); env != strconv.Itoa(len("BIG=")+1<<20) {
		t.Errorf("loaded config's Env[0] has %s bytes", env)
	}

	// Streams are not documents: a 20 MiB build context and import pass.
	big := strings.Repeat("0123456789abcdef", 20<<20/16)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY big /big\n", "big": big})
	tag := name("bigctx") + ":1"
	e.mustBuild(t, "docker", "-t", tag, dir)
	if size := e.mustDocker(t, "run", "--rm", tag, "wc", "-c", "/big"); !strings.HasPrefix(size, strconv.Itoa(len(big))) {
		t.Errorf("/big from a 20 MiB context: %q", size)
	}
	var imp bytes.Buffer
	tw := tar.NewWriter(&imp)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "big", Mode: 0o644, Size: int64(len(big))})
	tw.Write([]byte(big))
	tw.Close()
	if r := e.dockerIn(t, imp.String(), "import", "-", name("bigimport")+":1"); r.Code != 0 {
		t.Errorf("docker import of 20 MiB:\n%s", r)
	}
	if !e.External {
		if peak := peakRSS(t, e.d.cmd.Process.Pid); peak > 256<<20 {
			t.Errorf("gantryd's peak RSS is %d MiB after three 100 MiB bodies and a 64 MiB config", peak>>20)
		}
	}
}

// peakRSS is the peak resident set of process pid (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

// TestCreateRefusesInjectedNames: names and addresses that would add
// lines to a container's /etc/hosts, hostname or resolv.conf are refused at
// create (400) with dockerd's words where it has a check; so are a
// relative working directory and a volume name longer than a directory
// name, which used to fail only at start, or with a 500.
func TestCreateRefusesInjectedNames(t *testing.T) {
	e := newEnv(t)
	r := e.python(t, `
import docker
c = docker.from_env()
for kw in [dict(extra_hosts={"evil\n6.6.6.6 injected": "1.1.1.1"}), dict(hostname="a\nb"), dict(domainname="x\ny"),
           dict(extra_hosts={"good": "1.1.1.x"}), dict(dns_search=["a b"]), dict(dns_opt=["ndots:1\nnameserver 6.6.6.6"]),
           dict(working_dir="rel/dir"), dict(hostname="h" * 65)]:
    try:
        ctr = c.containers.create("busybox", ["true"], **kw)
        print("created", ctr.id)
    except docker.errors.APIError as err:
        print(err.status_code, err.explanation.split("\n")[0])
ctr = c.containers.run("busybox", ["cat", "/etc/hosts", "/etc/hostname"], hostname="web_1", extra_hosts={"db.local": "10.1.2.3"}, remove=True)
print(ctr.decode().count("\n"), "10.1.2.3\tdb.local" in ctr.decode(), ctr.decode().endswith("web_1\n"))
`)
	want := `400 bad format for add-host: "evil\n6.6.6.6 injected:1.1.1.1"
400 invalid hostname format: "a\nb"
400 invalid domainname format: "x\ny"
400 invalid IP address in add-host: "1.1.1.x"
400 a b is not a valid domain
400 invalid DNS option "ndots:1\nnameserver 6.6.6.6"
400 the working directory 'rel/dir' is invalid, it needs to be an absolute path
400 hostname "` + strings.Repeat("h", 65) + `" is too long (maximum 64 bytes)
`
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, want) || !strings.HasSuffix(r.Stdout, " True True\n") {
		t.Errorf("python SDK:\n%s\nwant first:\n%s", r, want)
	}
	if ps := e.mustDocker(t, "ps", "-aq"); ps != "" {
		t.Errorf("containers after refused creates: %q", ps)
	}

	long := strings.Repeat("v", 5000)
	status, _, body := e.api(t, "POST", "/volumes/create", strings.NewReader(`{"Name":"`+long+`"}`))
	if wantMsg := "create " + long + ": volume name is too long, names should be at most 255 characters"; status != 400 || apiMessage(t, body) != wantMsg {
		t.Errorf("volume create with a 5000-character name: %d %.300s", status, body)
	}
	if r := e.docker(t, "run", "--rm", "-v", long+":/x", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "volume name is too long") {
		t.Errorf("docker run -v with a 5000-character volume name:\n%.500s", r)
	}
	if r := e.docker(t, "create", "-w", "rel", "busybox", "true"); r.Code != 1 || !strings.Contains(r.Stderr, "the working directory 'rel' is invalid, it needs to be an absolute path") {
		t.Errorf("docker create -w rel:\n%s", r)
	}
	netName, ctr := name("net"), name("ctr")
	e.mustDocker(t, "network", "create", netName)
	e.mustDocker(t, "create", "--name", ctr, "busybox", "true")
	// The docker CLI splits --alias at the newline; the API does not.
	status, _, body = e.api(t, "POST", "/networks/"+netName+"/connect", strings.NewReader(`{"Container":"`+ctr+`","EndpointConfig":{"Aliases":["x\n6.6.6.6 evil"]}}`))
	if want := `invalid alias format for network ` + netName + `: "x\n6.6.6.6 evil"`; status != 400 || !strings.HasPrefix(apiMessage(t, body), want) {
		t.Errorf("network connect with an alias holding a newline: %d %s, want 400 %s", status, body, want)
	}
	e.mustDocker(t, "rm", ctr)
	e.mustDocker(t, "network", "rm", netName)
	name255 := strings.Repeat("w", 255)
	e.mustDocker(t, "volume", "create", name255)
	e.mustDocker(t, "volume", "rm", name255)
}

// TestBuildAddPythonTar: ADD extracts a tar written by Python's tarfile in
// its default (pax) format, whose first header follows a pax header.
func TestBuildAddPythonTar(t *testing.T) {
	e := newEnv(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD slip.tar /\n"})
	script := `import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as tf:
    data = b"slipped\n"
    info = tarfile.TarInfo("caf\u00e9/slip.txt")
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))
`
	if out, err := exec.Command("python3", "-c", script, filepath.Join(dir, "slip.tar")).CombinedOutput(); err != nil {
		t.Skipf("python3: %v %s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "slip.tar")); !bytes.Contains(b[:512], []byte("PaxHeader")) {
		t.Fatalf("python's tar does not start with a pax header: %q", b[:100])
	}
	tag := name("slip") + ":1"
	e.mustBuild(t, "docker", "-t", tag, dir)
	if out := e.mustDocker(t, "run", "--rm", tag, "cat", "/caf\u00e9/slip.txt"); out != "slipped" {
		t.Errorf("/café/slip.txt: %q", out)
	}
}
