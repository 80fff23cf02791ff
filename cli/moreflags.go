package cli

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// moreFlags are the rest of docker's run and create flags: namespaces,
// logging, DNS, links, CFS and realtime CPU limits, block I/O limits,
// runtime and storage options, label files, the ID file and the attached
// streams. Each is sent as docker sends it, and gantryd honours it or
// refuses it by name; the few no Linux daemon takes (the Windows-only
// limits) or that gantry has no part for (content trust, the API socket,
// the kernel memory limit the Engine API dropped in v1.42) are refused
// here.
type moreFlags struct {
	annotations, attach, dnsOptions, dnsSearch, labelFiles, links []string
	linkLocalIPs, logOpts, storageOpts                            []string
	weightDevices, readBps, writeBps, readIOps, writeIOps         []string
	cgroupns, cgroupParent, cidfile, domainname, ip6, ipc         string
	isolation, kernelMemory, logDriver, pid, runtime, userns, uts string
	volumeDriver, ioMaxBandwidth                                  string
	cpuPeriod, cpuQuota, cpuRtPeriod, cpuRtRuntime                int64
	memorySwappiness, cpuCount, cpuPercent                        int64
	ioMaxIOps                                                     uint64
	oomScoreAdj                                                   int
	quiet, disableContentTrust, useAPISocket                      bool
}

