package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// userHZ is the unit of cpuacct.stat and /proc/stat (USER_HZ, 100 on Linux).
const userHZ = 100

// Stats samples the resource usage of running container id from its cgroups
// (v1 controllers when runc put it there, else the unified hierarchy): CPU,
// memory, pids and block I/O, plus the host's CPU time and CPU count that
// CPU percentages are computed against. The sample fills the CPU, memory,
// pids and blkio parts of a StatsResponse and its Read time; the caller adds
// the rest. A memory limit above the host's memory (no limit) is reported as
// the host's memory, as dockerd does. An unknown container is a not-found
// error.
func (r *Runc) Stats(ctx context.Context, id string) (*container.StatsResponse, error) {
	st, err := r.readState(id)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.ErrNotFound.WithMessage("runc state of " + id + " does not exist")
	}
	if err != nil {
		return nil, err
	}
	s := &container.StatsResponse{Read: time.Now().UTC()}
	if _, v1 := st.CgroupPaths["memory"]; v1 {
		statsV1(st.CgroupPaths, s)
	} else if dir := st.CgroupPaths[""]; dir != "" {
		statsV2(dir, s)
	} else {
		return nil, fmt.Errorf("stats of %s: runc recorded no cgroup", id)
	}
	s.CPUStats.SystemUsage, s.CPUStats.OnlineCPUs = hostCPU()
	if host := hostMemory(); host > 0 && (s.MemoryStats.Limit == 0 || s.MemoryStats.Limit > host) {
		s.MemoryStats.Limit = host
	}
	return s, nil
}

// Pids returns the host pids of every process of running container id (its
// init, exec'd processes and their children), from its cgroup. An unknown
// container is a not-found error.
func (r *Runc) Pids(ctx context.Context, id string) ([]int, error) {
	st, err := r.readState(id)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.ErrNotFound.WithMessage("runc state of " + id + " does not exist")
	}
	if err != nil {
		return nil, err
	}
	for _, key := range []string{"pids", "memory", ""} {
		dir, ok := st.CgroupPaths[key]
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return nil, fmt.Errorf("processes of %s: %w", id, err)
		}
		var pids []int
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return pids, nil
	}
	return nil, fmt.Errorf("processes of %s: runc recorded no cgroup", id)
}

func statsV1(paths map[string]string, s *container.StatsResponse) {
	cpuacct, cpu, mem, pids, blkio := paths["cpuacct"], paths["cpu"], paths["memory"], paths["pids"], paths["blkio"]
	cs := &s.CPUStats
	cs.CPUUsage.TotalUsage = readUint(cpuacct, "cpuacct.usage")
	for _, f := range strings.Fields(readString(cpuacct, "cpuacct.usage_percpu")) {
		n, _ := strconv.ParseUint(f, 10, 64)
		cs.CPUUsage.PercpuUsage = append(cs.CPUUsage.PercpuUsage, n)
	}
	acct := readKeyed(cpuacct, "cpuacct.stat")
	cs.CPUUsage.UsageInUsermode = acct["user"] * (1e9 / userHZ)
	cs.CPUUsage.UsageInKernelmode = acct["system"] * (1e9 / userHZ)
	throttle := readKeyed(cpu, "cpu.stat")
	cs.ThrottlingData = container.ThrottlingData{
		Periods:          throttle["nr_periods"],
		ThrottledPeriods: throttle["nr_throttled"],
		ThrottledTime:    throttle["throttled_time"],
	}

	s.MemoryStats = container.MemoryStats{
		Usage:    readUint(mem, "memory.usage_in_bytes"),
		MaxUsage: readUint(mem, "memory.max_usage_in_bytes"),
		Failcnt:  readUint(mem, "memory.failcnt"),
		Limit:    readUint(mem, "memory.limit_in_bytes"),
		Stats:    readKeyed(mem, "memory.stat"),
	}
	s.PidsStats = container.PidsStats{Current: readUint(pids, "pids.current"), Limit: readUint(pids, "pids.max")}
	s.BlkioStats = emptyBlkio()
	s.BlkioStats.IoServiceBytesRecursive = readBlkioV1(blkio, "blkio.throttle.io_service_bytes_recursive")
	s.BlkioStats.IoServicedRecursive = readBlkioV1(blkio, "blkio.throttle.io_serviced_recursive")
}

