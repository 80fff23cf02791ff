package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// Whiteouts says what OCI whiteout entries become.
type Whiteouts int

const (
	// Overlay stores whiteouts the overlayfs way: a character device 0/0 for
	// a deleted name, xattr trusted.overlay.opaque=y on an opaque directory.
	Overlay Whiteouts = iota
	// Delete applies whiteouts to the tree: the named files are removed,
	// and an opaque directory loses what this tar did not put in it.
	Delete
	// Literal takes whiteout names for ordinary files, as `docker cp` does.
	Literal
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
	paxXattr       = "SCHILY.xattr."
)

// ErrInvalid marks errors caused by the tar's content (malformed stream,
// names or links that cannot be applied), as opposed to the host's.
var ErrInvalid = errors.New("invalid layer tar")

var supported = sync.OnceValue(func() bool {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
})

// Supported reports whether the kernel has openat2 (Linux 5.6), which
// Apply needs.
func Supported() bool { return supported() }

// Apply extracts the uncompressed tar read from r into the directory dst
// and returns the bytes of regular-file content it held. It reads r up to
// the end-of-archive marker, not beyond.
//
// Every name, hard-link target and parent directory is resolved inside dst
// with chroot semantics (symlinks, absolute or with "..", stay in dst), so
// no entry reads or writes outside dst. Entries whose names leave dst
// ("../x"), malformed streams, and entries that cannot be applied (a hard
// link to a directory, an unknown type) are errors wrapping ErrInvalid.
// xattrs trusted.overlay.* in the tar are ignored, so a layer cannot forge
// overlay metadata. dst must not be in use by anyone else meanwhile.
func Apply(ctx context.Context, r io.Reader, dst string, wo Whiteouts) (int64, error) {
	return ApplyFrom(ctx, r, dst, wo, nil)
}

// Source is a file whose inode a regular-file entry may take (a hard
// link) instead of a copy of its content: the file at Path, if it is still
// the inode Dev and Ino.
type Source struct {
	Path     string
	Dev, Ino uint64
	// SecondTimes says the tar's times are the file's truncated to the
	// second (as containerd's and BuildKit's tar writers make them): the
	// file fits when its time truncates to the entry's, and the linked
	// file keeps its own, finer time.
	SecondTimes bool
}

// Sources says which file, if any, holds the content of the entry name.
type Sources func(name string) (Source, bool)

// ApplyFrom is Apply, taking the content of regular files from sources
// where it can: a file whose inode is the one named, already has the
// entry's size, mode, owner and modification time and no extended
// attributes, and lives on dst's filesystem is hard-linked into dst, its
// content in the tar read and dropped (the caller digests the stream).
// Neither the source nor the linked inode is ever changed, so the caller
// must know the source's content to be the entry's (it wrote the tar from
// it) and that nothing changes the file afterwards. Anything else is
// written as Apply writes it.
func ApplyFrom(ctx context.Context, r io.Reader, dst string, wo Whiteouts, sources Sources) (int64, error) {
	rootFd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: dst, Err: err}
	}
	a := newApplier(rootFd, wo)
	a.resolveFlags |= unix.RESOLVE_NO_XDEV
	a.sources = sources
	defer a.close()
	return a.apply(ctx, r)
}

