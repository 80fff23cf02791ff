package mount

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
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

// usernsFD returns a descriptor of a new user namespace with the given
// maps. A user namespace needs a process: a child is started in one and
// stopped at its exec (ptrace), before it runs any code, long enough to
// open its namespace; then it is killed.
func usernsFD(uidMap, gidMap string) (int, error) {
	uids, err := ParseIDMap(uidMap)
	if err != nil {
		return -1, err
	}
	gids, err := ParseIDMap(gidMap)
	if err != nil {
		return -1, err
	}
	// The tracer is the thread that started the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Executable()
	if err != nil {
		return -1, err
	}
	cmd := exec.Command(self)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: uids,
		GidMappings: gids,
		Ptrace:      true,
		Pdeathsig:   syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("create user namespace: %w", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	fd, err := unix.Open("/proc/"+strconv.Itoa(cmd.Process.Pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open user namespace: %w", err)
	}
	return fd, nil
}

var errNoIDMap = errdefs.ErrNotImplemented.WithMessage("idmapped overlay layers need the kernel to take overlay layers one by one (Linux 6.8)")