func statsV2(dir string, s *container.StatsResponse) {
	cpu := readKeyed(dir, "cpu.stat")
	s.CPUStats.CPUUsage = container.CPUUsage{
		TotalUsage:        cpu["usage_usec"] * 1000,
		UsageInUsermode:   cpu["user_usec"] * 1000,
		UsageInKernelmode: cpu["system_usec"] * 1000,
	}
	s.CPUStats.ThrottlingData = container.ThrottlingData{
		Periods:          cpu["nr_periods"],
		ThrottledPeriods: cpu["nr_throttled"],
		ThrottledTime:    cpu["throttled_usec"] * 1000,
	}
	s.MemoryStats = container.MemoryStats{
		Usage:    readUint(dir, "memory.current"),
		MaxUsage: readUint(dir, "memory.peak"),
		Limit:    readUint(dir, "memory.max"),
		Stats:    readKeyed(dir, "memory.stat"),
	}
	s.PidsStats = container.PidsStats{Current: readUint(dir, "pids.current"), Limit: readUint(dir, "pids.max")}
	s.BlkioStats = emptyBlkio()
	// io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." per device.
	for _, line := range strings.Split(readString(dir, "io.stat"), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		major, minor, ok := parseDevice(fields[0])
		if !ok {
			continue
		}
		bs := &s.BlkioStats
		for _, kv := range fields[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			add := func(list *[]container.BlkioStatEntry, op string) {
				*list = append(*list, container.BlkioStatEntry{Major: major, Minor: minor, Op: op, Value: n})
			}
			switch k {
			case "rbytes":
				add(&bs.IoServiceBytesRecursive, "read")
			case "wbytes":
				add(&bs.IoServiceBytesRecursive, "write")
			case "rios":
				add(&bs.IoServicedRecursive, "read")
			case "wios":
				add(&bs.IoServicedRecursive, "write")
			}
		}
	}
}

// emptyBlkio has empty lists, not nulls, as dockerd reports a running container.
func emptyBlkio() container.BlkioStats {
	empty := func() []container.BlkioStatEntry { return []container.BlkioStatEntry{} }
	return container.BlkioStats{
		IoServiceBytesRecursive: empty(), IoServicedRecursive: empty(), IoQueuedRecursive: empty(),
		IoServiceTimeRecursive: empty(), IoWaitTimeRecursive: empty(), IoMergedRecursive: empty(),
		IoTimeRecursive: empty(), SectorsRecursive: empty(),
	}
}

// readBlkioV1 reads a blkio file of "8:0 Read 1234" lines (and a "Total N"
// line, skipped).
func readBlkioV1(dir, name string) []container.BlkioStatEntry {
	out := []container.BlkioStatEntry{}
	for _, line := range strings.Split(readString(dir, name), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 3 {
			continue
		}
		major, minor, ok := parseDevice(fields[0])
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(fields[2], 10, 64)
		out = append(out, container.BlkioStatEntry{Major: major, Minor: minor, Op: fields[1], Value: n})
	}
	return out
}

func parseDevice(s string) (major, minor uint64, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	major, err1 := strconv.ParseUint(a, 10, 64)
	minor, err2 := strconv.ParseUint(b, 10, 64)
	return major, minor, err1 == nil && err2 == nil
}

// readString returns the trimmed content of dir/name, or "" when dir is ""
// or the file is missing: a controller that is not there reads as zeros.
func readString(dir, name string) string {
	if dir == "" {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// readUint reads a one-number cgroup file; "max" and unreadable files are 0.
func readUint(dir, name string) uint64 {
	n, err := strconv.ParseUint(readString(dir, name), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// readKeyed reads a "key value" per line cgroup file (memory.stat, cpu.stat).
func readKeyed(dir, name string) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(readString(dir, name)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// hostCPU returns the host's total CPU time in nanoseconds and the number
// of online CPUs, from /proc/stat (see procStatCPU); 0, 0 when it cannot
// be read.
func hostCPU() (uint64, uint32) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	return procStatCPU(f)
}

// procStatCPU reads /proc/stat's content from r and returns the host's total
// CPU time in nanoseconds (the "cpu" line's user, nice, system, idle,
// iowait, irq and softirq; not steal, guest nor guest_nice) and the number
// of online CPUs (its "cpuN" lines), as dockerd computes them.
func procStatCPU(r io.Reader) (uint64, uint32) {
	var total uint64
	var cpus uint32
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "cpu") {
			continue
		}
		if fields[0] != "cpu" {
			cpus++
			continue
		}
		for i := 1; i < len(fields) && i < 8; i++ {
			n, _ := strconv.ParseUint(fields[i], 10, 64)
			total += n
		}
	}
	return total * (1e9 / userHZ), cpus
}

// hostMemory returns MemTotal from /proc/meminfo in bytes, or 0.
func hostMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil || kb > math.MaxUint64/1024 {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// OOMKilled reports whether the kernel's OOM killer killed a process of
// container id, which exited but whose runtime state is not deleted yet:
// the oom_kill count of its memory cgroup (memory.events, or v1's
// memory.oom_control).
func (r *Runc) OOMKilled(id string) bool {
	st, err := r.readState(id)
	if err != nil {
		return false
	}
	if dir, v1 := st.CgroupPaths["memory"]; v1 {
		return readKeyed(dir, "memory.oom_control")["oom_kill"] > 0
	}
	if dir := st.CgroupPaths[""]; dir != "" {
		return readKeyed(dir, "memory.events")["oom_kill"] > 0
	}
	return false
}
