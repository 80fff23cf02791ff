package container

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	specTestPasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" +
		"app:x:1000:1000::/home/app:/bin/sh\n" +
		"nohome:x:1001:1001:::/bin/sh\n"
	specTestGroup = "root:x:0:\n" +
		"daemon:x:1:\n" +
		"tty:x:5:app\n" +
		"staff:x:50:app,daemon\n" +
		"app:x:1000:\n" +
		"nogroup:x:65534:\n"
)

// specTestRootfs returns a rootfs holding /etc/passwd and /etc/group.
func specTestRootfs(t *testing.T) string {
	t.Helper()
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"passwd": specTestPasswd, "group": specTestGroup} {
		if err := os.WriteFile(filepath.Join(rootfs, "etc", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return rootfs
}

// specTestWant is the spec of `docker run --network none IMAGE sh` for a
// container with ID specTestID.
func specTestWant(rootfs string) *specs.Spec {
	i64 := func(v int64) *int64 { return &v }
	caps := []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
	oom := 0
	nofile := specTestNofile()
	return &specs.Spec{
		Version: "1.0.2",
		Process: &specs.Process{
			User: specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0}},
			Args: []string{"sh"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"HOSTNAME=0123456789ab",
				"HOME=/root",
			},
			Cwd:          "/",
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:      []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile, Soft: nofile}},
			OOMScoreAdj:  &oom,
		},
		Root:     &specs.Root{Path: rootfs},
		Hostname: "0123456789ab",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
			{Destination: "/etc/resolv.conf", Type: "bind", Source: "/run/c/resolv.conf", Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/hostname", Type: "bind", Source: "/run/c/hostname", Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/hosts", Type: "bind", Source: "/run/c/hosts", Options: []string{"rbind", "rprivate"}},
		},
		Linux: &specs.Linux{
			Sysctl: map[string]string{
				"net.ipv4.ip_unprivileged_port_start": "0",
				"net.ipv4.ping_group_range":           "0 2147483647",
			},
			CgroupsPath: "/gantry/" + specTestID,
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"},
				{Allow: false, Type: "c", Major: i64(10), Minor: i64(229), Access: "rwm"},
			}},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
			},
			Devices: []specs.LinuxDevice{},
			MaskedPaths: []string{
				"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
				"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
				"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// specTestNofile is the default RLIMIT_NOFILE: 1048576, or this process's
// hard limit when lower.
func specTestNofile() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Max < 1048576 {
		return l.Max
	}
	return 1048576
}

const specTestID = "0123456789abcdef0123456789abcdef"

func specTestInput(rootfs string) SpecInput {
	return SpecInput{
		ID:             specTestID,
		Rootfs:         rootfs,
		Config:         &container.Config{Cmd: []string{"sh"}},
		HostConfig:     &container.HostConfig{NetworkMode: "none"},
		HostsPath:      "/run/c/hosts",
		HostnamePath:   "/run/c/hostname",
		ResolvConfPath: "/run/c/resolv.conf",
	}
}

