package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Exec starts process p in the running container id (`runc exec --detach`)
// and returns it once it runs. runc exits right after the start, so the
// process is reparented to the calling process, the child subreaper: the
// caller must Wait for it, exactly as for Run. With p.Terminal the process
// gets a new pty (Process.Console) and stdio is ignored.
//
// When runc fails, the error text is runc's own message (for instance
// `exec failed: unable to start container process: exec: "nope": executable
// file not found in $PATH`) and that text never reaches stdio.Stderr; errors
// that StartExitCode maps to 126 or 127 are invalid-argument errors.
func (r *Runc) Exec(ctx context.Context, id string, p *specs.Process, stdio Stdio) (*Process, error) {
	if id == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage("container id is empty")
	}
	if p == nil || len(p.Args) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("exec process has no command")
	}
	dir, err := os.MkdirTemp("", "gantry-exec-")
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	defer os.RemoveAll(dir)
	processPath := filepath.Join(dir, "process.json")
	logPath := filepath.Join(dir, "runc.log")
	pidPath := filepath.Join(dir, "exec.pid")
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode exec process: %w", err)
	}
	if err := os.WriteFile(processPath, data, 0o600); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}

	sub := []string{"exec", "--detach", "--pid-file", pidPath, "--process", processPath}
	proc, runErr := r.launch(ctx, id, sub, logPath, pidPath, p.Terminal, stdio)
	if runErr == nil {
		return proc, nil
	}
	// A process that got as far as running is reparented to us: kill and reap it.
	if pid, err := readPidFile(pidPath); err == nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		_, _ = r.Wait(context.WithoutCancel(ctx), pid)
	}
	return nil, runErr
}
