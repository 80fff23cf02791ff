package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/mount"
)

// env is one daemon under test and the clients that drive it.
type env struct {
	// Host is the daemon address, unix:///path.
	Host string
	// Root is gantryd's data root; empty when External.
	Root string
	// External is true when the tests target GANTRY_TEST_DOCKER_HOST.
	External bool

	d      *daemonProc // nil when External
	cfgDir string      // DOCKER_CONFIG for the docker CLI
}

// newEnv returns a daemon with busybox:latest imported: a private gantryd
// stopped (SIGTERM) when the test ends, or the daemon named by
// GANTRY_TEST_DOCKER_HOST, in which case what the test created is removed at
// the end.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvAt(t, "")
}

// newEnvAt is newEnv with the daemon's data root at root ("" for a new
// temporary directory). It ignores root when targeting an external daemon.
func newEnvAt(t *testing.T, root string) *env {
	t.Helper()
	return newEnvIn(t, root, false)
}

// newHostNetEnv is newEnv with gantryd in the host's network namespace, as a
// user runs it, for the tests that need the outside world (Debian's mirror):
// its bridge gantry0 and its iptables chains are the host's, and stay there
// after the test as a user's gantryd leaves them.
func newHostNetEnv(t *testing.T) *env {
	t.Helper()
	return newEnvIn(t, "", true)
}

