package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/internal/archive"
)

// Populate copies the image content at path inside rootfs into the volume
// name if the volume is empty, as Docker does when a volume is mounted over
// image content: modes, owners, times, extended attributes, symlinks,
// device nodes and hard links are kept, and the volume's directory takes
// the owner and mode of path. path is resolved inside rootfs the way a
// chrooted process would (openat2 RESOLVE_IN_ROOT), and the copy never
// follows a symlink, so the image cannot lead it out of rootfs. Nothing is
// copied when path does not exist or is not a directory. On error the volume
// is emptied again.
func (s *Store) Populate(ctx context.Context, name, rootfs, p string) error {
	v, err := s.Get(name)
	if err != nil {
		return err
	}
	s.populating.Lock()
	defer s.populating.Unlock()
	src, err := archive.OpenInRootPath(rootfs, p, unix.O_RDONLY|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s in the image: %w", p, err)
	}
	defer unix.Close(src)
	dst, err := unix.Open(v.Mountpoint(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open volume %s: %w", name, err)
	}
	defer unix.Close(dst)
	names, err := readNames(dst)
	if err != nil || len(names) > 0 {
		return err
	}
	c := &copier{ctx: ctx, root: dst, links: map[[2]uint64]string{}}
	if err = c.tree(src, dst, ""); err == nil {
		err = copyOwnerAndMode(src, dst)
	}
	if err != nil {
		if rerr := emptyDir(v.Mountpoint()); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("copy %s of the image into volume %s: %w", p, name, err)
	}
	return nil
}

// readNames lists the directory fd (which stays open).
func readNames(fd int) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return f.Readdirnames(-1)
}

func emptyDir(dir string) error {
	names, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range names {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// copier copies a directory tree between directory file descriptors, one
// entry at a time, never following a symlink.
type copier struct {
	ctx   context.Context
	root  int                  // the volume's data directory
	links map[[2]uint64]string // device and inode of a multiply-linked file -> its first copy, relative to root
}

func (c *copier) tree(src, dst int, rel string) error {
	names, err := readNames(src)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if err := c.entry(src, dst, name, path.Join(rel, name), &st); err != nil {
			return fmt.Errorf("%s: %w", path.Join(rel, name), err)
		}
	}
	return nil
}

func (c *copier) entry(src, dst int, name, rel string, st *unix.Stat_t) error {
	kind := st.Mode & unix.S_IFMT
	if kind != unix.S_IFDIR && st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := c.links[key]; ok {
			return c.link(first, dst, name)
		}
		c.links[key] = rel
	}
	var err error
	switch kind {
	case unix.S_IFDIR:
		err = c.dir(src, dst, name, rel)
	case unix.S_IFREG:
		err = copyFile(src, dst, name)
	case unix.S_IFLNK:
		var target string
		if target, err = readlinkat(src, name); err == nil {
			err = unix.Symlinkat(target, dst, name)
		}
	default: // devices, fifos, sockets
		err = unix.Mknodat(dst, name, st.Mode, int(st.Rdev))
	}
	if err != nil {
		return err
	}
	return copyAttrs(src, dst, name, st)
}

func (c *copier) dir(src, dst int, name, rel string) error {
	if err := unix.Mkdirat(dst, name, 0o700); err != nil {
		return err
	}
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	sfd, err := unix.Openat(src, name, flags, 0)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	dfd, err := unix.Openat(dst, name, flags, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	return c.tree(sfd, dfd, rel)
}

// link makes name in dst a hard link to first, a file copied before.
func (c *copier) link(first string, dst int, name string) error {
	dir, base := path.Split(first)
	if dir == "" {
		dir = "."
	}
	pfd, err := unix.Openat2(c.root, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return unix.Linkat(pfd, base, dst, name, 0)
}

func copyFile(src, dst int, name string) error {
	sfd, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	in := os.NewFile(uintptr(sfd), name)
	defer in.Close()
	dfd, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(dfd), name)
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// copyAttrs gives name in dst the owner, mode, extended attributes and
// times of name in src. The mode comes after the owner: chown clears the
// set-user-ID bit.
func copyAttrs(src, dst int, name string, st *unix.Stat_t) error {
	if err := unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := archive.ChmodNoFollow(dst, name, st.Mode&0o7777); err != nil {
			return err
		}
	}
	if err := copyXattrs(fdPath(src, name), fdPath(dst, name)); err != nil {
		return err
	}
	times := []unix.Timespec{st.Atim, st.Mtim}
	return unix.UtimesNanoAt(dst, name, times, unix.AT_SYMLINK_NOFOLLOW)
}

func copyOwnerAndMode(src, dst int) error {
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return err
	}
	if err := unix.Fchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return unix.Fchmod(dst, st.Mode&0o7777)
}

// fdPath names the entry name of the directory fd without resolving the
// directory's path again.
func fdPath(fd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + name
}

// copyXattrs copies the extended attributes of src to dst (neither
// followed if a symlink); a filesystem without them is not an error.
func copyXattrs(src, dst string) error {
	size, err := unix.Llistxattr(src, nil)
	if err != nil || size == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return err
	}
	buf := make([]byte, size)
	if size, err = unix.Llistxattr(src, buf); err != nil {
		return err
	}
	for _, attr := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		n, err := unix.Lgetxattr(src, attr, nil)
		if err != nil {
			return err
		}
		val := make([]byte, n)
		if n, err = unix.Lgetxattr(src, attr, val); err != nil {
			return err
		}
		if err := unix.Lsetxattr(dst, attr, val[:n], 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("set %s: %w", attr, err)
		}
	}
	return nil
}
