package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// terminal is a client program running on a pseudo-terminal.
type terminal struct {
	t    *testing.T
	ptmx *os.File
	cmd  *exec.Cmd

	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

// startTerminal runs argv on a new pseudo-terminal of the given size.
func (e *env) startTerminal(t *testing.T, rows, cols uint16, argv ...string) *terminal {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(e.clientEnv(), "TERM=xterm")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, ptmx: ptmx, cmd: cmd, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		term.err = cmd.Wait()
		close(term.done)
	}()
	t.Cleanup(func() {
		select {
		case <-term.done:
		default:
			cmd.Process.Kill()
			<-term.done
		}
		ptmx.Close()
	})
	return term
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// expect waits until the terminal has shown s.
func (term *terminal) expect(s string) {
	term.t.Helper()
	poll(term.t, 15*time.Second, "terminal shows "+strings.TrimSpace(s), func() (bool, string) {
		out := term.output()
		return strings.Contains(out, s), out
	})
}

func (term *terminal) send(s string) {
	term.t.Helper()
	if _, err := term.ptmx.Write([]byte(s)); err != nil {
		term.t.Fatal(err)
	}
}

// wait waits for the client to exit and returns its exit code.
func (term *terminal) wait() int {
	term.t.Helper()
	select {
	case <-term.done:
	case <-time.After(30 * time.Second):
		term.t.Fatalf("client still running 30s later; terminal:\n%s", term.output())
	}
	var ee *exec.ExitError
	if errors.As(term.err, &ee) {
		return ee.ExitCode()
	}
	if term.err != nil {
		term.t.Fatal(term.err)
	}
	return 0
}

// TestManualWorkflow is the manual image workflow: run -it sh,
// write a file, exit, see it exited, commit with a CMD, run the new image.
func TestManualWorkflow(t *testing.T) {
	e := newEnv(t)
	for _, prog := range []string{"docker", "gantry"} {
		t.Run(prog, func(t *testing.T) {
			n := name("manual")
			term := e.startTerminal(t, 30, 100, append(e.cliPath(t, prog), "run", "-it", "--name", n, "busybox", "sh")...)
			term.expect("# ")
			term.send("echo hi > /f; exit\r")
			if code := term.wait(); code != 0 {
				t.Fatalf("run -it exited %d; terminal:\n%s", code, term.output())
			}
			ps := e.cli(t, prog, "ps", "-a", "--filter", "name="+n, "--format", "{{.ID}} {{.State}}")
			f := strings.Fields(ps.Stdout)
			if ps.Code != 0 || len(f) != 2 || f[1] != "exited" {
				t.Fatalf("ps -a:\n%s\nwant the container, exited", ps)
			}
			commit := e.cli(t, prog, "commit", "-c", `CMD ["cat","/f"]`, f[0])
			newID := strings.TrimSpace(commit.Stdout)
			if commit.Code != 0 || !imageIDRe.MatchString(newID) {
				t.Fatalf("commit:\n%s", commit)
			}
			r := e.cli(t, prog, "run", "--rm", newID)
			if r.Code != 0 || r.Stdout != "hi\n" {
				t.Fatalf("run of the committed image:\n%s\nwant hi", r)
			}
		})
	}
}

func TestTTY(t *testing.T) {
	e := newEnv(t)
	for _, prog := range []string{"docker", "gantry"} {
		t.Run(prog+" console size", func(t *testing.T) {
			if e.External && e.apiVersionBelow(t, "1.42") {
				t.Skip("the daemon's API is older than 1.42, which added HostConfig.ConsoleSize")
			}
			term := e.startTerminal(t, 33, 111, append(e.cliPath(t, prog), "run", "--rm", "-t", "busybox", "sh", "-c", "stty size; exit 6")...)
			if code := term.wait(); code != 6 {
				t.Errorf("run -t exited %d, want 6", code)
			}
			// The container's TTY turns \n into \r\n; without -i the client
			// leaves its own terminal cooked, which adds another \r.
			if out := term.output(); !strings.Contains(out, "33 111\r\r\n") {
				t.Errorf("stty size in the container printed %q, want 33 111 (and CRLF: a TTY)", out)
			}
		})
		t.Run(prog+" resize", func(t *testing.T) {
			term := e.startTerminal(t, 24, 80, append(e.cliPath(t, prog), "run", "--rm", "-it", "busybox", "sh")...)
			term.expect("# ")
			poll(t, 10*time.Second, "container sees the new size", func() (bool, string) {
				// Repeated: the client may install its SIGWINCH handler
				// only after the prompt has arrived.
				if err := pty.Setsize(term.ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
					t.Fatal(err)
				}
				term.cmd.Process.Signal(syscall.SIGWINCH) // as a terminal emulator's resize does
				term.send("stty size\r")
				time.Sleep(100 * time.Millisecond)
				out := term.output()
				return strings.Contains(out, "40 120"), out
			})
			term.send("exit\r")
			if code := term.wait(); code != 0 {
				t.Errorf("exit code %d", code)
			}
		})
		t.Run(prog+" detach ctrl-p ctrl-q", func(t *testing.T) {
			n := name("detach")
			term := e.startTerminal(t, 30, 100, append(e.cliPath(t, prog), "run", "-it", "--name", n, "busybox", "sh")...)
			term.expect("# ")
			term.send("\x10\x11")
			if code := term.wait(); code != 0 {
				t.Errorf("client exited %d after ctrl-p ctrl-q, want 0; terminal:\n%s", code, term.output())
			}
			if got := e.mustDocker(t, "inspect", "-f", "{{.State.Running}}", n); got != "true" {
				t.Errorf("after detaching, Running = %s, want true", got)
			}
			// Attached again, typed input reaches the shell (the detach
			// used to close its stdin, as StdinOnce does at end of input).
			again := e.startTerminal(t, 30, 100, append(e.cliPath(t, prog), "attach", n)...)
			poll(t, 15*time.Second, "the re-attached shell runs input", func() (bool, string) {
				again.send("echo re-$((40+2))\r")
				time.Sleep(100 * time.Millisecond)
				out := again.output()
				return strings.Contains(out, "re-42"), out
			})
			again.send("\x10\x11")
			again.wait() // the docker CLI's attach exits 1 after a detach, with dockerd too
			if got := e.mustDocker(t, "inspect", "-f", "{{.State.Running}}", n); got != "true" {
				t.Errorf("after detaching again, Running = %s, want true", got)
			}
			if got := e.mustDocker(t, "rm", "-f", n); got != n {
				t.Errorf("rm -f printed %q", got)
			}
		})
	}
}

// apiVersionBelow reports whether the daemon advertises an API version
// lower than v (both "1.NN").
func (e *env) apiVersionBelow(t *testing.T, v string) bool {
	t.Helper()
	_, h, _ := e.api(t, "GET", "/_ping", nil)
	minor := func(s string) int {
		n, _ := strconv.Atoi(strings.TrimPrefix(s, "1."))
		return n
	}
	return minor(h.Get("Api-Version")) < minor(v)
}
