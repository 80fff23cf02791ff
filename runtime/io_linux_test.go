package runtime

import (
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the pump and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestIO runs processes through IO: split and combined output, input with
// end of file, a terminal, and an output cut once the grace has passed
// because a background child still holds it.
func TestIO(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	id := "io"
	init, err := r.Run(ctx, id, testBundle(t, id, false, "sleep", "100"), false, Stdio{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		r.Kill(ctx, id, 9, true)
		r.Wait(ctx, init.Pid)
		r.Delete(ctx, id, true)
	})
	run := func(t *testing.T, cfg IOConfig, input string, grace time.Duration, args ...string) int {
		t.Helper()
		pio, err := NewIO(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Exec(ctx, id, execProcess(cfg.Terminal, args...), pio.Stdio())
		if err != nil {
			pio.Close()
			t.Fatalf("Exec: %v", err)
		}
		pio.Start(p)
		if in := pio.Stdin(); in != nil {
			io.WriteString(in, input)
			if !cfg.Terminal {
				in.Close()
			}
		}
		code, err := r.Wait(ctx, p.Pid)
		if err != nil {
			t.Fatal(err)
		}
		pio.Drain(grace)
		return code
	}
	t.Run("split", func(t *testing.T) {
		var out, errb syncBuffer
		code := run(t, IOConfig{Stdin: true, Stdout: &out, Stderr: &errb}, "in\n", -1, "sh", "-c", "cat; echo err >&2; exit 3")
		if code != 3 || out.String() != "in\n" || errb.String() != "err\n" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 3, in, err", code, out.String(), errb.String())
		}
	})
	t.Run("combined", func(t *testing.T) {
		var out syncBuffer
		run(t, IOConfig{Stdout: &out, Combined: true}, "", -1, "sh", "-c", "echo 1; echo 2 >&2; echo 3")
		// stderr passes through the relay that holds back runc's errors,
		// so it may come after stdout.
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		sort.Strings(lines)
		if strings.Join(lines, " ") != "1 2 3" {
			t.Errorf("combined output %q, want 1, 2 and 3", out.String())
		}
	})
	t.Run("terminal", func(t *testing.T) {
		var out syncBuffer
		run(t, IOConfig{Terminal: true, Stdin: true, Stdout: &out}, "typed\n", -1, "sh", "-c", "read l; echo got-$l")
		if !bytes.Contains([]byte(out.String()), []byte("got-typed")) {
			t.Errorf("terminal output %q, want got-typed", out.String())
		}
	})
	t.Run("grace", func(t *testing.T) {
		var out syncBuffer
		start := time.Now()
		run(t, IOConfig{Stdout: &out}, "", 200*time.Millisecond, "sh", "-c", "sleep 30 & echo x")
		if d := time.Since(start); d > 10*time.Second || out.String() != "x\n" {
			t.Errorf("drain took %v with output %q; want the output cut soon after the grace", d, out.String())
		}
	})
}
