package monitor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Client talks to the monitor of one container over its socket. Each
// operation is a connection of its own. A Client is safe for concurrent use.
type Client struct {
	dir string
	// pid is the monitor's when this gantryd started it: our child until
	// it is reaped (Reap), 0 for a monitor found again at a restart.
	pid int
}

// maxSocketPath is the room in a unix socket address (sun_path, 108 bytes
// with its terminating NUL).
const maxSocketPath = 107

// readyTimeout bounds the wait for a new monitor's socket.
const readyTimeout = 10 * time.Second

// Start runs a new monitor (binary) for cfg, in a session of its own so that
// it outlives the caller, and returns a client once its socket accepts
// clients. The container is not started yet: attach first, then Start.
// The monitor's own messages go to monitor.log in cfg.Dir.
func Start(ctx context.Context, binary string, cfg Config) (*Client, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("monitor directory: %w", err)
	}
	for _, name := range []string{exitName, pidName, sockName} {
		os.Remove(filepath.Join(cfg.Dir, name))
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(cfg.Dir, monLogName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("monitor log: %w", err)
	}
	defer logf.Close()
	// The config goes through a pipe of its own (it fits the pipe's buffer),
	// so that nothing of os/exec waits for the monitor.
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	_, err = cfgW.Write(data)
	cfgW.Close()
	if err != nil {
		return nil, fmt.Errorf("monitor config: %w", err)
	}
	ready, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer ready.Close()
	cmd := exec.Command(binary)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cfgR, readyW, logf
	cmd.Dir = cfg.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("start the container's monitor %s: %v", binary, err))
	}
	// The monitor is our child until we exit; it is reaped once the
	// container's exit is known (Reap), so that a running container costs
	// gantryd no descriptor or goroutine for it. Release drops the os
	// package's pidfd of it.
	pid := cmd.Process.Pid
	cmd.Process.Release()

	ready.SetReadDeadline(time.Now().Add(readyTimeout))
	line, err := bufio.NewReader(ready).ReadString('\n')
	version, ok := parseReady(line)
	if err != nil || !ok || version != ProtocolVersion {
		exited, kill := reap(pid)
		kill()
		<-exited
		if err == nil && ok {
			return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("%v\nhint: %s is not of gantryd's build; install gantryd and gantry-monitor together (make install)",
				&VersionError{Dir: cfg.Dir, Version: version}, binary))
		}
		if err == nil {
			err = fmt.Errorf("it said %q", strings.TrimSpace(line))
		}
		msg, _ := os.ReadFile(filepath.Join(cfg.Dir, monLogName))
		return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("the container's monitor did not start (%v): %s", err, strings.TrimSpace(string(msg))))
	}
	return &Client{dir: cfg.Dir, pid: pid}, nil
}

// Reap reaps the monitor, once it exits, when this gantryd started it; a
// no-op for one found again at a restart (not our child). Call it once the
// container's exit is known: the monitor exits then.
func (c *Client) Reap() {
	if c.pid > 0 {
		reap(c.pid)
	}
}

// reap waits for the child process pid in a goroutine that the runtime's
// poller wakes when its pidfd becomes readable (it exited), and reaps it;
// the channel is closed then. kill SIGKILLs it until it is reaped. Without
// a pidfd a goroutine waits in wait4.
func reap(pid int) (exited <-chan struct{}, kill func()) {
	done := make(chan struct{})
	var f *os.File
	var rc syscall.RawConn
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err == nil {
		f = os.NewFile(uintptr(fd), "pidfd")
		if rc, err = f.SyscallConn(); err != nil {
			f.Close()
		}
	}
	if err != nil {
		go func() {
			var ws unix.WaitStatus
			for {
				if _, err := unix.Wait4(pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
					break
				}
			}
			close(done)
		}()
		// Until the wait4 above, the pid is ours: never reused.
		return done, func() { unix.Kill(pid, unix.SIGKILL) }
	}
	kill = func() {
		// Control fails once f is closed: never a signal to a pid reused
		// after the reaping.
		rc.Control(func(fd uintptr) { unix.PidfdSendSignal(int(fd), unix.SIGKILL, nil, 0) })
	}
	go func() {
		defer close(done)
		defer f.Close()
		rc.Read(func(uintptr) bool {
			var ws unix.WaitStatus
			wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			return wpid == pid || (err != nil && !errors.Is(err, unix.EINTR))
		})
	}()
	return done, kill
}

