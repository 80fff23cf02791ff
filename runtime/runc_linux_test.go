package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// These tests run real containers: they need root, runc and /bin/busybox
// (Debian packages runc and busybox-static).

var testRootfs struct {
	once sync.Once
	dir  string
	err  error
}

func newTestRunc(t *testing.T) *Runc {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: running containers needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("skipping: runc not installed (apt-get install runc)")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("skipping: /bin/busybox missing (apt-get install busybox-static)")
	}
	r, err := New("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkNoZombies(t) })
	return r
}

// busyboxRootfs builds, once per test binary, a rootfs holding /bin/busybox
// and a symlink per applet; containers only read it.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	testRootfs.once.Do(func() {
		dir, err := os.MkdirTemp("", "gantry-runtime-rootfs-")
		if err != nil {
			testRootfs.err = err
			return
		}
		testRootfs.dir, testRootfs.err = dir, buildBusybox(dir)
	})
	if testRootfs.err != nil {
		t.Fatalf("busybox rootfs: %v", testRootfs.err)
	}
	return testRootfs.dir
}

func buildBusybox(dir string) error {
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		return err
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return err
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testRootfs.dir != "" {
		os.RemoveAll(testRootfs.dir)
	}
	// runc removes each container's cgroup, not the empty parent.
	parents, _ := filepath.Glob("/sys/fs/cgroup/*/gantry-runtime-test")
	for _, p := range parents {
		os.Remove(p)
	}
	os.Exit(code)
}

// testBundle writes a bundle for a container running args in the busybox
// rootfs, with the namespaces and mounts of a Docker container.
func testBundle(t *testing.T, id string, terminal bool, args ...string) string {
	t.Helper()
	bundle := t.TempDir()
	spec := &specs.Spec{
		Version: "1.0.2",
		Root:    &specs.Root{Path: busyboxRootfs(t), Readonly: true},
		Process: &specs.Process{
			Terminal: terminal,
			Args:     args,
			Env:      []string{"PATH=/bin", "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  []string{"CAP_KILL", "CAP_SETUID", "CAP_SETGID"},
				Effective: []string{"CAP_KILL", "CAP_SETUID", "CAP_SETGID"},
				Permitted: []string{"CAP_KILL", "CAP_SETUID", "CAP_SETGID"},
			},
		},
		Hostname: id,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/gantry-runtime-test/" + id,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			},
		},
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// checkNoZombies fails when this process has zombie children left.
func checkNoZombies(t *testing.T) {
	t.Helper()
	self := strconv.Itoa(os.Getpid())
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[0] == "Z" && fields[1] == self {
			t.Errorf("zombie child left: %s", strings.TrimSpace(s))
		}
	}
}

func tempFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readFile(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunWaitExitCodes(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	tests := []struct {
		name        string
		args        []string
		code        int
		out, errOut string
	}{
		{"true", []string{"/bin/true"}, 0, "", ""},
		{"echo", []string{"sh", "-c", "echo hello; echo oops >&2"}, 0, "hello\n", "oops\n"},
		{"exit code", []string{"sh", "-c", "exit 3"}, 3, "", ""},
		{"hostname", []string{"hostname"}, 0, "ctr-hostname\n", ""},
		{"pid 1", []string{"sh", "-c", "echo $$"}, 0, "1\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "ctr-" + strings.ReplaceAll(tt.name, " ", "-")
			if tt.name == "hostname" {
				id = "ctr-hostname"
			}
			bundle := testBundle(t, id, false, tt.args...)
			stdout, stderr := tempFile(t, "out"), tempFile(t, "err")
			p, err := r.Run(ctx, id, bundle, false, Stdio{Stdout: stdout, Stderr: stderr})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			stderr.Close() // Run keeps its own descriptor
			code, err := r.Wait(ctx, p.Pid)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if code != tt.code {
				t.Errorf("exit code = %d, want %d", code, tt.code)
			}
			if err := r.Delete(ctx, id, false); err != nil {
				t.Errorf("Delete: %v", err)
			}
			if got := readFile(t, stdout); got != tt.out {
				t.Errorf("stdout = %q, want %q", got, tt.out)
			}
			if got := readFile(t, stderr); got != tt.errOut {
				t.Errorf("stderr = %q, want %q", got, tt.errOut)
			}
		})
	}
}

func TestRunStdin(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	in, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := tempFile(t, "out")
	p, err := r.Run(ctx, "stdin", testBundle(t, "stdin", false, "tr", "a-z", "A-Z"), false, Stdio{Stdin: in, Stdout: stdout})
	in.Close()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	io.WriteString(w, "shout\n")
	w.Close()
	if code, err := r.Wait(ctx, p.Pid); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	if err := r.Delete(ctx, "stdin", false); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, stdout); got != "SHOUT\n" {
		t.Errorf("stdout = %q", got)
	}
}

// TestRunNoStdin: a process given no stdin reads /dev/null (EOF at once),
// and what it writes to fd 0 goes nowhere: not into runc's log file.
func TestRunNoStdin(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	stdout := tempFile(t, "out")
	bundle := testBundle(t, "nostdin", false, "sh", "-c", "cat; echo cat=$?; echo leaked >&0; echo write=$?")
	p, err := r.Run(ctx, "nostdin", bundle, false, Stdio{Stdout: stdout})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if code, err := r.Wait(ctx, p.Pid); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	if err := r.Delete(ctx, "nostdin", false); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, stdout); got != "cat=0\nwrite=0\n" {
		t.Errorf("stdout = %q, want cat=0 and write=0 (stdin is /dev/null)", got)
	}
	if log, _ := os.ReadFile(filepath.Join(bundle, "runc.log")); strings.Contains(string(log), "leaked") {
		t.Errorf("the container wrote into runc.log through fd 0: %q", log)
	}
}

