package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/go-archive"
	"github.com/moby/sys/user"
	"github.com/opencontainers/go-digest"

	iarchive "github.com/gantry/gantry/internal/archive"
	"github.com/gantry/gantry/mount"
)

// vfs keeps in each layer the full merged tree of its chain, and makes a
// snapshot by copying it to dir/rootfs. It needs no kernel support beyond
// bind mounts, and costs a full copy per layer and per snapshot.
type vfs struct {
	s *Store
}

func newVFS(s *Store) *vfs { return &vfs{s: s} }

func (v *vfs) name() string { return "vfs" }

func (v *vfs) apply(ctx context.Context, dst, parent string, r io.Reader, sources iarchive.Sources) (int64, error) {
	if parent != "" {
		if err := copyTree(ctx, parent, dst); err != nil {
			return 0, fmt.Errorf("copy parent layer: %w", hostError{err})
		}
	}
	return iarchive.ApplyFrom(ctx, r, dst, iarchive.Delete, sources)
}

func (v *vfs) rootfs(dir string) string { return filepath.Join(dir, "rootfs") }

func (v *vfs) exists(dir string) bool {
	_, err := os.Lstat(v.rootfs(dir))
	return err == nil
}

// prepare: Store.Prepare refuses a mapping for vfs.
func (v *vfs) prepare(ctx context.Context, dir string, chain []digest.Digest, idm user.IdentityMapping) ([]mount.Mount, error) {
	rootfs := v.rootfs(dir)
	m := []mount.Mount{{Type: "bind", Source: rootfs, Options: []string{"rbind"}}}
	if _, err := os.Lstat(rootfs); err == nil {
		return m, nil
	}
	// Copy next to rootfs and rename, so an interrupted Prepare leaves no
	// half-copied rootfs that a second Prepare would take as complete.
	partial := rootfs + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return nil, err
	}
	if err := os.Mkdir(partial, 0o755); err != nil {
		return nil, err
	}
	if len(chain) > 0 {
		if err := copyTree(ctx, v.s.filesDir(chain[0]), partial); err != nil {
			os.RemoveAll(partial)
			return nil, err
		}
	}
	if err := os.Rename(partial, rootfs); err != nil {
		os.RemoveAll(partial)
		return nil, err
	}
	return m, nil
}

func (v *vfs) view(ctx context.Context, dir string, chain []digest.Digest) ([]mount.Mount, error) {
	rootfs := v.rootfs(dir)
	if _, err := os.Lstat(rootfs); err != nil {
		return nil, snapshotNotFound(dir, err)
	}
	return []mount.Mount{{Type: "bind", Source: rootfs, Options: []string{"rbind", "ro"}}}, nil
}

func (v *vfs) changes(dir string, chain []digest.Digest) ([]archive.Change, error) {
	rootfs := v.rootfs(dir)
	if _, err := os.Lstat(rootfs); err != nil {
		return nil, snapshotNotFound(dir, err)
	}
	var parent string
	if len(chain) > 0 {
		parent = v.s.filesDir(chain[0])
	}
	return archive.ChangesDirs(rootfs, parent)
}

func (v *vfs) diff(ctx context.Context, dir string, chain []digest.Digest, idm user.IdentityMapping) (io.ReadCloser, error) {
	changes, err := v.changes(dir, chain)
	if err != nil {
		return nil, err
	}
	return archive.ExportChanges(v.rootfs(dir), changes, idm)
}

func (v *vfs) usage(ctx context.Context, dir string, chain []digest.Digest) (int64, error) {
	changes, err := v.changes(dir, chain)
	if err != nil {
		return 0, err
	}
	return archive.ChangesSize(v.rootfs(dir), changes), nil
}

func (v *vfs) release(ctx context.Context, dir string) error {
	for _, d := range []string{v.rootfs(dir), v.rootfs(dir) + ".partial"} {
		if err := os.RemoveAll(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// hostError marks an error of the host, not of the tar being applied.
type hostError struct{ error }

func (e hostError) Unwrap() error { return e.error }

// maxDepth: a copy has no depth.
func (v *vfs) maxDepth() int { return 0 }