func TestSpec(t *testing.T) {
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	binds := t.TempDir()
	nonRootCaps := specTestWant("").Process.Capabilities.Bounding

	tests := []struct {
		name     string
		change   func(in *SpecInput)
		want     func(s *specs.Spec)
		needRoot bool // creates a directory owned by root
	}{
		{
			name:   "defaults",
			change: func(*SpecInput) {},
			want:   func(*specs.Spec) {},
		},
		{
			name: "entrypoint then cmd",
			change: func(in *SpecInput) {
				in.Config.Entrypoint = []string{"/entry", "-x"}
				in.Config.Cmd = []string{"a", "b"}
			},
			want: func(s *specs.Spec) { s.Process.Args = []string{"/entry", "-x", "a", "b"} },
		},
		{
			name: "env replaces, appends and removes",
			change: func(in *SpecInput) {
				in.Config.Env = []string{"PATH=/bin", "FOO=bar", "HOSTNAME", "HOME=/h", "EMPTY="}
			},
			want: func(s *specs.Spec) { s.Process.Env = []string{"PATH=/bin", "FOO=bar", "HOME=/h", "EMPTY="} },
		},
		{
			name: "tty",
			change: func(in *SpecInput) {
				in.Config.Tty = true
				in.HostConfig.ConsoleSize = [2]uint{40, 120}
			},
			want: func(s *specs.Spec) {
				s.Process.Terminal = true
				s.Process.ConsoleSize = &specs.Box{Height: 40, Width: 120}
				s.Process.Env = []string{s.Process.Env[0], s.Process.Env[1], "TERM=xterm", "HOME=/root"}
			},
		},
		{
			name:   "configured hostname and domain",
			change: func(in *SpecInput) { in.Config.Hostname, in.Config.Domainname = "web", "example.org" },
			want: func(s *specs.Spec) {
				s.Hostname = "web"
				s.Linux.Sysctl["kernel.domainname"] = "example.org"
				s.Process.Env[1] = "HOSTNAME=web"
			},
		},
		{
			name:   "user by name gets supplementary groups and keeps only the bounding set",
			change: func(in *SpecInput) { in.Config.User = "app" },
			want: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 5, 50}}
				s.Process.Env[2] = "HOME=/home/app"
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: nonRootCaps}
			},
		},
		{
			name:   "user:group by name",
			change: func(in *SpecInput) { in.Config.User = "daemon:staff" },
			want: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1, GID: 50, AdditionalGids: []uint32{50}}
				s.Process.Env[2] = "HOME=/usr/sbin"
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: nonRootCaps}
			},
		},
		{
			name: "numeric uid:gid without passwd entry, with group-add",
			change: func(in *SpecInput) {
				in.Config.User = "4242:4343"
				in.HostConfig.GroupAdd = []string{"tty", "77"}
			},
			want: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 4242, GID: 4343, AdditionalGids: []uint32{4343, 5, 77}}
				s.Process.Env[2] = "HOME=/"
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: nonRootCaps}
			},
		},
		{
			name:   "user without home",
			change: func(in *SpecInput) { in.Config.User = "nohome" },
			want: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1001, GID: 1001, AdditionalGids: []uint32{1001}}
				s.Process.Env[2] = "HOME=/"
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: nonRootCaps}
			},
		},
		{
			name:     "working directory",
			change:   func(in *SpecInput) { in.Config.WorkingDir = "/srv/app/" },
			want:     func(s *specs.Spec) { s.Process.Cwd = "/srv/app" },
			needRoot: true,
		},
		{
			name:   "host network",
			change: func(in *SpecInput) { in.HostConfig.NetworkMode = "host" },
			want: func(s *specs.Spec) {
				s.Hostname = hostname
				s.Process.Env[1] = "HOSTNAME=" + hostname
				s.Linux.Sysctl = nil
				s.Linux.Namespaces = []specs.LinuxNamespace{
					{Type: specs.MountNamespace}, {Type: specs.UTSNamespace}, {Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				}
			},
		},
		{
			name:   "default network without a sandbox is a private namespace",
			change: func(in *SpecInput) { in.HostConfig.NetworkMode = "default" },
			want:   func(*specs.Spec) {},
		},
		{
			name: "network namespace joined by path",
			change: func(in *SpecInput) {
				in.HostConfig.NetworkMode = "container:abc"
				in.NetNSPath = "/run/gantry/netns/abc"
			},
			want: func(s *specs.Spec) {
				for i, ns := range s.Linux.Namespaces {
					if ns.Type == specs.NetworkNamespace {
						s.Linux.Namespaces[i].Path = "/run/gantry/netns/abc"
					}
				}
			},
		},
		{
			name: "host pid, ipc and uts",
			change: func(in *SpecInput) {
				in.HostConfig.PidMode, in.HostConfig.IpcMode, in.HostConfig.UTSMode = "host", "host", "host"
			},
			want: func(s *specs.Spec) {
				s.Hostname = ""
				s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}}
			},
		},
		{
			name: "another container's pid namespace",
			change: func(in *SpecInput) {
				in.HostConfig.PidMode, in.PIDNSPath = "container:db", "/proc/42/ns/pid"
			},
			want: func(s *specs.Spec) {
				for i, ns := range s.Linux.Namespaces {
					if ns.Type == specs.PIDNamespace {
						s.Linux.Namespaces[i].Path = "/proc/42/ns/pid"
					}
				}
			},
		},
		{
			name: "binds, mounts and tmpfs sorted by depth",
			change: func(in *SpecInput) {
				in.HostConfig.Binds = []string{
					binds + "/data:/data:ro",
					binds + "/deep:/a/b/c",
					binds + "/shared:/shared:rw,rshared",
				}
				in.HostConfig.Mounts = []mount.Mount{
					{Type: mount.TypeBind, Source: binds, Target: "/m", ReadOnly: true},
					{Type: mount.TypeTmpfs, Target: "/cache", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o700}},
				}
				in.HostConfig.Tmpfs = map[string]string{"/run": "exec,size=1m"}
			},
			want: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts[:7],
					specs.Mount{Destination: "/data", Type: "bind", Source: binds + "/data", Options: []string{"rbind", "ro", "rprivate"}},
					specs.Mount{Destination: "/shared", Type: "bind", Source: binds + "/shared", Options: []string{"rbind", "rshared"}},
					specs.Mount{Destination: "/m", Type: "bind", Source: binds, Options: []string{"rbind", "ro", "rprivate"}},
					specs.Mount{Destination: "/cache", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec", "nosuid", "nodev", "rprivate", "size=1048576", "mode=700"}},
					specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "rprivate", "exec", "size=1m"}},
					s.Mounts[7], s.Mounts[8], s.Mounts[9],
					specs.Mount{Destination: "/a/b/c", Type: "bind", Source: binds + "/deep", Options: []string{"rbind", "rprivate"}},
				)
				s.Linux.RootfsPropagation = "rshared"
			},
		},
		{
			name: "a bind of a file",
			change: func(in *SpecInput) {
				if err := os.WriteFile(binds+"/app.conf", []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				in.HostConfig.Binds = []string{binds + "/app.conf:/etc/app.conf:ro"}
			},
			want: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts,
					specs.Mount{Destination: "/etc/app.conf", Type: "bind", Source: binds + "/app.conf", Options: []string{"rbind", "ro", "rprivate"}})
			},
		},
		{
			name: "a forced recursive read-only bind, a bind whose missing source is created, annotations",
			change: func(in *SpecInput) {
				in.HostConfig.Mounts = []mount.Mount{
					{Type: mount.TypeBind, Source: binds, Target: "/rro", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyForceRecursive: true}},
					{Type: mount.TypeBind, Source: binds + "/made/here", Target: "/made", BindOptions: &mount.BindOptions{CreateMountpoint: true}},
				}
				in.HostConfig.Annotations = map[string]string{"com.example.note": "hi"}
			},
			want: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts[:7],
					specs.Mount{Destination: "/rro", Type: "bind", Source: binds, Options: []string{"rbind", "ro", "rro", "rprivate"}},
					specs.Mount{Destination: "/made", Type: "bind", Source: binds + "/made/here", Options: []string{"rbind", "rprivate"}},
					s.Mounts[7], s.Mounts[8], s.Mounts[9])
				s.Annotations = map[string]string{"com.example.note": "hi"}
			},
		},
		{
			name: "volumes are binds of their data",
			change: func(in *SpecInput) {
				in.HostConfig.Binds = []string{"data:/data:ro"}
				in.HostConfig.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "v2", Target: "/v2"}}
				in.Volumes = []VolumeMount{
					{Name: "data", Destination: "/data", ReadOnly: true, Source: "/vols/data/_data"},
					{Name: "v2", Destination: "/v2", Source: "/vols/v2/_data"},
				}
			},
			want: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts[:7],
					specs.Mount{Destination: "/data", Type: "bind", Source: "/vols/data/_data", Options: []string{"rbind", "ro", "rprivate"}},
					specs.Mount{Destination: "/v2", Type: "bind", Source: "/vols/v2/_data", Options: []string{"rbind", "rprivate"}},
					s.Mounts[7], s.Mounts[8], s.Mounts[9],
				)
			},
		},
		{
			name: "user mounts replace defaults and network files",
			change: func(in *SpecInput) {
				in.HostConfig.Binds = []string{binds + ":/dev", binds + ":/etc/hosts:ro"}
			},
			want: func(s *specs.Spec) {
				s.Mounts = []specs.Mount{
					s.Mounts[0], s.Mounts[3], s.Mounts[4],
					{Destination: "/dev", Type: "bind", Source: binds, Options: []string{"rbind", "rprivate"}},
					s.Mounts[7], s.Mounts[8],
					{Destination: "/etc/hosts", Type: "bind", Source: binds, Options: []string{"rbind", "ro", "rprivate"}},
				}
			},
		},
		{
			name: "read-only rootfs, shm size, sysctls, ulimits, oom score",
			change: func(in *SpecInput) {
				in.HostConfig.ReadonlyRootfs = true
				in.HostConfig.ShmSize = 1 << 30
				in.HostConfig.Sysctls = map[string]string{"net.ipv4.ping_group_range": "1 1", "kernel.msgmax": "1"}
				in.HostConfig.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 10, Hard: 20}, {Name: "nproc", Soft: 5, Hard: 6}}
				in.HostConfig.OomScoreAdj = 100
			},
			want: func(s *specs.Spec) {
				s.Root.Readonly = true
				s.Mounts[6].Options[4] = "size=1073741824"
				for i := 7; i < 10; i++ {
					s.Mounts[i].Options = []string{"rbind", "ro", "rprivate"}
				}
				s.Linux.Sysctl["net.ipv4.ping_group_range"] = "1 1"
				s.Linux.Sysctl["kernel.msgmax"] = "1"
				s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}, {Type: "RLIMIT_NPROC", Soft: 5, Hard: 6}}
				oom := 100
				s.Process.OOMScoreAdj = &oom
			},
		},
		{
			name: "cap add and drop",
			change: func(in *SpecInput) {
				in.HostConfig.CapAdd = []string{"net_admin", "CAP_SYS_PTRACE", "KILL"}
				in.HostConfig.CapDrop = []string{"mknod", "CAP_NET_RAW"}
			},
			want: func(s *specs.Spec) {
				caps := []string{
					"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
					"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
					"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
					"CAP_NET_ADMIN", "CAP_SYS_PTRACE",
				}
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
			},
		},
		{
			name: "drop all, add one",
			change: func(in *SpecInput) {
				in.HostConfig.CapAdd = []string{"chown"}
				in.HostConfig.CapDrop = []string{"all"}
			},
			want: func(s *specs.Spec) {
				caps := []string{"CAP_CHOWN"}
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
			},
		},
		{
			name: "masked and read-only paths from the host config",
			change: func(in *SpecInput) {
				in.HostConfig.MaskedPaths = []string{}
				in.HostConfig.ReadonlyPaths = []string{"/proc/sys"}
			},
			want: func(s *specs.Spec) {
				s.Linux.MaskedPaths = []string{}
				s.Linux.ReadonlyPaths = []string{"/proc/sys"}
			},
		},
		{
			name: "no network files",
			change: func(in *SpecInput) {
				in.HostsPath, in.HostnamePath, in.ResolvConfPath = "", "", ""
			},
			want: func(s *specs.Spec) { s.Mounts = s.Mounts[:7] },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needRoot && os.Geteuid() != 0 {
				t.Skip("skipping: needs root")
			}
			rootfs := specTestRootfs(t)
			in := specTestInput(rootfs)
			tt.change(&in)
			want := specTestWant(rootfs)
			tt.want(want)
			// Docker's default profile, resolved for the container's
			// capabilities (TestSpecSecurity checks what that means).
			want.Linux.Seccomp = specTestSeccomp(t, want.Process)
			got, err := Spec(in)
			if err != nil {
				t.Fatalf("Spec: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Spec mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// specTestSeccomp is moby/profiles' default profile for process's
// capabilities.
func specTestSeccomp(t *testing.T, process *specs.Process) *specs.LinuxSeccomp {
	t.Helper()
	p, err := seccomp.GetDefaultProfile(&specs.Spec{Process: process})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpecErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(in *SpecInput)
		is     func(error) bool
		text   string
	}{
		{"no command", func(in *SpecInput) { in.Config.Cmd = nil }, errdefs.IsInvalidArgument, "no command specified"},
		{"no config", func(in *SpecInput) { in.Config = nil }, errdefs.IsInvalidArgument, "config"},
		{"no id", func(in *SpecInput) { in.ID = "" }, errdefs.IsInvalidArgument, "container id"},
		{"relative rootfs", func(in *SpecInput) { in.Rootfs = "rootfs" }, errdefs.IsInvalidArgument, "rootfs"},
		{"unknown user", func(in *SpecInput) { in.Config.User = "nobody2" }, errdefs.IsInvalidArgument,
			"unable to find user nobody2: no matching entries in passwd file"},
		{"unknown group", func(in *SpecInput) { in.Config.User = "app:nogroup2" }, errdefs.IsInvalidArgument,
			"unable to find group nogroup2: no matching entries in group file"},
		{"unknown group-add", func(in *SpecInput) { in.HostConfig.GroupAdd = []string{"wheel"} }, errdefs.IsInvalidArgument, "wheel"},
		{"bind without destination", func(in *SpecInput) { in.HostConfig.Binds = []string{"/tmp"} }, errdefs.IsInvalidArgument,
			"invalid volume specification: '/tmp'"},
		{"bind with relative destination", func(in *SpecInput) { in.HostConfig.Binds = []string{"/tmp:data"} }, errdefs.IsInvalidArgument,
			"invalid volume specification: '/tmp:data'"},
		{"bind onto /", func(in *SpecInput) { in.HostConfig.Binds = []string{"/tmp:/"} }, errdefs.IsInvalidArgument,
			"invalid volume specification: '/tmp:/'"},
		{"bind with bad mode", func(in *SpecInput) { in.HostConfig.Binds = []string{"/tmp:/x:rx"} }, errdefs.IsInvalidArgument,
			"invalid volume specification: '/tmp:/x:rx': invalid mode: rx"},
		{"bind with two modes", func(in *SpecInput) { in.HostConfig.Binds = []string{"/tmp:/x:ro,rw"} }, errdefs.IsInvalidArgument, "invalid mode"},
		{"duplicate mount point", func(in *SpecInput) { in.HostConfig.Binds = []string{"/tmp:/x", "/var:/x/"} }, errdefs.IsInvalidArgument, "duplicate mount point"},
		{"volume over a bind", func(in *SpecInput) {
			in.HostConfig.Binds = []string{"/tmp:/x"}
			in.Volumes = []VolumeMount{{Name: "v", Destination: "/x", Source: "/tmp"}}
		}, errdefs.IsInvalidArgument, "duplicate mount point"},
		{"missing --mount source", func(in *SpecInput) {
			in.HostConfig.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: "/nonexistent-gantry", Target: "/x"}}
		}, errdefs.IsInvalidArgument, "bind source path does not exist: /nonexistent-gantry"},
		{"missing device", func(in *SpecInput) {
			in.HostConfig.Devices = []container.DeviceMapping{{PathOnHost: "/dev/nope", PathInContainer: "/dev/nope"}}
		}, errdefs.IsInvalidArgument, `error gathering device information while adding custom device "/dev/nope": no such file or directory`},
		{"bad device cgroup rule", func(in *SpecInput) { in.HostConfig.DeviceCgroupRules = []string{"x 1:2 rwm"} }, errdefs.IsInvalidArgument,
			"invalid device cgroup rule format: 'x 1:2 rwm'"},
		{"container network", func(in *SpecInput) { in.HostConfig.NetworkMode = "container:abc" }, errdefs.IsInvalidArgument, "container:abc"},
		{"unknown capability", func(in *SpecInput) { in.HostConfig.CapAdd = []string{"CAP_FLY"} }, errdefs.IsInvalidArgument, `unknown capability: "CAP_FLY"`},
		{"relative working dir", func(in *SpecInput) { in.Config.WorkingDir = "app" }, errdefs.IsInvalidArgument, "working directory"},
		{"working dir is a file", func(in *SpecInput) { in.Config.WorkingDir = "/etc/passwd/x" }, func(error) bool { return true }, "/etc/passwd"},
		{"unknown security option", func(in *SpecInput) { in.HostConfig.SecurityOpt = []string{"foo=bar"} }, errdefs.IsInvalidArgument,
			`invalid --security-opt 2: "foo=bar"`},
		{"seccomp profile not JSON", func(in *SpecInput) { in.HostConfig.SecurityOpt = []string{"seccomp={"} }, errdefs.IsInvalidArgument,
			"Decoding seccomp profile failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := specTestInput(specTestRootfs(t))
			tt.change(&in)
			_, err := Spec(in)
			if err == nil {
				t.Fatal("Spec succeeded")
			}
			if !tt.is(err) {
				t.Errorf("error %q has the wrong class", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

func TestSpecWorkingDirCreation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating directories owned by another user needs root")
	}
	rootfs := specTestRootfs(t)
	outside := t.TempDir()
	// A symlink that points out of the rootfs must stay inside it.
	if err := os.Symlink(outside, filepath.Join(rootfs, "escape")); err != nil {
		t.Fatal(err)
	}
	in := specTestInput(rootfs)
	in.Config.User = "app"
	in.Config.WorkingDir = "/escape/work"
	if _, err := Spec(in); err != nil {
		t.Fatalf("Spec: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(outside, "work")); !os.IsNotExist(err) {
		t.Errorf("working dir created outside the rootfs (err = %v)", err)
	}
	for _, dir := range []string{filepath.Join(outside, "work"), outside} {
		fi, err := os.Stat(filepath.Join(rootfs, dir))
		if err != nil {
			t.Fatalf("working dir not created inside the rootfs: %v", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		// Owned by root whatever the user, as dockerd creates it.
		if !fi.IsDir() || st.Uid != 0 || st.Gid != 0 || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: dir=%v owner=%d:%d mode=%v, want a 0755 dir owned by 0:0", dir, fi.IsDir(), st.Uid, st.Gid, fi.Mode().Perm())
		}
	}
	// An existing directory keeps its owner.
	in.Config.WorkingDir = "/etc"
	if _, err := Spec(in); err != nil {
		t.Fatalf("Spec: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(rootfs, "etc")); fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("existing /etc was chowned")
	}
	// A file is dockerd's error.
	os.WriteFile(filepath.Join(rootfs, "etc", "afile"), nil, 0o644)
	in.Config.WorkingDir = "/etc/afile/"
	if _, err := Spec(in); !errdefs.IsInvalidArgument(err) || err.Error() != "Cannot mkdir: /etc/afile is not a directory" {
		t.Errorf("working dir on a file: error %v, want dockerd's", err)
	}
}

// TestSpecRunc runs generated specs with runc (foreground `runc run`) in a
// busybox rootfs, to prove runc accepts them and they behave like Docker's.
func TestSpecRunc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: running containers needs root")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("skipping: runc not installed (apt-get install runc)")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("skipping: /bin/busybox missing (apt-get install busybox-static)")
	}
	rootfs := specTestBusybox(t)
	state := t.TempDir()
	files := t.TempDir()
	for name, content := range map[string]string{
		"hosts":       "127.0.0.1\tlocalhost\n",
		"hostname":    "box\n",
		"resolv.conf": "nameserver 192.0.2.53\n",
		"data/f":      "from the host\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(files, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(files, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name     string
		config   container.Config
		host     container.HostConfig
		code     int
		stdout   []string // substrings
		stderr   string   // substring
		noStdout bool
	}{
		{name: "echo", config: container.Config{Cmd: []string{"echo", "hello"}}, stdout: []string{"hello\n"}},
		{name: "exit code", config: container.Config{Cmd: []string{"sh", "-c", "exit 7"}}, code: 7},
		{name: "entrypoint", config: container.Config{Entrypoint: []string{"sh", "-c"}, Cmd: []string{"echo $0-$1", "a", "b"}}, stdout: []string{"a-b\n"}},
		{name: "user nobody", config: container.Config{User: "nobody", Cmd: []string{"id"}},
			stdout: []string{"uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"}},
		{name: "uid:gid", config: container.Config{User: "1234:5678", Cmd: []string{"id"}},
			stdout: []string{"uid=1234 gid=5678 groups=5678"}},
		{name: "supplementary groups", config: container.Config{User: "app", Cmd: []string{"id"}},
			stdout: []string{"uid=1000(app) gid=1000(app) groups=5(tty),50(staff),1000(app)"}}, // busybox sorts groups
		{name: "working dir created by root", config: container.Config{User: "nobody", WorkingDir: "/work/dir", Cmd: []string{"sh", "-c", "pwd && stat -c %u:%g . && touch f 2>/dev/null || echo read-only"}},
			stdout: []string{"/work/dir\n0:0\nread-only\n"}}, // dockerd's owner, whoever runs
		{name: "environment", config: container.Config{User: "nobody", Hostname: "web", Env: []string{"FOO=bar"}, Cmd: []string{"env"}},
			stdout: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", "HOSTNAME=web\n", "FOO=bar\n", "HOME=/nonexistent\n"}},
		{name: "hostname", config: container.Config{Hostname: "web", Cmd: []string{"hostname"}}, stdout: []string{"web\n"}},
		{name: "domainname", config: container.Config{Hostname: "web", Domainname: "example.org", Cmd: []string{"cat", "/proc/sys/kernel/domainname"}},
			stdout: []string{"example.org\n"}},
		{name: "default hostname", config: container.Config{Cmd: []string{"hostname"}}, stdout: []string{"gantry-spec-\n"}},
		{name: "network files", config: container.Config{Cmd: []string{"cat", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}},
			stdout: []string{"box\n127.0.0.1\tlocalhost\nnameserver 192.0.2.53\n"}},
		{name: "only lo without network", config: container.Config{Cmd: []string{"sh", "-c", "ls /sys/class/net"}}, stdout: []string{"lo\n"}},
		{name: "root capabilities", config: container.Config{Cmd: []string{"grep", "^Cap", "/proc/self/status"}},
			stdout: []string{"CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n"}},
		{name: "non-root capabilities", config: container.Config{User: "nobody", Cmd: []string{"grep", "^Cap", "/proc/self/status"}},
			stdout: []string{"CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\n"}},
		{name: "nofile limit", config: container.Config{Cmd: []string{"sh", "-c", "ulimit -n"}}, stdout: []string{fmt.Sprintf("%d\n", specTestNofile())}},
		{name: "masked and read-only proc", config: container.Config{Cmd: []string{"sh", "-c", "wc -c </proc/timer_list; echo 1 >/proc/sys/kernel/panic || echo ro"}},
			stdout: []string{"0\n", "ro\n"}, stderr: "Read-only file system"},
		{name: "read-only bind", config: container.Config{Cmd: []string{"sh", "-c", "cat /data/f && touch /data/g"}},
			host: container.HostConfig{Binds: []string{filepath.Join(files, "data") + ":/data:ro"}}, code: 1,
			stdout: []string{"from the host\n"}, stderr: "Read-only file system"},
		{name: "shm and tmpfs", config: container.Config{Cmd: []string{"sh", "-c", "df -k /dev/shm /cache | tail -2 | awk '{print $2}'"}},
			host:   container.HostConfig{Tmpfs: map[string]string{"/cache": "size=2m"}},
			stdout: []string{"65536\n2048\n"}},
		{name: "missing binary", config: container.Config{Cmd: []string{"nope"}}, code: 1, noStdout: true,
			stderr: `executable file not found in $PATH`}, // runtime.StartExitCode maps this to 127
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := tt.host
			hc.NetworkMode = "none"
			id := fmt.Sprintf("gantry-spec-test-%d", i)
			spec, err := Spec(SpecInput{
				ID: id, Rootfs: rootfs, Config: &tt.config, HostConfig: &hc,
				HostsPath:      filepath.Join(files, "hosts"),
				HostnamePath:   filepath.Join(files, "hostname"),
				ResolvConfPath: filepath.Join(files, "resolv.conf"),
			})
			if err != nil {
				t.Fatalf("Spec: %v", err)
			}
			bundle := t.TempDir()
			b, err := json.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr strings.Builder
			cmd := exec.Command(runc, "--root", state, "run", "--bundle", bundle, id)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if err != nil && code < 0 {
				t.Fatalf("runc run: %v", err)
			}
			if code != tt.code {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout = %q, want it to contain %q", stdout.String(), want)
				}
			}
			if tt.noStdout && stdout.Len() > 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			if tt.stderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.stderr)
			}
		})
	}
}

