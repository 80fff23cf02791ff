package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// DeleteExited removes the runtime state of container id once its init
// process has been reaped (Wait returned): its cgroups and runc's state
// directory. That is all `runc delete` does for a stopped container, done
// here without starting runc (about 10 ms of CPU a container). When the
// state is not what it expects, or a cgroup is still busy (a process of the
// container not yet gone), it falls back to `runc delete --force`. A
// container runc does not know is not an error.
func (r *Runc) DeleteExited(ctx context.Context, id string) error {
	if id == "" || filepath.Base(id) != id {
		return r.Delete(ctx, id, true)
	}
	dir := filepath.Join(r.root, id)
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var st struct {
		Pid         int               `json:"init_process_pid"`
		CgroupPaths map[string]string `json:"cgroup_paths"`
	}
	if err != nil || json.Unmarshal(data, &st) != nil || st.Pid <= 0 || unix.Kill(st.Pid, 0) == nil {
		return r.Delete(ctx, id, true) // unreadable, or the init is still there
	}
	for _, p := range st.CgroupPaths {
		if err := unix.Rmdir(p); err != nil && !errors.Is(err, unix.ENOENT) {
			return r.Delete(ctx, id, true)
		}
	}
	return os.RemoveAll(dir)
}
