package container

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// SpecInput is everything the runtime spec is built from.
type SpecInput struct {
	ID     string
	Rootfs string // mounted rootfs path (absolute)
	// Config is already merged with the image config (Env, Cmd, Entrypoint,
	// WorkingDir, User, Tty, Hostname, ...).
	Config     *container.Config
	HostConfig *container.HostConfig // nil means the zero HostConfig
	// LinkEnv is the environment legacy links give the process, which
	// Config.Env overrides.
	LinkEnv []string
	// Files on the host bind-mounted to /etc/hosts, /etc/hostname and
	// /etc/resolv.conf; an empty path means no mount.
	HostsPath, HostnamePath, ResolvConfPath string
	// Volumes are mounted at their destinations, from their Source.
	Volumes []VolumeMount
	// NetNSPath is the network namespace to join (a sandbox of package
	// network, or another container's); "" gives a new one, unless the
	// network mode is host.
	NetNSPath string
	// PIDNSPath is the PID namespace of the container named by
	// --pid container:<id> (compose pid: service:x), which it joins.
	PIDNSPath string
	// IPCNSPath is an IPC namespace to join (a pod's); "" follows the
	// IPC mode. A PIDNSPath with the PID mode "" is a pod's too.
	IPCNSPath string
	// CgroupParent is the cgroup the container's cgroup is made under
	// (a pod's, as the kubelet names it); "" is /gantry.
	CgroupParent string
	// Confinement is the daemon's default seccomp profile and
	// no-new-privileges, which HostConfig.SecurityOpt overrides.
	Confinement Confinement
	// IDMap, unless empty, puts the container in a user namespace with
	// these uid and gid mappings (userns remapping): a new one, or the one
	// at UserNSPath (which must have them), such as the owner of the
	// network namespace it joins. Its rootfs must show the image's files
	// with host ids (layer.WithIDMap).
	IDMap      user.IdentityMapping
	UserNSPath string
	// InitPath, unless empty, is the init binary (tini, docker-init)
	// bind-mounted read-only at /sbin/docker-init and run as PID 1 with the
	// command after "--", as dockerd does for --init.
	InitPath string
	// DefaultUlimits are the daemon's (--default-ulimit): each applies
	// unless HostConfig.Ulimits has one of the same name, as dockerd
	// merges them.
	DefaultUlimits []*container.Ulimit
}

// InitDestination is where an init binary is mounted in a container, as
// dockerd mounts it.
const InitDestination = "/sbin/docker-init"

// specVersion is the ociVersion written: runc 1.1 and crun 1.8 accept it,
// while crun rejects the 1.2+ that specs.Version holds.
const specVersion = "1.0.2"

const specDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// specDefaultCaps are the capabilities Docker gives a container.
var specDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// specAllCaps are the capabilities Linux 5.9+ knows, for --cap-add ALL and
// for checking names.
var specAllCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// specMaskedPaths and specReadonlyPaths are Docker 28's defaults.
var (
	specMaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	specReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// Spec builds the OCI runtime spec of a container the way Docker does (moby's
// oci/defaults.go and daemon/oci_linux.go): Docker's default mounts, masked and
// read-only paths, capabilities, device rules and namespaces, the user resolved
// against the rootfs's /etc/passwd and /etc/group, and the binds of the host
// config. It creates the working directory inside the rootfs when missing
// (owned by the user) and the host side of -v binds, as Docker does.
//
// The seccomp filter and no_new_privs come from HostConfig.SecurityOpt and
// in.Confinement (see ParseSecurityOpt and specSeccomp): Docker's default
// profile unless told otherwise. A privileged container gets every
// capability and host device, nothing masked or read-only in /proc and
// /sys, and no seccomp filter, as dockerd's. The container:<id> pid and
// ipc modes are not implemented yet (not-implemented errors); a
// missing command, a bad bind, an unknown user or capability or a bad
// --security-opt is an invalid-argument error.
func Spec(in SpecInput) (*specs.Spec, error) {
	if in.Config == nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("container config is missing")
	}
	if in.ID == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage("container id is empty")
	}
	if !filepath.IsAbs(in.Rootfs) {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("rootfs %q is not an absolute path", in.Rootfs))
	}
	cfg := in.Config
	hc := in.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	args := append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
	if len(args) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("no command specified")
	}
	usr, home, err := specUserIn(in.Rootfs, cfg.User, hc.GroupAdd)
	if err != nil {
		return nil, err
	}
	cwd := "/"
	if cfg.WorkingDir != "" {
		cwd = filepath.Clean(cfg.WorkingDir)
		if !filepath.IsAbs(cwd) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("working directory %q is not an absolute path", cfg.WorkingDir))
		}
	}
	hostname, err := specHostname(in.ID, cfg.Hostname, hc.NetworkMode)
	if err != nil {
		return nil, err
	}
	caps, err := specCapabilities(hc.CapAdd, hc.CapDrop)
	if err != nil {
		return nil, err
	}
	if hc.Privileged {
		caps = privilegedCaps()
	}
	devices, deviceRules, err := specDevices(hc)
	if err != nil {
		return nil, err
	}
	security, err := ParseSecurityOpt(hc.SecurityOpt)
	if err != nil {
		return nil, err
	}
	oomScoreAdj := hc.OomScoreAdj
	process := &specs.Process{
		Terminal: cfg.Tty,
		User:     usr,
		Args:     args,
		Env:      specEnv(cfg.Env, in.LinkEnv, hostname, home, cfg.Tty),
		Cwd:      cwd,
		// Like execve, a non-root user keeps only the bounding set.
		Capabilities: &specs.LinuxCapabilities{Bounding: caps},
		Rlimits:      specRlimits(append(slices.Clone(in.DefaultUlimits), hc.Ulimits...)),
		OOMScoreAdj:  &oomScoreAdj,
	}
	if usr.UID == 0 {
		process.Capabilities.Effective = caps
		process.Capabilities.Permitted = caps
	}
	process.NoNewPrivileges = in.Confinement.NoNewPrivileges
	if security.NoNewPrivileges != nil {
		process.NoNewPrivileges = *security.NoNewPrivileges
	}
	if security.AppArmor != "unconfined" {
		process.ApparmorProfile = security.AppArmor // ParseSecurityOpt checked the host has AppArmor
	}
	seccomp, err := specSeccomp(security.Seccomp, hc.Privileged, in.Confinement, process)
	if err != nil {
		return nil, err
	}
	if cfg.Tty && hc.ConsoleSize[0] > 0 && hc.ConsoleSize[1] > 0 {
		process.ConsoleSize = &specs.Box{Height: hc.ConsoleSize[0], Width: hc.ConsoleSize[1]}
	}

	namespaces, err := specNamespaces(hc, in.NetNSPath, in.PIDNSPath, in.IPCNSPath)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.UTSNamespace }) {
		hostname = "" // --uts=host: the host's own name
	}
	if in.InitPath != "" {
		args = append([]string{InitDestination, "--"}, args...)
		process.Args = args
	}
	mounts, propagation, err := specMounts(in, hc)
	if err != nil {
		return nil, err
	}
	masked, readonly := specMaskedPaths, specReadonlyPaths
	if hc.MaskedPaths != nil {
		masked = hc.MaskedPaths
	}
	if hc.ReadonlyPaths != nil {
		readonly = hc.ReadonlyPaths
	}
	if hc.Privileged {
		// As dockerd: nothing masked, /proc/sys and the like writable.
		masked, readonly = nil, nil
	}
	sysctl := map[string]string{}
	for k, v := range hc.Sysctls {
		sysctl[k] = v
	}
	if !hc.NetworkMode.IsHost() {
		// Docker lets unprivileged users bind low ports and ping inside the
		// container's own network namespace.
		if _, ok := sysctl["net.ipv4.ip_unprivileged_port_start"]; !ok {
			sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
		}
		// Not in a user namespace, whose gids do not reach 2147483647
		// (as dockerd).
		if _, ok := sysctl["net.ipv4.ping_group_range"]; !ok && in.IDMap.Empty() {
			sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
		}
	}
	if cfg.Domainname != "" && hostname != "" {
		// As Docker does: runc before 1.2 ignores the spec's domainname.
		sysctl["kernel.domainname"] = cfg.Domainname
	}
	if len(sysctl) == 0 {
		sysctl = nil
	}
	// Last, so that an invalid input leaves the rootfs untouched.
	// Created owned by root whatever the user, as dockerd does (the
	// container's root: mapped under userns remapping).
	cwdUID, cwdGID, err := in.IDMap.ToHost(0, 0)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("user %s: %v", cfg.User, err))
	}
	if err := specMkdirAll(in.Rootfs, cwd, cwdUID, cwdGID); err != nil {
		if errdefs.IsInvalidArgument(err) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Cannot mkdir: %s is not a directory", cwd))
		}
		return nil, fmt.Errorf("working directory: %w", err)
	}
	uidMappings, gidMappings := specIDMappings(in.IDMap)
	if uidMappings != nil {
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: in.UserNSPath})
	}

	resources := specResources(hc.Resources)
	resources.Devices = append(resources.Devices, deviceRules...)
	if devices == nil {
		devices = []specs.LinuxDevice{}
	}
	spec := &specs.Spec{
		Version:  specVersion,
		Process:  process,
		Root:     &specs.Root{Path: in.Rootfs, Readonly: hc.ReadonlyRootfs},
		Hostname: hostname,
		Mounts:   specInitMount(mounts, in.InitPath),
		Linux: &specs.Linux{
			Sysctl:      sysctl,
			CgroupsPath: specCgroupsPath(in.CgroupParent, in.ID),
			Resources:   resources,
			Namespaces:  namespaces,
			UIDMappings: uidMappings,
			GIDMappings: gidMappings,
			// runc creates the default devices itself: null, zero, full,
			// random, urandom, tty, console and ptmx (via /dev/pts); these
			// are --device's and, privileged, the host's.
			Devices:           devices,
			Seccomp:           seccomp,
			MaskedPaths:       slices.Clone(masked),
			ReadonlyPaths:     slices.Clone(readonly),
			RootfsPropagation: propagation,
		},
	}
	// --annotation (compose annotations) reach the runtime as dockerd's do.
	spec.Annotations = maps.Clone(hc.Annotations)
	return spec, nil
}

