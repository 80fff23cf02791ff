package runtime

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func execProcess(terminal bool, args ...string) *specs.Process {
	return &specs.Process{Terminal: terminal, Args: args, Env: []string{"PATH=/bin"}, Cwd: "/"}
}

// TestExec runs processes in a running container: exit codes, split
// output, stdin, a terminal, a failed start; then samples its stats and
// lists its processes.
func TestExec(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	id := "exec"
	init, err := r.Run(ctx, id, testBundle(t, id, false, "sleep", "100"), false, Stdio{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		r.Kill(ctx, id, 9, true)
		r.Wait(ctx, init.Pid)
		r.Delete(ctx, id, true)
	})

	t.Run("output and exit code", func(t *testing.T) {
		stdout, stderr := tempFile(t, "out"), tempFile(t, "err")
		p, err := r.Exec(ctx, id, execProcess(false, "sh", "-c", "echo out; echo err >&2; exit 4"), Stdio{Stdout: stdout, Stderr: stderr})
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		if code, err := r.Wait(ctx, p.Pid); err != nil || code != 4 {
			t.Errorf("Wait = %d, %v; want 4", code, err)
		}
		if o, e := readFile(t, stdout), readFile(t, stderr); o != "out\n" || e != "err\n" {
			t.Errorf("stdout %q, stderr %q", o, e)
		}
	})
	t.Run("no stdin", func(t *testing.T) {
		stdout := tempFile(t, "out")
		p, err := r.Exec(ctx, id, execProcess(false, "sh", "-c", "cat; echo cat=$?"), Stdio{Stdout: stdout})
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		if code, err := r.Wait(ctx, p.Pid); err != nil || code != 0 {
			t.Errorf("Wait = %d, %v", code, err)
		}
		if got := readFile(t, stdout); got != "cat=0\n" {
			t.Errorf("stdout = %q, want cat=0 (stdin is /dev/null)", got)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		in, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout := tempFile(t, "out")
		p, err := r.Exec(ctx, id, execProcess(false, "cat"), Stdio{Stdin: in, Stdout: stdout})
		in.Close()
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		io.WriteString(w, "piped\n")
		w.Close()
		if code, err := r.Wait(ctx, p.Pid); err != nil || code != 0 {
			t.Errorf("Wait = %d, %v", code, err)
		}
		if o := readFile(t, stdout); o != "piped\n" {
			t.Errorf("stdout %q", o)
		}
	})
	t.Run("terminal", func(t *testing.T) {
		proc := execProcess(true, "sh", "-c", "stty size")
		proc.ConsoleSize = &specs.Box{Height: 12, Width: 34}
		p, err := r.Exec(ctx, id, proc, Stdio{})
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		defer p.Console.Close()
		out := make(chan string)
		go func() { b, _ := io.ReadAll(p.Console); out <- string(b) }() // EIO once the pty closes
		if code, err := r.Wait(ctx, p.Pid); err != nil || code != 0 {
			t.Errorf("Wait = %d, %v", code, err)
		}
		select {
		case got := <-out:
			if !strings.Contains(got, "12 34\r\n") {
				t.Errorf("console output %q, want the size and CRLF", got)
			}
		case <-time.After(5 * time.Second):
			t.Error("console did not end")
		}
	})
	t.Run("command not found", func(t *testing.T) {
		stderr := tempFile(t, "err")
		_, err := r.Exec(ctx, id, execProcess(false, "nope"), Stdio{Stderr: stderr})
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "executable file not found") {
			t.Errorf("Exec of a missing command: err = %v, want runc's invalid-argument error", err)
		}
		if e := readFile(t, stderr); e != "" {
			t.Errorf("runc's error reached the process's stderr: %q", e)
		}
	})
	t.Run("stats and pids", func(t *testing.T) {
		p, err := r.Exec(ctx, id, execProcess(false, "sleep", "100"), Stdio{})
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		defer func() {
			syscall.Kill(p.Pid, syscall.SIGKILL)
			r.Wait(ctx, p.Pid)
		}()
		pids, err := r.Pids(ctx, id)
		if err != nil || !slices.Contains(pids, init.Pid) || !slices.Contains(pids, p.Pid) {
			t.Errorf("Pids = %v, %v; want the init %d and the exec %d", pids, err, init.Pid, p.Pid)
		}
		s, err := r.Stats(ctx, id)
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		// At least the init and the exec: an earlier subtest's runc exec
		// may still be leaving the cgroup.
		if s.MemoryStats.Usage == 0 || s.MemoryStats.Limit == 0 || s.PidsStats.Current < 2 ||
			s.CPUStats.CPUUsage.TotalUsage == 0 || s.CPUStats.SystemUsage == 0 || s.CPUStats.OnlineCPUs == 0 || s.Read.IsZero() {
			t.Errorf("Stats = %+v, want memory, at least 2 pids, CPU figures", s)
		}
	})
	if _, err := r.Stats(ctx, "nosuch"); !errdefs.IsNotFound(err) {
		t.Errorf("Stats of an unknown container: err = %v, want not found", err)
	}
	if _, err := r.Pids(ctx, "nosuch"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Pids of an unknown container: err = %v, want not found", err)
	}
}
