package container

import (
	"fmt"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
)

// CheckSupported refuses, at create, the config fields gantry does not
// honour, so that none is accepted and then ignored: NetworkDisabled (the
// SDKs' network_disabled); a runtime other than
// runc and an isolation other than default, with dockerd's words; another
// container's IPC namespace (--ipc container:<name>); a private cgroup
// namespace (containers share the host's), --cgroup-parent,
// --storage-opt, --memory-swappiness, the realtime CPU limits, the blkio
// device limits and the Windows-only CPU count/percent and IO maximums.
// Compose sends each from a service key of the same name (runtime,
// isolation, cgroup, cgroup_parent, storage_opt, mem_swappiness,
// cpu_rt_runtime, blkio_config, cpu_count, ...).
func CheckSupported(cfg *container.Config, hc *container.HostConfig) error {
	if cfg != nil && cfg.NetworkDisabled {
		return errdefs.ErrNotImplemented.WithMessage("NetworkDisabled is not supported by gantry\nhint: use the network mode none (--network none)")
	}
	if hc.Runtime != "" && hc.Runtime != "runc" {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Unknown runtime specified %s\nhint: gantry runs containers with runc only", hc.Runtime))
	}
	if hc.Isolation != "" && !hc.Isolation.IsDefault() {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid isolation: %q - linux only supports 'default'", hc.Isolation))
	}
	switch {
	case hc.CgroupnsMode.IsEmpty(), hc.CgroupnsMode.IsHost():
	case hc.CgroupnsMode.IsPrivate():
		return errdefs.ErrNotImplemented.WithMessage("cgroup namespace mode \"private\" is not supported by gantry\nhint: containers share the host's cgroup namespace (--cgroupns host, compose cgroup: host)")
	default:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid cgroup namespace mode: %v", hc.CgroupnsMode))
	}
	if hc.IpcMode.IsContainer() {
		return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("ipc mode %q is not supported by gantry\nhint: --ipc host, private, shareable and none are", hc.IpcMode))
	}
	if len(hc.StorageOpt) > 0 {
		return errdefs.ErrNotImplemented.WithMessage("--storage-opt is supported only for overlay over xfs with 'pquota' mount option\nhint: gantry sets no per-container storage quota")
	}
	r := hc.Resources
	var name string
	switch {
	case r.CgroupParent != "":
		name = "cgroup-parent"
	case r.MemorySwappiness != nil && *r.MemorySwappiness != -1:
		name = "memory-swappiness"
	case r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0:
		name = "cpu-rt-period/cpu-rt-runtime"
	case len(r.BlkioWeightDevice) > 0:
		name = "blkio-weight-device"
	case len(r.BlkioDeviceReadBps) > 0 || len(r.BlkioDeviceWriteBps) > 0 || len(r.BlkioDeviceReadIOps) > 0 || len(r.BlkioDeviceWriteIOps) > 0:
		name = "device-read-bps/device-write-bps/device-read-iops/device-write-iops"
	case r.CPUCount != 0 || r.CPUPercent != 0:
		name = "cpu-count/cpu-percent (Windows only)"
	case r.IOMaximumIOps != 0 || r.IOMaximumBandwidth != 0:
		name = "io-maxiops/io-maxbandwidth (Windows only)"
	}
	if name != "" {
		return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("%s is not supported by gantry", name))
	}
	for _, m := range hc.Mounts {
		if err := checkBindOptions(m); err != nil {
			return err
		}
	}
	return nil
}

// checkBindOptions is dockerd's check of a bind's read-only options:
// ReadOnlyNonRecursive is what a read-only bind is anyway (its submounts
// stay writable, as dockerd 20.10's); ReadOnlyForceRecursive makes the
// submounts read-only too (runc's rro).
func checkBindOptions(m mount.Mount) error {
	o := m.BindOptions
	if o == nil || (!o.ReadOnlyNonRecursive && !o.ReadOnlyForceRecursive) {
		return nil
	}
	invalid := func(msg string) error {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount config for type %q: %s", m.Type, msg))
	}
	switch {
	case m.Type != mount.TypeBind:
		return invalid("field BindOptions must not be specified")
	case o.ReadOnlyNonRecursive && o.ReadOnlyForceRecursive:
		return invalid("cannot mix 'ReadOnlyNonRecursive' and 'ReadOnlyForceRecursive'")
	case !m.ReadOnly:
		return invalid("option 'ReadOnlyNonRecursive' or 'ReadOnlyForceRecursive' requires 'ReadOnly' to be set")
	case o.ReadOnlyForceRecursive && o.Propagation != "" && o.Propagation != mount.PropagationRPrivate:
		return invalid("option 'ReadOnlyForceRecursive' requires propagation to be 'rprivate'")
	}
	return nil
}

// CheckEndpointSupported refuses what gantry would drop from a network
// endpoint's settings (create's NetworkingConfig, network connect): driver
// options (compose networks.<name>.driver_opts, --network
// name=...,driver-opt=), link-local addresses (--link-local-ip, compose
// link_local_ips) and links other than the container's own --link ones
// (network connect --link), which apply on every network it is on.
func CheckEndpointSupported(network string, es *network.EndpointSettings, hostLinks []string) error {
	if es == nil {
		return nil
	}
	if len(es.DriverOpts) > 0 {
		return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("driver options of an endpoint on network %s are not supported by gantry", network))
	}
	if es.IPAMConfig != nil && len(es.IPAMConfig.LinkLocalIPs) > 0 {
		return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("link-local IPs of an endpoint on network %s are not supported by gantry", network))
	}
	for _, l := range es.Links {
		if !slices.Contains(hostLinks, l) {
			return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("link %s of an endpoint on network %s is not supported by gantry\nhint: give links when the container is created (--link), for all its networks", l, network))
		}
	}
	return nil
}
