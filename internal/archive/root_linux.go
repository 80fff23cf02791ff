package archive

import (
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenInRoot opens p in the tree whose root directory is the descriptor
// root, as a process chrooted there would: p is cleaned as an absolute
// path ("" and "/" are root itself), and every symlink, the last included
// unless flags hold O_NOFOLLOW, and every ".." is resolved inside root by
// the kernel (openat2 RESOLVE_IN_ROOT); magic links (/proc/self/fd/N) are
// refused. O_CLOEXEC is added to flags. The descriptor belongs to the
// caller; errors are the bare errno of openat2 (ENOENT, ENOTDIR, ELOOP,
// EXDEV, or EAGAIN after bounded retries, see Openat2).
func OpenInRoot(root int, p string, flags uint64) (int, error) {
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	return Openat2(root, rel, &unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// OpenInRootPath is OpenInRoot with the root directory named by its path,
// which is itself opened following symlinks.
func OpenInRootPath(root, p string, flags uint64) (int, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(rfd)
	return OpenInRoot(rfd, p, flags)
}
