package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// specDevices are the device nodes a container gets beyond runc's
// defaults and the device cgroup rules that let it use them: each
// --device (a directory gives the devices under it, as dockerd), with its
// permissions ("rwm" when none), then each --device-cgroup-rule. A
// privileged container gets every host device and may use any device.
// A --device path that does not exist is dockerd's error.
func specDevices(hc *container.HostConfig) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	var devs []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	if hc.Privileged {
		host, err := hostDevices("/dev")
		if err != nil {
			return nil, nil, err
		}
		devs = host
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Access: "rwm"})
	}
	for _, m := range hc.Devices {
		perms := m.CgroupPermissions
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return nil, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid device mode: %s", perms))
		}
		inCtr := m.PathInContainer
		if inCtr == "" {
			inCtr = m.PathOnHost
		}
		found, err := deviceNodes(m.PathOnHost, inCtr)
		if err != nil {
			return nil, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("error gathering device information while adding custom device %q: %v", m.PathOnHost, errors.Unwrap(err)))
		}
		for _, d := range found {
			if !hc.Privileged {
				devs = append(devs, d)
			}
			major, minor := d.Major, d.Minor
			rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: perms})
		}
	}
	for _, r := range hc.DeviceCgroupRules {
		rule, err := parseDeviceCgroupRule(r)
		if err != nil {
			return nil, nil, err
		}
		rules = append(rules, rule)
	}
	return devs, rules, nil
}

var deviceCgroupRule = regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`)

// parseDeviceCgroupRule reads "c 10:229 rwm" (a type a, b or c, major
// and minor numbers or *, and access), dockerd's --device-cgroup-rule.
func parseDeviceCgroupRule(s string) (specs.LinuxDeviceCgroup, error) {
	m := deviceCgroupRule.FindStringSubmatch(s)
	if m == nil {
		return specs.LinuxDeviceCgroup{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid device cgroup rule format: '%s'", s))
	}
	rule := specs.LinuxDeviceCgroup{Allow: true, Type: m[1], Access: m[4]}
	for i, p := range []**int64{&rule.Major, &rule.Minor} {
		if v := m[2+i]; v != "*" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return specs.LinuxDeviceCgroup{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid device cgroup rule format: '%s'", s))
			}
			*p = &n
		}
	}
	return rule, nil
}

// deviceNodes describes the device at host (or, for a directory, every
// device under it), to appear at inCtr in the container.
func deviceNodes(host, inCtr string) ([]specs.LinuxDevice, error) {
	fi, err := os.Stat(host)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		d, err := deviceNode(host, inCtr)
		if err != nil {
			return nil, err
		}
		return []specs.LinuxDevice{d}, nil
	}
	var out []specs.LinuxDevice
	err = filepath.WalkDir(host, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 {
			return nil
		}
		rel, _ := filepath.Rel(host, p)
		if d, err := deviceNode(p, filepath.Join(inCtr, rel)); err == nil {
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// deviceNode describes one device node.
func deviceNode(host, inCtr string) (specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return specs.LinuxDevice{}, &fs.PathError{Op: "stat", Path: host, Err: err}
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, &fs.PathError{Op: "stat", Path: host, Err: errors.New("not a device node")}
	}
	mode := fs.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path: inCtr, Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
		FileMode: &mode, UID: &uid, GID: &gid,
	}, nil
}

// hostDevices lists the device nodes under dir for a privileged container,
// leaving out what the container mounts of its own (pts, shm, mqueue) and
// the host's console, as dockerd does.
func hostDevices(dir string) ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // a device that vanished meanwhile
		}
		if e.IsDir() {
			switch e.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				return filepath.SkipDir
			}
			return nil
		}
		if e.Name() == "console" || e.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 {
			return nil
		}
		if d, err := deviceNode(p, p); err == nil {
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list host devices: %w", err)
	}
	return out, nil
}

// privilegedCaps are the capabilities of a privileged container: every
// one in gantryd's own bounding set (all of them, for root on most hosts;
// a capability gantryd lacks could not be given anyway). specAllCaps is
// in the kernel's numbering.
func privilegedCaps() []string {
	var out []string
	for i, c := range specAllCaps {
		if n, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(i), 0, 0, 0); err == nil && n == 1 {
			out = append(out, c)
		}
	}
	return out
}
