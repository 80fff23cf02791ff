package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// TarOptions say how Tar names and bounds what it writes.
type TarOptions struct {
	// Name is the tar name of the top file; the files below a top
	// directory are named Name/<path>. "" leaves the top directory out and
	// names what it holds by their relative paths, as `docker export` does.
	Name string
	// OneFileSystem writes directories that are mount points on the tree
	// below the top, but not what they hold.
	OneFileSystem bool
	// IDMap, unless empty, names owners by their container ids: the tree
	// is a remapped container's, whose files show host ids. A file whose
	// owner has no container id is an error.
	IDMap user.IdentityMapping
}

// pseudoFS are the file systems whose content Tar never writes: kernel
// interfaces, not files (a running container's /proc, /sys, /dev/pts ...).
var pseudoFS = map[int64]bool{
	unix.PROC_SUPER_MAGIC: true, unix.SYSFS_MAGIC: true, unix.CGROUP_SUPER_MAGIC: true,
	unix.CGROUP2_SUPER_MAGIC: true, unix.DEVPTS_SUPER_MAGIC: true, mqueueMagic: true,
	unix.SECURITYFS_MAGIC: true, unix.DEBUGFS_MAGIC: true, unix.TRACEFS_MAGIC: true,
	unix.BPF_FS_MAGIC: true, unix.NSFS_MAGIC: true, unix.BINFMTFS_MAGIC: true,
	unix.PSTOREFS_MAGIC: true, unix.EFIVARFS_MAGIC: true, unix.SELINUX_MAGIC: true,
	unix.SMACK_MAGIC: true, unix.RDTGROUP_SUPER_MAGIC: true,
}

// mqueueMagic is the statfs type of POSIX message queue file systems
// (linux/magic.h), which x/sys/unix does not name.
const mqueueMagic = 0x19800202

// Tar writes to w an uncompressed tar of the file name in the directory
// dir (a file descriptor, which stays the caller's; name "." is dir
// itself) and, when it is a directory, of everything below it, in name
// order. Symlinks are written as symlinks, never followed, name included:
// every file is opened relative to its parent's descriptor with
// O_NOFOLLOW, so a tree that others change meanwhile (a running
// container's) cannot lead Tar out of it. Hard-linked files after the
// first become hard links; the security.capability xattr is kept, as
// Docker's tars do. Sockets, and files that vanish while Tar runs, are
// left out. A missing name is an error satisfying errors.Is(err,
// fs.ErrNotExist).
func Tar(ctx context.Context, w io.Writer, dir int, name string, opts TarOptions) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lstat", Path: name, Err: err}
	}
	t := &tarWriter{ctx: ctx, tw: tar.NewWriter(w), opts: opts, links: map[fileID]string{}, buf: make([]byte, 1<<20)}
	var err error
	if opts.Name == "" {
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fmt.Errorf("%s: not a directory", name)
		}
		err = t.children(dir, name, &st, "")
	} else {
		err = t.add(dir, name, &st, opts.Name, st.Dev)
	}
	if err != nil {
		return err
	}
	return t.tw.Close()
}

type fileID struct{ dev, ino uint64 }

type tarWriter struct {
	ctx   context.Context
	tw    *tar.Writer
	opts  TarOptions
	links map[fileID]string // tar name of the first link of each hard-linked file
	buf   []byte
}

