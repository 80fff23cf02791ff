package daemon

import (
	"context"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	gcontainer "github.com/gantry/gantry/container"
)

// daemonID is the engine's ID in info and in its daemon events.
const daemonID = "gantry"

const (
	apiVersion    = "1.47"
	minAPIVersion = "1.24"
)

// Info implements GET /info.
func (d *Daemon) Info(ctx context.Context) (*system.Info, error) {
	info := &system.Info{
		ID:                 daemonID,
		Driver:             d.layers.Driver(),
		DriverStatus:       [][2]string{{"Backing Filesystem", "extfs"}},
		LoggingDriver:      d.logDriver(),
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      cgroupVersion(),
		KernelVersion:      kernelVersion(),
		OperatingSystem:    operatingSystem(),
		OSType:             "linux",
		Architecture:       machine(),
		NCPU:               goruntime.NumCPU(),
		MemTotal:           memTotal(),
		DockerRootDir:      d.cfg.Root,
		IndexServerAddress: "https://index.docker.io/v1/",
		ServerVersion:      Version,
		DefaultRuntime:     "runc",
		Runtimes:           map[string]system.RuntimeWithStatus{"runc": {Runtime: system.Runtime{Path: d.cfg.Runtime}}},
		Swarm:              swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
		SecurityOptions:    d.securityOptions(),
		Warnings:           []string{},
		SystemTime:         time.Now().Format(time.RFC3339Nano),
	}
	if d.confine.SeccompProfile != gcontainer.SeccompBuiltin {
		info.Warnings = append(info.Warnings, "WARNING: daemon is not using the default seccomp profile")
	}
	info.Name, _ = os.Hostname()
	if !d.idmap.Empty() {
		info.SecurityOptions = append(info.SecurityOptions, "name=userns")
	}
	for _, c := range d.containers.List() {
		info.Containers++
		switch c.Snapshot().Status {
		case gcontainer.Running:
			info.ContainersRunning++
		case gcontainer.Paused:
			info.ContainersPaused++
		default:
			info.ContainersStopped++
		}
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	info.Images = len(imgs)
	return info, nil
}

// securityOptions are the "name=...,key=value" entries of docker info's
// Security Options, in dockerd's order: seccomp with the daemon's profile
// ("builtin", "unconfined" or a file's path), cgroupns, and
// no-new-privileges when it is the daemon's default. No "name=apparmor":
// Gantry loads no default AppArmor profile, even on a host with AppArmor.
func (d *Daemon) securityOptions() []string {
	opts := []string{"name=seccomp,profile=" + d.confine.SeccompProfile, "name=cgroupns"}
	if d.confine.NoNewPrivileges {
		opts = append(opts, "name=no-new-privileges")
	}
	return opts
}

// Version implements GET /version.
func (d *Daemon) Version(ctx context.Context) (*system.VersionResponse, error) {
	details := map[string]string{
		"ApiVersion":    apiVersion,
		"MinAPIVersion": minAPIVersion,
		"GoVersion":     goruntime.Version(),
		"Os":            "linux",
		"Arch":          goruntime.GOARCH,
		"KernelVersion": kernelVersion(),
	}
	return &system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "Gantry"},
		Components:    []system.ComponentVersion{{Name: "Engine", Version: Version, Details: details}},
		Version:       Version,
		APIVersion:    apiVersion,
		MinAPIVersion: minAPIVersion,
		GoVersion:     goruntime.Version(),
		Os:            "linux",
		Arch:          goruntime.GOARCH,
		KernelVersion: kernelVersion(),
	}, nil
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func machine() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return goruntime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

func operatingSystem() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

func cgroupVersion() string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "2"
	}
	return "1"
}
