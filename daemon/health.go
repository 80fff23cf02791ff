package daemon

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"

	gcontainer "github.com/gantry/gantry/container"
)

// startHealthcheck starts the probe loop of c, which just started
// (fresh: its health begins "starting") or was adopted from a previous
// gantryd (its health goes on). The caller holds c.Lock.
func (d *Daemon) startHealthcheck(c *gcontainer.Container, fresh bool) {
	probe := gcontainer.HealthProbe(c.Config)
	if probe == nil {
		c.State.Health = nil
		return
	}
	if fresh || c.State.Health == nil {
		c.State.Health = &container.Health{Status: container.Starting}
	}
	stop := make(chan struct{})
	d.procMu.Lock()
	if old := d.probes[c.ID]; old != nil {
		close(old)
	}
	d.probes[c.ID] = stop
	d.procMu.Unlock()
	go d.probeLoop(c, probe, gcontainer.Timing(c.Config.Healthcheck), c.State.StartedAt, stop)
}

// stopHealthcheck ends the probe loop of c, which exited: its health is
// unhealthy from then on, as dockerd's. The caller holds c.Lock.
func (d *Daemon) stopHealthcheck(c *gcontainer.Container) {
	d.procMu.Lock()
	if stop := d.probes[c.ID]; stop != nil {
		close(stop)
		delete(d.probes, c.ID)
	}
	d.procMu.Unlock()
	if h := c.State.Health; h != nil {
		nh := *h
		nh.Status = container.Unhealthy
		c.State.Health = &nh
	}
}

// probeLoop probes c through an exec at the healthcheck's pace until stop
// is closed, recording each result in c's health, and publishes a
// health_status event at each change.
func (d *Daemon) probeLoop(c *gcontainer.Container, probe []string, t gcontainer.HealthTiming, started time.Time, stop <-chan struct{}) {
	for {
		c.Lock()
		wait := t.NextProbe(c.State.Health, started)
		c.Unlock()
		timer := time.NewTimer(wait)
		select {
		case <-stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		r := d.runProbe(c, probe, t.Timeout, stop)
		c.Lock()
		select {
		case <-stop: // exited meanwhile: the result says nothing of it
			c.Unlock()
			return
		default:
		}
		if c.State.Health == nil {
			c.Unlock()
			return
		}
		h := *c.State.Health
		h.Log = slices.Clone(h.Log)
		before := h.Status
		t.ApplyProbe(&h, r, started)
		c.SetHealth(&h)
		if h.Status != before {
			d.saveLocked(c)
			d.containerEvent(c, evtypes.Action(string(evtypes.ActionHealthStatus)+": "+string(h.Status)), nil)
		}
		c.Unlock()
	}
}

// runProbe runs one probe in c as an exec (with its events, as dockerd's),
// its output kept up to 4096 bytes; one that outlasts timeout counts as a
// failure with dockerd's words.
func (d *Daemon) runProbe(c *gcontainer.Container, probe []string, timeout time.Duration, stop <-chan struct{}) *container.HealthcheckResult {
	r := &container.HealthcheckResult{Start: time.Now()}
	cfg := container.ExecCreateRequest{Cmd: probe, User: c.Config.User, AttachStdout: true, AttachStderr: true}
	e := gcontainer.NewExec(c.ID, cfg)
	d.execs.Add(e)
	defer d.execs.Remove(e.ID)
	d.execEvent(c, evtypes.ActionExecCreate, e.ID, probe)
	out := &cappedBuffer{max: gcontainer.HealthMaxOutput}
	ctx := context.Background()
	if err := e.Begin(); err != nil {
		r.End, r.ExitCode, r.Output = time.Now(), -1, err.Error()
		return r
	}
	streams := execStreams{stdout: out, stderr: out}
	x, err := d.startExec(ctx, c, e, cfg, streams)
	if err != nil {
		e.SetExited(execStartFailed)
		r.End, r.ExitCode, r.Output = time.Now(), -1, err.Error()
		return r
	}
	d.execEvent(c, evtypes.ActionExecStart, e.ID, probe)
	go d.monitorExec(e, x, streams)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-e.Exited():
		r.End = time.Now()
		r.ExitCode, _ = e.ExitCode()
		r.Output = out.String()
	case <-timer.C:
		r.End, r.ExitCode = time.Now(), -1
		r.Output = fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
	case <-stop:
		r.End, r.ExitCode = time.Now(), -1
	}
	return r
}

// cappedBuffer keeps the first max bytes written to it and drops the rest,
// as dockerd's limitedBuffer.
type cappedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// healthStatus is the health ps' filter matches: "none" without a
// healthcheck.
func healthStatus(st gcontainer.State) string {
	if st.Health == nil {
		return string(container.NoHealthcheck)
	}
	return string(st.Health.Status)
}