// specTestBusybox builds a rootfs with /bin/busybox, a symlink per applet and
// the passwd and group files of specTestRootfs.
func specTestBusybox(t *testing.T) string {
	t.Helper()
	rootfs := specTestRootfs(t)
	if err := os.Mkdir(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return rootfs
}

// TestSpecDevicesAndPrivileged: --device gives the node and its cgroup
// rule; --privileged every capability, the host's devices, nothing masked,
// a writable /sys and no seccomp filter.
func TestSpecDevicesAndPrivileged(t *testing.T) {
	in := specTestInput(specTestRootfs(t))
	in.HostConfig.Devices = []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"}}
	in.HostConfig.DeviceCgroupRules = []string{"c 10:* rwm"}
	s, err := Spec(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/mynull" || s.Linux.Devices[0].Major != 1 || s.Linux.Devices[0].Minor != 3 {
		t.Errorf("devices: %+v", s.Linux.Devices)
	}
	rules := s.Linux.Resources.Devices
	last2 := rules[len(rules)-2:]
	if r := last2[0]; !r.Allow || r.Type != "c" || *r.Major != 1 || *r.Minor != 3 || r.Access != "rw" {
		t.Errorf("--device rule: %+v", r)
	}
	if r := last2[1]; !r.Allow || r.Type != "c" || *r.Major != 10 || r.Minor != nil || r.Access != "rwm" {
		t.Errorf("--device-cgroup-rule: %+v", r)
	}

	in = specTestInput(specTestRootfs(t))
	in.HostConfig.Privileged = true
	s, err = Spec(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Process.Capabilities.Bounding, privilegedCaps()) || !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") || s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
		t.Errorf("privileged: %d caps, seccomp %v, masked %v, readonly %v", len(s.Process.Capabilities.Bounding), s.Linux.Seccomp != nil, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == "/dev/null" }) {
		t.Errorf("privileged: the host's devices missing: %d devices", len(s.Linux.Devices))
	}
	for _, m := range s.Mounts {
		if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && slices.Contains(m.Options, "ro") {
			t.Errorf("privileged: %s mounted read-only", m.Destination)
		}
	}
	if r := s.Linux.Resources.Devices[len(s.Linux.Resources.Devices)-1]; !r.Allow || r.Type != "" || r.Access != "rwm" {
		t.Errorf("privileged: last device rule %+v, want allow all", r)
	}
}

