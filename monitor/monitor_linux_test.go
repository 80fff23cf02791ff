package monitor

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
		if e, ok := a.Exit(); !ok || e.Code != 3 || e.Time.IsZero() {
			t.Errorf("the attachment's last frame: %+v, %v; want the exit, code 3", e, ok)
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
	t.Run("paused client", func(t *testing.T) {
		// A client that pauses while the container writes a line at a
		// time (20,000 chunks of a few bytes, 200 KB) gets them all once
		// it reads again; a bound of 128 chunks dropped it.
		dir, logPath := t.TempDir(), filepath.Join(t.TempDir(), "log.json")
		cli, err := Start(ctx, bin, Config{ID: "mon-paused", Bundle: bundle(t, "mon-paused", rootfs, "sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo line$i; i=$((i+1)); done; sleep 2"),
			RuncRoot: runcRoot, Dir: dir, LogPath: logPath})
		if err != nil {
			t.Fatal(err)
		}
		a, err := cli.Attach(ctx, false, false)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := cli.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer exec.Command("runc", "--root", runcRoot, "delete", "-f", "mon-paused").Run()
		deadline := time.Now().Add(60 * time.Second)
		for {
			log, _ := os.ReadFile(logPath)
			if bytes.Contains(log, []byte(`"log":"line19999\n"`)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the container did not write its 20,000 lines in 60 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		got, err := io.ReadAll(readerOf(a))
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for i := 0; i < 20000; i++ {
			fmt.Fprintf(&want, "line%d\n", i)
		}
		if string(got) != want.String() {
			t.Errorf("the paused client read %d bytes, want the %d written", len(got), want.Len())
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
	t.Run("dropped client attaches again", func(t *testing.T) {
		// gantryd's relay counts on this: a connection dropped for falling
		// behind ends while the container runs on, a new one is taken
		// then and gets the output from there, and once the container
		// exited an attach is refused.
		dir, logPath := t.TempDir(), filepath.Join(t.TempDir(), "log.json")
		release := filepath.Join(rootfs, "tmp", "mon-drop-go")
		cli, err := Start(ctx, bin, Config{ID: "mon-drop", Bundle: bundle(t, "mon-drop", rootfs, "sh", "-c", "x=xxxxxxxxxx; x=$x$x$x$x$x$x$x$x$x$x; x=$x$x$x$x$x$x$x$x$x$x; yes $x | head -c 20000000; echo written; while [ ! -e /tmp/mon-drop-go ]; do sleep 0.05; done; echo done"),
			RuncRoot: runcRoot, Dir: dir, LogPath: logPath})
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(release)
		stuck, err := cli.Attach(ctx, false, false)
		if err != nil {
			t.Fatal(err)
		}
		defer stuck.Close()
		if _, err := cli.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer exec.Command("runc", "--root", runcRoot, "delete", "-f", "mon-drop").Run()
		deadline := time.Now().Add(60 * time.Second)
		for {
			log, _ := os.ReadFile(logPath)
			if bytes.Contains(log, []byte(`written\n"`)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the container did not write its 20 MB in 60 s: log of %d bytes ending %q", len(log), log[max(0, len(log)-200):])
			}
			time.Sleep(50 * time.Millisecond)
		}
		n, err := io.Copy(io.Discard, readerOf(stuck))
		if err != nil || n >= 20000000 {
			t.Fatalf("the client that did not read got %d bytes (%v), want a bounded part and its end", n, err)
		}
		if _, ok := stuck.Exit(); ok {
			t.Error("a dropped attachment ended with an exit while the container runs")
		}
		again, err := cli.Attach(ctx, false, false)
		if err != nil {
			t.Fatalf("attach after a drop, the container running: %v", err)
		}
		defer again.Close()
		if err := os.WriteFile(release, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(readerOf(again))
		if err != nil || string(got) != "done\n" {
			t.Errorf("the new attachment read %q (%v), want the output from then on: done", got, err)
		}
		if e, ok := again.Exit(); !ok || e.Code != 0 {
			t.Errorf("the new attachment's last frame: %+v, %v; want the exit, code 0", e, ok)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if exit, err := cli.Wait(wctx); err != nil || exit.Code != 0 {
			t.Fatalf("Wait = %+v, %v", exit, err)
		}
		if a, err := cli.Attach(ctx, false, false); err == nil {
			a.Close()
			t.Error("an attach after the exit was taken; the relay would wait on it for nothing")
		}
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
