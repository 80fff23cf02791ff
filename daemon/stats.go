package daemon

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"

	gcontainer "github.com/gantry/gantry/container"
)

// statsInterval is the time between two samples of a stats stream, and
// between the two samples a single non-one-shot answer is made of.
const statsInterval = time.Second

// ContainerStats implements GET /containers/{name}/stats. With stream, the
// channel yields a sample every second until ctx ends, each carrying the
// previous one's CPU figures as PreCPUStats; without it, one sample: at
// once with oneShot (no previous figures), else a second after a first one,
// so that CPU usage can be computed. A container that is not running yields
// zeroed samples with only its name and ID, as dockerd's.
func (d *Daemon) ContainerStats(ctx context.Context, name string, stream, oneShot bool) (<-chan *container.StatsResponse, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return nil, err
	}
	out := make(chan *container.StatsResponse)
	go func() {
		defer close(out)
		prev := d.statsSample(ctx, c)
		if !stream && !oneShot {
			if !sleepCtx(ctx, statsInterval) {
				return
			}
			prev = withPrevious(d.statsSample(ctx, c), prev)
		}
		for {
			select {
			case out <- prev:
			case <-ctx.Done():
				return
			}
			if !stream || !sleepCtx(ctx, statsInterval) {
				return
			}
			prev = withPrevious(d.statsSample(ctx, c), prev)
		}
	}()
	return out, nil
}

// statsSample samples c's resource usage: zeroed when it does not run.
func (d *Daemon) statsSample(ctx context.Context, c *gcontainer.Container) *container.StatsResponse {
	st := c.Snapshot()
	var s *container.StatsResponse
	if st.IsRunning() {
		var err error
		if s, err = d.runtime.Stats(ctx, c.ID); err != nil {
			d.log.Debug("container stats", "container", c.ID, "error", err)
		}
	}
	if s == nil {
		s = &container.StatsResponse{}
	} else if !c.HostConfig.NetworkMode.IsHost() {
		s.Networks = netDevStats(st.Pid)
	}
	s.Name, s.ID = "/"+c.Name, c.ID
	return s
}

// withPrevious sets s's previous-sample fields from prev.
func withPrevious(s, prev *container.StatsResponse) *container.StatsResponse {
	s.PreRead, s.PreCPUStats = prev.Read, prev.CPUStats
	return s
}

// sleepCtx sleeps for d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
