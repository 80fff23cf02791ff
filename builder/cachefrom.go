package builder

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/dockerfile"
	"github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
)

// cacheSources resolves the images of --cache-from (Options.CacheFrom)
// and leases them for the build. As dockerd's classic builder, a name that
// is not a local image is skipped (logged): pull it first.
func (r *run) cacheSources(ctx context.Context) error {
	for _, name := range r.opts.CacheFrom {
		id, err := r.b.cfg.Images.Resolve(ctx, name)
		if errdefs.IsNotFound(err) {
			r.b.cfg.Log.Warn("could not look up cache-from image, skipping", "image", name, "error", err)
			continue
		}
		if err != nil {
			return err
		}
		img, err := r.loadLeased(ctx, id)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		r.cacheFrom = append(r.cacheFrom, img)
	}
	return nil
}

// cachedStep is a step of a --cache-from image that a build reuses: its
// history entry and, unless the entry is an empty layer, its layer.
type cachedStep struct {
	history ocispec.History
	diffID  digest.Digest
	blob    ocispec.Descriptor
}

// fromCacheSources finds the step x on s among the --cache-from images as
// dockerd's classic builder does (image/cache): an image whose history
// and layers continue those of s's image, whose next history entry was
// made by the same instruction (createdBy: for a COPY or ADD it names the
// sources' digest, for a RUN its command and build args). Steps whose
// history entry does not hold all their inputs never match: a COPY or ADD
// with --chown, --chmod, --link or --parents, a RUN with --mount or
// --network.
func (r *run) fromCacheSources(ctx context.Context, s *state, x instructions.Command, createdBy string) *cachedStep {
	if len(r.cacheFrom) == 0 || r.epoch != nil {
		return nil
	}
	wantLayer := false
	switch c := x.(type) {
	case *instructions.RunCommand:
		if len(dockerfile.Mounts(c)) > 0 || len(c.FlagsUsed) > 0 {
			return nil
		}
		wantLayer = true
	case *instructions.CopyCommand:
		if c.Chown != "" || c.Chmod != "" || c.Link || c.Parents {
			return nil
		}
		wantLayer = true
	case *instructions.AddCommand:
		if c.Chown != "" || c.Chmod != "" || c.Link {
			return nil
		}
		wantLayer = true
	}
	for _, src := range r.cacheFrom {
		h := src.Config.History
		n := len(s.img.History)
		if n >= len(h) || !continues(src.Config, s.img) || h[n].CreatedBy != createdBy {
			continue
		}
		_, isWorkdir := x.(*instructions.WorkdirCommand)
		if h[n].EmptyLayer == wantLayer && !isWorkdir {
			continue
		}
		step := &cachedStep{history: h[n]}
		if !h[n].EmptyLayer {
			i := 0 // the layer of entry n: one per non-empty entry before it
			for _, e := range h[:n] {
				if !e.EmptyLayer {
					i++
				}
			}
			if i != len(s.img.RootFS.DiffIDs) || i >= len(src.Config.RootFS.DiffIDs) || i >= len(src.Layers) {
				continue
			}
			step.diffID, step.blob = src.Config.RootFS.DiffIDs[i], src.Layers[i]
			if _, err := r.b.cfg.Layers.Get(ctx, layer.ChainID(s.chain(), step.diffID)); err != nil {
				continue
			}
		}
		return step
	}
	return nil
}

// continues reports whether img's history and layers start with all of
// parent's (dockerd's isValidParent).
func continues(img, parent image.Config) bool {
	if len(img.History) == 0 {
		return false
	}
	if len(parent.History) == 0 && len(parent.RootFS.DiffIDs) == 0 {
		return true
	}
	if len(parent.History) >= len(img.History) || len(parent.RootFS.DiffIDs) > len(img.RootFS.DiffIDs) {
		return false
	}
	for i, h := range parent.History {
		a, errA := json.Marshal(h)
		b, errB := json.Marshal(img.History[i])
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			return false
		}
	}
	for i, d := range parent.RootFS.DiffIDs {
		if d != img.RootFS.DiffIDs[i] {
			return false
		}
	}
	return true
}
