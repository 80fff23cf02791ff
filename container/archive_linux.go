package container

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/go-archive/compression"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/internal/archive"
	"github.com/gantry/gantry/mount"
)

// The functions below serve `docker cp` (GET, HEAD and PUT
// /containers/{id}/archive) on a container's filesystem reached through
// its root directory, an open file descriptor the caller owns. Paths are
// resolved in it by the kernel (openat2 RESOLVE_IN_ROOT), as the
// container's processes would resolve them, so no symlink, absolute or
// with "..", leads out of the container; mount points below the root (a
// running container's volumes) are crossed.

// Errors for what docker cp is asked to do, with dockerd's text.
var (
	errNotDirectory   = errdefs.ErrInvalidArgument.WithMessage("extraction point is not a directory")
	errRootfsReadOnly = errdefs.ErrPermissionDenied.WithMessage("container rootfs is marked read-only")
	errVolumeReadOnly = errdefs.ErrPermissionDenied.WithMessage("mounted volume is marked read-only")
)

// PathResource is a file in a container's filesystem, found by OpenPath.
type PathResource struct {
	// Stat is what the X-Docker-Container-Path-Stat header reports.
	Stat container.PathStat
	// IDMap, unless empty, is the mapping of the remapped container whose
	// file this is: WriteTar names owners by container ids.
	IDMap user.IdentityMapping
	dir   int    // the directory holding the file
	name  string // the file's name in dir; "." for dir itself
}

