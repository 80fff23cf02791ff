package builder

import (
	"errors"
	"fmt"
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

// lstatInRoot stats p inside root without following a symlink in its
// last component.
func lstatInRoot(root, p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	dir, base := path.Split(path.Clean("/" + p))
	if base == "" {
		base = "."
	}
	fd, err := archive.OpenInRootPath(root, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	return st, unix.Fstatat(fd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
}

// hasXattrsInRoot reports whether the directory p inside root has
// extended attributes (or they cannot be listed).
func hasXattrsInRoot(root, p string) bool {
	fd, err := archive.OpenInRootPath(root, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	n, err := unix.Flistxattr(fd, nil)
	return err != nil || n > 0
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

// readFileInRoot reads the regular file p inside root.
func readFileInRoot(root, p string) ([]byte, error) {
	f, err := openFileInRoot(root, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimit(f, 16<<20)
}

// errNotRegular is the error of openFileInRoot for what is not a regular
// file.
var errNotRegular = errors.New("not a regular file")

// openFileInRoot opens p inside root for reading (symlinks followed, in
// root), if it is a regular file; anything else (a FIFO, a device, a
// directory) is errNotRegular, and is never opened for reading: the open
// is non-blocking, so a FIFO without a writer does not wait for one.
func openFileInRoot(root, p string) (*os.File, error) {
	fd, err := archive.OpenInRootPath(root, p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", p, errNotRegular)
	}
	return os.NewFile(uintptr(fd), p), nil
}