func TestRunFailure(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	tests := []struct {
		name string
		args []string
		msg  string
		code int
	}{
		{"not in path", []string{"nope"}, `exec: "nope": executable file not found in $PATH`, 127},
		{"missing file", []string{"/nope"}, "no such file or directory", 127},
		{"not executable", []string{"/etc"}, "", 126},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "fail-" + strings.ReplaceAll(tt.name, " ", "-")
			stdout, stderr := tempFile(t, "out"), tempFile(t, "err")
			_, err := r.Run(ctx, id, testBundle(t, id, false, tt.args...), false, Stdio{Stdout: stdout, Stderr: stderr})
			if err == nil {
				t.Fatal("Run succeeded")
			}
			t.Logf("Run error: %v", err)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if got := StartExitCode(err); got != tt.code {
				t.Errorf("StartExitCode(%q) = %d, want %d", err, got, tt.code)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error %q is not an invalid-argument error", err)
			}
			if got := readFile(t, stderr) + readFile(t, stdout); got != "" {
				t.Errorf("container output = %q, want nothing", got)
			}
			if _, err := r.State(ctx, id); !errdefs.IsNotFound(err) {
				t.Errorf("State after failed Run: err = %v, want not found", err)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	id := "lifecycle"
	p, err := r.Run(ctx, id, testBundle(t, id, false, "sleep", "100"), false, Stdio{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	waited := make(chan int)
	go func() {
		code, err := r.Wait(ctx, p.Pid)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		waited <- code
	}()

	wantStatus := func(want string) {
		t.Helper()
		s, err := r.State(ctx, id)
		if err != nil {
			t.Fatalf("State: %v", err)
		}
		if s.Status != want || s.ID != id {
			t.Errorf("State = %+v, want status %q", s, want)
		}
	}
	wantStatus("running")
	if err := r.Pause(ctx, id); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	wantStatus("paused")
	if err := r.Resume(ctx, id); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	wantStatus("running")
	list, err := r.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.ContainsFunc(list, func(s State) bool { return s.ID == id && s.Pid == p.Pid && s.Status == "running" }) {
		t.Errorf("List = %+v, want %s running with pid %d", list, id, p.Pid)
	}
	if err := r.Kill(ctx, id, syscall.SIGKILL, false); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if code := <-waited; code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit code = %d, want %d", code, 128+int(syscall.SIGKILL))
	}
	wantStatus("stopped")
	if err := r.Kill(ctx, id, syscall.SIGKILL, false); !errdefs.IsConflict(err) {
		t.Errorf("Kill of stopped container: err = %v, want conflict", err)
	}
	for i := range 2 {
		if err := r.Delete(ctx, id, false); err != nil {
			t.Errorf("Delete #%d: %v", i+1, err)
		}
	}
	if _, err := r.State(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("State after Delete: err = %v, want not found", err)
	}
	if err := r.Kill(ctx, id, syscall.SIGKILL, false); !errdefs.IsNotFound(err) {
		t.Errorf("Kill after Delete: err = %v, want not found", err)
	}
	if _, err := r.Wait(ctx, p.Pid); !errdefs.IsNotFound(err) {
		t.Errorf("second Wait: err = %v, want not found", err)
	}
}

func TestWaitContext(t *testing.T) {
	r := newTestRunc(t)
	id := "waitctx"
	p, err := r.Run(context.Background(), id, testBundle(t, id, false, "sleep", "100"), false, Stdio{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Wait(ctx, p.Pid); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait: err = %v, want deadline exceeded", err)
	}
	if err := r.Delete(context.Background(), id, true); err != nil {
		t.Fatalf("Delete --force: %v", err)
	}
	if code, err := r.Wait(context.Background(), p.Pid); err != nil || code != 128+int(syscall.SIGKILL) {
		t.Errorf("Wait after Delete --force = %d, %v; want %d", code, err, 128+int(syscall.SIGKILL))
	}
}

func TestTerminal(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	id := "tty"
	p, err := r.Run(ctx, id, testBundle(t, id, true, "sh", "-c", "read line; stty size; echo got $line"), true, Stdio{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if p.Console == nil {
		t.Fatal("no console")
	}
	defer p.Console.Close()
	if err := Resize(p.Console, 33, 101); err != nil {
		t.Fatalf("Resize: %v", err)
	}
	if _, err := io.WriteString(p.Console, "x\n"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, p.Console); close(done) }() // ends with EIO once the pty closes
	if code, err := r.Wait(ctx, p.Pid); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.Console.Close()
		<-done
	}
	if err := r.Delete(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(out.String(), "\r", ""); !strings.Contains(got, "33 101\ngot x\n") {
		t.Errorf("console output = %q", got)
	}
}

// TestRunTrueTiming measures Run+Wait+Delete of /bin/true, 20 times.
func TestRunTrueTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping timing in -short mode")
	}
	r := newTestRunc(t)
	ctx := context.Background()
	bundle := testBundle(t, "timing", false, "/bin/true")
	var times []time.Duration
	for i := range 20 {
		id := fmt.Sprintf("timing-%d", i)
		start := time.Now()
		p, err := r.Run(ctx, id, bundle, false, Stdio{})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if code, err := r.Wait(ctx, p.Pid); err != nil || code != 0 {
			t.Fatalf("Wait = %d, %v", code, err)
		}
		if err := r.Delete(ctx, id, false); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	var sum time.Duration
	for _, d := range times {
		sum += d
	}
	t.Logf("Run+Wait+Delete /bin/true, 20 runs: median %v, mean %v, min %v, max %v",
		(times[9]+times[10])/2, sum/20, times[0], times[19])
}