// add writes the file name in dir, whose lstat is st, as tarName.
// parentDev is the device of the directory holding it.
func (t *tarWriter) add(dir int, name string, st *unix.Stat_t, tarName string, parentDev uint64) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	hdr := &tar.Header{
		Name: tarName,
		Mode: int64(st.Mode), // with the file type bits, as Go's and Docker's tars

		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()).Truncate(time.Second),
	}
	if !t.opts.IDMap.Empty() {
		var err error
		if hdr.Uid, hdr.Gid, err = t.opts.IDMap.ToContainer(hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("%s: %w", tarName, err)
		}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return t.file(dir, name, st, hdr)
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
		if err := t.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if st.Dev != parentDev && !t.descend(dir, name) {
			return nil
		}
		return t.children(dir, name, st, tarName)
	case unix.S_IFLNK:
		target, err := readlinkat(dir, name)
		if err != nil {
			return vanished(err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		hdr.Typeflag = map[uint32]byte{unix.S_IFCHR: tar.TypeChar, unix.S_IFBLK: tar.TypeBlock, unix.S_IFIFO: tar.TypeFifo}[st.Mode&unix.S_IFMT]
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	default:
		return nil // a socket: tar has no type for it
	}
	return t.tw.WriteHeader(hdr)
}

// descend reports whether Tar writes what the directory name in dir holds,
// given that it is a mount point.
func (t *tarWriter) descend(dir int, name string) bool {
	if t.opts.OneFileSystem {
		return false
	}
	fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var fs unix.Statfs_t
	return unix.Fstatfs(fd, &fs) == nil && !pseudoFS[fs.Type]
}

// children writes what the directory name in dir (lstat st) holds, named
// below prefix.
func (t *tarWriter) children(dir int, name string, st *unix.Stat_t, prefix string) error {
	f, _, err := openSame(dir, name, unix.O_DIRECTORY, st)
	if f == nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		var cst unix.Stat_t
		if err := unix.Fstatat(fd, n, &cst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue
			}
			return err
		}
		child := n
		if prefix != "" {
			child = strings.TrimSuffix(prefix, "/") + "/" + n
			if prefix == "/" {
				child = "/" + n
			}
		}
		if err := t.add(fd, n, &cst, child, st.Dev); err != nil {
			return err
		}
	}
	return nil
}

// openSame opens name in dir for reading, without following a symlink, if
// it is still the file lstat st describes; it returns its stat too. A file
// gone or replaced since the lstat is nil and no error: it is left out.
func openSame(dir int, name string, flags int, st *unix.Stat_t) (*os.File, *unix.Stat_t, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		return nil, nil, vanished(err)
	}
	f := os.NewFile(uintptr(fd), name)
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil || now.Ino != st.Ino || now.Dev != st.Dev {
		f.Close()
		return nil, nil, nil
	}
	return f, &now, nil
}

// file writes the regular file name in dir.
func (t *tarWriter) file(dir int, name string, st *unix.Stat_t, hdr *tar.Header) error {
	id := fileID{st.Dev, st.Ino}
	if st.Nlink > 1 {
		if first, ok := t.links[id]; ok {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			return t.tw.WriteHeader(hdr)
		}
	}
	// O_NONBLOCK: should a FIFO have been swapped in, the open must not hang.
	f, now, err := openSame(dir, name, unix.O_NONBLOCK|unix.O_NOCTTY, st)
	if f == nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	hdr.Typeflag, hdr.Size = tar.TypeReg, now.Size
	if caps, err := fgetxattr(fd, "security.capability"); err == nil && len(caps) > 0 {
		hdr.PAXRecords = map[string]string{paxXattr + "security.capability": string(caps)}
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	// Later links name this entry only once it is written: a first name
	// that vanished or was replaced is left out, and a link to it would
	// point at nothing.
	if now.Nlink > 1 {
		t.links[id] = hdr.Name
	}
	// The file may change size meanwhile: write exactly hdr.Size bytes,
	// padding with zeros, so the stream stays a valid tar.
	n, err := io.CopyBuffer(t.tw, io.LimitReader(f, hdr.Size), t.buf)
	if err != nil {
		return err
	}
	_, err = io.CopyN(t.tw, zeros{}, hdr.Size-n)
	return err
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// vanished turns "the file is gone" into nil: files deleted while the tar
// is written are left out.
func vanished(err error) error {
	if err == unix.ENOENT || err == unix.ENOTDIR || err == unix.ELOOP {
		return nil
	}
	return err
}

func readlinkat(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

func fgetxattr(fd int, attr string) ([]byte, error) {
	buf := make([]byte, 256)
	n, err := unix.Fgetxattr(fd, attr, buf)
	if errors.Is(err, unix.ERANGE) {
		if n, err = unix.Fgetxattr(fd, attr, nil); err != nil {
			return nil, err
		}
		buf = make([]byte, n)
		n, err = unix.Fgetxattr(fd, attr, buf)
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
