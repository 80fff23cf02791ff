package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/term"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/gantry/gantry/api"
	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/runtime"
)

const (
	// execStartFailed is the exit code of an exec whose process could not
	// be started, whatever the reason, as dockerd 20.10 records it.
	execStartFailed = 126
	// execOutputGrace is how long an exec's output may stay open after the
	// process exited (a background child holding it), as containerd's shim
	// allows, before the stream is cut.
	execOutputGrace = 2 * time.Second
	// execRetention is how long an exited exec stays inspectable.
	execRetention = 5 * time.Minute
)

// CreateExec implements POST /containers/{name}/exec.
func (d *Daemon) CreateExec(ctx context.Context, name string, cfg container.ExecCreateRequest) (string, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return "", err
	}
	if err := execable(c); err != nil {
		return "", err
	}
	if len(cfg.Cmd) == 0 {
		return "", errdefs.ErrInvalidArgument.WithMessage("No exec command specified")
	}
	if cfg.DetachKeys != "" {
		if _, err := term.ToBytes(cfg.DetachKeys); err != nil {
			return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid escape keys (%s) provided", cfg.DetachKeys))
		}
	}
	e := gcontainer.NewExec(c.ID, cfg)
	d.execs.Add(e)
	return e.ID, nil
}

// execable returns the conflict error, with Docker's text, of a container
// that cannot run an exec.
func execable(c *gcontainer.Container) error {
	switch c.Snapshot().Status {
	case gcontainer.Running:
		return nil
	case gcontainer.Paused:
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is paused, unpause the container before exec", c.ID))
	}
	return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not running", c.ID))
}

// ExecInspect implements GET /exec/{id}/json.
func (d *Daemon) ExecInspect(ctx context.Context, id string) (*container.ExecInspectResponse, error) {
	e, err := d.execs.Get(id)
	if err != nil {
		return nil, err
	}
	resp := e.Inspect()
	return &resp, nil
}

// ResizeExec implements POST /exec/{id}/resize. The client may send it
// while the start is still under way: it waits up to 10 s for the process,
// as dockerd does. An exec without a terminal has nothing to resize.
func (d *Daemon) ResizeExec(ctx context.Context, id string, height, width uint) error {
	e, err := d.execs.Get(id)
	if err != nil {
		return err
	}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-e.Started():
	case <-timer.C:
		return errors.New("timeout waiting for exec session ready")
	case <-ctx.Done():
		return ctx.Err()
	}
	console := e.Console()
	if console == nil {
		return nil
	}
	if err := runtime.Resize(console, uint16(height), uint16(width)); err != nil && e.Console() != nil {
		return err
	}
	return nil
}

// StartExec implements POST /exec/{id}/start. Detached, it returns once the
// process runs. Attached, it takes the client's streams, starts the process
// and returns once the exit code is recorded (after the last output was
// written), the client typed the detach keys, or ctx ended; the process
// keeps running in the last two cases. A start that fails records exit code
// 126.
func (d *Daemon) StartExec(ctx context.Context, id string, opts api.ExecStartOptions) error {
	e, err := d.execs.Get(id)
	if err != nil {
		return err
	}
	c, err := d.containers.Get(e.ContainerID)
	if err != nil {
		return err
	}
	if err := execable(c); err != nil {
		return err
	}
	if err := e.Begin(); err != nil {
		return err
	}
	cfg := e.Config
	if cfg.ConsoleSize == nil {
		cfg.ConsoleSize = opts.ConsoleSize
	}
	var streams execStreams
	if !opts.Detach {
		stdin, stdout, stderr, err := opts.GetStreams(!opts.Tty)
		if err != nil {
			e.SetExited(execStartFailed)
			return err
		}
		defer stdin.Close()
		streams = execStreams{stdout: stdout, stderr: stderr}
		if cfg.AttachStdin {
			streams.stdin = stdin
		}
		if !cfg.AttachStdout {
			streams.stdout = nil
		}
		if !cfg.AttachStderr {
			streams.stderr = nil
		}
	}
	// The process outlives the request: a client that goes away does not
	// end it.
	pio, err := d.startExec(context.WithoutCancel(ctx), c, e, cfg, streams)
	if err != nil {
		e.SetExited(execStartFailed)
		return err
	}
	go d.monitorExec(e, pio)
	if opts.Detach {
		return nil
	}
	detached := make(chan struct{})
	if streams.stdin != nil {
		go func() {
			if pio.copyStdin(streams.stdin, cfg) {
				close(detached)
			}
		}()
	}
	select {
	case <-e.Exited():
	case <-detached:
	case <-ctx.Done():
	}
	return nil
}

// execStreams are the client's ends of an exec's stdio; nil ones are not
// attached.
type execStreams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// execIO is gantryd's side of a running exec's stdio.
type execIO struct {
	pid     int
	console *os.File   // pty master with a TTY
	stdin   *os.File   // write end of the stdin pipe, without a TTY
	outputs []*os.File // read ends the pumps copy from
	pumps   sync.WaitGroup
}

