package daemon

import (
	"context"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	gcontainer "github.com/gantry/gantry/container"
)

// CreatePodContainer creates a container made through the CRI in its pod
// sandbox (package cri): as CreateContainer, with the pod's namespaces,
// files, cgroup and CRI-format log instead of a network of its own.
func (d *Daemon) CreatePodContainer(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, pod gcontainer.Pod) (string, error) {
	if hc == nil || !hc.NetworkMode.IsNone() && !hc.NetworkMode.IsHost() {
		return "", errdefs.ErrInvalidArgument.WithMessage("a pod's container has the network mode none or host")
	}
	resp, err := d.createContainer(ctx, name, cfg, hc, nil, &pod)
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

// ReopenContainerLog has the monitor of running container name reopen its
// log (the CRI's ReopenContainerLog, after the kubelet renamed the file).
func (d *Daemon) ReopenContainerLog(ctx context.Context, name string) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	d.procMu.Lock()
	cli := d.monitors[c.ID]
	d.procMu.Unlock()
	if cli == nil {
		return errdefs.ErrFailedPrecondition.WithMessage("container " + c.ID + " is not running")
	}
	return cli.ReopenLog(ctx)
}

// MonitorBinary is the gantry-monitor binary, which is also a pod's pause
// process.
func (d *Daemon) MonitorBinary() string { return d.monitorBin }

// PodContainers are the newest views of the containers made through the
// CRI (with a Pod), of pod sandboxID ("" for every pod's), newest first:
// the CRI's ListContainers, which reads no port, mount or network.
func (d *Daemon) PodContainers(sandboxID string) []*gcontainer.View {
	var out []*gcontainer.View
	for _, c := range d.containers.List() {
		v := c.View()
		if v.Pod != nil && (sandboxID == "" || v.Pod.SandboxID == sandboxID) {
			out = append(out, v)
		}
	}
	return out
}

// PodContainer is the newest view of container name (an ID, a unique
// prefix of one, or a name): the CRI's lookup of a container, which
// makes no inspect document.
func (d *Daemon) PodContainer(name string) (*gcontainer.View, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return nil, err
	}
	return c.View(), nil
}