// newEnvIn is newEnvAt with the choice of the host's network namespace for
// gantryd instead of one of its own.
func newEnvIn(t *testing.T, root string, hostNet bool) *env {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	e := &env{cfgDir: t.TempDir()}
	if h := os.Getenv(envDockerHost); h != "" {
		e.Host, e.External = h, true
		externalImport.Do(func() {
			ctx := context.Background()
			old := e.imageID(ctx, "busybox:latest")
			_, externalImportErr = e.importBusybox(ctx)
			if old != "" && externalImportErr == nil {
				e.removeIfDangling(ctx, old) // do not pile up one busybox per run
			}
		})
		if externalImportErr != nil {
			t.Fatalf("import busybox into %s: %v", h, externalImportErr)
		}
		before := e.snapshot(t)
		t.Cleanup(func() { e.restore(t, before) })
		return e
	}
	bin := os.Getenv(envDaemon)
	if bin == "" {
		bin = filepath.Join(binDir, "gantryd")
		for _, b := range []string{bin, filepath.Join(binDir, "gantry")} {
			if _, err := os.Stat(b); err != nil {
				t.Fatalf("%s not found: run make build first", b)
			}
		}
	}
	e.Root = root
	if e.Root == "" {
		e.Root = t.TempDir()
	}
	sockDir, err := os.MkdirTemp("", "gt") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	e.d = &daemonProc{bin: bin, root: e.Root, runDir: sockDir, sock: filepath.Join(sockDir, "d.sock"), log: filepath.Join(sockDir, "daemon.log")}
	e.Host = "unix://" + e.d.sock
	if !e.d.isDockerd() && !hostNet {
		e.d.netns = newNetNS(t)
	}
	e.startDaemon(t)
	t.Cleanup(func() { e.teardown(t) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.importBusybox(ctx); err != nil {
		t.Fatalf("import busybox: %v", err)
	}
	return e
}

// imageID returns the ID of ref, or "" when there is none.
func (e *env) imageID(ctx context.Context, ref string) string {
	c, err := client.New(client.WithHost(e.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		return ""
	}
	defer c.Close()
	img, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return ""
	}
	return img.ID
}

// removeIfDangling removes image id when no tag names it and no container
// uses it.
func (e *env) removeIfDangling(ctx context.Context, id string) {
	c, err := client.New(client.WithHost(e.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer c.Close()
	if img, err := c.ImageInspect(ctx, id); err == nil && len(img.RepoTags) == 0 {
		c.ImageRemove(ctx, id, client.ImageRemoveOptions{})
	}
}

var (
	externalImport    sync.Once
	externalImportErr error
)

// daemonProc is a gantryd (or dockerd) process started by the tests.
type daemonProc struct {
	bin    string
	root   string
	runDir string
	sock   string
	log    string
	ns     string   // containerd namespace, dockerd only
	args   []string // extra daemon flags
	netns  string   // network namespace (a path) gantryd runs in: see newNetNS

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

func (d *daemonProc) isDockerd() bool { return filepath.Base(d.bin) == "dockerd" }

func (d *daemonProc) running() bool {
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// startDaemon starts the daemon on e's root and socket and waits until
// /_ping answers.
func (e *env) startDaemon(t *testing.T) {
	t.Helper()
	d := e.d
	args := []string{"--data-root", d.root, "-H", "unix://" + d.sock, "--log-level", "debug"}
	if !d.isDockerd() {
		args = append(args, "--exec-root", filepath.Join(d.runDir, "x"))
	}
	if d.isDockerd() {
		if d.ns == "" {
			d.ns = "gt" + randHex(4)
		}
		args = append(args, "--exec-root", filepath.Join(d.runDir, "x"), "--pidfile", filepath.Join(d.runDir, "pid"),
			"--bridge", "none", "--iptables=false", "--ip-masq=false",
			"--containerd-namespace", d.ns, "--containerd-plugins-namespace", d.ns+"p")
		// A containerd managed by dockerd outlives a SIGKILLed dockerd and
		// blocks its restart; share the system's when there is one.
		for _, sock := range []string{"/run/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock"} {
			if _, err := os.Stat(sock); err == nil {
				args = append(args, "--containerd", sock)
				break
			}
		}
	}
	if d.isDockerd() {
		keepDocker0(t)
	}
	args = append(args, d.args...)
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s %s\n", d.bin, strings.Join(args, " "))
	d.cmd = exec.Command(d.bin, args...)
	if d.netns != "" {
		// nsenter execs gantryd: the process the test holds is gantryd.
		d.cmd = exec.Command("nsenter", append([]string{"--net=" + d.netns, "--", d.bin}, args...)...)
	}
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", d.bin, err)
	}
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		d.waitErr = cmd.Wait()
		close(done)
	}(d.cmd, d.done)

	hc := unixHTTPClient(d.sock)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-d.done:
			t.Fatalf("%s exited before answering /_ping (%v); log:\n%s", d.bin, d.waitErr, tail(d.log, 40))
		default:
		}
		resp, err := hc.Get("http://d/_ping")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == "OK" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer GET /_ping within 30s (last error %v); log:\n%s", d.bin, err, tail(d.log, 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newNetNS makes a network namespace, with lo up, for a test's gantryd:
// its bridges, veths and iptables rules stay out of the host's network
// stack, and die with the namespace. The namespace outlives the daemon, so
// that a restarted gantryd finds what the killed one left. It is removed
// when the test ends.
func newNetNS(t *testing.T) string {
	t.Helper()
	name := "gt" + randHex(6)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Logf("ip netns delete %s: %v %s", name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v %s", name, err, out)
	}
	return "/run/netns/" + name
}

// inDaemonNet runs a command on the host side of the daemon's network:
// inside the test gantryd's network namespace, or on the host for a daemon
// that uses the host's (GANTRY_TEST_DOCKER_HOST).
func (e *env) inDaemonNet(t *testing.T, prog string, args ...string) result {
	t.Helper()
	if e.d == nil || e.d.netns == "" {
		return e.run(t, nil, prog, args...)
	}
	return e.run(t, nil, "nsenter", append([]string{"--net=" + e.d.netns, "--", prog}, args...)...)
}

// listenInDaemonNet opens a TCP listener on 127.0.0.1 that the daemon can
// reach: in its network namespace (a socket stays in the namespace it was
// created in), or on the host for a daemon that uses the host's.
func (e *env) listenInDaemonNet(t *testing.T) net.Listener {
	t.Helper()
	return e.listenInDaemonNetAt(t, "127.0.0.1:0")
}

// listenInDaemonNetAt is listenInDaemonNet on a given address.
func (e *env) listenInDaemonNetAt(t *testing.T, addr string) net.Listener {
	t.Helper()
	if e.d == nil || e.d.netns == "" {
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	goruntime.LockOSThread() // left locked if the thread cannot get back: it then dies with the goroutine
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	target, err := os.Open(e.d.netns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("enter %s: %v", e.d.netns, err)
	}
	l, lerr := net.Listen("tcp4", addr)
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("return from %s: %v", e.d.netns, err)
	}
	goruntime.UnlockOSThread()
	if lerr != nil {
		t.Fatal(lerr)
	}
	return l
}

// forwardToDaemonNet makes addr, a TCP address on the host's loopback
// (a registry, a proxy), reachable at the same address from the daemon's
// network namespace: a listener there hands each connection to the host's
// addr. It is a no-op for a daemon in the host's namespace.
func (e *env) forwardToDaemonNet(t *testing.T, addr string) {
	t.Helper()
	if e.d == nil || e.d.netns == "" {
		return
	}
	l := e.listenInDaemonNetAt(t, addr)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp4", addr)
				if err != nil {
					return
				}
				defer out.Close()
				go func() {
					io.Copy(out, in)
					out.(*net.TCPConn).CloseWrite()
				}()
				io.Copy(in, out)
			}()
		}
	}()
}

// keepDocker0 restores the host's docker0 bridge, with its address, when the
// test ends: a dockerd started with --bridge none deletes it, which would
// break the system's dockerd.
func keepDocker0(t *testing.T) {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show", "dev", "docker0").Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) < 4 {
		return
	}
	cidr := f[3]
	t.Cleanup(func() {
		if exec.Command("ip", "link", "show", "docker0").Run() == nil {
			return
		}
		for _, args := range [][]string{{"link", "add", "docker0", "type", "bridge"}, {"addr", "add", cidr, "dev", "docker0"}, {"link", "set", "docker0", "up"}} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Logf("restore docker0: ip %v: %v %s", args, err, out)
			}
		}
	})
}