// specCgroupsPath is runc's cgroupfs path of the container: under parent,
// else under /gantry.
func specCgroupsPath(parent, id string) string {
	if parent == "" {
		parent = "/gantry"
	}
	return path.Join("/", parent, id)
}

// specHostname is the container's hostname: the configured one, else the
// host's name with --network host, else the first 12 characters of the ID.
func specHostname(id, configured string, mode container.NetworkMode) (string, error) {
	switch {
	case configured != "":
		return configured, nil
	case mode.IsHost():
		name, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("hostname: %w", err)
		}
		return name, nil
	case len(id) > 12:
		return id[:12], nil
	}
	return id, nil
}

// specEnv is Docker's environment: PATH, HOSTNAME and (with a tty) TERM,
// then linkEnv, then the config's variables replacing those of the same name
// ("NAME" alone removes NAME), then HOME from passwd when the config does
// not set it.
func specEnv(configEnv, linkEnv []string, hostname, home string, tty bool) []string {
	env := []string{specDefaultPath, "HOSTNAME=" + hostname}
	if tty {
		env = append(env, "TERM=xterm")
	}
	env = append(env, linkEnv...)
	for _, kv := range configEnv {
		name, _, hasValue := strings.Cut(kv, "=")
		i := slices.IndexFunc(env, func(e string) bool { return strings.HasPrefix(e, name+"=") })
		switch {
		case !hasValue && i >= 0:
			env = slices.Delete(env, i, i+1)
		case !hasValue:
		case i >= 0:
			env[i] = kv
		default:
			env = append(env, kv)
		}
	}
	if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "HOME=") }) {
		env = append(env, "HOME="+home)
	}
	return env
}

