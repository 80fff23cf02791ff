package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sharesPIDNamespace reports whether the container of bundle joins a PID
// namespace it does not own (a pod's, or --pid container:<name>): its
// init's exit then does not end its other processes, as the exit of a PID
// namespace's init does.
func sharesPIDNamespace(bundle string) bool {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return false
	}
	var spec specs.Spec
	if json.Unmarshal(b, &spec) != nil || spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace && ns.Path != "" {
			return true
		}
	}
	return false
}

// killAllOnExit kills what is left of the container (every process of its
// cgroup) once its init has exited, as containerd's shim does for a
// container sharing a PID namespace: a background process would otherwise
// live on, holding the output open, and the exit would never be reported.
// It waits without reaping (WNOWAIT): the init's exit status stays for
// Wait, which may also reap it first.
func (s *server) killAllOnExit(ctx context.Context, pid int) {
	for {
		// ECHILD too means the init has exited: Wait reaped it first.
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err := s.runc.Kill(ctx, s.cfg.ID, unix.SIGKILL, true); err != nil {
		s.log.Warn("kill the rest of the container after its init exited", "error", err)
	}
}