// linkSource hard-links the source of hdr, if it has one that fits, as
// base in the directory pfd; it reports whether it did.
func (a *applier) linkSource(pfd int, base string, hdr *tar.Header) bool {
	if a.sources == nil || a.owner != nil || !a.idmap.Empty() {
		return false
	}
	src, ok := a.sources(hdr.Name)
	if !ok {
		return false
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, paxXattr) {
			return false
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(src.Path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG ||
		uint64(st.Dev) != src.Dev || st.Ino != src.Ino || st.Size != hdr.Size ||
		int64(st.Mode&0o7777) != hdr.Mode&0o7777 || int(st.Uid) != hdr.Uid || int(st.Gid) != hdr.Gid {
		return false
	}
	mtime := st.Mtim
	if src.SecondTimes {
		mtime.Nsec = 0
	}
	if mtime != timespec(hdr.ModTime) {
		return false
	}
	if n, err := unix.Llistxattr(src.Path, nil); err != nil || n != 0 {
		return false
	}
	if err := unix.Linkat(unix.AT_FDCWD, src.Path, pfd, base, 0); err != nil {
		return false
	}
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Ino != src.Ino || uint64(st.Dev) != src.Dev {
		unix.Unlinkat(pfd, base, 0)
		return false
	}
	return true
}

// Owner is a uid and gid.
type Owner struct{ UID, GID int }

// ExtractOptions say how Extract treats the tar's entries.
type ExtractOptions struct {
	// Owner, when set, owns every extracted entry instead of the uid and
	// gid the tar names.
	Owner *Owner
	// NoOverwriteDirNonDir makes replacing an existing directory with a
	// non-directory, or a non-directory with a directory, an error
	// wrapping ErrInvalid.
	NoOverwriteDirNonDir bool
	// IDMap, unless empty, shifts the owners (the tar's, or Owner) from
	// container ids to host ids: dir is a remapped container's. An owner
	// without a host id is an error wrapping ErrInvalid.
	IDMap user.IdentityMapping
}

// Extract unpacks the uncompressed tar read from r into the directory dir,
// an open file descriptor that stays the caller's, the way `docker cp`
// does: whiteout names are ordinary files and paths may cross mount points
// below dir (a volume in a container). Names, links and parents resolve
// inside dir as in Apply. Unlike Apply, Extract may run on a tree that
// others change meanwhile (a running container): nothing it does follows a
// symlink that was swapped in under it, so no write lands outside dir.
func Extract(ctx context.Context, r io.Reader, dir int, opts ExtractOptions) error {
	rootFd, err := unix.FcntlInt(uintptr(dir), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	a := newApplier(rootFd, Literal)
	a.owner, a.noReplace, a.idmap = opts.Owner, opts.NoOverwriteDirNonDir, opts.IDMap
	defer a.close()
	_, err = a.apply(ctx, r)
	return err
}

func newApplier(rootFd int, wo Whiteouts) *applier {
	return &applier{
		root:         rootFd,
		wo:           wo,
		resolveFlags: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		unpacked:     map[string]bool{},
		cached:       -1,
		buf:          make([]byte, 1<<20),
	}
}

func (a *applier) apply(ctx context.Context, r io.Reader) (int64, error) {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, invalid(err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return 0, fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	// Directory times last: filling a directory changes its mtime.
	for _, d := range a.dirs {
		if err := a.setTimes(d.name, d.hdr); err != nil && !errors.Is(err, unix.ENOENT) {
			return 0, fmt.Errorf("%s: %w", d.name, err)
		}
	}
	return a.size, nil
}

func invalid(err error) error { return fmt.Errorf("%w: %w", ErrInvalid, err) }

type applier struct {
	root         int
	wo           Whiteouts
	resolveFlags uint64
	owner        *Owner               // overrides the tar's owners when set
	noReplace    bool                 // ExtractOptions.NoOverwriteDirNonDir
	idmap        user.IdentityMapping // ExtractOptions.IDMap
	sources      Sources              // ApplyFrom's
	size         int64
	unpacked     map[string]bool // names written by this tar, for opaque dirs in Delete mode
	dirs         []dirEntry
	buf          []byte
	// the last parent directory used; tars list a directory's files together.
	cachedPath string
	cached     int
}

type dirEntry struct {
	name string
	hdr  *tar.Header
}

func (a *applier) close() {
	a.forget()
	unix.Close(a.root)
}

// forget drops the cached parent; needed after anything was removed.
func (a *applier) forget() {
	if a.cached >= 0 {
		unix.Close(a.cached)
	}
	a.cached, a.cachedPath = -1, ""
}

// resolve opens the directory dir (relative to the root, "" for the root
// itself) with every component resolved inside the root.
func (a *applier) resolve(dir string) (int, error) {
	if dir == "" {
		dir = "."
	}
	return Openat2(a.root, dir, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: a.resolveFlags,
	})
}

// Openat2 is openat2(2), retried when the kernel asks for it. A scoped
// lookup (RESOLVE_IN_ROOT, RESOLVE_BENEATH) through ".." fails with EAGAIN
// when a mount or rename happened meanwhile anywhere in the system, and
// every time in a mount that is no longer attached (a container whose
// processes just exited), so the retries are bounded: the last EAGAIN is
// returned.
func Openat2(dirfd int, path string, how *unix.OpenHow) (int, error) {
	for try := 0; ; try++ {
		fd, err := unix.Openat2(dirfd, path, how)
		if (err == unix.EAGAIN && try < 100) || err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// parent returns an fd of the directory dir, creating missing directories
// (mode 0755, like tar's implied directories). The fd belongs to a.
func (a *applier) parent(dir string) (int, error) {
	if dir == "" {
		return a.root, nil
	}
	if a.cached >= 0 && a.cachedPath == dir {
		return a.cached, nil
	}
	fd, err := a.resolve(dir)
	if err == unix.ENOENT {
		pfd, perr := a.parent(parentOf(dir))
		if perr != nil {
			return -1, perr
		}
		if err := unix.Mkdirat(pfd, path.Base(dir), 0o755); err != nil && err != unix.EEXIST {
			return -1, err
		}
		fd, err = a.resolve(dir)
	}
	if err != nil {
		if err == unix.ENOTDIR || err == unix.ELOOP || err == unix.EXDEV {
			return -1, invalid(fmt.Errorf("parent %s: %w", dir, err))
		}
		return -1, err
	}
	a.forget()
	a.cached, a.cachedPath = fd, dir
	return fd, nil
}

// mark records that this tar wrote name, and so its parent directories.
func (a *applier) mark(name string) {
	for name != "" && !a.unpacked[name] {
		a.unpacked[name] = true
		name = parentOf(name)
	}
}

func parentOf(name string) string {
	d := path.Dir(name)
	if d == "." {
		return ""
	}
	return d
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name := path.Clean(strings.TrimLeft(hdr.Name, "/"))
	if name == "." {
		return nil
	}
	if !filepath.IsLocal(name) {
		return invalid(errors.New("name leaves the layer"))
	}
	dir, base := parentOf(name), path.Base(name)
	if a.wo != Literal {
		if strings.HasPrefix(name, whiteoutMeta) && name != whiteoutOpaque {
			return nil // AUFS metadata such as .wh..wh.plnk/: not layer content
		}
		if strings.HasPrefix(base, whiteoutPrefix) {
			return a.whiteout(dir, base)
		}
	}

	pfd, err := a.parent(dir)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if a.noReplace && isDir != (hdr.Typeflag == tar.TypeDir) {
			if isDir {
				return invalid(fmt.Errorf("cannot overwrite directory %q with non-directory", name))
			}
			return invalid(fmt.Errorf("cannot overwrite non-directory %q with directory", name))
		}
		if !isDir || hdr.Typeflag != tar.TypeDir {
			err := a.removeAll(pfd, base)
			a.forget()
			if err != nil {
				return err
			}
			if pfd, err = a.parent(dir); err != nil {
				return err
			}
		}
	}

	mode := uint32(hdr.Mode) & 0o7777
	uid, gid, err := a.ids(hdr)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
			return err
		}
		a.dirs = append(a.dirs, dirEntry{name, hdr})
	case tar.TypeReg, tar.TypeRegA:
		if err := a.writeFile(pfd, base, hdr, r); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		target := path.Clean(strings.TrimLeft(hdr.Linkname, "/"))
		if target == "." || !filepath.IsLocal(target) {
			return invalid(fmt.Errorf("hard link to %q leaves the layer", hdr.Linkname))
		}
		tfd, err := a.resolve(parentOf(target))
		if err != nil {
			return invalid(fmt.Errorf("hard link to %q: %w", hdr.Linkname, err))
		}
		err = unix.Linkat(tfd, path.Base(target), pfd, base, 0)
		unix.Close(tfd)
		if err != nil {
			return invalid(fmt.Errorf("hard link to %q: %w", hdr.Linkname, err))
		}
		a.mark(name)
		return nil // a hard link shares its target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, typ|mode, int(dev)); err != nil {
			return err
		}
	default:
		return invalid(fmt.Errorf("unsupported entry type %q", hdr.Typeflag))
	}
	a.mark(name)
	if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
		return nil // metadata set through the open file
	}
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// After chown, which clears setuid bits.
		if err := ChmodNoFollow(pfd, base, mode); err != nil {
			return err
		}
	}
	if err := setXattrs(fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base), -1, hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil
	}
	return unix.UtimesNanoAt(pfd, base, times(hdr), unix.AT_SYMLINK_NOFOLLOW)
}

