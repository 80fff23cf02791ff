package mount

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// OverlayMaxLayers is the most lower layers one overlay mount takes
// (OVL_MAX_STACK in fs/overlayfs).
const OverlayMaxLayers = 500

// OverlayLayersByOne reports whether the kernel takes overlay lower layers
// one at a time through the new mount API (fsconfig "lowerdir+", Linux
// 6.8). Then an overlay Mount's lowerdir may name up to OverlayMaxLayers
// layers (and up to twice that, nested; see All) whatever the length of
// their paths; else the whole option string of an overlay must fit in one
// page, as mount(2) takes no more. Detected once.
func OverlayLayersByOne() bool {
	byOneOnce.Do(func() { byOne = probeLayersByOne() })
	return byOne
}

var (
	byOneOnce sync.Once
	byOne     bool
)

// probeLayersByOne asks overlayfs for "lowerdir+" without creating a
// mount: kernels before 6.8 do not know the key (EINVAL), kernels before
// 5.2 have no fsopen (ENOSYS).
func probeLayersByOne() bool {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.FsconfigSetString(fd, "lowerdir+", "/") == nil
}

// overlay is an overlay Mount taken apart for the new mount API.
type overlay struct {
	lowers      []string
	upper, work string
	params      []string // other overlayfs options: "index=off", "volatile"
	attrs       uint64   // MOUNT_ATTR_* from ro, nosuid, nodev, noexec
	uidMap      string   // "uidmap=" value: lower layers are idmapped
	gidMap      string
}

func parseOverlay(m Mount) (overlay, error) {
	var o overlay
	for _, opt := range m.Options {
		key, value, hasValue := strings.Cut(opt, "=")
		switch {
		case key == "lowerdir" && hasValue:
			o.lowers = strings.Split(value, ":")
		case key == "upperdir" && hasValue:
			o.upper = value
		case key == "workdir" && hasValue:
			o.work = value
		case key == "uidmap" && hasValue:
			o.uidMap = value
		case key == "gidmap" && hasValue:
			o.gidMap = value
		case opt == "ro":
			o.attrs |= unix.MOUNT_ATTR_RDONLY
		case opt == "rw":
		case opt == "nosuid":
			o.attrs |= unix.MOUNT_ATTR_NOSUID
		case opt == "nodev":
			o.attrs |= unix.MOUNT_ATTR_NODEV
		case opt == "noexec":
			o.attrs |= unix.MOUNT_ATTR_NOEXEC
		case opt == "rprivate", opt == "bind", opt == "rbind":
			return overlay{}, fmt.Errorf("mount overlay: option %q is not for an overlay", opt)
		default:
			o.params = append(o.params, opt)
		}
	}
	if len(o.lowers) == 0 {
		return overlay{}, errors.New("mount overlay: no lowerdir")
	}
	if (o.uidMap == "") != (o.gidMap == "") {
		return overlay{}, errors.New("mount overlay: uidmap and gidmap go together")
	}
	return o, nil
}

// mountOverlay mounts the overlay m on target through fsopen, passing its
// lower layers one by one. Beyond OverlayMaxLayers the bottom layers
// become one read-only overlay, detached, that is the bottom layer of the
// top one: overlayfs stacks two deep, and whiteouts of the top layers
// still hide what the nested overlay shows.
func mountOverlay(m Mount, target string) error {
	o, err := parseOverlay(m)
	if err != nil {
		return err
	}
	var closers []int
	defer func() {
		for _, fd := range closers {
			unix.Close(fd)
		}
	}()
	lowers := o.lowers
	if o.uidMap != "" {
		if lowers, closers, err = idmapped(lowers, o.uidMap, o.gidMap); err != nil {
			return fmt.Errorf("mount overlay on %s: %w", target, err)
		}
	}
	if len(lowers) > 2*OverlayMaxLayers-1 {
		return fmt.Errorf("mount overlay on %s: %d lower layers, more than %d", target, len(lowers), 2*OverlayMaxLayers-1)
	}
	if len(lowers) > OverlayMaxLayers {
		top := OverlayMaxLayers - 1
		nested, err := createOverlay(overlay{lowers: lowers[top:], params: o.params, attrs: unix.MOUNT_ATTR_RDONLY})
		if err != nil {
			return fmt.Errorf("mount overlay on %s: nested overlay of the bottom %d layers: %w", target, len(lowers)-top, err)
		}
		closers = append(closers, nested)
		lowers = append(lowers[:top:top], fmt.Sprintf("/proc/self/fd/%d", nested))
	}
	o.lowers = lowers
	fd, err := createOverlay(o)
	if err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	defer unix.Close(fd)
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount overlay on %s: move_mount: %w", target, err)
	}
	return nil
}

// createOverlay returns a detached mount of o.
func createOverlay(o overlay) (int, error) {
	fs, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen: %w", err)
	}
	defer unix.Close(fs)
	set := func(key, value string) error {
		if err := unix.FsconfigSetString(fs, key, value); err != nil {
			return fmt.Errorf("%s=%s: %w%s", key, value, err, fsError(fs))
		}
		return nil
	}
	for _, p := range o.params {
		key, value, hasValue := strings.Cut(p, "=")
		if !hasValue {
			if err := unix.FsconfigSetFlag(fs, key); err != nil {
				return -1, fmt.Errorf("%s: %w%s", key, err, fsError(fs))
			}
			continue
		}
		if err := set(key, value); err != nil {
			return -1, err
		}
	}
	for _, l := range o.lowers {
		if err := set("lowerdir+", l); err != nil {
			return -1, err
		}
	}
	if o.upper != "" {
		if err := set("upperdir", o.upper); err != nil {
			return -1, err
		}
	}
	if o.work != "" {
		if err := set("workdir", o.work); err != nil {
			return -1, err
		}
	}
	if o.attrs&unix.MOUNT_ATTR_RDONLY != 0 {
		if err := unix.FsconfigSetFlag(fs, "ro"); err != nil {
			return -1, fmt.Errorf("ro: %w%s", err, fsError(fs))
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("create overlay of %d layers: %w%s", len(o.lowers), err, fsError(fs))
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, int(o.attrs))
	if err != nil {
		return -1, fmt.Errorf("fsmount: %w", err)
	}
	return mnt, nil
}

// fsError reads the messages the filesystem left on its context, such as
// overlayfs' "too many lower directories, limit is 500", for an error.
func fsError(fs int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for {
		n, err := unix.Read(fs, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (" + strings.Join(msgs, "; ") + ")"
}
