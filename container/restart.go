package container

import (
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// CheckRestartPolicy refuses what dockerd refuses of a restart policy, in
// its words: an unknown name, a negative retry count, a retry count with
// a policy other than on-failure, and any policy with AutoRemove.
func CheckRestartPolicy(p container.RestartPolicy, autoRemove bool) error {
	switch p.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped, container.RestartPolicyDisabled:
		if p.MaximumRetryCount != 0 {
			msg := "invalid restart policy: maximum retry count can only be used with 'on-failure'"
			if p.MaximumRetryCount < 0 {
				msg += " and cannot be negative"
			}
			return errdefs.ErrInvalidArgument.WithMessage(msg)
		}
	case container.RestartPolicyOnFailure:
		if p.MaximumRetryCount < 0 {
			return errdefs.ErrInvalidArgument.WithMessage("invalid restart policy: maximum retry count cannot be negative")
		}
	case "": // clients before Docker 25 send an empty name for none
	default:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid restart policy: unknown policy '%s'; use one of '%s', '%s', '%s', or '%s'",
			p.Name, container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyOnFailure, container.RestartPolicyUnlessStopped))
	}
	if autoRemove && p.Name != "" && p.Name != container.RestartPolicyDisabled {
		return errdefs.ErrInvalidArgument.WithMessage("can't create 'AutoRemove' container with restart policy")
	}
	return nil
}

// ShouldRestart is dockerd's restart manager's decision after an exit:
// always restarts, unless-stopped unless stopped by hand, on-failure after
// a non-zero code while the retries (MaximumRetryCount, 0 for no bound)
// last. A stop by hand (docker stop, kill) is checked by the caller for a
// running loop; here it only holds unless-stopped back, as at a daemon's
// start.
func ShouldRestart(p container.RestartPolicy, exitCode int, manuallyStopped bool, restartCount int) bool {
	switch p.Name {
	case container.RestartPolicyAlways:
		return true
	case container.RestartPolicyUnlessStopped:
		return !manuallyStopped
	case container.RestartPolicyOnFailure:
		return exitCode != 0 && (p.MaximumRetryCount == 0 || restartCount < p.MaximumRetryCount)
	}
	return false
}

// The back-off of dockerd's restart manager: 100 ms, doubled at every
// restart up to a minute, and back to 100 ms after a run of 10 s or more.
const (
	backoffFirst = 100 * time.Millisecond
	backoffMax   = time.Minute
	backoffReset = 10 * time.Second
)

// Backoff is the wait before a container's next automatic restart.
type Backoff struct{ last time.Duration }

// Next returns the wait before the restart that follows a run of ran.
func (b *Backoff) Next(ran time.Duration) time.Duration {
	if ran >= backoffReset {
		b.last = 0
	}
	switch {
	case b.last == 0:
		b.last = backoffFirst
	case b.last < backoffMax:
		b.last *= 2
	}
	b.last = min(b.last, backoffMax)
	return b.last
}

// SetRestarting records that the container exited (SetExited first) and
// is to be started again by its restart policy. The caller holds Lock.
func (c *Container) SetRestarting() {
	c.State.Status = Restarting
	c.RestartCount++
	c.notify()
}

// CancelRestart ends a pending automatic restart: the container stays
// exited. The caller holds Lock.
func (c *Container) CancelRestart() {
	if c.State.Status == Restarting {
		c.State.Status = Exited
		c.notify()
	}
}
