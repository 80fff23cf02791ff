package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// copyTree copies the tree at src into the existing directory dst,
// preserving file types, modes, owners, xattrs, times and hard links. It
// does not follow symlinks. dst's own metadata is taken from src.
func copyTree(ctx context.Context, src, dst string) error {
	links := map[uint64]string{} // inode -> first copy, for hard links
	type dirTimes struct {
		path string
		st   *syscall.Stat_t
	}
	var dirs []dirTimes
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode()
		switch {
		case mode.IsDir():
			if rel != "." {
				if err := os.Mkdir(target, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirTimes{target, st})
		case mode.IsRegular():
			if st.Nlink > 1 {
				if first, ok := links[st.Ino]; ok {
					return os.Link(first, target)
				}
				links[st.Ino] = target
			}
			if err := copyFile(p, target); err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, target); err != nil {
				return err
			}
		default: // devices, fifos, sockets, overlay whiteouts
			if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
				return err
			}
		}
		if err := copyMeta(p, target, st, mode&fs.ModeSymlink != 0, !mode.IsDir()); err != nil {
			return fmt.Errorf("copy %s: %w", rel, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Directory times last, since filling a directory changes its mtime.
	for i := len(dirs) - 1; i >= 0; i-- {
		ts := []unix.Timespec{unix.Timespec(dirs[i].st.Atim), unix.Timespec(dirs[i].st.Mtim)}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i].path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	// A reflink where the filesystem has them; else io.Copy, which uses
	// copy_file_range and keeps the data in the kernel.
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) != nil {
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

// copyMeta copies owner, mode, xattrs and (unless setTimes is false) times.
func copyMeta(src, dst string, st *syscall.Stat_t, symlink, setTimes bool) error {
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if !symlink {
		// After chown, which clears setuid bits.
		if err := unix.Chmod(dst, st.Mode&07777); err != nil {
			return err
		}
	}
	if err := copyXattrs(src, dst); err != nil {
		return err
	}
	if setTimes {
		ts := []unix.Timespec{unix.Timespec(st.Atim), unix.Timespec(st.Mtim)}
		return unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

func copyXattrs(src, dst string) error {
	buf := make([]byte, 1024)
	n, err := unix.Llistxattr(src, buf)
	if errors.Is(err, unix.ERANGE) {
		sz, err2 := unix.Llistxattr(src, nil)
		if err2 != nil {
			return err2
		}
		buf = make([]byte, sz)
		n, err = unix.Llistxattr(src, buf)
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	if err != nil || n == 0 {
		return err
	}
	for _, name := range splitNull(buf[:n]) {
		sz, err := unix.Lgetxattr(src, name, nil)
		if err != nil {
			return err
		}
		val := make([]byte, sz)
		if sz, err = unix.Lgetxattr(src, name, val); err != nil {
			return err
		}
		if err := unix.Lsetxattr(dst, name, val[:sz], 0); err != nil {
			return err
		}
	}
	return nil
}

func splitNull(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}
