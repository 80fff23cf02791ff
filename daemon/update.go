package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	gcontainer "github.com/gantry/gantry/container"
)

// UpdateContainer implements POST /containers/{name}/update (docker
// update): memory, memory-swap, memory-reservation, cpus, cpu-shares,
// cpu-period and -quota, cpuset, pids-limit and blkio weight are applied
// at once to a running container (runc update) and recorded for its next
// start, and so is a restart policy (create's checks; it is read at each
// exit). Any other resource is refused. Dockerd's checks and words; a limit the
// kernel refuses (memory below the usage) is dockerd's "Cannot update
// container" error with the kernel's reason, and nothing is recorded.
func (d *Daemon) UpdateContainer(ctx context.Context, name string, cfg container.UpdateConfig) (container.UpdateResponse, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return container.UpdateResponse{}, err
	}
	if err := updateUnsupported(cfg.Resources); err != nil {
		return container.UpdateResponse{}, err
	}
	c.Lock()
	defer c.Unlock()
	if c.State.Status == gcontainer.Removing || c.State.Status == gcontainer.Dead {
		return container.UpdateResponse{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Cannot update container %s: container is marked for removal and cannot be \"update\"", c.ID))
	}
	if cfg.RestartPolicy.Name != "" {
		if err := gcontainer.CheckRestartPolicy(cfg.RestartPolicy, c.HostConfig.AutoRemove); err != nil {
			return container.UpdateResponse{}, err
		}
	}
	merged, live, err := mergeResources(c.HostConfig.Resources, cfg.Resources)
	if err != nil {
		return container.UpdateResponse{}, err
	}
	if c.State.IsRunning() {
		if err := d.runtime.Update(context.WithoutCancel(ctx), c.ID, live); err != nil {
			return container.UpdateResponse{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Cannot update container %s: %v", c.ID, err))
		}
	}
	c.HostConfig.Resources = merged
	if cfg.RestartPolicy.Name != "" {
		c.HostConfig.RestartPolicy = cfg.RestartPolicy
	}
	if err := d.containers.Save(c); err != nil {
		return container.UpdateResponse{}, err
	}
	d.containerEvent(c, evtypes.ActionUpdate, nil)
	return container.UpdateResponse{Warnings: []string{}}, nil
}

// updateUnsupported refuses the resources docker update can send that
// gantry does not change on a container.
func updateUnsupported(r container.Resources) error {
	var name string
	switch {
	case r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0:
		name = "cpu-rt-period/cpu-rt-runtime"
	case len(r.BlkioWeightDevice) > 0 || len(r.BlkioDeviceReadBps) > 0 || len(r.BlkioDeviceWriteBps) > 0 ||
		len(r.BlkioDeviceReadIOps) > 0 || len(r.BlkioDeviceWriteIOps) > 0:
		name = "blkio device limits"
	case len(r.Devices) > 0 || len(r.DeviceCgroupRules) > 0 || len(r.DeviceRequests) > 0:
		name = "devices"
	case len(r.Ulimits) > 0:
		name = "ulimits"
	case r.MemorySwappiness != nil && *r.MemorySwappiness != -1:
		name = "memory-swappiness"
	case r.OomKillDisable != nil && *r.OomKillDisable:
		name = "oom-kill-disable"
	case r.CgroupParent != "":
		name = "cgroup-parent"
	default:
		return nil
	}
	return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("update of %s is not supported by gantry", name))
}

