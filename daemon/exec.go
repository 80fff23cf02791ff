package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/term"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/gantry/gantry/api"
	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/monitor"
	"github.com/gantry/gantry/runtime"
)

const (
	// execStartFailed is the exit code of an exec whose process could not
	// be started, whatever the reason, as dockerd 20.10 records it.
	execStartFailed = 126
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
	d.execEvent(c, evtypes.ActionExecCreate, e.ID, cfg.Cmd)
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
	if !e.Config.Tty {
		return nil
	}
	d.procMu.Lock()
	cli := d.monitors[e.ContainerID]
	d.procMu.Unlock()
	if cli == nil {
		return nil // the container stopped meanwhile
	}
	return cli.ResizeExec(ctx, id, uint16(height), uint16(width))
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
	x, err := d.startExec(context.WithoutCancel(ctx), c, e, cfg, streams)
	if err != nil {
		e.SetExited(execStartFailed)
		return err
	}
	d.execEvent(c, evtypes.ActionExecStart, e.ID, cfg.Cmd)
	go d.monitorExec(e, x, streams)
	if opts.Detach {
		return nil
	}
	detached := make(chan struct{})
	if streams.stdin != nil {
		go func() {
			if copyExecStdin(x, streams.stdin, cfg) {
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

// startExec runs the exec's process in c through c's monitor (so that it
// outlives gantryd, as the monitor's child), with pipes (or a pty) for the
// streams the client attached.
func (d *Daemon) startExec(ctx context.Context, c *gcontainer.Container, e *gcontainer.Exec, cfg container.ExecCreateRequest, streams execStreams) (*monitor.Exec, error) {
	spec, err := readSpec(c)
	if err != nil {
		return nil, err
	}
	pid := c.Snapshot().Pid
	d.procMu.Lock()
	cli := d.monitors[c.ID]
	d.procMu.Unlock()
	if pid == 0 || cli == nil {
		return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not running", c.ID))
	}
	p, err := gcontainer.ExecProcess(fmt.Sprintf("/proc/%d/root", pid), spec, c.Config, c.HostConfig, cfg)
	if err != nil {
		return nil, err
	}
	x, xpid, err := cli.Exec(ctx, monitor.ExecOptions{
		ID: e.ID, Process: p, Record: cfg,
		Stdin: streams.stdin != nil, Stdout: streams.stdout != nil, Stderr: streams.stderr != nil,
	})
	if err != nil {
		if !errdefs.IsUnavailable(err) {
			err = runtime.StartError(err.Error())
		}
		return nil, execError(err)
	}
	e.SetRunning(xpid, nil)
	return x, nil
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

// monitorExec copies the exec's output to the client's streams until its
// monitor sends the exit code, which comes after the output drained (cut
// 2 s after the exit when a background child still holds it): a client
// reading the stream has it all when it learns the code. The record is
// dropped execRetention later. A client that fails gets nothing more.
func (d *Daemon) monitorExec(e *gcontainer.Exec, x *monitor.Exec, streams execStreams) {
	stdout, stderr := streams.stdout, streams.stderr
	for {
		stream, p, err := x.Next()
		if err != nil {
			break
		}
		w := &stdout
		if stream == "stderr" {
			w = &stderr
		}
		if *w != nil {
			if _, err := (*w).Write(p); err != nil {
				*w = nil
			}
		}
	}
	x.Close()
	code, ok := x.ExitCode()
	if !ok {
		d.log.Warn("the monitor went away before the exec ended", "exec", e.ID, "container", e.ContainerID)
		code = 255
	}
	e.SetExited(code)
	if c, err := d.containers.Get(e.ContainerID); err == nil {
		d.containerEvent(c, evtypes.ActionExecDie, map[string]string{"execID": e.ID, "exitCode": strconv.Itoa(code)})
	}
	d.log.Debug("exec exited", "exec", e.ID, "container", e.ContainerID, "exit-code", code)
	time.AfterFunc(execRetention, func() { d.execs.Remove(e.ID) })
}

// copyExecStdin copies the client's input to the process until it ends (then
// the process sees EOF on a pipe) and reports whether the client typed the
// detach keys, which only a TTY exec watches for, as dockerd. Input that
// arrives once the process is gone is read and dropped: unread bytes would
// make closing the connection reset it, and the client report an error.
func copyExecStdin(x *monitor.Exec, in io.Reader, cfg container.ExecCreateRequest) (detached bool) {
	if !cfg.Tty {
		io.Copy(x, in)
		x.CloseWrite()
	} else {
		keys := cfg.DetachKeys
		if keys == "" {
			keys = defaultDetachKeys
		}
		seq, _ := term.ToBytes(keys) // checked at create
		_, err := io.Copy(x, term.NewEscapeProxy(in, seq))
		if errors.As(err, new(term.EscapeError)) {
			return true
		}
	}
	io.Copy(io.Discard, in)
	return false
}
