package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/cri"
	"github.com/gantry/gantry/daemon"
)

// criSocketPath is where the CRI is served: --cri-socket, else
// cri.sock in the exec root.
func (o *options) criSocketPath() string {
	if o.criSocket != "" {
		return o.criSocket
	}
	return filepath.Join(o.execRoot, "cri.sock")
}

// serveCRI serves the CRI's runtime and image services on their socket
// (owner-only: the kubelet runs as root) until stop is called. A streaming
// server that cannot listen fails the start when its address was given;
// at the default address (a host without loopback) the CRI runs without
// it, its exec, attach and port-forward answering Unavailable, and the
// log says why. Without live restore, stop also stops the pods (after
// the daemon's shutdown stopped their containers).
func serveCRI(ctx context.Context, o *options, streamAddressGiven bool, d *daemon.Daemon, log *slog.Logger) (stop func(), err error) {
	svc, err := cri.New(ctx, cri.Config{
		Root: filepath.Join(o.dataRoot, "cri"), RunDir: filepath.Join(o.execRoot, "cri"),
		Monitor: d.MonitorBinary(), ImageFS: filepath.Join(o.dataRoot, "layers"),
		CNIConfDir: o.cniConfDir, CNIBinDirs: o.cniBinDirs, Log: log,
	}, d)
	if err != nil {
		return nil, fmt.Errorf("cri: %w", err)
	}
	path := o.criSocketPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("--cri-socket %s: another daemon is listening there", path)
	}
	os.Remove(path)
	old := unix.Umask(0o177)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("--cri-socket %s: %w", path, err)
	}
	stopStreaming, err := svc.StartStreaming(o.criStreamAddress)
	if err != nil {
		if streamAddressGiven {
			l.Close()
			return nil, fmt.Errorf("--cri-stream-address %s: %w", o.criStreamAddress, err)
		}
		log.Error("the CRI's streaming server cannot listen; exec, attach and port-forward through the CRI are unavailable", "address", o.criStreamAddress, "error", err)
		stopStreaming = func() {}
	}
	srv := svc.NewServer()
	go srv.Serve(l)
	log.Info("CRI listening", "socket", "unix://"+path)
	return func() {
		srv.Stop()
		stopStreaming()
		if !o.liveRestore { // the daemon stopped the containers: the pods go too
			svc.StopPods(context.WithoutCancel(ctx))
		}
	}, nil
}