// Connect returns a client of the monitor in dir, and its state; a monitor
// that does not answer is an unavailable error, one of a protocol version
// this gantryd does not adopt (older than OldestAdoptedVersion, or newer
// than its own) a *VersionError (with its state).
func Connect(ctx context.Context, dir string) (*Client, State, error) {
	c := &Client{dir: dir}
	var r reply
	if err := c.call(ctx, request{Op: opState}, &r); err != nil {
		return nil, State{}, err
	}
	if r.State == nil {
		return nil, State{}, errdefs.ErrUnavailable.WithMessage("monitor in " + dir + " gave no state")
	}
	if r.State.Version < OldestAdoptedVersion || r.State.Version > ProtocolVersion {
		// Its other requests may not mean what this gantryd means: only its
		// state is trusted, to find what to kill.
		return nil, *r.State, &VersionError{Dir: dir, Version: r.State.Version}
	}
	return c, *r.State, nil
}

// Dir is the monitor's directory.
func (c *Client) Dir() string { return c.dir }

func (c *Client) dial(ctx context.Context) (*net.UnixConn, error) {
	var d net.Dialer
	path := SocketPath(c.dir)
	if len(path) >= maxSocketPath {
		// Too long for a socket address: go through a descriptor of the
		// directory.
		dir, err := os.OpenFile(c.dir, os.O_RDONLY|unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("connect to the container's monitor: %v", err))
		}
		defer dir.Close()
		path = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), sockName)
	}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("connect to the container's monitor: %v", err))
	}
	return conn.(*net.UnixConn), nil
}

// call sends one request and reads the reply into r; an error reply is
// returned as an error with the monitor's words.
func (c *Client) call(ctx context.Context, req request, r *reply) error {
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := sendRequest(conn, req); err != nil {
		return err
	}
	if err := readReply(bufio.NewReader(conn), r); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if r.Error != "" {
		return errors.New(r.Error)
	}
	return nil
}

func sendRequest(conn net.Conn, req request) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := conn.Write(append(data, '\n')); err != nil {
		return errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("the container's monitor: %v", err))
	}
	return nil
}

func readReply(br *bufio.Reader, r *reply) error {
	line, err := br.ReadBytes('\n')
	if err != nil {
		return errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("the container's monitor went away: %v", err))
	}
	return json.Unmarshal(line, r)
}

// Start starts the container and returns its init's pid. The error of a
// failed start is runc's message (the monitor then exits).
func (c *Client) Start(ctx context.Context) (int, error) {
	var r reply
	if err := c.call(ctx, request{Op: opStart}, &r); err != nil {
		return 0, err
	}
	return r.Pid, nil
}

// Wait returns the container's exit once it has exited and its output has
// been handed to the attached clients. A monitor that already recorded the
// exit and went away answers through its exit file. When the monitor goes
// away without an answer (killed), the error is an unavailable error;
// ReadExit then tells whether it had recorded the exit.
func (c *Client) Wait(ctx context.Context) (Exit, error) {
	var r reply
	if err := c.call(ctx, request{Op: opWait}, &r); err != nil {
		if e, ok := ReadExit(c.dir); ok {
			return e, nil
		}
		return Exit{}, err
	}
	if r.Exit == nil {
		return Exit{}, errdefs.ErrUnavailable.WithMessage("the container did not start")
	}
	return *r.Exit, nil
}

// Abort kills a monitor whose container was never started, and removes
// its directory.
func (c *Client) Abort() {
	if pid := ReadPid(c.dir); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	c.Reap()
	os.RemoveAll(c.dir)
}

// Resize sets the size of the container's terminal.
func (c *Client) Resize(ctx context.Context, height, width uint16) error {
	return c.call(ctx, request{Op: opResize, Height: height, Width: width}, &reply{})
}

// ReopenLog has the monitor close the container's log file and create it
// anew at its path (the kubelet's rotation renamed it).
func (c *Client) ReopenLog(ctx context.Context) error {
	return c.call(ctx, request{Op: opReopenLog}, &reply{})
}

// Attach is one attached connection: the container's output, and a way
// in for its stdin.
type Attach struct {
	conn *net.UnixConn
	br   *bufio.Reader
	exit *Exit // the last frame's, at the container's exit
}

// Attach subscribes to the container's output from now on (before Start,
// from its first byte); with stdin, what is written to the Attach goes to
// the container's stdin, and with closeStdin the end of it (CloseWrite, or
// the connection's) closes the container's stdin. A container that has
// exited is a conflict error.
func (c *Client) Attach(ctx context.Context, stdin, closeStdin bool) (*Attach, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	if err := sendRequest(conn, request{Op: opAttach, Stdin: stdin, CloseStdin: closeStdin}); err != nil {
		conn.Close()
		return nil, err
	}
	// A small buffer: gantryd keeps one attachment per running container,
	// mostly idle (frames are read into their own slices whatever the
	// buffer's size); 64 KiB cost 64 MiB for 1,000 containers.
	br := bufio.NewReaderSize(conn, 4<<10)
	var r reply
	if err := readReply(br, &r); err != nil {
		conn.Close()
		return nil, err
	}
	if r.Error != "" {
		conn.Close()
		return nil, errdefs.ErrConflict.WithMessage(r.Error)
	}
	return &Attach{conn: conn, br: br}, nil
}

