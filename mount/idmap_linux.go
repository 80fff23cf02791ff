package mount

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/internal/userns"
)

// ParseIDMap parses an idmap option value, "container:host:size" ranges
// separated by commas (containerd's uidmap= and gidmap= syntax).
func ParseIDMap(s string) ([]syscall.SysProcIDMap, error) {
	var out []syscall.SysProcIDMap
	for _, r := range strings.Split(s, ",") {
		f := strings.Split(r, ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("id map %q: want container:host:size", r)
		}
		var n [3]int
		for i, v := range f {
			x, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("id map %q: %w", r, err)
			}
			n[i] = int(x)
		}
		if n[2] == 0 {
			return nil, fmt.Errorf("id map %q: empty range", r)
		}
		out = append(out, syscall.SysProcIDMap{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return out, nil
}

// idmapped returns the lower layers as detached idmapped mounts (clones of
// each directory whose owners appear shifted by the maps), named by their
// /proc/self/fd paths, with the descriptors for the caller to close. It
// needs Linux 5.12 (mount_setattr) and a filesystem that supports idmapped
// mounts (ext4, xfs, btrfs, tmpfs since 6.3); overlayfs takes such mounts
// as layers since 6.8 (with lowerdir+).
func idmapped(lowers []string, uidMap, gidMap string) (paths []string, fds []int, err error) {
	ns, err := usernsFD(uidMap, gidMap)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(ns)
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			fds = nil
		}
	}()
	for _, l := range lowers {
		fd, err := unix.OpenTree(unix.AT_FDCWD, l, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return nil, fds, fmt.Errorf("open_tree %s: %w", l, err)
		}
		fds = append(fds, fd)
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns)}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
			return nil, fds, fmt.Errorf("idmap %s: %w", l, err)
		}
		paths = append(paths, "/proc/self/fd/"+strconv.Itoa(fd))
	}
	return paths, fds, nil
}

// usernsFD returns a descriptor of a user namespace with the given maps,
// for the caller to close. One namespace per mapping is made and kept
// (the daemon has one or two mappings): making one starts a process.
func usernsFD(uidMap, gidMap string) (int, error) {
	key := uidMap + " " + gidMap
	usernsMu.Lock()
	defer usernsMu.Unlock()
	ns, ok := usernsCache[key]
	if !ok {
		uids, err := ParseIDMap(uidMap)
		if err != nil {
			return -1, err
		}
		gids, err := ParseIDMap(gidMap)
		if err != nil {
			return -1, err
		}
		if ns, _, err = userns.Open(uids, gids, false); err != nil {
			return -1, err
		}
		usernsCache[key] = ns
	}
	return unix.FcntlInt(ns.Fd(), unix.F_DUPFD_CLOEXEC, 0)
}

var (
	usernsMu    sync.Mutex
	usernsCache = map[string]*os.File{} // "uidmap gidmap" -> user namespace
)

var errNoIDMap = errdefs.ErrNotImplemented.WithMessage("idmapped overlay layers need the kernel to take overlay layers one by one (Linux 6.8)")