// OpenPath finds p in the filesystem whose root directory is root, as
// dockerd does for docker cp: every component of p but the last is
// resolved following symlinks inside root; the last is not followed (a
// symlink is the resource, its LinkTarget resolved in root), unless p ends
// in "/" or "/." (then it is the directory p leads to). A missing file is
// an error satisfying errors.Is(err, fs.ErrNotExist). The caller closes
// the resource.
func OpenPath(root int, p string) (*PathResource, error) {
	abs := path.Clean("/" + p)
	dirPath, name := path.Dir(abs), path.Base(abs)
	statName := name
	if abs == "/" || strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") {
		dirPath, name = abs, "."
		if strings.HasSuffix(p, "/.") {
			statName = "."
		}
	}
	dir, err := archive.OpenInRoot(root, dirPath, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Close(dir)
		return nil, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	r := &PathResource{dir: dir, name: name, Stat: container.PathStat{
		Name:  statName,
		Size:  st.Size,
		Mode:  fileMode(&st),
		Mtime: time.Unix(st.Mtim.Unix()).UTC(),
	}}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		if r.Stat.LinkTarget, err = resolveLinks(root, abs); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// WriteTar writes an uncompressed tar of the resource to w, its top entry
// named Stat.Name, as dockerd's archives are: a file is one entry, a
// directory is itself and everything below it; symlinks are not followed.
func (r *PathResource) WriteTar(ctx context.Context, w io.Writer) error {
	return archive.Tar(ctx, w, r.dir, r.name, archive.TarOptions{Name: r.Stat.Name, IDMap: r.IDMap})
}

// Close releases the resource.
func (r *PathResource) Close() error { return unix.Close(r.dir) }

// ExtractOptions say how ExtractToDir writes.
type ExtractOptions struct {
	archive.ExtractOptions
	// ReadonlyRootfs refuses writes to the container's own filesystem
	// (HostConfig.ReadonlyRootfs), whether or not root's mount is
	// read-only.
	ReadonlyRootfs bool
}

// ExtractToDir unpacks the tar read from r (plain or compressed) into the
// directory p of the filesystem whose root directory is root, as dockerd
// does for docker cp: p is resolved following symlinks inside root, the
// last component included, and the tar's entries stay inside it. A p that
// does not exist is an error satisfying errors.Is(err, fs.ErrNotExist);
// one that is not a directory, or a stream that is not a tar that applies,
// an invalid-argument error; a read-only destination a permission-denied
// error, with dockerd's texts.
func ExtractToDir(ctx context.Context, r io.Reader, root int, p string, opts ExtractOptions) error {
	dir, err := archive.OpenInRoot(root, path.Clean("/"+p), unix.O_PATH)
	if err != nil {
		if err == unix.ENOTDIR {
			return errNotDirectory
		}
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(dir)
	var st unix.Stat_t
	if err := unix.Fstat(dir, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return errNotDirectory
	}
	if err := checkWritable(root, dir, opts.ReadonlyRootfs); err != nil {
		return err
	}
	plain, err := compression.DecompressStream(r)
	if err != nil {
		return specInvalid(fmt.Errorf("read archive: %w", err))
	}
	defer plain.Close()
	if err := archive.Extract(ctx, plain, dir, opts.ExtractOptions); err != nil {
		if errors.Is(err, archive.ErrInvalid) {
			return specInvalid(fmt.Errorf("extract archive into %s: %w", p, err))
		}
		return fmt.Errorf("extract archive into %s: %w", p, err)
	}
	return nil
}

// checkWritable refuses a destination directory on a read-only mount, or
// on root's own mount when the container's rootfs is read-only.
func checkWritable(root, dir int, readonlyRootfs bool) error {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(dir, &fs); err != nil {
		return err
	}
	readonly := fs.Flags&unix.ST_RDONLY != 0
	onRoot, err := sameMount(root, dir)
	if err != nil {
		return err
	}
	switch {
	case onRoot && (readonly || readonlyRootfs):
		return errRootfsReadOnly
	case readonly:
		return errVolumeReadOnly
	}
	return nil
}

func sameMount(a, b int) (bool, error) {
	var sa, sb unix.Statx_t
	if err := unix.Statx(a, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &sa); err != nil {
		return false, err
	}
	if err := unix.Statx(b, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &sb); err != nil {
		return false, err
	}
	return sa.Mnt_id == sb.Mnt_id, nil
}

// CopyOwner returns the owner docker cp -a gives the files it copies into
// a container: the container's user (Config.User, resolved in the
// container's /etc/passwd and /etc/group), or nil, which keeps the tar's
// owners, when the container has no user.
func CopyOwner(root int, user string) (*archive.Owner, error) {
	if user == "" {
		return nil, nil
	}
	u, _, err := specUser(root, user, nil)
	if err != nil {
		return nil, err
	}
	return &archive.Owner{UID: int(u.UID), GID: int(u.GID)}, nil
}

// resolveLinks returns the absolute path inside root that p leads to, every
// symlink resolved inside root; components that do not exist are kept as
// they are. It names where a symlink points (PathStat.LinkTarget); opening
// goes through openInRoot, which the kernel bounds.
func resolveLinks(root int, p string) (string, error) {
	resolved, rest := "/", path.Clean("/"+p)
	for links := 0; rest != "/"; {
		comp, tail, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		rest = "/" + tail
		if comp == ".." {
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, comp)
		target, err := readlinkInRoot(root, next)
		if err == unix.EINVAL || err == unix.ENOENT || err == unix.ENOTDIR {
			resolved = next // not a symlink, or not there
			continue
		}
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: next, Err: err}
		}
		if links++; links > 255 {
			return "", &os.PathError{Op: "resolve", Path: p, Err: unix.ELOOP}
		}
		if !path.IsAbs(target) {
			target = resolved + "/" + target // resolved holds no symlinks: ".." is lexical
		}
		resolved, rest = "/", path.Clean("/"+target+rest)
	}
	return resolved, nil
}