// stopDaemon sends SIGTERM and waits for the daemon to exit, reporting an
// error if it takes more than 30 seconds or exits unsuccessfully.
func (e *env) stopDaemon(t *testing.T) {
	t.Helper()
	d := e.d
	if !d.running() {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if d.waitErr != nil {
			t.Errorf("%s exited with %v after SIGTERM; log:\n%s", d.bin, d.waitErr, tail(d.log, 40))
		}
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		t.Errorf("%s did not exit within 30s of SIGTERM", d.bin)
	}
}

// killDaemon kills the daemon with SIGKILL, as a crash would.
func (e *env) killDaemon(t *testing.T) {
	t.Helper()
	if !e.d.running() {
		t.Fatalf("%s is not running", e.d.bin)
	}
	e.d.cmd.Process.Kill()
	<-e.d.done
}

// teardown removes every container, stops the daemon and checks that
// nothing stays mounted under the data root.
func (e *env) teardown(t *testing.T) {
	if e.d.running() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		c, err := client.New(client.WithHost(e.Host), client.WithAPIVersionNegotiation())
		if err == nil {
			if list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true}); err == nil {
				for _, ctr := range list.Items {
					if _, err := c.ContainerRemove(ctx, ctr.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
						t.Logf("teardown: remove container %.12s: %v", ctr.ID, err)
					}
				}
			}
			c.Close()
		}
		cancel()
		e.stopDaemon(t)
	}
	if m := e.leftoverMounts(); len(m) > 0 {
		t.Errorf("still mounted under the data root after the daemon stopped:\n%s", strings.Join(m, "\n"))
	}
	m := mountsUnder(e.Root)
	for i := len(m) - 1; i >= 0; i-- { // so that the root can be removed
		syscall.Unmount(m[i], syscall.MNT_DETACH)
	}
	if t.Failed() {
		t.Logf("daemon log (tail):\n%s", tail(e.d.log, 60))
	}
}

