package builder

import (
	"os"
	"path"

	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/internal/archive"
)

// The helpers below look at a mounted rootfs the way a process chrooted into
// it would: every path, symlinks included, is resolved inside root by the
// kernel (openat2 RESOLVE_IN_ROOT), so an image's absolute symlinks never
// lead to the host's files.

// statInRoot stats p inside root, following symlinks (chroot semantics).
func statInRoot(root, p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := archive.OpenInRootPath(root, p, unix.O_PATH)
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	return st, unix.Fstat(fd, &st)
}

// lexistsInRoot reports whether p exists inside root, without following a
// symlink in its last component.
func lexistsInRoot(root, p string) bool {
	dir, base := path.Split(path.Clean("/" + p))
	if base == "" {
		return true
	}
	fd, err := archive.OpenInRootPath(root, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	return unix.Fstatat(fd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}

// isDirInRoot reports whether p is a directory inside root (symlinks followed).
func isDirInRoot(root, p string) bool {
	st, err := statInRoot(root, p)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// removeInRoot removes the file or empty directory p inside root, not
// following a symlink in its last component.
func removeInRoot(root, p string) error {
	dir, base := path.Split(path.Clean("/" + p))
	if base == "" {
		return nil
	}
	fd, err := archive.OpenInRootPath(root, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Unlinkat(fd, base, 0); err == unix.EISDIR {
		return unix.Unlinkat(fd, base, unix.AT_REMOVEDIR)
	} else {
		return err
	}
}

// readFileInRoot reads the file p inside root.
func readFileInRoot(root, p string) ([]byte, error) {
	fd, err := archive.OpenInRootPath(root, p, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	return readAllLimit(f, 16<<20)
}
