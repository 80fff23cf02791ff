package daemon

import (
	"context"
	"fmt"
	"syscall"

	"github.com/containerd/errdefs"
	evtypes "github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"

	gcontainer "github.com/gantry/gantry/container"
)

// PauseContainer implements POST /containers/{name}/pause: every process
// of the container is frozen (the cgroup freezer, v1 or v2, through runc
// pause). A container that is not running or already paused is a
// conflict, with dockerd's words.
func (d *Daemon) PauseContainer(ctx context.Context, name string) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	switch c.State.Status {
	case gcontainer.Paused:
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is already paused", c.ID))
	case gcontainer.Running:
	default:
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not running", c.ID))
	}
	if err := d.runtime.Pause(context.WithoutCancel(ctx), c.ID); err != nil {
		return fmt.Errorf("cannot pause container %s: %w", c.ID, err)
	}
	c.SetPaused(true)
	d.saveContainer(c)
	d.containerEvent(c, evtypes.ActionPause, nil)
	return nil
}

// UnpauseContainer implements POST /containers/{name}/unpause; a container
// that is not paused is a conflict, with dockerd's words.
func (d *Daemon) UnpauseContainer(ctx context.Context, name string) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	if c.State.Status != gcontainer.Paused {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not paused", c.ID))
	}
	if err := d.runtime.Resume(context.WithoutCancel(ctx), c.ID); err != nil {
		return fmt.Errorf("cannot unpause container %s: %w", c.ID, err)
	}
	c.SetPaused(false)
	d.saveContainer(c)
	d.containerEvent(c, evtypes.ActionUnPause, nil)
	return nil
}

// saveContainer persists c's record; a failure is logged, as the state in
// memory is the truth until the next save. The caller holds c.Lock.
func (d *Daemon) saveContainer(c *gcontainer.Container) {
	if err := d.containers.Save(c); err != nil {
		d.log.Warn("save container", "container", c.ID, "error", err)
	}
}

// thawForStop resumes a paused container after it was sent SIGKILL or its
// stop signal, as dockerd does, so that the signal is delivered and the
// container can stop; other signals wait for an unpause. The caller holds
// c.Lock.
func (d *Daemon) thawForStop(ctx context.Context, c *gcontainer.Container, sig syscall.Signal) {
	if c.State.Status != gcontainer.Paused {
		return
	}
	stopSig, err := parseSignal(c.Config.StopSignal)
	if c.Config.StopSignal == "" || err != nil {
		stopSig = unix.SIGTERM
	}
	if sig != unix.SIGKILL && sig != stopSig {
		return
	}
	if err := d.runtime.Resume(context.WithoutCancel(ctx), c.ID); err != nil {
		d.log.Warn("unpause container to stop it", "container", c.ID, "error", err)
		return
	}
	c.SetPaused(false)
	d.saveContainer(c)
}