func (a *applier) writeFile(pfd int, base string, hdr *tar.Header, r io.Reader) error {
	if a.linkSource(pfd, base, hdr) {
		n, err := io.CopyBuffer(io.Discard, r, a.buf)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return invalid(err)
			}
			return err
		}
		a.size += n
		return nil
	}
	fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	n, err := io.CopyBuffer(fileWriter{f}, r, a.buf)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return invalid(err)
		}
		return err
	}
	a.size += n
	uid, gid, err := a.ids(hdr)
	if err != nil {
		return err
	}
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return err
	}
	if err := setXattrs("", fd, hdr); err != nil {
		return err
	}
	if err := unix.UtimesNanoAt(pfd, base, times(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return f.Close()
}

// ids returns the owner of the entry hdr.
func (a *applier) ids(hdr *tar.Header) (uid, gid int, err error) {
	uid, gid = hdr.Uid, hdr.Gid
	if a.owner != nil {
		uid, gid = a.owner.UID, a.owner.GID
	}
	if !a.idmap.Empty() {
		if uid, gid, err = a.idmap.ToHost(uid, gid); err != nil {
			return -1, -1, invalid(fmt.Errorf("%s: %w", hdr.Name, err))
		}
	}
	return uid, gid, nil
}

// ChmodNoFollow sets the mode of base in the directory dfd. It never
// follows a symlink there: in a tree others use, one may have replaced
// what was just created, and chmod(2) would follow it out of the tree.
// A symlink found there is an error wrapping ErrInvalid.
func ChmodNoFollow(dfd int, base string, mode uint32) error {
	err := unix.Fchmodat(dfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP {
		return err
	}
	// A kernel without fchmodat2 (Linux 6.6), or a symlink: chmod the inode
	// through an O_PATH descriptor, which pins it.
	fd, err := unix.Openat(dfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return invalid(fmt.Errorf("%s was replaced by a symlink", base))
	}
	return unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), mode)
}

