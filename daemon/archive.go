package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
	mounttypes "github.com/moby/moby/api/types/mount"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/api"
	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/internal/archive"
	"github.com/gantry/gantry/mount"
)

// rootAccess says how an operation uses a container's filesystem.
type rootAccess int

const (
	// readLive reads the filesystem as the container's processes see it:
	// a running container's root (/proc/<pid>/root), mounts included.
	readLive rootAccess = iota
	// writeLive is readLive for an operation that changes files. The
	// container is marked as copying (SetCopying) until the release, so
	// that it neither starts (again, should it exit meanwhile) nor is
	// removed while the copy writes.
	writeLive
	// readRootfs reads the rootfs alone (image layers and changes), without
	// what is mounted on it.
	readRootfs
)

// ContainerStatPath implements HEAD /containers/{name}/archive.
func (d *Daemon) ContainerStatPath(ctx context.Context, name, path string) (container.PathStat, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return container.PathStat{}, err
	}
	root, release, err := d.openRoot(ctx, c, readLive)
	if err != nil {
		return container.PathStat{}, err
	}
	defer release()
	res, err := gcontainer.OpenPath(root, path)
	if err != nil {
		return container.PathStat{}, fileError(err, path, name)
	}
	res.Close()
	return res.Stat, nil
}

// ContainerArchivePath implements GET /containers/{name}/archive.
func (d *Daemon) ContainerArchivePath(ctx context.Context, name, path string) (io.ReadCloser, container.PathStat, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return nil, container.PathStat{}, err
	}
	root, release, err := d.openRoot(ctx, c, readLive)
	if err != nil {
		return nil, container.PathStat{}, err
	}
	res, err := gcontainer.OpenPath(root, path)
	if err != nil {
		release()
		return nil, container.PathStat{}, fileError(err, path, name)
	}
	res.IDMap = d.idmapOf(c.HostConfig)
	d.containerEvent(c, evtypes.ActionArchivePath, nil)
	return pipe(func(w io.Writer) error { return res.WriteTar(ctx, w) }, func() { res.Close(); release() }), res.Stat, nil
}

// ContainerExtractToDir implements PUT /containers/{name}/archive.
func (d *Daemon) ContainerExtractToDir(ctx context.Context, name, path string, src io.Reader, opts api.ExtractOptions) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	root, release, err := d.openRoot(ctx, c, writeLive)
	if err != nil {
		return err
	}
	defer release()
	eo := gcontainer.ExtractOptions{ReadonlyRootfs: c.HostConfig.ReadonlyRootfs}
	eo.NoOverwriteDirNonDir = opts.NoOverwriteDirNonDir
	eo.IDMap = d.idmapOf(c.HostConfig)
	if opts.CopyUIDGID {
		if eo.Owner, err = gcontainer.CopyOwner(root, c.Config.User); err != nil {
			return err
		}
	}
	if err := gcontainer.ExtractToDir(ctx, src, root, path, eo); err != nil {
		return fileError(err, path, name)
	}
	d.containerEvent(c, evtypes.ActionExtractToDir, nil)
	return nil
}

// ContainerExport implements GET /containers/{name}/export: a tar of the
// container's rootfs, without the root directory's own entry, as dockerd
// writes it.
func (d *Daemon) ContainerExport(ctx context.Context, name string) (io.ReadCloser, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return nil, err
	}
	root, release, err := d.openRoot(ctx, c, readRootfs)
	if err != nil {
		return nil, err
	}
	d.containerEvent(c, evtypes.ActionExport, nil)
	return pipe(func(w io.Writer) error {
		return archive.Tar(ctx, w, root, ".", archive.TarOptions{OneFileSystem: true, IDMap: d.idmapOf(c.HostConfig)})
	}, release), nil
}

// fileError gives a missing file dockerd's not-found text.
func fileError(err error, path, name string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("Could not find the file %s in container %s", path, name))
	}
	return err
}

// pipe runs write in the background and returns what it writes. release
// runs once write is done; closing the reader early makes write fail.
func pipe(write func(io.Writer) error, release func()) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		err := write(pw)
		release()
		pw.CloseWithError(err)
	}()
	return pr
}