// specCapabilities applies --cap-add and --cap-drop to Docker's default set,
// with Docker's rules: names with or without CAP_, any case; "ALL" in add
// means every capability but the dropped ones; "ALL" in drop means only the
// added ones.
func specCapabilities(add, drop []string) ([]string, error) {
	norm := func(names []string) ([]string, bool, error) {
		var out []string
		all := false
		for _, n := range names {
			c := strings.ToUpper(n)
			if c == "ALL" {
				all = true
				continue
			}
			if !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			if !slices.Contains(specAllCaps, c) {
				return nil, false, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown capability: %q", n))
			}
			out = append(out, c)
		}
		return out, all, nil
	}
	adds, addAll, err := norm(add)
	if err != nil {
		return nil, err
	}
	drops, dropAll, err := norm(drop)
	if err != nil {
		return nil, err
	}
	var caps []string
	switch {
	case addAll:
		// Every capability this host's bounding set has (as
		// --privileged): one it lacks cannot be given.
		for _, c := range privilegedCaps() {
			if !slices.Contains(drops, c) {
				caps = append(caps, c)
			}
		}
		return caps, nil
	case dropAll:
		caps = adds
	default:
		for _, c := range specDefaultCaps {
			if !slices.Contains(drops, c) {
				caps = append(caps, c)
			}
		}
		for _, c := range adds {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	return caps, nil
}

// specRlimits is RLIMIT_NOFILE 1048576 for soft and hard (what Docker
// containers get from containerd), lowered to this process's own hard limit
// when that is lower, since raising it needs CAP_SYS_RESOURCE; then the
// ulimits in order (the daemon's, then --ulimit), each replacing a limit
// of the same name.
func specRlimits(ulimits []*container.Ulimit) []specs.POSIXRlimit {
	nofile := uint64(1048576)
	var own syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &own); err == nil && own.Max < nofile {
		nofile = own.Max
	}
	limits := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile, Soft: nofile}}
	for _, u := range ulimits {
		if u == nil {
			continue
		}
		l := specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(u.Name), Hard: uint64(u.Hard), Soft: uint64(u.Soft)}
		if i := slices.IndexFunc(limits, func(x specs.POSIXRlimit) bool { return x.Type == l.Type }); i >= 0 {
			limits[i] = l
		} else {
			limits = append(limits, l)
		}
	}
	return limits
}

// specNamespaces is Docker's set (mount, network, uts, pid, ipc) minus the
// ones shared with the host. Every network mode but "host" gets a new network
// namespace holding only lo until the network package connects it.
func specNamespaces(hc *container.HostConfig, netNSPath, pidNSPath, ipcNSPath string) ([]specs.LinuxNamespace, error) {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	switch {
	case hc.NetworkMode.IsHost():
	case netNSPath != "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netNSPath})
	case hc.NetworkMode.IsContainer():
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("network mode %q needs the namespace path of that container", hc.NetworkMode))
	default:
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	switch hc.UTSMode {
	case "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace})
	case "host":
	default:
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid UTS mode: %v", hc.UTSMode))
	}
	switch {
	case hc.PidMode == "" && pidNSPath != "": // a pod's
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: pidNSPath})
	case hc.PidMode == "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	case hc.PidMode.IsHost():
	case hc.PidMode.IsContainer() && pidNSPath != "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: pidNSPath})
	case hc.PidMode.IsContainer():
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("pid mode %q needs the namespace path of that container", hc.PidMode))
	default:
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid PID mode: %v", hc.PidMode))
	}
	switch {
	case hc.IpcMode.IsHost():
	case ipcNSPath != "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: ipcNSPath})
	case hc.IpcMode.IsContainer():
		return nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("ipc mode %q is not supported yet", hc.IpcMode))
	case hc.IpcMode == "", hc.IpcMode.IsPrivate(), hc.IpcMode.IsShareable(), hc.IpcMode.IsNone():
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
	default:
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid IPC mode: %v", hc.IpcMode))
	}
	return ns, nil
}