// fileWriter hides os.File's ReadFrom, which would read through a small
// buffer of its own instead of a.buf.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (a *applier) whiteout(dir, base string) error {
	if base != whiteoutOpaque && strings.HasPrefix(base, whiteoutMeta) {
		return nil // AUFS metadata (.wh..wh.plnk and the like): not layer content
	}
	pfd, err := a.parent(dir)
	if err != nil {
		return err
	}
	if base == whiteoutOpaque {
		if a.wo == Overlay {
			return unix.Fsetxattr(pfd, opaqueXattr, []byte("y"), 0)
		}
		err := a.clearOpaque(pfd, dir)
		a.forget()
		return err
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." {
		return invalid(fmt.Errorf("whiteout %q", base))
	}
	err = a.removeAll(pfd, victim)
	a.forget()
	if err != nil {
		return err
	}
	if a.wo == Overlay {
		pfd, err := a.parent(dir)
		if err != nil {
			return err
		}
		return unix.Mknodat(pfd, victim, unix.S_IFCHR, 0)
	}
	return nil
}

// clearOpaque removes from the directory dfd (named dir) everything this
// tar did not write.
func (a *applier) clearOpaque(dfd int, dir string) error {
	names, err := readNames(dfd)
	if err != nil {
		return err
	}
	for _, n := range names {
		full := path.Join(dir, n)
		if !a.unpacked[full] {
			if err := a.removeAll(dfd, n); err != nil {
				return err
			}
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		sub, err := unix.Openat(dfd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		err = a.clearOpaque(sub, full)
		unix.Close(sub)
		if err != nil {
			return err
		}
	}
	return nil
}

// removeAll removes name from the directory dfd, recursively, never
// following symlinks. A missing name is not an error. The caller must
// forget the cached parent afterwards: it may have been removed, or have
// been reached through a removed symlink.
func (a *applier) removeAll(dfd int, name string) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	sub, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	names, err := readNames(sub)
	if err == nil {
		for _, n := range names {
			if err = a.removeAll(sub, n); err != nil {
				break
			}
		}
	}
	unix.Close(sub)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
}

func readNames(dfd int) ([]string, error) {
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "dir")
	defer f.Close()
	return f.Readdirnames(-1)
}

func (a *applier) setTimes(name string, hdr *tar.Header) error {
	pfd, err := a.resolve(parentOf(name))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return unix.UtimesNanoAt(pfd, path.Base(name), times(hdr), unix.AT_SYMLINK_NOFOLLOW)
}

func times(hdr *tar.Header) []unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() || at.Before(hdr.ModTime) {
		at = hdr.ModTime
	}
	return []unix.Timespec{timespec(at), timespec(hdr.ModTime)}
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		t = time.Unix(0, 0)
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// setXattrs applies the tar's xattrs to the open file fd, or else to the
// path p (not following a final symlink). Filesystems or types that refuse
// xattrs are skipped, as Docker does.
func setXattrs(p string, fd int, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		key, ok := strings.CutPrefix(k, paxXattr)
		if !ok || strings.HasPrefix(key, "trusted.overlay.") {
			continue
		}
		var err error
		if fd >= 0 {
			err = unix.Fsetxattr(fd, key, []byte(v), 0)
		} else {
			err = unix.Lsetxattr(p, key, []byte(v), 0)
		}
		if err != nil && err != unix.ENOTSUP && err != unix.EPERM {
			return fmt.Errorf("set xattr %s: %w", key, err)
		}
	}
	return nil
}
