package daemon

import (
	"context"
	"fmt"
	evtypes "github.com/moby/moby/api/types/events"
	"strings"
	"time"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/api"
	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/dockerfile"
	gimage "github.com/gantry/gantry/image"
)

// Commit implements POST /commit: the container's changes become a new
// layer on top of its image, and its config (with the requested changes)
// the new image's config. A running container is paused meanwhile unless
// opts.Pause is false.
func (d *Daemon) Commit(ctx context.Context, opts api.CommitOptions) (string, error) {
	c, err := d.containers.Get(opts.Container)
	if err != nil {
		return "", err
	}
	var ref reference.Named
	if opts.Repo != "" {
		if ref, err = gimage.ParseRepoTag(opts.Repo, opts.Tag); err != nil {
			return "", err
		}
	}
	base, err := d.images.Get(ctx, c.ImageID)
	if err != nil {
		return "", fmt.Errorf("image of container %s: %w", c.Name, err)
	}
	cfg := *c.Config
	if opts.Config != nil {
		over := *opts.Config
		gcontainer.Merge(&over, &base.Config.Config)
		cfg = over
	}
	imgCfg := gcontainer.ImageConfig(&cfg)
	if err := dockerfile.ApplyChanges(&imgCfg, opts.Changes); err != nil {
		return "", err
	}

	if err := d.layers.CheckDepth(len(base.Config.RootFS.DiffIDs) + 1); err != nil {
		return "", err
	}
	c.Lock()
	if opts.Pause && c.State.Status == gcontainer.Running {
		if err := d.runtime.Pause(ctx, c.ID); err != nil {
			c.Unlock()
			return "", fmt.Errorf("pause container %s: %w", c.Name, err)
		}
		defer d.runtime.Resume(context.WithoutCancel(ctx), c.ID)
	}
	d.gc.RLock()
	defer d.gc.RUnlock()
	diff, err := d.layers.Diff(ctx, c.Dir(), c.Chain)
	c.Unlock()
	if err != nil {
		return "", fmt.Errorf("diff container %s: %w", c.Name, err)
	}
	defer diff.Close()
	l, blob, err := d.storeLayer(ctx, c.Chain, diff)
	if err != nil {
		return "", fmt.Errorf("commit container %s: %w", c.Name, err)
	}

	now := time.Now().UTC()
	var img gimage.Config
	img.Created = &now
	img.Author = opts.Author
	img.Comment = opts.Comment
	img.Container = c.ID
	img.Platform = base.Config.Platform
	img.Config = imgCfg
	img.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: append(append(img.RootFS.DiffIDs, base.Config.RootFS.DiffIDs...), l.DiffID)}
	img.History = append(append(img.History, base.Config.History...), ocispec.History{
		Created:   &now,
		Author:    opts.Author,
		CreatedBy: strings.Join(c.Args(), " "),
		Comment:   opts.Comment,
	})
	layers := append(append([]ocispec.Descriptor(nil), base.Layers...), blob)
	id, err := d.createImage(ctx, img, layers, c.ImageID, ref)
	if err != nil {
		return "", err
	}
	attrs := map[string]string{"comment": opts.Comment, "imageID": id.String()}
	if ref != nil {
		attrs["imageRef"] = gimage.Familiar(ref)
	}
	d.containerEvent(c, evtypes.ActionCommit, attrs)
	return id.String(), nil
}
