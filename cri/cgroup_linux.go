package cri

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	cgroups "github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/gantry/gantry/runtime"
)

// A pod's cgroups (cgroupfs paths, as the kubelet names them): the pod's
// own, the kubelet's cgroup_parent (gantry makes /gantry/pod-<id> when
// there is none), under which runc makes each container's, and the pause
// process's, <pod cgroup>/<pod id>, as containerd's sandbox container.
// The pod's resources (the sum of its containers', as the kubelet
// computes them) plus its overhead limit the pod's cgroup; the overhead
// alone limits the pause's.

// podCgroup is the cgroup of the pod's containers.
func podCgroup(id string, cfg *runtimeapi.PodSandboxConfig) string {
	if parent := cfg.GetLinux().GetCgroupParent(); parent != "" {
		return path.Join("/", parent)
	}
	return path.Join("/gantry", "pod-"+id)
}

// makePodCgroups limits the pod's cgroup (making it if it is not there:
// made says so) and puts the pause process pid in a cgroup of its own
// under it.
func makePodCgroups(podCg, pauseCg string, pid int, cfg *runtimeapi.PodSandboxConfig) (made bool, err error) {
	overhead, err := specResources(cfg.GetLinux().GetOverhead(), "overhead")
	if err != nil {
		return false, err
	}
	res, err := specResources(cfg.GetLinux().GetResources(), "resources")
	if err != nil {
		return false, err
	}
	res = sumResources(res, overhead)
	made = !cgroupExists(podCg)
	if err := applyCgroup(podCg, res, 0); err != nil {
		return made, fmt.Errorf("pod cgroup %s: %w", podCg, err)
	}
	if err := applyCgroup(pauseCg, overhead, pid); err != nil {
		return made, fmt.Errorf("pause cgroup %s: %w", pauseCg, err)
	}
	return made, nil
}

// removeCgroup kills what is left in a cgroup and removes it from every
// hierarchy; one that is gone is not an error.
func removeCgroup(cg string) error {
	_, err := runtime.KillCgroup(cg)
	return err
}

// cgroupExists reports whether cgroup cg is there (in the cpu hierarchy,
// or the unified one).
func cgroupExists(cg string) bool {
	dir := filepath.Join("/sys/fs/cgroup", cg)
	if cgroups.Mode() != cgroups.Unified {
		dir = filepath.Join("/sys/fs/cgroup/cpu", cg)
	}
	_, err := os.Stat(dir)
	return err == nil
}

// applyCgroup makes cgroup cg with the limits res (nil: none, an existing
// cgroup's are kept) and moves pid into it (0: none).
func applyCgroup(cg string, res *specs.LinuxResources, pid int) error {
	if res == nil {
		res = &specs.LinuxResources{}
	}
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.NewManager("/sys/fs/cgroup", cg, cgroup2.ToResources(res))
		if err != nil {
			return err
		}
		if pid > 0 {
			return m.AddProc(uint64(pid))
		}
		return nil
	}
	c, err := cgroup1.New(cgroup1.StaticPath(cg), res)
	if err != nil {
		return err
	}
	if pid > 0 {
		if err := c.Add(cgroup1.Process{Pid: pid}); err != nil {
			return err
		}
		// The unified hierarchy of a hybrid host, as runc places containers.
		if dir := filepath.Join("/sys/fs/cgroup/unified", cg); cgroups.Mode() == cgroups.Hybrid {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(pid)), 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// specResources maps a pod's resources or overhead (field names which)
// to cgroup limits; nil when there are none.
func specResources(r *runtimeapi.LinuxContainerResources, field string) (*specs.LinuxResources, error) {
	if r == nil {
		return nil, nil
	}
	for _, h := range r.GetHugepageLimits() {
		if h.GetLimit() > 0 {
			return nil, unimplemented(fmt.Sprintf("hugepage limits of a pod (linux.%s.hugepage_limits)", field))
		}
	}
	if len(r.GetUnified()) > 0 {
		return nil, unimplemented(fmt.Sprintf("cgroup v2 unified resources of a pod (linux.%s.unified)", field))
	}
	if r.GetOomScoreAdj() != 0 {
		return nil, unimplemented(fmt.Sprintf("an OOM score adjustment of a pod (linux.%s.oom_score_adj)", field))
	}
	var out specs.LinuxResources
	cpu := &specs.LinuxCPU{Cpus: r.GetCpusetCpus(), Mems: r.GetCpusetMems()}
	if v := r.GetCpuShares(); v > 0 {
		u := uint64(v)
		cpu.Shares = &u
	}
	if v := r.GetCpuQuota(); v != 0 { // -1: none (the kubelet's exclusive CPUs)
		cpu.Quota = &v
	}
	if v := r.GetCpuPeriod(); v > 0 {
		u := uint64(v)
		cpu.Period = &u
	}
	if *cpu != (specs.LinuxCPU{}) {
		out.CPU = cpu
	}
	if v := r.GetMemoryLimitInBytes(); v > 0 {
		out.Memory = &specs.LinuxMemory{Limit: &v}
		if s := r.GetMemorySwapLimitInBytes(); s > 0 {
			out.Memory.Swap = &s
		}
	}
	if out.CPU == nil && out.Memory == nil {
		return nil, nil
	}
	return &out, nil
}

// sumResources is the limit of the pod's cgroup: its containers' (res)
// plus its overhead, as the kubelet sizes a pod's cgroup. A limit that
// res does not set stays unset (no limit plus anything is no limit).
func sumResources(res, overhead *specs.LinuxResources) *specs.LinuxResources {
	if res == nil || overhead == nil {
		return res
	}
	out := *res
	if res.CPU != nil && overhead.CPU != nil {
		cpu := *res.CPU
		if cpu.Shares != nil && overhead.CPU.Shares != nil {
			v := *cpu.Shares + *overhead.CPU.Shares
			cpu.Shares = &v
		}
		if cpu.Quota != nil && *cpu.Quota > 0 && overhead.CPU.Quota != nil && *overhead.CPU.Quota > 0 {
			period, oPeriod := uint64(100000), uint64(100000)
			if cpu.Period != nil {
				period = *cpu.Period
			}
			if overhead.CPU.Period != nil {
				oPeriod = *overhead.CPU.Period
			}
			v := *cpu.Quota + int64(uint64(*overhead.CPU.Quota)*period/oPeriod)
			cpu.Quota = &v
		}
		out.CPU = &cpu
	}
	if res.Memory != nil && res.Memory.Limit != nil && overhead.Memory != nil && overhead.Memory.Limit != nil {
		mem := *res.Memory
		v := *mem.Limit + *overhead.Memory.Limit
		mem.Limit = &v
		if mem.Swap != nil {
			s := *mem.Swap + *overhead.Memory.Limit
			mem.Swap = &s
		}
		out.Memory = &mem
	}
	return &out
}
