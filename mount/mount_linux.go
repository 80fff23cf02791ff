package mount

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// All mounts ms on target in order. On error the mounts already made are
// undone, so target is left as it was. An overlay goes through the new
// mount API when the kernel takes its layers one by one (see
// OverlayLayersByOne), else through mount(2); its options "uidmap=" and
// "gidmap=" (see ParseIDMap) make each lower layer an idmapped mount,
// which needs the new API.
func All(ms []Mount, target string) error {
	for i, m := range ms {
		if err := m.mount(target); err != nil {
			if i > 0 {
				_ = Unmount(target) // undoes every stacked mount
			}
			return err
		}
	}
	return nil
}

func (m Mount) mount(target string) error {
	if m.Type == "overlay" {
		if OverlayLayersByOne() {
			return mountOverlay(m, target)
		}
		if o, err := parseOverlay(m); err == nil && o.uidMap != "" {
			return fmt.Errorf("mount overlay on %s: %w", target, errNoIDMap)
		}
	}
	var flags, propagation uintptr
	var data []string
	for _, o := range m.Options {
		switch o {
		case "rprivate":
			propagation = unix.MS_PRIVATE | unix.MS_REC
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw":
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		default:
			data = append(data, o)
		}
	}
	typ := m.Type
	if flags&unix.MS_BIND != 0 {
		typ = ""
	}
	if err := unix.Mount(m.Source, target, typ, flags, strings.Join(data, ",")); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.Type, target, err)
	}
	// A read-only bind mount needs a remount to take effect.
	if flags&unix.MS_BIND != 0 && flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	if propagation != 0 {
		if err := unix.Mount("", target, "", propagation, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("make %s private: %w", target, err)
		}
	}
	return nil
}

// Unmount unmounts target, lazily if it is busy. A target that is not
// mounted, or does not exist, is not an error: Unmount is idempotent.
func Unmount(target string) error {
	for {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil:
			continue // unmount stacked mounts too
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY):
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmount %s: %w", target, err)
			}
			return nil
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
}

// Mounted reports whether target is a mount point.
func Mounted(target string) (bool, error) {
	points, err := mountPoints()
	if err != nil {
		return false, err
	}
	for _, p := range points {
		if p == target {
			return true, nil
		}
	}
	return false, nil
}

// Under returns the mount points at or below dir, in mount order (a mount
// comes before those made on top of it).
func Under(dir string) ([]string, error) {
	points, err := mountPoints()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range points {
		if p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/") {
			out = append(out, p)
		}
	}
	return out, nil
}

// mountPoints lists the mount points of /proc/self/mountinfo, in order.
func mountPoints() ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			points = append(points, unescape(f[4]))
		}
	}
	return points, nil
}

// unescape decodes a path of /proc/self/mountinfo, where the kernel writes
// space, tab, newline and backslash as octal escapes (\040).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