// openRoot opens the root directory of c's filesystem for access and
// returns its descriptor and the function that releases it. A running
// container's root is its init's (readLive, writeLive) or its mounted
// rootfs (readRootfs). A stopped container's rootfs is mounted in tmp/
// for the operation alone, and unmounted at the release: for reads a
// read-only view, which does not stand in the way of a start; for writes
// its read-write snapshot (also for a read when the view lacks a mount
// destination). A write, to a running container too, marks it as copying
// until the release: start and remove wait for that. Its
// volumes and binds are mounted there too (not for readRootfs), as
// dockerd mounts them for docker cp. c's lock is held only while the root is opened, never during
// the operation, which may be as slow as its client.
//
// The mount stays attached: the kernel fails openat2 lookups with ".."
// (RESOLVE_IN_ROOT) in a detached mount with EAGAIN.
func (d *Daemon) openRoot(ctx context.Context, c *gcontainer.Container, access rootAccess) (int, func(), error) {
	c.Lock()
	defer c.Unlock()
	// A stopped remapped container's snapshot has no read-only view: a
	// read mounts the snapshot itself, and so waits for and holds off
	// starts and other copies as a write does.
	holds := access == writeLive || (!d.idmapOf(c.HostConfig).Empty() && !c.State.IsRunning())
	if holds {
		if err := c.WaitCopy(ctx); err != nil {
			return -1, nil, err
		}
	}
	fd, undo, err := d.openRootLocked(ctx, c, access)
	if errors.Is(err, gcontainer.ErrMissingDestination) && access == readLive {
		// The read-only view lacks a volume's destination (a container
		// never started): as dockerd, create it in the snapshot itself.
		access = writeLive
		if err = c.WaitCopy(ctx); err == nil {
			fd, undo, err = d.openRootLocked(ctx, c, access)
		}
	}
	if err != nil {
		return -1, nil, fmt.Errorf("open the filesystem of container %s: %w", c.Name, err)
	}
	// A write marks the container as copying, running or not: a running
	// one may exit meanwhile, and its next start must not mount its
	// snapshot again while the copy still writes through the old mount.
	copying := holds || access == writeLive
	if copying {
		c.SetCopying(true)
	}
	return fd, func() {
		unix.Close(fd)
		undo()
		if copying {
			c.Lock()
			c.SetCopying(false)
			c.Unlock()
		}
	}, nil
}

// openRootLocked is openRoot's work under c's lock; undo removes the
// mount it made, once the descriptor is closed.
func (d *Daemon) openRootLocked(ctx context.Context, c *gcontainer.Container, access rootAccess) (fd int, undo func(), err error) {
	if c.State.IsRunning() {
		p := rootfsPath(c)
		if access != readRootfs {
			p = fmt.Sprintf("/proc/%d/root", c.State.Pid)
		}
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, nil, &os.PathError{Op: "open", Path: p, Err: err}
		}
		return fd, func() {}, nil
	}
	var ms []mount.Mount
	if access == writeLive || !d.idmapOf(c.HostConfig).Empty() {
		// A remapped snapshot has no read-only view (see openRoot).
		ms, err = d.layers.Prepare(ctx, c.Dir(), c.Chain, d.snapshotOptions(c)...)
	} else {
		ms, err = d.layers.View(ctx, c.Dir(), c.Chain)
	}
	if err != nil {
		return -1, nil, err
	}
	target, err := os.MkdirTemp(filepath.Join(d.cfg.Root, "tmp"), "rootfs-"+c.ID[:12]+"-")
	if err != nil {
		return -1, nil, err
	}
	if err := mount.All(ms, target); err != nil {
		os.Remove(target)
		return -1, nil, err
	}
	undo = func() {
		if err := mount.Unmount(target); err != nil {
			d.log.Warn("unmount rootfs", "container", c.ID, "error", err)
		}
		os.Remove(target)
	}
	fd, err = unix.Open(target, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		undo()
		return -1, nil, &os.PathError{Op: "open", Path: target, Err: err}
	}
	if access == readRootfs {
		return fd, undo, nil
	}
	var create *archive.Owner // the owner of missing destinations, for writes
	if access == writeLive {
		uid, gid := d.idmapOf(c.HostConfig).RootPair()
		create = &archive.Owner{UID: uid, GID: gid}
	}
	unbind, err := gcontainer.MountForCopy(fd, target, d.copyMounts(c), create)
	if err != nil {
		unix.Close(fd)
		undo()
		return -1, nil, err
	}
	unmount := undo
	return fd, func() { unbind(); unmount() }, nil
}

// copyMounts are the volumes and binds of c that docker cp sees when c is
// stopped.
func (d *Daemon) copyMounts(c *gcontainer.Container) []gcontainer.CopyMount {
	var out []gcontainer.CopyMount
	for _, mp := range d.mountPoints(c.HostConfig, c.Volumes) {
		if (mp.Type == mounttypes.TypeBind || mp.Type == mounttypes.TypeVolume) && mp.Source != "" {
			out = append(out, gcontainer.CopyMount{Source: mp.Source, Destination: mp.Destination, ReadOnly: !mp.RW})
		}
	}
	return out
}
