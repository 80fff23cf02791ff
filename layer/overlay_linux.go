package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/moby/go-archive"
	"github.com/moby/sys/user"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	iarchive "github.com/gantry/gantry/internal/archive"
	"github.com/gantry/gantry/mount"
)

// overlay keeps each layer's own changes, with whiteouts in overlay form,
// and stacks them with overlayfs. A snapshot is dir/upper and dir/work.
type overlay struct {
	s *Store
	// extra mount options that keep the upper directory a plain diff
	// (no redirects, no metadata-only copy-ups), when the kernel has them.
	extra []string
	// byOne: the kernel takes overlay layers one by one
	// (mount.OverlayLayersByOne), so the options' length does not matter.
	byOne bool
}

// overlayExtra are the options that make dir/upper a self-contained diff:
// without them a renamed directory or a chown may leave only a pointer to
// the lower layer in upper, which a tar of upper cannot express.
var overlayExtra = []string{"index=off", "redirect_dir=off", "metacopy=off"}

// newOverlay probes overlayfs with a test mount in the store's tmp dir.
func newOverlay(s *Store) (*overlay, error) {
	probe, err := os.MkdirTemp(s.tmp, stagePrefix+"probe-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(probe)
	for _, d := range []string{"lower1", "lower2", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(probe, d), 0o755); err != nil {
			return nil, err
		}
	}
	// The upper dir must accept trusted.* xattrs for opaque directories.
	if err := unix.Lsetxattr(filepath.Join(probe, "upper"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		return nil, fmt.Errorf("overlay: %w", errdefs.ErrNotImplemented.WithMessage("trusted xattrs: "+err.Error()))
	}
	if err := unix.Lremovexattr(filepath.Join(probe, "upper"), "trusted.overlay.opaque"); err != nil {
		return nil, err
	}
	base := []string{
		"lowerdir=" + filepath.Join(probe, "lower1") + ":" + filepath.Join(probe, "lower2"),
		"upperdir=" + filepath.Join(probe, "upper"),
		"workdir=" + filepath.Join(probe, "work"),
	}
	var lastErr error
	for _, extra := range [][]string{overlayExtra, nil} {
		m := mount.Mount{Type: "overlay", Source: "overlay", Options: append(append([]string{}, extra...), base...)}
		target := filepath.Join(probe, "merged")
		if err := mount.All([]mount.Mount{m}, target); err != nil {
			lastErr = err
			continue
		}
		if err := mount.Unmount(target); err != nil {
			return nil, err
		}
		return &overlay{s: s, extra: extra, byOne: mount.OverlayLayersByOne()}, nil
	}
	return nil, fmt.Errorf("overlay: %w", errdefs.ErrNotImplemented.WithMessage(lastErr.Error()))
}

func (o *overlay) name() string { return "overlay2" }

func (o *overlay) apply(ctx context.Context, dst, parent string, r io.Reader, sources iarchive.Sources) (int64, error) {
	return iarchive.ApplyFrom(ctx, r, dst, iarchive.Overlay, sources)
}

func (o *overlay) exists(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, "upper"))
	return err == nil
}

func (o *overlay) prepare(ctx context.Context, dir string, chain []digest.Digest, idm user.IdentityMapping) ([]mount.Mount, error) {
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	if err := os.MkdirAll(upper, 0o755); err != nil {
		return nil, err
	}
	if !idm.Empty() {
		// The container's root owns its root directory; what it writes
		// keeps host ids.
		uid, gid := idm.RootPair()
		if err := os.Lchown(upper, uid, gid); err != nil {
			return nil, err
		}
	}
	if len(chain) == 0 {
		// Nothing to stack: the upper directory is the whole rootfs.
		return []mount.Mount{{Type: "bind", Source: upper, Options: []string{"rbind"}}}, nil
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, err
	}
	lowers := make([]string, len(chain))
	for i, id := range chain {
		lowers[i] = o.s.linkPath(id)
	}
	opts := append(append([]string{}, o.extra...),
		"lowerdir="+strings.Join(lowers, ":"),
		"upperdir="+upper,
		"workdir="+work,
	)
	if err := o.fits(len(chain), opts); err != nil {
		return nil, err
	}
	if !idm.Empty() {
		opts = append(opts, "uidmap="+idMapOption(idm.UIDMaps), "gidmap="+idMapOption(idm.GIDMaps))
	}
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
}