// specDeviceRules is Docker's device cgroup: deny all, then allow the default
// character devices; runc appends its own allowances (pts, ptmx, mknod).
// specResources maps the cgroup limits of `docker run` (--memory,
// --memory-swap, --cpus, --cpu-shares, --cpu-quota/--cpu-period,
// --cpuset-cpus/--cpuset-mems, --pids-limit) to the runtime spec; runc
// applies them.
func specResources(r container.Resources) *specs.LinuxResources {
	out := &specs.LinuxResources{Devices: specDeviceRules()}
	if r.Memory > 0 || r.MemorySwap != 0 || r.MemoryReservation > 0 {
		out.Memory = &specs.LinuxMemory{}
		if r.Memory > 0 {
			out.Memory.Limit = &r.Memory
		}
		if r.MemorySwap != 0 {
			out.Memory.Swap = &r.MemorySwap
		}
		if r.MemoryReservation > 0 {
			out.Memory.Reservation = &r.MemoryReservation
		}
	}
	cpu := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
	if r.CPUShares > 0 {
		shares := uint64(r.CPUShares)
		cpu.Shares = &shares
	}
	period, quota := uint64(r.CPUPeriod), r.CPUQuota
	if r.NanoCPUs > 0 {
		period = 100000 // as Docker: --cpus=1.5 is 150000us per 100000us
		quota = r.NanoCPUs * int64(period) / 1e9
	}
	if period > 0 {
		cpu.Period = &period
	}
	if quota > 0 {
		cpu.Quota = &quota
	}
	if *cpu != (specs.LinuxCPU{}) {
		out.CPU = cpu
	}
	if r.PidsLimit != nil && *r.PidsLimit > 0 {
		out.Pids = &specs.LinuxPids{Limit: r.PidsLimit}
	}
	if r.OomKillDisable != nil && *r.OomKillDisable {
		// The daemon refuses it where the memory cgroup cannot (v2).
		if out.Memory == nil {
			out.Memory = &specs.LinuxMemory{}
		}
		disable := true
		out.Memory.DisableOOMKiller = &disable
	}
	if r.BlkioWeight > 0 {
		w := r.BlkioWeight
		out.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return out
}

func specDeviceRules() []specs.LinuxDeviceCgroup {
	allow := func(major, minor int64) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwm"}
	}
	fuse := allow(10, 229)
	fuse.Allow = false
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		allow(1, 5), // zero
		allow(1, 3), // null
		allow(1, 9), // urandom
		allow(1, 8), // random
		allow(5, 0), // tty
		allow(5, 1), // console
		fuse,
	}
}

// specMounts returns Docker's default mounts (minus those a user mount
// replaces), then the network files and the user mounts ordered by depth of
// their destination (a stable sort, so /etc/resolv.conf, /etc/hostname and
// /etc/hosts keep that order), and the rootfs propagation the binds need.
func specMounts(in SpecInput, hc *container.HostConfig) ([]specs.Mount, string, error) {
	user, propagation, err := specUserMounts(hc, in.Volumes)
	if err != nil {
		return nil, "", err
	}
	taken := map[string]bool{}
	for _, m := range user {
		taken[m.Destination] = true
	}
	ro := func(opts ...string) []string {
		if hc.ReadonlyRootfs {
			opts = append(opts, "ro")
		}
		return append(opts, "rprivate")
	}
	var late []specs.Mount
	for _, f := range []struct{ dst, src string }{
		{"/etc/resolv.conf", in.ResolvConfPath},
		{"/etc/hostname", in.HostnamePath},
		{"/etc/hosts", in.HostsPath},
	} {
		if f.src != "" && !taken[f.dst] {
			late = append(late, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: ro("rbind")})
		}
	}
	late = append(late, user...)
	slices.SortStableFunc(late, func(a, b specs.Mount) int {
		return strings.Count(filepath.Clean(a.Destination), "/") - strings.Count(filepath.Clean(b.Destination), "/")
	})

	sysOpts := func(opts ...string) []string {
		if hc.Privileged { // as dockerd: /sys and the cgroups writable
			opts = slices.DeleteFunc(opts, func(o string) bool { return o == "ro" })
		}
		return opts
	}
	shmSize := hc.ShmSize
	if shmSize <= 0 {
		shmSize = 64 << 20
	}
	defaults := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts("nosuid", "noexec", "nodev", "ro")},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: sysOpts("ro", "nosuid", "noexec", "nodev")},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shmSize, 10)}},
	}
	var mounts []specs.Mount
	for _, m := range defaults {
		if taken[m.Destination] || (taken["/dev"] && strings.HasPrefix(m.Destination, "/dev/")) {
			continue
		}
		mounts = append(mounts, m)
	}
	return append(mounts, late...), propagation, nil
}

