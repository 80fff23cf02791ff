package daemon

import (
	"fmt"

	"github.com/containerd/errdefs"

	gcontainer "github.com/gantry/gantry/container"
)

// sharedPIDNS is the PID namespace a container started with
// --pid container:<name> (compose pid: service:x) joins: that running
// container's, in dockerd's words when it is missing or stopped; "" for
// any other PID mode.
func (d *Daemon) sharedPIDNS(c *gcontainer.Container) (string, error) {
	mode := c.HostConfig.PidMode
	if !mode.IsContainer() {
		return "", nil
	}
	ref := mode.Container()
	other, err := d.containers.Get(ref)
	if err != nil {
		return "", fmt.Errorf("cannot join PID of a non running container: %s: %w", ref, err)
	}
	if other.ID == c.ID {
		return "", errdefs.ErrInvalidArgument.WithMessage("cannot join own PID namespace")
	}
	st := other.Snapshot()
	if !st.IsRunning() {
		return "", errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", other.ID))
	}
	return fmt.Sprintf("/proc/%d/ns/pid", st.Pid), nil
}