// mergeResources applies the set fields of upd to cur, with dockerd's
// checks, and returns the merged resources and the runtime limits to
// change on a running container.
func mergeResources(cur, upd container.Resources) (container.Resources, *specs.LinuxResources, error) {
	invalid := func(msg string) error { return errdefs.ErrInvalidArgument.WithMessage(msg) }
	live := &specs.LinuxResources{}
	out := cur
	if upd.BlkioWeight != 0 {
		if err := checkBlkioWeight(upd.BlkioWeight); err != nil {
			return cur, nil, err
		}
		out.BlkioWeight = upd.BlkioWeight
		w := upd.BlkioWeight
		live.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	if upd.Memory != 0 && upd.Memory < 6*1024*1024 {
		return cur, nil, invalid("Minimum memory limit allowed is 6MB")
	}
	if upd.Memory != 0 || upd.MemorySwap != 0 || upd.MemoryReservation != 0 {
		if upd.Memory != 0 && upd.MemorySwap == 0 && cur.MemorySwap > 0 && upd.Memory > cur.MemorySwap {
			return cur, nil, invalid("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
		}
		if upd.Memory != 0 {
			out.Memory = upd.Memory
		}
		if upd.MemorySwap != 0 {
			out.MemorySwap = upd.MemorySwap
		}
		if upd.MemoryReservation != 0 {
			out.MemoryReservation = upd.MemoryReservation
		}
		if out.MemorySwap > 0 && out.Memory == 0 {
			return cur, nil, invalid("You should always set the Memory limit when using Memoryswap limit")
		}
		if out.MemorySwap > 0 && out.MemorySwap < out.Memory {
			return cur, nil, invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
		}
		if out.Memory > 0 && out.MemoryReservation > out.Memory {
			return cur, nil, invalid("Minimum memory limit can not be less than memory reservation limit, see usage")
		}
		m := &specs.LinuxMemory{}
		if upd.Memory != 0 {
			m.Limit = &out.Memory
		}
		if upd.MemorySwap != 0 {
			m.Swap = &out.MemorySwap
		}
		if upd.MemoryReservation != 0 {
			m.Reservation = &out.MemoryReservation
		}
		live.Memory = m
	}
	cpu := &specs.LinuxCPU{}
	if upd.NanoCPUs != 0 {
		if n := int64(goruntime.NumCPU()); upd.NanoCPUs < 0 || upd.NanoCPUs > n*1e9 {
			return cur, nil, invalid(fmt.Sprintf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n))
		}
		if cur.CPUQuota > 0 || upd.CPUQuota > 0 {
			return cur, nil, invalid("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
		}
		out.NanoCPUs = upd.NanoCPUs
		period, quota := uint64(100000), upd.NanoCPUs*100000/1e9
		cpu.Period, cpu.Quota = &period, &quota
	}
	if upd.CPUPeriod != 0 || upd.CPUQuota != 0 {
		if cur.NanoCPUs > 0 && upd.NanoCPUs == 0 {
			return cur, nil, invalid("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
		}
		if upd.CPUPeriod != 0 {
			out.CPUPeriod = upd.CPUPeriod
			p := uint64(upd.CPUPeriod)
			cpu.Period = &p
		}
		if upd.CPUQuota != 0 {
			out.CPUQuota = upd.CPUQuota
			q := upd.CPUQuota
			cpu.Quota = &q
		}
	}
	if upd.CPUShares != 0 {
		if upd.CPUShares < 0 {
			return cur, nil, invalid(fmt.Sprintf("invalid CPU shares (%d): value must be a positive integer", upd.CPUShares))
		}
		out.CPUShares = upd.CPUShares
		s := uint64(upd.CPUShares)
		cpu.Shares = &s
	}
	if upd.CpusetCpus != "" {
		out.CpusetCpus = upd.CpusetCpus
		cpu.Cpus = upd.CpusetCpus
	}
	if upd.CpusetMems != "" {
		out.CpusetMems = upd.CpusetMems
		cpu.Mems = upd.CpusetMems
	}
	if *cpu != (specs.LinuxCPU{}) {
		live.CPU = cpu
	}
	if upd.PidsLimit != nil {
		// As dockerd: 0 and any negative value mean no limit.
		limit := *upd.PidsLimit
		if limit <= 0 {
			limit = 0
		}
		out.PidsLimit = &limit
		runtimeLimit := limit
		if runtimeLimit == 0 {
			runtimeLimit = -1 // runc writes "max"
		}
		live.Pids = &specs.LinuxPids{Limit: &runtimeLimit}
	}
	return out, live, nil
}

// checkHostResources refuses, at create, what this host cannot give:
// device requests (--gpus), as gantry has no GPU runtime, with dockerd's
// words when none is configured; a blkio weight the kernel has no weight
// for (see checkBlkioWeight); and --oom-kill-disable where runc uses
// cgroup v2, which has no such switch (dockerd warns and ignores it).
func checkHostResources(r container.Resources) error {
	for _, req := range r.DeviceRequests {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("could not select device driver %q with capabilities: %v\nhint: gantry has no GPU runtime; --gpus and --device-request are not supported", req.Driver, req.Capabilities))
	}
	if err := checkBlkioWeight(r.BlkioWeight); err != nil {
		return err
	}
	if r.OomKillDisable != nil && *r.OomKillDisable && cgroupVersion() == "2" {
		return errdefs.ErrInvalidArgument.WithMessage("--oom-kill-disable is not supported on cgroup v2: the memory controller has no switch to disable the OOM killer\nhint: dockerd warns and ignores it; gantry refuses what it cannot honour")
	}
	return nil
}

// checkBlkioWeight checks a --blkio-weight (0: none) as dockerd does: the
// kernel must have a weight for runc to write (dockerd warns and discards
// the weight where it has none; gantry refuses what it cannot honour), and
// it must be from 10 to 1000.
func checkBlkioWeight(w uint16) error {
	if w == 0 {
		return nil
	}
	if !blkioWeightSupported() {
		return errdefs.ErrInvalidArgument.WithMessage("Your kernel does not support Block I/O weight or the cgroup is not mounted\nhint: dockerd warns and discards the weight; gantry refuses what it cannot honour (the kernel's I/O scheduler, BFQ, gives the weight)")
	}
	if w < 10 || w > 1000 {
		return errdefs.ErrInvalidArgument.WithMessage("Range of blkio weight is from 10 to 1000")
	}
	return nil
}

// blkioWeightSupported reports whether the cgroup runc uses has a block
// I/O weight, as dockerd's sysinfo finds it: blkio.weight or
// blkio.bfq.weight at the blkio hierarchy's root (v1), the io controller
// (v2).
func blkioWeightSupported() bool {
	if cgroupVersion() == "2" {
		b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		return err == nil && slices.Contains(strings.Fields(string(b)), "io")
	}
	for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/blkio", f)); err == nil {
			return true
		}
	}
	return false
}