func addMoreFlags(fl *pflag.FlagSet, f *moreFlags) {
	fl.StringArrayVar(&f.annotations, "annotation", nil, "Add an annotation to the container (passed through to the OCI runtime)")
	fl.StringArrayVarP(&f.attach, "attach", "a", nil, "Attach to STDIN, STDOUT or STDERR")
	fl.StringArrayVar(&f.weightDevices, "blkio-weight-device", nil, "Block IO weight (relative device weight)")
	fl.StringVar(&f.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")
	fl.StringVar(&f.cgroupns, "cgroupns", "", `Cgroup namespace to use (host|private)`)
	fl.StringVar(&f.cidfile, "cidfile", "", "Write the container ID to the file")
	fl.Int64Var(&f.cpuCount, "cpu-count", 0, "CPU count (Windows only)")
	fl.Int64Var(&f.cpuPercent, "cpu-percent", 0, "CPU percent (Windows only)")
	fl.Int64Var(&f.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fl.Int64Var(&f.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fl.Int64Var(&f.cpuRtPeriod, "cpu-rt-period", 0, "Limit CPU real-time period in microseconds")
	fl.Int64Var(&f.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit CPU real-time runtime in microseconds")
	fl.StringArrayVar(&f.readBps, "device-read-bps", nil, "Limit read rate (bytes per second) from a device")
	fl.StringArrayVar(&f.readIOps, "device-read-iops", nil, "Limit read rate (IO per second) from a device")
	fl.StringArrayVar(&f.writeBps, "device-write-bps", nil, "Limit write rate (bytes per second) to a device")
	fl.StringArrayVar(&f.writeIOps, "device-write-iops", nil, "Limit write rate (IO per second) to a device")
	fl.BoolVar(&f.disableContentTrust, "disable-content-trust", true, "Skip image verification")
	fl.StringArrayVar(&f.dnsOptions, "dns-option", nil, "Set DNS options")
	fl.StringArrayVar(&f.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	fl.StringVar(&f.domainname, "domainname", "", "Container NIS domain name")
	fl.StringVar(&f.ioMaxBandwidth, "io-maxbandwidth", "", "Maximum IO bandwidth limit for the system drive (Windows only)")
	fl.Uint64Var(&f.ioMaxIOps, "io-maxiops", 0, "Maximum IOps limit for the system drive (Windows only)")
	fl.StringVar(&f.ip6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	fl.StringVar(&f.ipc, "ipc", "", "IPC mode to use")
	fl.StringVar(&f.isolation, "isolation", "", "Container isolation technology")
	fl.StringVar(&f.kernelMemory, "kernel-memory", "", "Kernel memory limit")
	fl.StringArrayVar(&f.labelFiles, "label-file", nil, "Read in a line delimited file of labels")
	fl.StringArrayVar(&f.links, "link", nil, "Add link to another container")
	fl.StringArrayVar(&f.linkLocalIPs, "link-local-ip", nil, "Container IPv4/IPv6 link-local addresses")
	fl.StringVar(&f.logDriver, "log-driver", "", "Logging driver for the container")
	fl.StringArrayVar(&f.logOpts, "log-opt", nil, "Log driver options")
	fl.Int64Var(&f.memorySwappiness, "memory-swappiness", -1, "Tune container memory swappiness (0 to 100)")
	fl.IntVar(&f.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	fl.StringVar(&f.pid, "pid", "", "PID namespace to use")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "Suppress the pull output")
	fl.StringVar(&f.runtime, "runtime", "", "Runtime to use for this container")
	fl.StringArrayVar(&f.storageOpts, "storage-opt", nil, "Storage driver options for the container")
	fl.BoolVar(&f.useAPISocket, "use-api-socket", false, "Bind mount the Docker API socket and required auth")
	fl.StringVar(&f.userns, "userns", "", "User namespace to use")
	fl.StringVar(&f.uts, "uts", "", "UTS namespace to use")
	fl.StringVar(&f.volumeDriver, "volume-driver", "", "Optional volume driver for the container")
}

// apply sets the flags on the create request, with docker's checks and
// words; changed tells which flags were given.
func (f *moreFlags) apply(cfg *container.Config, hc *container.HostConfig, ep *network.EndpointSettings, changed func(string) bool) error {
	for _, w := range []struct {
		flag string
		set  bool
	}{
		{"cpu-count", f.cpuCount != 0}, {"cpu-percent", f.cpuPercent != 0},
		{"io-maxbandwidth", f.ioMaxBandwidth != ""}, {"io-maxiops", f.ioMaxIOps != 0},
	} {
		if w.set {
			return fmt.Errorf("%q is only supported on a Docker daemon running on windows, but the Docker daemon is running on linux", "--"+w.flag)
		}
	}
	switch {
	case changed("disable-content-trust") && !f.disableContentTrust:
		return fmt.Errorf("content trust is not supported by gantry\nhint: --disable-content-trust=false asks for image signature verification (Notary), which gantry does not do")
	case f.useAPISocket:
		return fmt.Errorf("--use-api-socket is not supported by gantry\nhint: bind the daemon's socket yourself: -v /run/gantry.sock:/var/run/docker.sock")
	case f.kernelMemory != "":
		return fmt.Errorf("--kernel-memory is not supported by gantry\nhint: the Engine API dropped the kernel memory limit in v1.42 (kernels deprecated memory.kmem.limit_in_bytes)")
	}

	if len(f.attach) > 0 {
		cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr = false, false, false
		for _, s := range f.attach {
			switch strings.ToLower(s) {
			case "stdin":
				cfg.AttachStdin = true
			case "stdout":
				cfg.AttachStdout = true
			case "stderr":
				cfg.AttachStderr = true
			default:
				return fmt.Errorf("invalid argument %q for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR", s)
			}
		}
	}

	for _, path := range f.labelFiles {
		lines, err := readEnvFile(path)
		if err != nil {
			return err
		}
		for _, l := range lines {
			k, v, _ := strings.Cut(l, "=")
			if _, given := cfg.Labels[k]; !given { // --label wins over a file
				if cfg.Labels == nil {
					cfg.Labels = map[string]string{}
				}
				cfg.Labels[k] = v
			}
		}
	}
	var err error
	if hc.Annotations, err = strictKeyValues(f.annotations, func(a string) error {
		return fmt.Errorf("invalid argument %q for \"--annotation\" flag: invalid key-value pair", a)
	}); err != nil {
		return err
	}
	cfg.Domainname = f.domainname

	hc.CgroupnsMode = container.CgroupnsMode(f.cgroupns)
	if m := hc.CgroupnsMode; !m.IsEmpty() && !m.IsHost() && !m.IsPrivate() {
		return fmt.Errorf("--cgroupns: invalid CGROUP mode")
	}
	hc.IpcMode = container.IpcMode(f.ipc)
	if !hc.IpcMode.Valid() {
		return fmt.Errorf("--ipc: invalid IPC mode")
	}
	hc.PidMode = container.PidMode(f.pid)
	if !hc.PidMode.Valid() {
		return fmt.Errorf("--pid: invalid PID mode")
	}
	hc.UTSMode = container.UTSMode(f.uts)
	if !hc.UTSMode.Valid() {
		return fmt.Errorf("--uts: invalid UTS mode")
	}
	hc.UsernsMode = container.UsernsMode(f.userns)
	if !hc.UsernsMode.Valid() {
		return fmt.Errorf("--userns: invalid USER mode")
	}
	hc.Isolation = container.Isolation(f.isolation)
	hc.Runtime, hc.VolumeDriver = f.runtime, f.volumeDriver
	hc.OomScoreAdj = f.oomScoreAdj
	hc.DNSOptions = f.dnsOptions
	for _, d := range f.dnsSearch {
		if d != "." && (strings.HasPrefix(d, ".") || strings.HasSuffix(d, "..") || len(d) > 255) {
			return fmt.Errorf("%s is not a valid domain", d)
		}
		hc.DNSSearch = append(hc.DNSSearch, strings.TrimSuffix(d, "."))
	}
	for _, l := range f.links {
		name, _, _ := strings.Cut(l, ":")
		if name == "" {
			return fmt.Errorf("invalid argument %q for \"--link\" flag: bad format for links: %s", l, l)
		}
	}
	hc.Links = f.links

	if f.logDriver != "" || len(f.logOpts) > 0 {
		hc.LogConfig.Type = f.logDriver
		if hc.LogConfig.Config, err = strictKeyValues(f.logOpts, func(o string) error {
			return fmt.Errorf("invalid argument %q for \"--log-opt\" flag: invalid key-value pair", o)
		}); err != nil {
			return err
		}
		if f.logDriver == "none" && len(f.logOpts) > 0 {
			return fmt.Errorf("invalid logging opts for driver %s", f.logDriver)
		}
	}
	if hc.StorageOpt, err = strictKeyValues(f.storageOpts, func(string) error { return fmt.Errorf("invalid storage option") }); err != nil {
		return err
	}

	if f.ip6 != "" {
		addr, err := netip.ParseAddr(f.ip6)
		if err != nil || !addr.Is6() {
			return fmt.Errorf("invalid IPv6 address: %s", f.ip6)
		}
		if ep.IPAMConfig == nil {
			ep.IPAMConfig = &network.EndpointIPAMConfig{}
		}
		ep.IPAMConfig.IPv6Address = addr
	}
	for _, s := range f.linkLocalIPs {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--link-local-ip\" flag: invalid IP address", s)
		}
		if ep.IPAMConfig == nil {
			ep.IPAMConfig = &network.EndpointIPAMConfig{}
		}
		ep.IPAMConfig.LinkLocalIPs = append(ep.IPAMConfig.LinkLocalIPs, addr)
	}

	r := &hc.Resources
	r.CgroupParent = f.cgroupParent
	r.CPUPeriod, r.CPUQuota = f.cpuPeriod, f.cpuQuota
	r.CPURealtimePeriod, r.CPURealtimeRuntime = f.cpuRtPeriod, f.cpuRtRuntime
	if changed("memory-swappiness") {
		v := f.memorySwappiness
		if v < -1 || v > 100 {
			return fmt.Errorf("invalid value: %d. Valid memory swappiness range is 0-100", v)
		}
		r.MemorySwappiness = &v
	}
	for _, s := range f.weightDevices {
		path, w, ok := strings.Cut(s, ":")
		if !ok || !strings.HasPrefix(path, "/dev/") {
			return fmt.Errorf("invalid argument %q for \"--blkio-weight-device\" flag: bad format: %s", s, s)
		}
		n, err := strconv.ParseUint(w, 10, 16)
		if err != nil || (n > 0 && (n < 10 || n > 1000)) {
			return fmt.Errorf("invalid argument %q for \"--blkio-weight-device\" flag: invalid weight for device: %s", s, s)
		}
		r.BlkioWeightDevice = append(r.BlkioWeightDevice, &blkiodev.WeightDevice{Path: path, Weight: uint16(n)})
	}
	for _, t := range []struct {
		flag  string
		specs []string
		bytes bool
		dst   *[]*blkiodev.ThrottleDevice
	}{
		{"device-read-bps", f.readBps, true, &r.BlkioDeviceReadBps},
		{"device-write-bps", f.writeBps, true, &r.BlkioDeviceWriteBps},
		{"device-read-iops", f.readIOps, false, &r.BlkioDeviceReadIOps},
		{"device-write-iops", f.writeIOps, false, &r.BlkioDeviceWriteIOps},
	} {
		for _, s := range t.specs {
			path, rate, ok := strings.Cut(s, ":")
			if !ok || !strings.HasPrefix(path, "/dev/") {
				return fmt.Errorf("invalid argument %q for \"--%s\" flag: bad format: %s", s, t.flag, s)
			}
			var n uint64
			if t.bytes {
				b, err := units.RAMInBytes(rate)
				if err != nil || b < 0 {
					return fmt.Errorf("invalid argument %q for \"--%s\" flag: invalid rate for device: %s. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb", s, t.flag, s)
				}
				n = uint64(b)
			} else {
				v, err := strconv.ParseUint(rate, 10, 64)
				if err != nil {
					return fmt.Errorf("invalid argument %q for \"--%s\" flag: invalid rate for device: %s. The correct format is <device-path>:<number>. Number must be a positive integer", s, t.flag, s)
				}
				n = v
			}
			*t.dst = append(*t.dst, &blkiodev.ThrottleDevice{Path: path, Rate: n})
		}
	}
	return nil
}

// strictKeyValues turns KEY=VALUE flags into a map, nil when there are
// none; an entry without "=" or without a key is the error bad makes of it.
func strictKeyValues(list []string, bad func(entry string) error) (map[string]string, error) {
	var m map[string]string
	for _, s := range list {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, bad(s)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m, nil
}