// specUserMounts turns -v binds, --mount (bind, tmpfs), --tmpfs and the
// volumes into mounts, and returns the rootfs propagation shared or slave
// binds need. The binds and mounts that name volumes are among volumes.
func specUserMounts(hc *container.HostConfig, volumes []VolumeMount) ([]specs.Mount, string, error) {
	var out []specs.Mount
	propagation := ""
	addBind := func(src, dst string, readonly, recursiveRO, nonRecursive bool, prop string) {
		opts := []string{"rbind"}
		if nonRecursive {
			opts[0] = "bind"
		}
		if readonly {
			opts = append(opts, "ro")
		}
		if recursiveRO {
			opts = append(opts, "rro")
		}
		if prop == "" {
			prop = "rprivate"
		}
		switch prop {
		case "shared", "rshared":
			propagation = "rshared"
		case "slave", "rslave":
			if propagation == "" {
				propagation = "rslave"
			}
		}
		out = append(out, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append(opts, prop)})
	}
	addTmpfs := func(dst string, opts []string) {
		out = append(out, specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs",
			Options: specMergeTmpfsOptions(append([]string{"noexec", "nosuid", "nodev", "rprivate"}, opts...))})
	}
	seen := map[string]bool{}
	checkDst := func(dst string) error {
		if !filepath.IsAbs(dst) {
			return fmt.Errorf("invalid mount path: '%s' mount path must be absolute", dst)
		}
		if filepath.Clean(dst) == "/" {
			return errors.New("destination can't be '/'")
		}
		if seen[filepath.Clean(dst)] {
			return fmt.Errorf("duplicate mount point: %s", dst)
		}
		seen[filepath.Clean(dst)] = true
		return nil
	}

	for _, bind := range hc.Binds {
		src, dst, mode, err := specParseBind(bind)
		if err == nil && !filepath.IsAbs(src) {
			continue // a volume
		}
		if err == nil {
			err = checkDst(dst)
		}
		if err != nil {
			return nil, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid volume specification: '%s': %v", bind, err))
		}
		// Like Docker, -v creates a missing host directory; an existing
		// source of any kind (a file, a socket) is bound as it is.
		if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, "", fmt.Errorf("bind source %s: %w", src, err)
			}
		} else if err != nil {
			return nil, "", fmt.Errorf("bind source %s: %w", src, err)
		}
		addBind(filepath.Clean(src), filepath.Clean(dst), slices.Contains(mode, "ro"), false, false, specPropagation(mode))
	}
	for _, v := range volumes {
		if err := checkDst(v.Destination); err != nil {
			return nil, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid volume %s: %v", v.Destination, err))
		}
		addBind(v.Source, v.Destination, v.ReadOnly, false, false, "")
	}
	for _, m := range hc.Mounts {
		if m.Type == mount.TypeVolume {
			continue // among volumes
		}
		invalid := func(msg string) error {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount config for type %q: %s", m.Type, msg))
		}
		if err := checkDst(m.Target); err != nil {
			return nil, "", invalid(err.Error())
		}
		switch m.Type {
		case mount.TypeBind:
			if !filepath.IsAbs(m.Source) {
				return nil, "", invalid(fmt.Sprintf("invalid mount path: '%s' mount path must be absolute", m.Source))
			}
			var prop string
			var nonRecursive, recursiveRO, create bool
			if o := m.BindOptions; o != nil {
				prop, nonRecursive = string(o.Propagation), o.NonRecursive
				recursiveRO, create = m.ReadOnly && o.ReadOnlyForceRecursive, o.CreateMountpoint
			}
			if _, err := os.Stat(m.Source); err != nil {
				// CreateMountpoint (compose's bind.create_host_path) makes
				// a missing source a directory, as dockerd does.
				if !create || !errors.Is(err, fs.ErrNotExist) {
					return nil, "", invalid("bind source path does not exist: " + m.Source)
				}
				if err := os.MkdirAll(m.Source, 0o755); err != nil {
					return nil, "", invalid(fmt.Sprintf("create bind source %s: %v", m.Source, err))
				}
			}
			addBind(filepath.Clean(m.Source), filepath.Clean(m.Target), m.ReadOnly, recursiveRO, nonRecursive, prop)
		case mount.TypeTmpfs:
			if m.Source != "" {
				return nil, "", invalid("source must not be specified")
			}
			var opts []string
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			if o := m.TmpfsOptions; o != nil {
				if o.SizeBytes > 0 {
					opts = append(opts, "size="+strconv.FormatInt(o.SizeBytes, 10))
				}
				if o.Mode != 0 {
					opts = append(opts, fmt.Sprintf("mode=%o", o.Mode.Perm()))
				}
			}
			addTmpfs(filepath.Clean(m.Target), opts)
		default:
			return nil, "", errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("mounts of type %q are not supported yet", m.Type))
		}
	}
	dsts := make([]string, 0, len(hc.Tmpfs))
	for dst := range hc.Tmpfs {
		dsts = append(dsts, dst)
	}
	slices.Sort(dsts)
	for _, dst := range dsts {
		if err := checkDst(dst); err != nil {
			return nil, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid tmpfs %s: %v", dst, err))
		}
		var opts []string
		if data := hc.Tmpfs[dst]; data != "" {
			opts = strings.Split(data, ",")
		}
		addTmpfs(filepath.Clean(dst), opts)
	}
	return out, propagation, nil
}

