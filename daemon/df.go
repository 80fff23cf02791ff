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
	imgs, err := d.images.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	il, err := d.imageLayers(ctx, imgs)
	if err != nil {
		return 0, nil, err
	}
	var total int64
	for _, size := range il.sizes {
		total += size
	}
	users := map[digest.Digest]int64{}
	for _, c := range d.containers.List() {
		users[c.ImageID]++
	}
	out := []image.Summary{}
	for _, img := range imgs {
		if len(img.Refs) == 0 && len(img.Digests) == 0 && d.images.HasChildren(img.ID) {
			continue // an intermediate image, as docker images leaves out
		}
		size, shared := il.size(img.ID)
		tags := []string{}
		for _, ref := range img.Refs {
			tags = append(tags, gimage.Familiar(ref))
		}
		out = append(out, image.Summary{
			Containers:  users[img.ID],
			Created:     img.Created().Unix(),
			ID:          img.ID.String(),
			Labels:      img.Config.Config.Labels,
			ParentID:    string(img.Parent),
			RepoDigests: repoDigests(img),
			RepoTags:    tags,
			SharedSize:  shared,
			Size:        size,
		})
	}
	return total, out, nil
}

// imageLayers is what the sizes of images are reckoned from: each layer's
// own size, each image's layer chains (base first) and how many images
// use each chain.
type imageLayers struct {
	sizes  map[digest.Digest]int64           // chain ID -> the layer's own size
	chains map[digest.Digest][]digest.Digest // image ID -> its chain IDs
	users  map[digest.Digest]int             // chain ID -> images using it
}

// imageLayers reads the store's layers once and the chains of imgs, which
// are every image of the store: a layer is shared when any other image,
// intermediate ones too, has it, as dockerd counts since API 1.42 (for
// the image list's shared-size and system df alike).
func (d *Daemon) imageLayers(ctx context.Context, imgs []*gimage.Image) (*imageLayers, error) {
	layers, err := d.layers.List(ctx)
	if err != nil {
		return nil, err
	}
	il := &imageLayers{
		sizes:  make(map[digest.Digest]int64, len(layers)),
		chains: make(map[digest.Digest][]digest.Digest, len(imgs)),
		users:  make(map[digest.Digest]int, len(layers)),
	}
	for _, l := range layers {
		il.sizes[l.ChainID] = l.Size
	}
	for _, img := range imgs {
		var chain digest.Digest
		chains := make([]digest.Digest, len(img.Config.RootFS.DiffIDs))
		for i, diffID := range img.Config.RootFS.DiffIDs {
			chain = layer.ChainID(chain, diffID)
			chains[i] = chain
			il.users[chain]++
		}
		il.chains[img.ID] = chains
	}
	return il, nil
}

// size is the image's size (the sum of its layers') and its shared size
// (that of its layers another image has too).
func (il *imageLayers) size(id digest.Digest) (size, shared int64) {
	for _, ch := range il.chains[id] {
		size += il.sizes[ch]
		if il.users[ch] > 1 {
			shared += il.sizes[ch]
		}
	}
	return size, shared
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