// startExec runs the exec's process in c with pipes (or a pty) connected to
// streams and starts copying its output.
func (d *Daemon) startExec(ctx context.Context, c *gcontainer.Container, e *gcontainer.Exec, cfg container.ExecCreateRequest, streams execStreams) (*execIO, error) {
	spec, err := readSpec(c)
	if err != nil {
		return nil, err
	}
	pid := c.Snapshot().Pid
	if pid == 0 {
		return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not running", c.ID))
	}
	p, err := gcontainer.ExecProcess(fmt.Sprintf("/proc/%d/root", pid), spec, c.Config, c.HostConfig, cfg)
	if err != nil {
		return nil, err
	}
	pio := &execIO{}
	if cfg.Tty {
		proc, err := d.runtime.Exec(ctx, c.ID, p, runtime.Stdio{})
		if err != nil {
			return nil, execError(err)
		}
		pio.pid, pio.console = proc.Pid, proc.Console
		pio.pump(streams.stdout, proc.Console)
		e.SetRunning(proc.Pid, proc.Console)
		return pio, nil
	}

	var stdio runtime.Stdio
	var theirs []*os.File // the process's ends, closed once runc has them
	defer func() {
		for _, f := range theirs {
			f.Close()
		}
	}()
	fail := func(err error) (*execIO, error) {
		pio.closeOurs()
		return nil, err
	}
	if streams.stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		stdio.Stdin, pio.stdin, theirs = r, w, append(theirs, r)
	}
	for _, out := range []struct {
		dst  io.Writer
		slot **os.File
	}{{streams.stdout, &stdio.Stdout}, {streams.stderr, &stdio.Stderr}} {
		if out.dst == nil {
			continue // /dev/null
		}
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		*out.slot, theirs = w, append(theirs, w)
		pio.outputs = append(pio.outputs, r)
	}
	proc, err := d.runtime.Exec(ctx, c.ID, p, stdio)
	if err != nil {
		return fail(execError(err))
	}
	pio.pid = proc.Pid
	i := 0
	for _, dst := range []io.Writer{streams.stdout, streams.stderr} {
		if dst != nil {
			pio.pump(dst, pio.outputs[i])
			i++
		}
	}
	e.SetRunning(proc.Pid, nil)
	return pio, nil
}

// execError words a runtime failure as dockerd does.
func execError(err error) error {
	return fmt.Errorf("OCI runtime exec failed: %w: unknown", err)
}

// readSpec reads the runtime spec the running container c was started with.
func readSpec(c *gcontainer.Container) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundlePath(c), "config.json"))
	if err != nil {
		return nil, fmt.Errorf("runtime spec of %s: %w", c.ID, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("runtime spec of %s: %w", c.ID, err)
	}
	return &spec, nil
}

// monitorExec waits for the exec's process, lets its output drain (cut
// execOutputGrace after the exit, when a background child still holds it),
// and then records the exit code: a client reading the stream has it all
// when it learns the code. The record is dropped execRetention later.
func (d *Daemon) monitorExec(e *gcontainer.Exec, pio *execIO) {
	code, err := d.runtime.Wait(context.Background(), pio.pid)
	if err != nil {
		d.log.Warn("wait for exec", "exec", e.ID, "container", e.ContainerID, "error", err)
		code = 255
	}
	drained := make(chan struct{})
	go func() {
		pio.pumps.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(execOutputGrace):
		pio.closeOurs() // ends the pumps
		<-drained
	}
	pio.closeOurs()
	e.SetExited(code)
	d.log.Debug("exec exited", "exec", e.ID, "container", e.ContainerID, "exit-code", code)
	time.AfterFunc(execRetention, func() { d.execs.Remove(e.ID) })
}

// pump copies src to dst in the background until src ends. Once dst fails
// (the client went away) the rest is discarded, so the process never
// blocks on a full pipe.
func (pio *execIO) pump(dst io.Writer, src io.Reader) {
	pio.pumps.Add(1)
	go func() {
		defer pio.pumps.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && dst != nil {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					dst = nil
				}
			}
			if err != nil {
				return
			}
		}
	}()
}

// copyStdin copies the client's input to the process until it ends (then
// the process sees EOF on a pipe) and reports whether the client typed the
// detach keys, which only a TTY exec watches for, as dockerd. Input that
// arrives once the process is gone is read and dropped: unread bytes would
// make closing the connection reset it, and the client report an error.
func (pio *execIO) copyStdin(in io.Reader, cfg container.ExecCreateRequest) (detached bool) {
	if pio.console == nil {
		io.Copy(pio.stdin, in)
		pio.stdin.Close()
	} else {
		keys := cfg.DetachKeys
		if keys == "" {
			keys = defaultDetachKeys
		}
		seq, _ := term.ToBytes(keys) // checked at create
		_, err := io.Copy(pio.console, term.NewEscapeProxy(in, seq))
		if errors.As(err, new(term.EscapeError)) {
			return true
		}
	}
	io.Copy(io.Discard, in)
	return false
}

// closeOurs closes gantryd's ends of the process's stdio; idempotent.
func (pio *execIO) closeOurs() {
	for _, f := range append([]*os.File{pio.console, pio.stdin}, pio.outputs...) {
		if f != nil {
			f.Close()
		}
	}
}
