package daemon

import (
	"context"
	"syscall"
	"time"

	"github.com/gantry/gantry/monitor"
)

// deleteLeftoverStates deletes the runtime states a previous gantryd left:
// those of containers that exited while it was down or going down (their
// deletion runs in the background), and those of processes that are no
// container's, which are build steps (RUN) whose gantryd was killed: a
// step's process would otherwise run on for good, in its cgroup, on a
// snapshot no longer mounted. Containers, and the unrecorded ones a live
// monitor watches, are left to restore.
func (d *Daemon) deleteLeftoverStates(ctx context.Context, live map[string]*monitor.Client, stale map[string]monitorFault) {
	states, err := d.runtime.List(ctx)
	if err != nil {
		d.log.Warn("list runtime states", "error", err)
		return
	}
	for _, st := range states {
		if st.Status == "stopped" {
			d.runtime.Delete(ctx, st.ID, true)
			continue
		}
		if _, err := d.containers.Get(st.ID); err == nil || live[st.ID] != nil {
			continue
		}
		if _, ok := stale[st.ID]; ok {
			continue
		}
		d.log.Warn("killing a build step a previous gantryd left running", "id", st.ID, "pid", st.Pid)
		d.runtime.Kill(ctx, st.ID, syscall.SIGKILL, true)
		waitGone(st.Pid, 5*time.Second)
		if err := d.runtime.Delete(ctx, st.ID, true); err != nil {
			d.log.Warn("delete runtime state", "id", st.ID, "error", err)
		}
	}
}