func readlinkInRoot(root int, p string) (string, error) {
	dir, err := archive.OpenInRoot(root, path.Dir(p), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return "", err
	}
	defer unix.Close(dir)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dir, path.Base(p), buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// fileMode converts a stat mode to Go's fs.FileMode, as os.Lstat does.
func fileMode(st *unix.Stat_t) fs.FileMode {
	m := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// CopyMount is a volume or bind of a stopped container, which docker cp
// sees at Destination.
type CopyMount struct {
	Source      string // host directory or file
	Destination string // absolute path in the container
	ReadOnly    bool
}

// ErrMissingDestination is MountForCopy's error for a destination that the
// rootfs lacks and that it may not create.
var ErrMissingDestination = errors.New("mount destination missing in the rootfs")

// MountForCopy bind-mounts ms in the container's rootfs, mounted by the
// caller at the host path rootfs and open as the descriptor root, as
// dockerd does for docker cp of a stopped container: parents before what
// they hold, rprivate, read-only where the mount is (ExtractToDir then
// refuses writes there). Destinations resolve in root; a missing one is
// created (owned by create, 0755, and an empty file for a file source)
// when create is set, else the error wraps ErrMissingDestination. A mount whose source
// is missing is left out. undo unmounts them, last first; on error
// MountForCopy undoes what it did.
func MountForCopy(root int, rootfs string, ms []CopyMount, create *archive.Owner) (undo func(), err error) {
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b CopyMount) int {
		return cmp.Compare(strings.Count(path.Clean(a.Destination), "/"), strings.Count(path.Clean(b.Destination), "/"))
	})
	real, err := filepath.EvalSymlinks(rootfs)
	if err != nil {
		return nil, err
	}
	var targets []string
	undo = func() {
		for _, t := range slices.Backward(targets) {
			_ = mount.Unmount(t) // failing, it stays until the rootfs's unmount detaches it
		}
	}
	for _, m := range ms {
		fi, err := os.Stat(m.Source)
		if err != nil {
			continue
		}
		target, err := copyMountTarget(root, real, m.Destination, fi.IsDir(), create)
		if err != nil {
			undo()
			return nil, fmt.Errorf("mount %s for the copy: %w", m.Destination, err)
		}
		if target == "" {
			undo()
			return nil, fmt.Errorf("%s: %w", m.Destination, ErrMissingDestination)
		}
		opts := []string{"rbind", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		if err := mount.All([]mount.Mount{{Type: "bind", Source: m.Source, Options: opts}}, target); err != nil {
			undo()
			return nil, err
		}
		targets = append(targets, target)
	}
	return undo, nil
}

// createInRoot creates p in the rootfs (open as root, at the host path
// rootfs): its parent directories and p itself, a directory when dir, else
// an empty file, owned by owner with mode 0755. An existing p is no error.
func createInRoot(root int, rootfs, p string, dir bool, owner archive.Owner) error {
	p = path.Clean("/" + p)
	if err := specMkdirAll(rootfs, path.Dir(p), owner.UID, owner.GID); err != nil {
		return err
	}
	pfd, err := archive.OpenInRoot(root, path.Dir(p), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if dir {
		err = unix.Mkdirat(pfd, path.Base(p), 0o755)
	} else {
		var f int
		if f, err = unix.Openat(pfd, path.Base(p), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o755); err == nil {
			unix.Close(f)
		}
	}
	if err == unix.EEXIST {
		return nil
	}
	if err != nil {
		return err
	}
	return unix.Fchownat(pfd, path.Base(p), owner.UID, owner.GID, unix.AT_SYMLINK_NOFOLLOW)
}

// copyMountTarget returns the host path of the destination p in the rootfs
// (at the host path rootfs, without symlinks), resolved in root, creating it when create; "" when it is missing and not
// created.
func copyMountTarget(root int, rootfs, p string, dir bool, create *archive.Owner) (string, error) {
	fd, err := archive.OpenInRoot(root, p, unix.O_PATH)
	if err == unix.ENOENT && create != nil {
		if err := createInRoot(root, rootfs, p, dir, *create); err != nil {
			return "", err
		}
		fd, err = archive.OpenInRoot(root, p, unix.O_PATH)
	}
	if err == unix.ENOENT {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	if target != rootfs && !strings.HasPrefix(target, rootfs+"/") {
		return "", fmt.Errorf("%s resolves to %s, outside the rootfs", p, target)
	}
	return target, nil
}