// TestCapAddAllBoundingSet: --cap-add ALL gives the capabilities of this
// host's bounding set, as --privileged does: one the host lacks (a
// nested host without CAP_SYS_RESOURCE, say) would fail the start.
func TestCapAddAllBoundingSet(t *testing.T) {
	caps, err := specCapabilities([]string{"ALL"}, []string{"NET_ADMIN"})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(privilegedCaps(), func(c string) bool { return c == "CAP_NET_ADMIN" })
	if diff := cmp.Diff(want, caps); diff != "" {
		t.Errorf("capabilities of --cap-add ALL --cap-drop NET_ADMIN (-bounding set +got):\n%s", diff)
	}
}

// TestSpecDefaultUlimits: the daemon's --default-ulimit values apply but
// where the container sets a limit of the same name, as dockerd merges
// them.
func TestSpecDefaultUlimits(t *testing.T) {
	in := specTestInput(specTestRootfs(t))
	in.DefaultUlimits = []*container.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}, {Name: "nproc", Soft: 50, Hard: 60}}
	in.HostConfig.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 10, Hard: 20}}
	s, err := Spec(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}, {Type: "RLIMIT_NPROC", Soft: 50, Hard: 60}}
	if diff := cmp.Diff(want, s.Process.Rlimits); diff != "" {
		t.Errorf("rlimits (-want +got):\n%s", diff)
	}
	if len(in.DefaultUlimits) != 2 || in.DefaultUlimits[0].Soft != 100 {
		t.Errorf("the daemon's defaults were changed: %+v", in.DefaultUlimits)
	}
}
