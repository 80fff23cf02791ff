package daemon

import (
	"context"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/image"
	mvolume "github.com/moby/moby/api/types/volume"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/api"
	gimage "github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
)

// DiskUsage implements GET /system/df: the images with their own and
// shared sizes and the containers using each, the containers with the
// size of their read-write snapshots (SizeRw) and of their whole root
// (SizeRootFs), the volumes with their data's size and users, and the
// build cache records with the size of the layer each step added. opts
// limits it to some kinds of object.
func (d *Daemon) DiskUsage(ctx context.Context, opts api.DiskUsageOptions) (*api.DiskUsage, error) {
	out := &api.DiskUsage{}
	var err error
	if opts.Wants(api.DiskUsageImages) {
		if out.LayersSize, out.Images, err = d.imagesUsage(ctx); err != nil {
			return nil, err
		}
	}
	if opts.Wants(api.DiskUsageContainers) {
		if out.Containers, err = d.Containers(ctx, api.ContainerListOptions{All: true, Size: true}); err != nil {
			return nil, err
		}
	}
	if opts.Wants(api.DiskUsageVolumes) {
		out.Volumes = []mvolume.Volume{}
		for _, v := range d.volumes.List() {
			info := volumeInfo(v)
			size, err := v.Size()
			if err != nil {
				size = -1 // dockerd's "not available"
			}
			info.UsageData = &mvolume.UsageData{Size: size, RefCount: int64(len(d.volumes.Users(v.Name)))}
			out.Volumes = append(out.Volumes, info)
		}
	}
	if opts.Wants(api.DiskUsageBuildCache) {
		if out.BuildCache, err = d.buildCacheUsage(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// imagesUsage returns the size of every layer and the top-level images
// (those `docker images` lists) with Size, SharedSize (the part of Size in
// layers other images also use) and Containers.
func (d *Daemon) imagesUsage(ctx context.Context) (int64, []image.Summary, error) {
	layers, err := d.layers.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	sizes := make(map[digest.Digest]int64, len(layers))
	var total int64
	for _, l := range layers {
		sizes[l.ChainID] = l.Size
		total += l.Size
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	users := map[digest.Digest]int64{}
	for _, c := range d.containers.List() {
		users[c.ImageID]++
	}
	type listed struct {
		img    *gimage.Image
		chains []digest.Digest
	}
	var top []listed
	refs := map[digest.Digest]int{}
	for _, img := range imgs {
		if len(img.Refs) == 0 && len(img.Digests) == 0 && d.images.HasChildren(img.ID) {
			continue // an intermediate image, as docker images leaves out
		}
		var chain digest.Digest
		chains := make([]digest.Digest, len(img.Config.RootFS.DiffIDs))
		for i, diffID := range img.Config.RootFS.DiffIDs {
			chain = layer.ChainID(chain, diffID)
			chains[i] = chain
			refs[chain]++
		}
		top = append(top, listed{img, chains})
	}
	out := make([]image.Summary, 0, len(top))
	for _, t := range top {
		var size, shared int64
		for _, ch := range t.chains {
			size += sizes[ch]
			if refs[ch] > 1 {
				shared += sizes[ch]
			}
		}
		tags := []string{}
		for _, ref := range t.img.Refs {
			tags = append(tags, gimage.Familiar(ref))
		}
		out = append(out, image.Summary{
			Containers:  users[t.img.ID],
			Created:     t.img.Created().Unix(),
			ID:          t.img.ID.String(),
			Labels:      t.img.Config.Config.Labels,
			ParentID:    string(t.img.Parent),
			RepoDigests: repoDigests(t.img),
			RepoTags:    tags,
			SharedSize:  shared,
			Size:        size,
		})
	}
	return total, out, nil
}

// buildCacheUsage lists the build cache records: the size of each is that
// of the layer its step added (0 for a step that changed only the
// config); a record whose image a name, child image or container keeps is
// Shared, as removing it frees nothing.
func (d *Daemon) buildCacheUsage(ctx context.Context) ([]build.CacheRecord, error) {
	records, err := d.builder.CacheRecords(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]build.CacheRecord, 0, len(records))
	for _, r := range records {
		rec := build.CacheRecord{
			ID:          r.Key,
			Type:        "regular",
			Description: r.Instruction,
			Shared:      d.imageKept(r.Image),
			CreatedAt:   r.Created,
			UsageCount:  1,
		}
		last := r.Created
		rec.LastUsedAt = &last
		if r.Parent != "" {
			rec.Parents = []string{r.Parent.String()}
		}
		rec.Size = d.stepLayerSize(ctx, r.Image, r.Parent)
		out = append(out, rec)
	}
	return out, nil
}

// stepLayerSize is the size of the layer image has on top of parent's
// layers, 0 when it has none of its own.
func (d *Daemon) stepLayerSize(ctx context.Context, id, parent digest.Digest) int64 {
	img, err := d.images.Get(ctx, id)
	if err != nil {
		return 0
	}
	n := len(img.Config.RootFS.DiffIDs)
	if parent != "" {
		if p, err := d.images.Get(ctx, parent); err == nil && len(p.Config.RootFS.DiffIDs) == n {
			return 0
		}
	}
	if n == 0 {
		return 0
	}
	var chain digest.Digest
	for _, diffID := range img.Config.RootFS.DiffIDs {
		chain = layer.ChainID(chain, diffID)
	}
	l, err := d.layers.Get(ctx, chain)
	if err != nil {
		return 0
	}
	return l.Size
}

// chainSize is the size of the layer chain and all its parents.
func (d *Daemon) chainSize(ctx context.Context, chain digest.Digest) int64 {
	var size int64
	for chain != "" {
		l, err := d.layers.Get(ctx, chain)
		if err != nil {
			break
		}
		size += l.Size
		chain = l.Parent
	}
	return size
}
