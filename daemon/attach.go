package daemon

import (
	"context"
	"errors"
	"io"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/term"

	"github.com/gantry/gantry/api"
	gcontainer "github.com/gantry/gantry/container"
)

const defaultDetachKeys = "ctrl-p,ctrl-q"

// AttachContainer implements POST /containers/{name}/attach: the client gets
// the output of the container's next (or current) run, and its input goes
// to the container's stdin. It returns when that run ends, when the client
// types the detach keys, or when ctx ends.
func (d *Daemon) AttachContainer(ctx context.Context, name string, opts api.AttachOptions) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	// A stopped container is attached to for its next run, as dockerd does:
	// `docker start -a` attaches before it starts (only the docker CLI's
	// attach verb refuses a stopped container).
	st := c.Snapshot()
	keys := opts.DetachKeys
	if keys == "" {
		keys = defaultDetachKeys
	}
	detach, err := term.ToBytes(keys)
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage("invalid detach keys (" + keys + "): " + err.Error())
	}
	// Register the end condition before the streams, so that a run that
	// ends right after the upgrade is not missed.
	cond := container.WaitConditionNextExit
	if st.IsRunning() {
		cond = container.WaitConditionNotRunning
	}
	ended := c.Wait(ctx, cond)
	// Upgrade and subscribe under the container's lock: the client may send
	// start as soon as it sees the upgrade, and start takes the lock too, so
	// no output is produced before the subscription exists.
	c.Lock()
	stdin, stdout, stderr, err := opts.GetStreams(!c.Config.Tty)
	if err != nil {
		c.Unlock()
		return err
	}
	if !opts.Stdout {
		stdout = nil
	}
	if !opts.Stderr {
		stderr = nil
	}
	var dropped <-chan struct{}
	unsubscribe := func() {}
	if opts.Stream {
		unsubscribe, dropped = c.Streams.Subscribe(stdout, stderr)
		defer func() { unsubscribe() }() // once the rest of the output is written
	}
	c.Unlock()
	d.containerEvent(c, evtypes.ActionAttach, nil)
	if stdin != nil {
		defer stdin.Close() // wakes the stdin copier
	}
	if opts.Logs {
		for m := range c.Log.Read(ctx, gcontainer.ReadOptions{Stdout: opts.Stdout, Stderr: opts.Stderr, Tail: -1}) {
			w := stdout
			if m.Stream == "stderr" {
				w = stderr
			}
			if w != nil {
				w.Write(m.Line)
			}
		}
	}
	if !opts.Stream {
		return nil
	}
	detached := make(chan struct{})
	if opts.Stdin && stdin != nil {
		go func() {
			in := term.NewEscapeProxy(stdin, detach)
			err := c.Streams.CopyStdin(in)
			var esc term.EscapeError
			if errors.As(err, &esc) {
				d.containerEvent(c, evtypes.ActionDetach, nil)
				close(detached)
			}
		}()
	} else if stdin != nil {
		go io.Copy(io.Discard, stdin)
	}
	select {
	case <-ended:
	case <-detached:
	case <-ctx.Done():
	case <-dropped:
		// The client read too slowly: it is let go, the container runs on.
		unsubscribe()
		w := stderr
		if w == nil {
			w = stdout
		}
		if w != nil {
			w.Write([]byte("gantry: attach: output dropped: the client did not keep up\n"))
		}
	}
	return nil
}

// ContainerLogs implements GET /containers/{name}/logs.
func (d *Daemon) ContainerLogs(ctx context.Context, name string, opts api.LogsOptions) (<-chan api.LogMessage, bool, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return nil, false, err
	}
	if c.HostConfig.LogConfig.Type == "none" {
		return nil, false, errdefs.ErrInvalidArgument.WithMessage("configured logging driver does not support reading")
	}
	ro := gcontainer.ReadOptions{Stdout: opts.Stdout, Stderr: opts.Stderr, Tail: opts.Tail, Since: opts.Since, Until: opts.Until}
	if opts.Follow {
		ro.Follow = c.Wait(ctx, container.WaitConditionNotRunning)
	}
	msgs := c.Log.Read(ctx, ro)
	out := make(chan api.LogMessage)
	go func() {
		defer close(out)
		for m := range msgs {
			select {
			case out <- api.LogMessage{Stream: m.Stream, Time: m.Time, Line: m.Line}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, c.Config.Tty, nil
}
