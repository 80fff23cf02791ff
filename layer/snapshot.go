package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/mount"
)

// Prepare creates a read-write snapshot in dir, a directory owned by the
// caller (e.g. containers/<id>/), on top of the chain parent ("" for an
// empty rootfs), and returns the mounts that assemble its rootfs when
// applied in order on one target. overlay2: an overlay mount with the chain
// as lowerdirs (top first), upperdir=dir/upper and workdir=dir/work (a bind
// mount of dir/upper when parent is ""); vfs: a bind mount of dir/rootfs, a
// copy of the parent's tree.
//
// Prepare is idempotent: on an existing snapshot it returns the same mounts
// and keeps its changes. A parent that does not exist is a not-found error;
// a chain deeper than MaxDepth an invalid-argument one.
// The caller must keep the parent's layers until Release.
func (s *Store) Prepare(ctx context.Context, dir string, parent digest.Digest, opts ...SnapshotOption) ([]mount.Mount, error) {
	var o snapshotOptions
	for _, opt := range opts {
		opt(&o)
	}
	chain, err := s.chain(parent)
	if err != nil {
		return nil, fmt.Errorf("prepare snapshot: %w", err)
	}
	if ov, ok := s.drv.(*overlay); !o.idmap.Empty() && (!ok || !ov.byOne) {
		return nil, errdefs.ErrNotImplemented.WithMessage("prepare snapshot: user namespace remapping needs the overlay2 driver on Linux 6.8 or later (idmapped overlay layers)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("prepare snapshot: %w", err)
	}
	if err := recordIDMap(dir, o.idmap, s.drv.exists(dir)); err != nil {
		return nil, fmt.Errorf("prepare snapshot: %w", err)
	}
	ms, err := s.drv.prepare(ctx, dir, chain, o.idmap)
	if err != nil {
		return nil, fmt.Errorf("prepare snapshot: %w", err)
	}
	return ms, nil
}

// View returns the mounts of a read-only view of the existing snapshot in
// dir on top of the chain parent: the tree Prepare's mounts show, without
// write access and without the snapshot's work directory, so that a view
// may be mounted any number of times, also while the snapshot is mounted
// read-write (changes made through that mount meanwhile may or may not
// show in the view). A missing snapshot or parent is a not-found error.
func (s *Store) View(ctx context.Context, dir string, parent digest.Digest) ([]mount.Mount, error) {
	chain, err := s.chain(parent)
	if err != nil {
		return nil, fmt.Errorf("view snapshot: %w", err)
	}
	if idm, err := readIDMap(dir); err != nil {
		return nil, fmt.Errorf("view snapshot: %w", err)
	} else if !idm.Empty() {
		return nil, errdefs.ErrNotImplemented.WithMessage("view snapshot: a read-only view of a snapshot with a user namespace mapping is not implemented")
	}
	ms, err := s.drv.view(ctx, dir, chain)
	if err != nil {
		return nil, fmt.Errorf("view snapshot: %w", err)
	}
	return ms, nil
}

// Diff returns the changes of the snapshot in dir against parent as an
// uncompressed OCI layer tar: added and changed files, and OCI whiteouts
// for deletions and opaque directories; the owners of a snapshot made
// WithIDMap are container ids, as in its mapping. The caller must close the reader.
// Diff works whether or not the snapshot is mounted; changes made while the
// tar is being read may or may not be in it. A missing snapshot or parent
// is a not-found error. Files that vanish or cannot be read while the tar
// is written are left out (logged), as Docker does.
func (s *Store) Diff(ctx context.Context, dir string, parent digest.Digest) (io.ReadCloser, error) {
	chain, err := s.chain(parent)
	if err != nil {
		return nil, fmt.Errorf("diff snapshot: %w", err)
	}
	idm, err := readIDMap(dir)
	if err != nil {
		return nil, fmt.Errorf("diff snapshot: %w", err)
	}
	rc, err := s.drv.diff(ctx, dir, chain, idm)
	if err != nil {
		return nil, fmt.Errorf("diff snapshot: %w", err)
	}
	return rc, nil
}

// Usage returns the bytes of file content the snapshot in dir adds or
// changes against parent, for `docker ps -s`. A missing snapshot is a
// not-found error.
func (s *Store) Usage(ctx context.Context, dir string, parent digest.Digest) (int64, error) {
	chain, err := s.chain(parent)
	if err != nil {
		return 0, fmt.Errorf("snapshot usage: %w", err)
	}
	n, err := s.drv.usage(ctx, dir, chain)
	if err != nil {
		return 0, fmt.Errorf("snapshot usage: %w", err)
	}
	return n, nil
}

// Release removes the snapshot's files from dir (dir itself stays, it is
// the caller's). The caller unmounts the rootfs first. Release is
// idempotent; releasing a directory that holds no snapshot succeeds.
func (s *Store) Release(ctx context.Context, dir string) error {
	if dir == "" {
		return errdefs.ErrInvalidArgument.WithMessage("release snapshot: empty directory")
	}
	if err := s.drv.release(ctx, dir); err != nil {
		return fmt.Errorf("release snapshot: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, idmapName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release snapshot: %w", err)
	}
	return nil
}