// importBusybox imports the busybox rootfs as busybox:latest through the API
// and returns the image ID.
func (e *env) importBusybox(ctx context.Context) (string, error) {
	f, err := os.Open(busyboxTar)
	if err != nil {
		return "", err
	}
	defer f.Close()
	c, err := client.New(client.WithHost(e.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		return "", err
	}
	defer c.Close()
	rc, err := c.ImageImport(ctx, client.ImageImportSource{Source: f, SourceName: "-"}, "busybox:latest", client.ImageImportOptions{})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	msgs, err := readJSONMessages(rc)
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 || !strings.HasPrefix(msgs[len(msgs)-1].Status, "sha256:") {
		return "", fmt.Errorf("import answered %+v, want a final status sha256:<id>", msgs)
	}
	return msgs[len(msgs)-1].Status, nil
}

// jsonMessage is the part of a JSON-message stream entry the tests read.
type jsonMessage struct {
	Status      string `json:"status"`
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readJSONMessages decodes a JSON-message stream; an error message in the
// stream is returned as an error.
func readJSONMessages(r io.Reader) ([]jsonMessage, error) {
	var msgs []jsonMessage
	dec := json.NewDecoder(r)
	for {
		var m jsonMessage
		if err := dec.Decode(&m); err == io.EOF {
			return msgs, nil
		} else if err != nil {
			return msgs, fmt.Errorf("decode JSON-message stream: %w", err)
		}
		if m.Error != "" {
			return msgs, errors.New(m.Error)
		}
		msgs = append(msgs, m)
	}
}

// snapshot is what an external daemon held before a test.
type snapshot struct {
	containers, images, tags map[string]bool
}

func (e *env) snapshot(t *testing.T) snapshot {
	t.Helper()
	ctx := context.Background()
	c := e.client(t)
	s := snapshot{map[string]bool{}, map[string]bool{}, map[string]bool{}}
	cl, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, ctr := range cl.Items {
		s.containers[ctr.ID] = true
	}
	il, err := c.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range il.Items {
		s.images[im.ID] = true
		for _, tag := range im.RepoTags {
			s.tags[tag] = true
		}
	}
	return s
}

// restore removes from an external daemon the containers, tags and images
// that were not there before the test.
func (e *env) restore(t *testing.T, before snapshot) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.WithHost(e.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Log(err)
		return
	}
	defer c.Close()
	after := e.snapshot(t)
	for id := range after.containers {
		if !before.containers[id] {
			if _, err := c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	}
	for tag := range after.tags {
		if !before.tags[tag] && tag != "<none>:<none>" {
			c.ImageRemove(ctx, tag, client.ImageRemoveOptions{})
		}
	}
	for id := range after.images {
		if !before.images[id] {
			c.ImageRemove(ctx, id, client.ImageRemoveOptions{Force: true})
		}
	}
}

// client returns a Go client of the daemon, closed when the test ends.
func (e *env) client(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.New(client.WithHost(e.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// result is what a client command did.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit code %d\nstdout: %q\nstderr: %q", r.Code, r.Stdout, r.Stderr)
}

// commandTimeout bounds every client command.
const commandTimeout = 2 * time.Minute

// run runs a client program with the daemon's address in its environment.
func (e *env) run(t *testing.T, stdin io.Reader, prog string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = e.clientEnv()
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: no exit within %v\n%s", prog, strings.Join(args, " "), commandTimeout, r)
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", prog, strings.Join(args, " "), err)
	}
	return r
}

// clientEnv is the environment of client programs: the caller's, without
// Docker or Gantry settings, plus the daemon address and a private CLI
// config directory.
func (e *env) clientEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") && !strings.HasPrefix(kv, "GANTRY_") {
			env = append(env, kv)
		}
	}
	return append(env, "DOCKER_HOST="+e.Host, "GANTRY_HOST="+e.Host, "DOCKER_CONFIG="+e.cfgDir, "DOCKER_CLI_HINTS=false")
}

// docker runs the docker CLI.
func (e *env) docker(t *testing.T, args ...string) result {
	t.Helper()
	return e.run(t, nil, "docker", args...)
}

// dockerIn runs the docker CLI with stdin.
func (e *env) dockerIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return e.run(t, strings.NewReader(stdin), "docker", args...)
}