// specParseBind splits "/host:/ctr[:mode]", mode being a comma-separated
// list of ro|rw, a propagation, z|Z and nocopy, each at most once.
func specParseBind(bind string) (src, dst string, mode []string, err error) {
	parts := strings.Split(bind, ":")
	switch len(parts) {
	case 2:
	case 3:
		mode = strings.Split(parts[2], ",")
	default:
		return "", "", nil, errors.New("want SOURCE:DESTINATION[:MODE]")
	}
	if parts[0] == "" || parts[1] == "" {
		return "", "", nil, errors.New("empty source or destination")
	}
	var rw, prop, label, nocopy int
	for _, m := range mode {
		switch m {
		case "ro", "rw":
			rw++
		case "private", "rprivate", "shared", "rshared", "slave", "rslave":
			prop++
		case "z", "Z":
			label++ // SELinux relabelling: nothing to do without SELinux
		case "nocopy":
			nocopy++
		default:
			return "", "", nil, fmt.Errorf("invalid mode: %s", parts[2])
		}
	}
	if rw > 1 || prop > 1 || label > 1 || nocopy > 1 {
		return "", "", nil, fmt.Errorf("invalid mode: %s", parts[2])
	}
	return parts[0], parts[1], mode, nil
}

func specPropagation(mode []string) string {
	for _, m := range mode {
		switch m {
		case "private", "rprivate", "shared", "rshared", "slave", "rslave":
			return m
		}
	}
	return ""
}

// specMergeTmpfsOptions keeps the last of conflicting options: a flag
// overrides its opposite (exec after noexec wins) and key=value options
// override earlier values of the same key.
func specMergeTmpfsOptions(opts []string) []string {
	opposite := map[string]string{
		"exec": "noexec", "noexec": "exec", "suid": "nosuid", "nosuid": "suid",
		"dev": "nodev", "nodev": "dev", "ro": "rw", "rw": "ro",
		"atime": "noatime", "noatime": "atime", "diratime": "nodiratime", "nodiratime": "diratime",
	}
	var out []string
	for _, o := range opts {
		if o == "" {
			continue
		}
		key, _, isKV := strings.Cut(o, "=")
		out = slices.DeleteFunc(out, func(prev string) bool {
			if isKV {
				k, _, ok := strings.Cut(prev, "=")
				return ok && k == key
			}
			return prev == o || prev == opposite[o]
		})
		out = append(out, o)
	}
	return out
}

// specInitMount adds the bind mount of the init binary, if any.
func specInitMount(mounts []specs.Mount, initPath string) []specs.Mount {
	if initPath == "" {
		return mounts
	}
	return append(mounts, specs.Mount{Destination: InitDestination, Type: "bind", Source: initPath, Options: []string{"bind", "ro"}})
}
