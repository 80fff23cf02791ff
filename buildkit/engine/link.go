package engine

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// LinkFunc has gantryd link dir, an empty snapshot directory, to its
// layer diffID on the chain parent (buildkit.Host.LinkLayer);
// errdefs.ErrNotFound when gantryd has no such layer.
type LinkFunc func(ctx context.Context, diffID, parent digest.Digest, dir string) (digest.Digest, error)

// linkApplier is the worker's applier: a layer gantryd has on the same
// chain is not extracted but linked (see package buildkit, LinkDir), the
// others are applied by BuildKit's applier. BuildKit extracts a layer
// blob into a new snapshot, whose mounts are given here, and commits it
// once Apply returned the layer's diff ID.
type linkApplier struct {
	diff.Applier
	link LinkFunc
	log  *slog.Logger
}

func (a *linkApplier) Apply(ctx context.Context, desc ocispec.Descriptor, mounts []mount.Mount, opts ...diff.ApplyOpt) (ocispec.Descriptor, error) {
	if diffID, err := digest.Parse(desc.Annotations[labels.LabelUncompressed]); err == nil && len(opts) == 0 {
		if dir, parent, ok := linkTarget(mounts); ok {
			_, err := a.link(ctx, diffID, parent, dir)
			if err == nil {
				return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID}, nil
			}
			if !errdefs.IsNotFound(err) {
				a.log.Warn("link layer to gantryd's, extracting it instead", "layer", diffID, "error", err)
			}
		}
	}
	return a.Applier.Apply(ctx, desc, mounts, opts...)
}

// linkTarget returns the directory a layer is extracted into, when the
// mounts are those of a new snapshot of BuildKit's overlay snapshotter
// whose parent (if any) links to one of gantryd's layers, and that
// layer's chain ID ("" for no parent).
func linkTarget(mounts []mount.Mount) (dir string, parent digest.Digest, ok bool) {
	if len(mounts) != 1 {
		return "", "", false
	}
	m := mounts[0]
	switch m.Type {
	case "bind":
		for _, o := range m.Options {
			if o == "ro" {
				return "", "", false
			}
		}
		return m.Source, "", true
	case "overlay":
		var lower string
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				dir = v
			}
			if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
				lower, _, _ = strings.Cut(v, ":")
			}
		}
		if dir == "" || lower == "" {
			return "", "", false
		}
		target, err := os.Readlink(lower)
		if err != nil || filepath.Base(target) != "diff" {
			return "", "", false // the parent is BuildKit's own extraction
		}
		parent = digest.NewDigestFromEncoded(digest.SHA256, filepath.Base(filepath.Dir(target)))
		if parent.Validate() != nil {
			return "", "", false
		}
		return dir, parent, true
	}
	return "", "", false
}
