package cri

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/gantry/gantry/api"
)

// The streaming server is the kubelet's own (k8s.io/cri-streaming, the
// package containerd uses): Exec, Attach and PortForward answer a URL on
// it with a one-use token, and the client (the kubelet, or crictl) speaks
// SPDY or WebSocket to that URL. Gantry gives it the three operations
// (streamRuntime); the library relies on nothing else of ours.

// StartStreaming serves the streaming server on addr (host:port, port 0 for
// any) until the returned stop is called.
func (s *Service) StartStreaming(addr string) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("streaming server: %w", err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = l.Addr().String()
	srv, err := streaming.NewServer(cfg, streamRuntime{s})
	if err != nil {
		l.Close()
		return nil, err
	}
	s.stream = srv
	hs := &http.Server{Handler: srv}
	go hs.Serve(l)
	s.log.Info("CRI streaming server listening", "address", "http://"+cfg.Addr)
	return func() { hs.Close() }, nil
}

// Exec answers the URL of an exec on the streaming server.
func (s *Service) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if s.stream == nil {
		return nil, unimplemented("Exec without the streaming server")
	}
	if _, err := s.runningContainer(ctx, req.GetContainerId()); err != nil {
		return nil, err
	}
	if len(req.GetCmd()) == 0 {
		return nil, invalid("cmd is empty")
	}
	return s.stream.GetExec(req)
}

// Attach answers the URL of an attach on the streaming server.
func (s *Service) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if s.stream == nil {
		return nil, unimplemented("Attach without the streaming server")
	}
	if _, err := s.runningContainer(ctx, req.GetContainerId()); err != nil {
		return nil, err
	}
	return s.stream.GetAttach(req)
}

// PortForward answers the URL of a port forward into a ready pod.
func (s *Service) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	if s.stream == nil {
		return nil, unimplemented("PortForward without the streaming server")
	}
	p, err := s.pods.get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	ready := p.Ready
	p.mu.Unlock()
	if !ready {
		return nil, failedPrecondition(fmt.Sprintf("sandbox %s is not ready", p.ID))
	}
	req.PodSandboxId = p.ID
	return s.stream.GetPortForward(req)
}

// runningContainer is the full ID of a running CRI container.
func (s *Service) runningContainer(ctx context.Context, id string) (string, error) {
	full, err := s.containerID(ctx, id)
	if err != nil {
		return "", err
	}
	c, err := s.b.ContainerInspect(ctx, full, false)
	if err != nil {
		return "", err
	}
	if c.State == nil || !c.State.Running {
		return "", failedPrecondition(fmt.Sprintf("container %s is not running", full))
	}
	return full, nil
}

// streamRuntime runs the streaming server's operations on gantryd.
type streamRuntime struct{ s *Service }

func readCloser(in io.Reader) io.ReadCloser {
	if in == nil {
		return io.NopCloser(strings.NewReader(""))
	}
	if rc, ok := in.(io.ReadCloser); ok {
		return rc
	}
	return io.NopCloser(in)
}

func writer(w io.WriteCloser) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Exec runs cmd in the container with the client's streams; a non-zero
// exit is a utilexec.ExitError, which the server sends as the exit code.
func (r streamRuntime) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	execID, err := r.s.b.CreateExec(ctx, id, container.ExecCreateRequest{
		Cmd: cmd, Tty: tty, AttachStdin: in != nil, AttachStdout: out != nil, AttachStderr: errw != nil,
	})
	if err != nil {
		return err
	}
	go func() {
		for size := range resize {
			r.s.b.ResizeExec(ctx, execID, uint(size.Height), uint(size.Width))
		}
	}()
	err = r.s.b.StartExec(ctx, execID, api.ExecStartOptions{Tty: tty, GetStreams: func(bool) (io.ReadCloser, io.Writer, io.Writer, error) {
		return readCloser(in), writer(out), writer(errw), nil
	}})
	if err != nil {
		return err
	}
	x, err := r.s.b.ExecInspect(context.WithoutCancel(ctx), execID)
	if err != nil {
		return err
	}
	if x.ExitCode != nil && *x.ExitCode != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", *x.ExitCode), Code: *x.ExitCode}
	}
	return nil
}

// Attach attaches the client's streams to the container's.
func (r streamRuntime) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	go func() {
		for size := range resize {
			r.s.b.ResizeContainer(ctx, id, uint(size.Height), uint(size.Width))
		}
	}()
	return r.s.b.AttachContainer(ctx, id, api.AttachOptions{
		Stdin: in != nil, Stdout: out != nil, Stderr: errw != nil, Stream: true,
		GetStreams: func(bool) (io.ReadCloser, io.Writer, io.Writer, error) {
			return readCloser(in), writer(out), writer(errw), nil
		},
	})
}

// PortForward connects stream to port on the pod's loopback, from inside
// its network namespace (or the host's, for a pod on the host's network).
func (r streamRuntime) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	p, err := r.s.pods.get(podID)
	if err != nil {
		return err
	}
	if port <= 0 || port > 65535 {
		return invalid(fmt.Sprintf("invalid port %d", port))
	}
	conn, err := dialInNetNS(ctx, p.NetNS, fmt.Sprintf("localhost:%d", port))
	if err != nil {
		return fmt.Errorf("port forward to port %d of pod %s: %w", port, p.ID, err)
	}
	defer conn.Close()
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
