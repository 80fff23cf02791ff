package daemon

import (
	"context"
	"time"

	gcontainer "github.com/gantry/gantry/container"
)

// restartState is the restart manager of one container, as dockerd's: the
// back-off, and the restarts its policy made since the last start asked
// for (on-failure's retries). It lives in memory: a new gantryd begins
// anew, as a new dockerd.
type restartState struct {
	backoff gcontainer.Backoff
	count   int
}

// restartOf returns the restart state of container id.
func (d *Daemon) restartOf(id string) *restartState {
	d.procMu.Lock()
	defer d.procMu.Unlock()
	rs := d.restarts[id]
	if rs == nil {
		rs = &restartState{}
		d.restarts[id] = rs
	}
	return rs
}

// resetRestarts forgets the back-off and count of id (a start asked for,
// or its removal).
func (d *Daemon) resetRestarts(id string) {
	d.procMu.Lock()
	delete(d.restarts, id)
	d.procMu.Unlock()
}

// restartPerPolicy decides, once c's exit at exitedAt is recorded, whether
// its restart policy starts it again, and schedules that start after the
// back-off. A stop by hand, or gantryd going down, ends the loop. The
// caller holds c.Lock.
func (d *Daemon) restartPerPolicy(c *gcontainer.Container, exitedAt time.Time) {
	if d.shuttingDown.Load() || c.ManuallyStopped || c.State.Status != gcontainer.Exited {
		return
	}
	rs := d.restartOf(c.ID)
	if !gcontainer.ShouldRestart(c.HostConfig.RestartPolicy, c.State.ExitCode, false, rs.count) {
		return
	}
	if exitedAt.IsZero() {
		exitedAt = time.Now()
	}
	wait := rs.backoff.Next(exitedAt.Sub(c.State.StartedAt))
	rs.count++
	c.SetRestarting()
	d.saveLocked(c)
	time.AfterFunc(wait, func() { d.restartNow(c) })
}

// restartNow starts c again if it still waits for its restart (a stop,
// kill or removal meanwhile called it off).
func (d *Daemon) restartNow(c *gcontainer.Container) {
	c.Lock()
	defer c.Unlock()
	if c.State.Status != gcontainer.Restarting || d.shuttingDown.Load() {
		return
	}
	if err := c.WaitCopy(context.Background()); err != nil {
		return
	}
	if err := d.startLocked(context.Background(), c); err != nil {
		d.log.Warn("restart container per its policy", "container", c.ID, "error", err)
	}
}

// cancelRestart calls off the pending restart of c, if it has one, as a
// stop by hand; it reports whether it did.
func (d *Daemon) cancelRestart(c *gcontainer.Container) bool {
	c.Lock()
	defer c.Unlock()
	if c.State.Status != gcontainer.Restarting {
		return false
	}
	d.stoppedByHand(c)
	c.CancelRestart()
	d.saveLocked(c)
	return true
}

// stoppedByHand records a stop or kill asked for (not one of gantryd's
// shutdown): the restart policy does not start c again, and unless-stopped
// not even at gantryd's next start. The caller holds c.Lock.
func (d *Daemon) stoppedByHand(c *gcontainer.Container) {
	if !d.shuttingDown.Load() {
		c.ManuallyStopped = true
	}
}

// restartAtStart starts, once gantryd is up, the containers that are not
// running and that their policy keeps up: always, unless-stopped when not
// stopped by hand, on-failure after a failure (one that ran when gantryd
// went down and whose monitor went too, as after a reboot, among them).
// Containers never started are left alone.
func (d *Daemon) restartAtStart(ctx context.Context) {
	for _, c := range d.containers.List() {
		c.Lock()
		st := c.State
		due := (st.Status == gcontainer.Exited || st.Status == gcontainer.Restarting) && !st.StartedAt.IsZero() &&
			gcontainer.ShouldRestart(c.HostConfig.RestartPolicy, st.ExitCode, c.ManuallyStopped, 0)
		if due {
			if st.Status == gcontainer.Exited {
				c.RestartCount++
			}
			if err := d.startLocked(ctx, c); err != nil {
				d.log.Warn("start container per its restart policy", "container", c.ID, "error", err)
			}
		}
		c.Unlock()
	}
}

// saveLocked saves c's record, logging a failure. The caller holds c.Lock.
func (d *Daemon) saveLocked(c *gcontainer.Container) {
	if err := d.containers.Save(c); err != nil {
		d.log.Warn("save container", "container", c.ID, "error", err)
	}
}