// Next returns the next chunk of output and its stream ("stdout" or
// "stderr"); io.EOF once the container has exited and all its output came
// (Exit then has the exit), or the monitor dropped this client for falling
// behind or went away.
func (a *Attach) Next() (stream string, p []byte, err error) {
	s, p, err := readFrame(a.br)
	if err != nil {
		return "", nil, err
	}
	switch s {
	case streamErr:
		return "stderr", p, nil
	case streamExit:
		var e Exit
		if json.Unmarshal(p, &e) == nil {
			a.exit = &e
		}
		return "", nil, io.EOF
	}
	return "stdout", p, nil
}

// Exit is the container's exit once Next returned io.EOF at it; false when
// the attachment ended otherwise (dropped, the monitor gone).
func (a *Attach) Exit() (Exit, bool) {
	if a.exit == nil {
		return Exit{}, false
	}
	return *a.exit, true
}

// Write sends input to the container's stdin.
func (a *Attach) Write(p []byte) (int, error) { return a.conn.Write(p) }

// CloseWrite ends the input.
func (a *Attach) CloseWrite() error { return a.conn.CloseWrite() }

// Close ends the attachment.
func (a *Attach) Close() error { return a.conn.Close() }

// ExecOptions is an exec to run through the monitor.
type ExecOptions struct {
	ID      string // the exec's ID (hex): names its record file
	Process *specs.Process
	// Which stdio the client takes part in; the others are /dev/null
	// (a terminal's output is read all the same).
	Stdin, Stdout, Stderr bool
	// Record is kept, as JSON, in the exec's record file (ReadExecs).
	Record any
}

// Exec is a running exec's connection: its output, its input, and at the
// end its exit code.
type Exec struct {
	conn *net.UnixConn
	br   *bufio.Reader
	code *int
}

// Exec runs a process in the container, as the monitor's child, and
// returns its connection and pid. The error of a failed start is runc's
// message.
func (c *Client) Exec(ctx context.Context, opts ExecOptions) (*Exec, int, error) {
	proc, err := json.Marshal(opts.Process)
	if err != nil {
		return nil, 0, err
	}
	record, err := json.Marshal(opts.Record)
	if err != nil {
		return nil, 0, err
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, 0, err
	}
	req := request{Op: opExec, ExecID: opts.ID, Process: proc, Record: record, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr}
	if err := sendRequest(conn, req); err != nil {
		conn.Close()
		return nil, 0, err
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	var r reply
	if err := readReply(br, &r); err != nil {
		conn.Close()
		return nil, 0, err
	}
	if r.Error != "" {
		conn.Close()
		return nil, 0, errors.New(r.Error)
	}
	return &Exec{conn: conn, br: br}, r.Pid, nil
}

// Next returns the next chunk of output ("stdout" or "stderr"); io.EOF at
// the end, when ExitCode has the code (or the monitor went away).
func (x *Exec) Next() (stream string, p []byte, err error) {
	for {
		s, p, err := readFrame(x.br)
		if err != nil {
			return "", nil, err
		}
		switch s {
		case streamExit:
			var e ExecExit
			if json.Unmarshal(p, &e) == nil {
				x.code = &e.Code
			}
			return "", nil, io.EOF
		case streamErr:
			return "stderr", p, nil
		default:
			return "stdout", p, nil
		}
	}
}

// ExitCode is the exit code, once Next returned io.EOF; ok is false when
// the monitor went away before the exec ended.
func (x *Exec) ExitCode() (code int, ok bool) {
	if x.code == nil {
		return 0, false
	}
	return *x.code, true
}

// Write sends input to the exec's stdin.
func (x *Exec) Write(p []byte) (int, error) { return x.conn.Write(p) }

// CloseWrite ends the input: without a terminal the exec's stdin closes.
func (x *Exec) CloseWrite() error { return x.conn.CloseWrite() }

// Close ends the connection (the exec runs on).
func (x *Exec) Close() error { return x.conn.Close() }

// ExecWait returns the exit code of exec id once it has exited.
func (c *Client) ExecWait(ctx context.Context, id string) (int, error) {
	var r reply
	if err := c.call(ctx, request{Op: opExecWait, ExecID: id}, &r); err != nil {
		return 0, err
	}
	if r.Exit == nil {
		return 0, errdefs.ErrUnavailable.WithMessage("the monitor gave no exit for exec " + id)
	}
	return r.Exit.Code, nil
}

// ResizeExec sets the size of exec id's terminal.
func (c *Client) ResizeExec(ctx context.Context, id string, height, width uint16) error {
	return c.call(ctx, request{Op: opResize, ExecID: id, Height: height, Width: width}, &reply{})
}