// mustDocker runs the docker CLI, fails the test unless it exits 0, and
// returns its stdout without the trailing newline.
func (e *env) mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	r := e.docker(t, args...)
	if r.Code != 0 {
		t.Fatalf("docker %s:\n%s", strings.Join(args, " "), r)
	}
	return strings.TrimSuffix(r.Stdout, "\n")
}

// gantry runs bin/gantry; the test is skipped when the tests target an
// external daemon.
func (e *env) gantry(t *testing.T, args ...string) result {
	t.Helper()
	e.needGantry(t)
	return e.run(t, nil, filepath.Join(binDir, "gantry"), append([]string{"-H", e.Host}, args...)...)
}

func (e *env) needGantry(t *testing.T) {
	t.Helper()
	if e.External || (e.d != nil && filepath.Base(e.d.bin) != "gantryd") {
		t.Skip("bin/gantry is tested against gantryd only")
	}
}

// cli runs the named client: "docker" or "gantry".
func (e *env) cli(t *testing.T, prog string, args ...string) result {
	t.Helper()
	if prog == "gantry" {
		return e.gantry(t, args...)
	}
	return e.docker(t, args...)
}

// cliIn runs the named client ("docker" or "gantry") with stdin.
func (e *env) cliIn(t *testing.T, prog, stdin string, args ...string) result {
	t.Helper()
	argv := append(e.cliPath(t, prog), args...)
	return e.run(t, strings.NewReader(stdin), argv[0], argv[1:]...)
}

// cliPath returns the command line prefix that runs the named client.
func (e *env) cliPath(t *testing.T, prog string) []string {
	t.Helper()
	if prog == "gantry" {
		e.needGantry(t)
		return []string{filepath.Join(binDir, "gantry"), "-H", e.Host}
	}
	p, err := exec.LookPath("docker")
	if err != nil {
		t.Skip(err)
	}
	return []string{p}
}

// api sends one raw HTTP request to the daemon and returns the status and body.
func (e *env) api(t *testing.T, method, path string, body io.Reader) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://d"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := unixHTTPClient(strings.TrimPrefix(e.Host, "unix://")).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// apiMessage decodes an Engine API error body {"message": ...}.
func apiMessage(t *testing.T, body string) string {
	t.Helper()
	var m struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("error body %q is not {\"message\":...}: %v", body, err)
	}
	return m.Message
}

func unixHTTPClient(sock string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			DisableKeepAlives: true,
		},
	}
}

// python runs a Python script using the Docker SDK against the daemon; the
// test is skipped when no Python with the SDK is installed.
func (e *env) python(t *testing.T, script string, args ...string) result {
	t.Helper()
	py := pythonWithSDK()
	if py == "" {
		t.Skip("no python3 with the docker SDK (Debian package python3-docker)")
	}
	path := filepath.Join(t.TempDir(), "script.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return e.run(t, nil, py, append([]string{path}, args...)...)
}

var pythonWithSDK = sync.OnceValue(func() string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if err := exec.Command(py, "-c", "import docker").Run(); err == nil {
			return py
		}
	}
	return ""
})

// name returns a container or image name unique to this run.
func name(base string) string { return "gt-" + base + "-" + randHex(4) }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// poll calls cond every 50ms until it returns true, failing the test with
// what cond last described when timeout passes.
func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; last: %s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leftoverMounts lists what is mounted under the data root. dockerd (used
// to check the tests themselves) bind-mounts its root onto itself, which is
// not counted.
func (e *env) leftoverMounts() []string {
	var out []string
	for _, m := range mountsUnder(e.Root) {
		if e.d != nil && e.d.isDockerd() && m == e.Root {
			continue
		}
		out = append(out, m)
	}
	return out
}

// mountsUnder lists the mount points at or under dir, in mount order.
func mountsUnder(dir string) []string {
	if dir == "" {
		return nil
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	m, _ := mount.Under(dir)
	return m
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lines splits output into lines, without the final empty one.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
