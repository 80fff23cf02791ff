package cli

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// hostFlags are the run and create flags that set resources, capabilities,
// devices and other host settings, as docker's.
type hostFlags struct {
	memory, memorySwap, memoryReservation, shmSize string
	cpus                                           string
	cpuShares                                      int64
	cpusetCpus, cpusetMems                         string
	pidsLimit                                      int64
	blkioWeight                                    uint16
	oomKillDisable                                 bool
	capAdd, capDrop                                []string
	addHosts                                       []string
	ulimits                                        []string
	readOnly                                       bool
	privileged                                     bool
	devices                                        []string
	deviceRules                                    []string
	gpus                                           string
	macAddress                                     string
	volumesFrom                                    []string
	groupAdd                                       []string
	sysctls                                        []string
	stopSignal                                     string
	stopTimeout                                    int
	platform                                       string
	pull                                           string
}

func addHostFlags(fl *pflag.FlagSet, f *hostFlags) {
	fl.StringVarP(&f.memory, "memory", "m", "", "Memory limit")
	fl.StringVar(&f.memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	fl.StringVar(&f.memoryReservation, "memory-reservation", "", "Memory soft limit")
	fl.StringVar(&f.shmSize, "shm-size", "", "Size of /dev/shm")
	fl.StringVar(&f.cpus, "cpus", "", "Number of CPUs")
	fl.Int64VarP(&f.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fl.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fl.StringVar(&f.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fl.Int64Var(&f.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fl.Uint16Var(&f.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable")
	fl.BoolVar(&f.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	fl.StringArrayVar(&f.capAdd, "cap-add", nil, "Add Linux capabilities")
	fl.StringArrayVar(&f.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	fl.StringArrayVar(&f.addHosts, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	fl.StringArrayVar(&f.ulimits, "ulimit", nil, "Ulimit options")
	fl.BoolVar(&f.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fl.BoolVar(&f.privileged, "privileged", false, "Give extended privileges to this container")
	fl.StringArrayVar(&f.devices, "device", nil, "Add a host device to the container")
	fl.StringArrayVar(&f.deviceRules, "device-cgroup-rule", nil, "Add a rule to the cgroup allowed devices list")
	fl.StringVar(&f.gpus, "gpus", "", "GPU devices to add to the container ('all' to pass all GPUs)")
	fl.StringVar(&f.macAddress, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	fl.StringArrayVar(&f.volumesFrom, "volumes-from", nil, "Mount volumes from the specified container(s)")
	fl.StringArrayVar(&f.groupAdd, "group-add", nil, "Add additional groups to join")
	fl.StringArrayVar(&f.sysctls, "sysctl", nil, "Sysctl options")
	fl.StringVar(&f.stopSignal, "stop-signal", "", "Signal to stop the container")
	fl.IntVar(&f.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	fl.StringVar(&f.platform, "platform", "", "Set platform if server is multi-platform capable")
	fl.StringVar(&f.pull, "pull", "missing", `Pull image before running ("always", "missing", "never")`)
}

// apply sets the flags' values on the create request; changed tells which
// flags were given (for the ones whose zero value means something).
func (f *hostFlags) apply(cfg *container.Config, hc *container.HostConfig, ep *network.EndpointSettings, changed func(string) bool) error {
	if changed == nil {
		changed = func(string) bool { return false }
	}
	size := func(flag, v string, dst *int64) error {
		if v == "" {
			return nil
		}
		if flag == "memory-swap" && v == "-1" {
			*dst = -1
			return nil
		}
		n, err := units.RAMInBytes(v)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--%s\" flag: %v", v, flag, err)
		}
		*dst = n
		return nil
	}
	r := &hc.Resources
	if err := size("memory", f.memory, &r.Memory); err != nil {
		return err
	}
	if err := size("memory-swap", f.memorySwap, &r.MemorySwap); err != nil {
		return err
	}
	if err := size("memory-reservation", f.memoryReservation, &r.MemoryReservation); err != nil {
		return err
	}
	if err := size("shm-size", f.shmSize, &hc.ShmSize); err != nil {
		return err
	}
	if f.cpus != "" {
		n, err := strconv.ParseFloat(f.cpus, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid argument %q for \"--cpus\" flag: failed to parse %v as a rational number", f.cpus, f.cpus)
		}
		r.NanoCPUs = int64(n * 1e9)
	}
	r.CPUShares, r.CpusetCpus, r.CpusetMems, r.BlkioWeight = f.cpuShares, f.cpusetCpus, f.cpusetMems, f.blkioWeight
	if changed("pids-limit") {
		limit := f.pidsLimit
		r.PidsLimit = &limit
	}
	if changed("oom-kill-disable") {
		v := f.oomKillDisable
		r.OomKillDisable = &v
	}
	for _, u := range f.ulimits {
		ul, err := units.ParseUlimit(u)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--ulimit\" flag: %v", u, err)
		}
		r.Ulimits = append(r.Ulimits, &container.Ulimit{Name: ul.Name, Soft: ul.Soft, Hard: ul.Hard})
	}
	for _, d := range f.devices {
		m, err := parseDevice(d)
		if err != nil {
			return err
		}
		r.Devices = append(r.Devices, m)
	}
	r.DeviceCgroupRules = f.deviceRules
	if f.gpus != "" {
		// Sent as docker sends it, for the daemon to refuse with its words.
		r.DeviceRequests = []container.DeviceRequest{{Count: -1, Capabilities: [][]string{{"gpu"}}}}
	}
	hc.CapAdd, hc.CapDrop, hc.ExtraHosts, hc.ReadonlyRootfs = f.capAdd, f.capDrop, f.addHosts, f.readOnly
	hc.Privileged, hc.VolumesFrom, hc.GroupAdd = f.privileged, f.volumesFrom, f.groupAdd
	for _, s := range f.sysctls {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("invalid argument %q for \"--sysctl\" flag: sysctl '%s' is not allowed", s, s)
		}
		if hc.Sysctls == nil {
			hc.Sysctls = map[string]string{}
		}
		hc.Sysctls[k] = v
	}
	if f.macAddress != "" {
		mac, err := net.ParseMAC(f.macAddress)
		if err != nil {
			return fmt.Errorf("%s is not a valid mac address", f.macAddress)
		}
		ep.MacAddress = network.HardwareAddr(mac)
	}
	cfg.StopSignal = f.stopSignal
	if changed("stop-timeout") {
		t := f.stopTimeout
		cfg.StopTimeout = &t
	}
	switch f.pull {
	case "", "always", "missing", "never":
	default:
		return fmt.Errorf("invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"", f.pull)
	}
	return nil
}

// parseDevice reads --device HOST[:CONTAINER][:PERMISSIONS], as docker.
func parseDevice(s string) (container.DeviceMapping, error) {
	parts := strings.Split(s, ":")
	m := container.DeviceMapping{PathOnHost: parts[0], CgroupPermissions: "rwm"}
	switch len(parts) {
	case 1:
	case 2:
		if isDevicePerms(parts[1]) {
			m.CgroupPermissions = parts[1]
		} else {
			m.PathInContainer = parts[1]
		}
	case 3:
		if !isDevicePerms(parts[2]) {
			return m, fmt.Errorf("invalid device mode: %s", parts[2])
		}
		m.PathInContainer, m.CgroupPermissions = parts[1], parts[2]
	default:
		return m, fmt.Errorf("invalid device specification: %s", s)
	}
	if m.PathInContainer == "" {
		m.PathInContainer = m.PathOnHost
	}
	return m, nil
}

func isDevicePerms(s string) bool {
	return s != "" && strings.Trim(s, "rwm") == ""
}
