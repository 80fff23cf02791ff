package container

import (
	"fmt"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// The defaults of a healthcheck, as dockerd's.
const (
	HealthDefaultInterval      = 30 * time.Second
	HealthDefaultTimeout       = 30 * time.Second
	HealthDefaultStartInterval = 5 * time.Second
	HealthDefaultRetries       = 3
	// HealthMaxOutput bounds the output kept of one probe (dockerd's 4096
	// bytes); HealthMaxLog the probes kept in State.Health.Log.
	HealthMaxOutput = 4096
	HealthMaxLog    = 5
	healthMinimum   = time.Millisecond
)

// CheckHealthcheck refuses what dockerd refuses of a healthcheck, in its
// words: durations below 1 ms (0 is the default), negative retries.
func CheckHealthcheck(h *container.HealthConfig) error {
	if h == nil {
		return nil
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", h.Interval}, {"Timeout", h.Timeout}, {"StartPeriod", h.StartPeriod}, {"StartInterval", h.StartInterval}} {
		if d.v != 0 && d.v < healthMinimum {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s in Healthcheck cannot be less than %s", d.name, healthMinimum))
		}
	}
	if h.Retries < 0 {
		return errdefs.ErrInvalidArgument.WithMessage("Retries in Healthcheck cannot be negative")
	}
	return nil
}

// HealthProbe is the probe command of a container's healthcheck, nil when
// it has none (no Test, or NONE): CMD runs its arguments, CMD-SHELL its
// string through the container's shell (default /bin/sh -c).
func HealthProbe(cfg *container.Config) []string {
	h := cfg.Healthcheck
	if h == nil || len(h.Test) == 0 {
		return nil
	}
	switch h.Test[0] {
	case "CMD":
		if len(h.Test) > 1 {
			return h.Test[1:]
		}
	case "CMD-SHELL":
		shell := cfg.Shell
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		return append(append([]string{}, shell...), strings.Join(h.Test[1:], " "))
	}
	return nil
}

// HealthTiming is a healthcheck's timing with dockerd's defaults filled.
type HealthTiming struct {
	Interval, Timeout, StartPeriod, StartInterval time.Duration
	Retries                                       int
}

// Timing returns h's timing with the defaults for what it leaves at zero.
func Timing(h *container.HealthConfig) HealthTiming {
	t := HealthTiming{Interval: HealthDefaultInterval, Timeout: HealthDefaultTimeout, StartInterval: HealthDefaultStartInterval, Retries: HealthDefaultRetries}
	if h == nil {
		return t
	}
	if h.Interval > 0 {
		t.Interval = h.Interval
	}
	if h.Timeout > 0 {
		t.Timeout = h.Timeout
	}
	if h.StartInterval > 0 {
		t.StartInterval = h.StartInterval
	}
	if h.Retries > 0 {
		t.Retries = h.Retries
	}
	t.StartPeriod = h.StartPeriod
	return t
}

// NextProbe is the wait before the next probe: StartInterval while the
// container is starting within its start period, else Interval.
func (t HealthTiming) NextProbe(h *container.Health, started time.Time) time.Duration {
	if time.Since(started) < t.StartPeriod && h != nil && h.Status == container.Starting {
		return t.StartInterval
	}
	return t.Interval
}

// ApplyProbe records a probe's result in h as dockerd does: a success
// makes it healthy; a failure counts in the failing streak (not while
// starting within the start period) and makes it unhealthy at Retries in
// a row. The log keeps the last HealthMaxLog results.
func (t HealthTiming) ApplyProbe(h *container.Health, r *container.HealthcheckResult, started time.Time) {
	if r.ExitCode == 0 {
		h.FailingStreak = 0
		h.Status = container.Healthy
	} else if h.Status != container.Starting || r.Start.Sub(started) >= t.StartPeriod {
		h.FailingStreak++
		if h.FailingStreak >= t.Retries {
			h.Status = container.Unhealthy
		}
	}
	h.Log = append(h.Log, r)
	if len(h.Log) > HealthMaxLog {
		h.Log = h.Log[len(h.Log)-HealthMaxLog:]
	}
}

// HealthText is the health part of ps' status: "health: starting",
// "healthy" or "unhealthy".
func HealthText(h *container.Health) string {
	if h.Status == container.Starting {
		return "health: starting"
	}
	return string(h.Status)
}

// SetHealth replaces c's health with h (a new value, so that views and
// snapshots taken before keep theirs) and publishes a new View, so that
// inspect and ps see each probe's result. The caller holds Lock.
func (c *Container) SetHealth(h *container.Health) {
	c.State.Health = h
	c.publish(nil)
}