// fits checks that an overlay of a chain of n layers with options opts
// can be mounted: at most mount.OverlayMaxLayers layers when the kernel
// takes them one by one, else options that fit in the one page mount(2)
// takes.
func (o *overlay) fits(n int, opts []string) error {
	if o.byOne {
		if n > mount.OverlayMaxLayers {
			return maxDepthError(n, mount.OverlayMaxLayers)
		}
		return nil
	}
	if size := len(strings.Join(opts, ",")); size >= os.Getpagesize() {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("chain of %d layers needs %d bytes of overlay mount options, more than %d", n, size, os.Getpagesize()-1))
	}
	return nil
}

// maxDepth is the deepest chain a snapshot can stack: overlayfs' limit
// when the kernel takes layers one by one; else as many short links as
// fit in a page of options beside an upper and a work directory whose
// paths are up to 100 bytes longer than the layer store's root (a
// container's, <data root>/containers/<64 hex>/upper, is 75 longer).
func (o *overlay) maxDepth() int {
	if o.byOne {
		return mount.OverlayMaxLayers
	}
	fixed := len(strings.Join(o.extra, ",")) + len(",lowerdir=,upperdir=,workdir=") + 2*(len(o.s.root)+100)
	per := len(o.s.linkPath(digest.FromString(""))) + 1
	return min(mount.OverlayMaxLayers, (os.Getpagesize()-1-fixed)/per)
}

// view stacks the upper directory as the top lower layer: an overlay
// without upper and work directories is read-only and takes no lock on
// them. On top of a chain of mount.OverlayMaxLayers that is one layer more
// than one overlay stacks; mount.All then nests the bottom layers.
func (o *overlay) view(ctx context.Context, dir string, chain []digest.Digest) ([]mount.Mount, error) {
	upper := filepath.Join(dir, "upper")
	if _, err := os.Lstat(upper); err != nil {
		return nil, snapshotNotFound(dir, err)
	}
	if len(chain) == 0 {
		// overlayfs needs two lower layers when it has no upper one.
		return []mount.Mount{{Type: "bind", Source: upper, Options: []string{"rbind", "ro"}}}, nil
	}
	lowers := []string{upper}
	for _, id := range chain {
		lowers = append(lowers, o.s.linkPath(id))
	}
	opts := append(append([]string{}, o.extra...), "lowerdir="+strings.Join(lowers, ":"), "ro")
	if err := o.fits(len(chain), opts); err != nil {
		return nil, err
	}
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
}

func (o *overlay) diff(ctx context.Context, dir string, chain []digest.Digest, idm user.IdentityMapping) (io.ReadCloser, error) {
	upper := filepath.Join(dir, "upper")
	if _, err := os.Lstat(upper); err != nil {
		return nil, snapshotNotFound(dir, err)
	}
	return archive.TarWithOptions(upper, &archive.TarOptions{WhiteoutFormat: archive.OverlayWhiteoutFormat, IDMap: idm})
}

func (o *overlay) usage(ctx context.Context, dir string, chain []digest.Digest) (int64, error) {
	upper := filepath.Join(dir, "upper")
	if _, err := os.Lstat(upper); err != nil {
		return 0, snapshotNotFound(dir, err)
	}
	return dirSize(upper)
}

func (o *overlay) release(ctx context.Context, dir string) error {
	for _, d := range []string{"upper", "work"} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	return nil
}

func snapshotNotFound(dir string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.ErrNotFound.WithMessage("snapshot in " + dir + " not found")
	}
	return err
}

// dirSize returns the bytes of regular-file content under dir, counting
// hard-linked files once.
func dirSize(dir string) (int64, error) {
	var size int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += fi.Size()
		return nil
	})
	return size, err
}
