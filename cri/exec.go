package cri

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/gantry/gantry/api"
)

// maxExecSyncOutput bounds what ExecSync keeps of each stream, as the
// kubelet's probes read little (containerd's bound is the same 16 MiB).
const maxExecSyncOutput = 16 << 20

// capped keeps the first n bytes written to it and drops the rest.
type capped struct {
	buf bytes.Buffer
	n   int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.n - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// ExecSync runs a command in a running container and returns its output
// and exit code; past the timeout the command is killed and the call
// fails with DeadlineExceeded.
func (s *Service) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	id, err := s.containerID(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if len(req.GetCmd()) == 0 {
		return nil, invalid("cmd is empty")
	}
	execID, err := s.b.CreateExec(ctx, id, container.ExecCreateRequest{Cmd: req.GetCmd(), AttachStdout: true, AttachStderr: true})
	if err != nil {
		if errdefs.IsConflict(err) {
			return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("container %s is not running", id))
		}
		return nil, err
	}
	if t := req.GetTimeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	stdout, stderr := &capped{n: maxExecSyncOutput}, &capped{n: maxExecSyncOutput}
	err = s.b.StartExec(ctx, execID, api.ExecStartOptions{GetStreams: func(bool) (io.ReadCloser, io.Writer, io.Writer, error) {
		return io.NopCloser(strings.NewReader("")), stdout, stderr, nil
	}})
	if ctx.Err() != nil {
		if x, ierr := s.b.ExecInspect(context.WithoutCancel(ctx), execID); ierr == nil && x.Running && x.Pid > 0 {
			syscall.Kill(x.Pid, syscall.SIGKILL)
		}
		return nil, fmt.Errorf("command %q timed out after %ds: %w", strings.Join(req.GetCmd(), " "), req.GetTimeout(), context.DeadlineExceeded)
	}
	if err != nil {
		return nil, err
	}
	x, err := s.b.ExecInspect(ctx, execID)
	if err != nil {
		return nil, err
	}
	code := -1
	if x.ExitCode != nil {
		code = *x.ExitCode
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout.buf.Bytes(), Stderr: stderr.buf.Bytes(), ExitCode: int32(code)}, nil
}
