package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/errdefs"
)

// Runc runs containers with the runc binary. Its state lives under the state
// root given to New; containers started by Run are reparented to the calling
// process, which must Wait for each of them. A Runc is safe for concurrent use.
type Runc struct {
	binary string
	root   string

	mu      sync.Mutex
	waits   map[int]*initWait    // pid -> the one wait4 in flight for it
	streams map[int]*stderrRelay // pid -> the relay holding the container's stderr
}

// State is what runc reports about one container.
type State struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`    // init pid in the host pid namespace; 0 once stopped
	Status string `json:"status"` // "created", "running", "paused" or "stopped"
	Bundle string `json:"bundle"`
}

// Stdio are the files given to a container's process when it has no terminal.
// A nil file means /dev/null. Run does not keep them: the caller may close its
// copies once Run returns.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

// Process is a container's init process, started by Run.
type Process struct {
	Pid int
	// Console is the pty master when the container has a terminal, else nil.
	// The caller owns it and closes it.
	Console *os.File
}

// New returns a Runc that runs binary (default "runc", looked up in $PATH) with
// its state under stateRoot, created if missing. It makes the calling process a
// child subreaper, so that the init processes of detached containers are
// reparented to it and can be waited for.
func New(binary, stateRoot string) (*Runc, error) {
	if binary == "" {
		binary = "runc"
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("runc binary %q not found (install it: apt-get install runc): %v", binary, err))
	}
	if stateRoot == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage("runc state root is empty")
	}
	root, err := filepath.Abs(stateRoot)
	if err != nil {
		return nil, fmt.Errorf("runc state root: %w", err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create runc state root: %w", err)
	}
	if err := setSubreaper(); err != nil {
		return nil, fmt.Errorf("become child subreaper: %w", err)
	}
	return &Runc{
		binary:  path,
		root:    root,
		waits:   map[int]*initWait{},
		streams: map[int]*stderrRelay{},
	}, nil
}

// Run creates and starts container id from the bundle directory (config.json
// and rootfs) and returns its init process once it runs; the caller must Wait
// for it. runc's log goes to <bundle>/runc.log and the init pid to
// <bundle>/init.pid. With terminal, the process gets a new pty whose master is
// returned as Process.Console and stdio is ignored.
//
// When runc fails, the error text is runc's own message (for instance
// `... exec: "nope": executable file not found in $PATH`), that text never
// reaches the container's stderr, and the runc container is deleted. Errors
// that StartExitCode maps to 126 or 127 are invalid-argument errors.
func (r *Runc) Run(ctx context.Context, id, bundle string, terminal bool, stdio Stdio) (*Process, error) {
	if id == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage("container id is empty")
	}
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return nil, fmt.Errorf("bundle path: %w", err)
	}
	logPath := filepath.Join(bundle, "runc.log")
	pidPath := filepath.Join(bundle, "init.pid")
	for _, p := range []string{logPath, pidPath} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale %s: %w", filepath.Base(p), err)
		}
	}

	proc, runErr := r.launch(ctx, id, []string{"run", "--detach", "--pid-file", pidPath, "--bundle", bundle}, logPath, pidPath, terminal, stdio)
	if runErr == nil {
		return proc, nil
	}
	// Use a fresh context: cleanup must happen even when ctx is done.
	cleanup := context.WithoutCancel(ctx)
	// An init that got as far as running is reparented to us: kill and reap it.
	pid, err := readPidFile(pidPath)
	if err != nil {
		if s, serr := r.State(cleanup, id); serr == nil {
			pid = s.Pid
		}
	}
	if pid > 0 {
		_ = r.Kill(cleanup, id, syscall.SIGKILL, true)
		_, _ = r.Wait(cleanup, pid)
	}
	_ = r.Delete(cleanup, id, true)
	return nil, runErr
}

// launch runs `runc <sub...> [--console-socket S] id`, a runc command that
// starts a process detached and writes its pid to pidPath, and returns the
// process. With terminal, the process gets a new pty (Process.Console) and
// stdio is ignored. On failure the error is runc's own message from logPath,
// runc's text never reaches stdio.Stderr, and the caller cleans up whatever
// runc left behind.
func (r *Runc) launch(ctx context.Context, id string, sub []string, logPath, pidPath string, terminal bool, stdio Stdio) (*Process, error) {
	args := append([]string{"--log", logPath, "--log-format", "json"}, sub...)
	var sock *consoleSocket
	if terminal {
		var err error
		if sock, err = newConsoleSocket(); err != nil {
			return nil, err
		}
		defer sock.Close()
		args = append(args, "--console-socket", sock.Path())
	}
	cmd := r.command(ctx, append(args, id)...)

	// In detached mode runc hands its own stdio to the process and prints its
	// errors on its stderr too, so the process's stderr goes through a relay
	// that forwards nothing until runc has succeeded.
	var relay *stderrRelay
	if !terminal {
		// A nil *os.File in cmd.Stdin would be a non-nil io.Reader that
		// os/exec turns into a closed fd 0: runc would then open its log
		// file as fd 0 and hand it to the container. Left unset, os/exec
		// gives /dev/null.
		if stdio.Stdin != nil {
			cmd.Stdin = stdio.Stdin
		}
		if stdio.Stdout != nil {
			cmd.Stdout = stdio.Stdout
		}
		if stdio.Stderr != nil {
			var w *os.File
			var err error
			if relay, w, err = newStderrRelay(stdio.Stderr); err != nil {
				return nil, err
			}
			cmd.Stderr = w
			defer w.Close()
		}
	}

	var proc *Process
	err := cmd.Run()
	if err == nil {
		proc, err = started(ctx, pidPath, sock)
	} else if msg := lastLogError(logPath); msg != "" {
		err = StartError(msg)
	} else if ctx.Err() != nil {
		err = fmt.Errorf("runc %s %s: %w", sub[0], id, ctx.Err())
	} else {
		err = fmt.Errorf("runc %s %s: %w", sub[0], id, err)
	}
	if err != nil {
		relay.drop()
		return nil, err
	}
	relay.release(r, proc.Pid)
	return proc, nil
}

// StartError turns runc's message about a failed start into an error
// carrying exactly that message: an invalid-argument error when
// StartExitCode maps it to 126 or 127 (the command cannot run).
func StartError(msg string) error {
	if code := StartExitCode(errors.New(msg)); code == 126 || code == 127 {
		return errdefs.ErrInvalidArgument.WithMessage(msg)
	}
	return errors.New(msg)
}

// Kill sends sig to the init process of container id, or to all its processes
// when all is set. An unknown id is a not-found error; a stopped container is
// a conflict error (unless all is set: runc then signals nobody and succeeds).
func (r *Runc) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	args = append(args, id, strconv.Itoa(int(sig)))
	_, err := r.output(ctx, id, args...)
	return err
}

// Delete removes container id from runc's state; force kills it first if it
// still runs. It is idempotent: a container runc does not know is not an error.
func (r *Runc) Delete(ctx context.Context, id string, force bool) error {
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	_, err := r.output(ctx, id, append(args, id)...)
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// State returns runc's view of container id; an unknown id is a not-found error.
func (r *Runc) State(ctx context.Context, id string) (State, error) {
	out, err := r.output(ctx, id, "state", id)
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(out, &s); err != nil {
		return State{}, fmt.Errorf("decode runc state of %s: %w", id, err)
	}
	return s, nil
}

// List returns the state of every container runc knows under the state root,
// for recovery when the daemon starts.
func (r *Runc) List(ctx context.Context) ([]State, error) {
	out, err := r.output(ctx, "", "list", "--format", "json")
	if err != nil {
		return nil, err
	}
	var states []State
	if err := json.Unmarshal(out, &states); err != nil {
		return nil, fmt.Errorf("decode runc list: %w", err)
	}
	return states, nil
}

// Pause freezes every process of container id. An unknown id is a not-found
// error; a container that does not run is a conflict error.
func (r *Runc) Pause(ctx context.Context, id string) error {
	_, err := r.output(ctx, id, "pause", id)
	return err
}

// Resume thaws container id after Pause, with the errors of Pause.
func (r *Runc) Resume(ctx context.Context, id string) error {
	_, err := r.output(ctx, id, "resume", id)
	return err
}

func (r *Runc) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, r.binary, append([]string{"--root", r.root}, args...)...)
}

// output runs a short runc command with json logging on stderr and returns its
// stdout. runc's error message becomes the error, classed by its text.
func (r *Runc) output(ctx context.Context, id string, args ...string) ([]byte, error) {
	cmd := r.command(ctx, append([]string{"--log-format", "json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := lastError(&stderr)
		if msg == "" {
			msg = err.Error()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("runc %s %s: %w", args[0], id, ctx.Err())
			}
		}
		text := strings.TrimSpace("runc " + args[0] + " " + id + ": " + msg)
		switch {
		case strings.Contains(msg, "does not exist"):
			return nil, errdefs.ErrNotFound.WithMessage(text)
		case strings.Contains(msg, "not running"), strings.Contains(msg, "not paused"),
			strings.Contains(msg, "is paused"), strings.Contains(msg, "cannot"):
			return nil, errdefs.ErrConflict.WithMessage(text)
		}
		return nil, errors.New(text)
	}
	return stdout.Bytes(), nil
}

// lastLogError returns the last error message of a runc json log file, or "".
func lastLogError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return lastError(f)
}

// lastError returns the message of the last error-level line of runc's json
// log in r; lines that are not json count as messages themselves.
func lastError(r io.Reader) string {
	var last string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(line, &entry) != nil {
			last = string(line)
			continue
		}
		if entry.Level == "error" || entry.Level == "fatal" {
			last = entry.Msg
		}
	}
	return last
}

// started returns the init process of a container runc has just started: its
// pid and, with a console socket, the pty master runc sent there.
func started(ctx context.Context, pidPath string, sock *consoleSocket) (*Process, error) {
	pid, err := readPidFile(pidPath)
	if err != nil {
		return nil, err
	}
	p := &Process{Pid: pid}
	if sock != nil {
		if p.Console, err = sock.Receive(ctx); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read init pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("read init pid: bad content %q", b)
	}
	return pid, nil
}
