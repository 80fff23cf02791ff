package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// These tests run real monitors (this test binary, re-executed in monitor
// mode) and real containers: they need root, runc and /bin/busybox.

const monitorModeEnv = "GANTRY_MONITOR_TEST_MODE"

func TestMain(m *testing.M) {
	if os.Getenv(monitorModeEnv) == "1" {
		os.Exit(Main())
	}
	code := m.Run()
	// runc removes each container's cgroup, not the empty parent.
	parents, _ := filepath.Glob("/sys/fs/cgroup/*/gantry-monitor-test")
	for _, p := range parents {
		os.Remove(p)
	}
	os.Exit(code)
}

// setup returns the monitor binary (this test, in monitor mode through the
// environment), the runc root and a busybox rootfs.
func setup(t *testing.T) (bin, runcRoot, rootfs string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: running containers needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("skipping: runc not installed")
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("skipping: /bin/busybox missing (apt-get install busybox-static)")
	}
	t.Setenv(monitorModeEnv, "1")
	rootfs = t.TempDir()
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "seq", "yes", "head", "sleep", "echo", "cat"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", applet))
	}
	return os.Args[0], t.TempDir(), rootfs
}

func bundle(t *testing.T, id, rootfs string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	spec := &specs.Spec{
		Version: "1.0.2",
		Root:    &specs.Root{Path: rootfs, Readonly: true},
		Process: &specs.Process{Args: args, Env: []string{"PATH=/bin"}, Cwd: "/"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/gantry-monitor-test/" + id,
			Namespaces:  []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace}},
		},
	}
	data, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestMonitor: output from the first byte reaches a client attached before
// the start, and the log; the exit waits for the output and is recorded in
// the exit file; a client that does not read is dropped and does not hold
// the container back.
func TestMonitor(t *testing.T) {
	bin, runcRoot, rootfs := setup(t)
	ctx := context.Background()
	t.Run("output and exit", func(t *testing.T) {
		dir, logPath := t.TempDir(), filepath.Join(t.TempDir(), "log.json")
		cli, err := Start(ctx, bin, Config{ID: "mon-exit", Bundle: bundle(t, "mon-exit", rootfs, "sh", "-c", "echo first; echo err >&2; exit 3"),
			RuncRoot: runcRoot, Dir: dir, LogPath: logPath})
		if err != nil {
			t.Fatal(err)
		}
		a, err := cli.Attach(ctx, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Start(ctx); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		for {
			stream, p, err := a.Next()
			if err != nil {
				break
			}
			if stream == "stderr" {
				errb.Write(p)
			} else {
				out.Write(p)
			}
		}
		exit, err := cli.Wait(ctx)
		if err != nil || exit.Code != 3 {
			t.Fatalf("Wait = %+v, %v; want code 3", exit, err)
		}
		if out.String() != "first\n" || errb.String() != "err\n" {
			t.Errorf("attached output %q, %q", out.String(), errb.String())
		}
		if e, ok := ReadExit(dir); !ok || e.Code != 3 || e.Time.IsZero() {
			t.Errorf("exit file: %+v, %v", e, ok)
		}
		if log, _ := os.ReadFile(logPath); !strings.Contains(string(log), `"log":"first\n","stream":"stdout"`) {
			t.Errorf("log: %s", log)
		}
		exec.Command("runc", "--root", runcRoot, "delete", "-f", "mon-exit").Run()
	})
	t.Run("failed start", func(t *testing.T) {
		cli, err := Start(ctx, bin, Config{ID: "mon-fail", Bundle: bundle(t, "mon-fail", rootfs, "nope"), RuncRoot: runcRoot, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Start(ctx); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("Start of a missing command: %v, want runc's error naming it", err)
		}
	})
	t.Run("slow client", func(t *testing.T) {
		dir := t.TempDir()
		cli, err := Start(ctx, bin, Config{ID: "mon-slow", Bundle: bundle(t, "mon-slow", rootfs, "sh", "-c", "x=xxxxxxxxxx; x=$x$x$x$x$x$x$x$x$x$x; x=$x$x$x$x$x$x$x$x$x$x; yes $x | head -c 20000000; echo done"),
			RuncRoot: runcRoot, Dir: dir, LogPath: filepath.Join(t.TempDir(), "log.json")})
		if err != nil {
			t.Fatal(err)
		}
		stuck, err := cli.Attach(ctx, false, false) // never read
		if err != nil {
			t.Fatal(err)
		}
		defer stuck.Close()
		if _, err := cli.Start(ctx); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		exit, err := cli.Wait(wctx)
		if err != nil || exit.Code != 0 {
			t.Fatalf("Wait = %+v, %v: the container was held back by a client that does not read", exit, err)
		}
		// The stuck client got a bounded part of the output, then its end.
		n, err := io.Copy(io.Discard, readerOf(stuck))
		if err != nil || n >= 20000000 {
			t.Errorf("the stuck client read %d bytes (%v), want a bounded part", n, err)
		}
		exec.Command("runc", "--root", runcRoot, "delete", "-f", "mon-slow").Run()
	})
}

// readerOf reads an Attach's frames as one stream.
func readerOf(a *Attach) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for {
			_, p, err := a.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				pw.CloseWithError(err)
				return
			}
			pw.Write(p)
		}
	}()
	return pr
}
