package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	evtypes "github.com/moby/moby/api/types/events"
	"io"
	"path"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/go-archive/compression"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/api"
	"github.com/gantry/gantry/builder"
	"github.com/gantry/gantry/dockerfile"
	gimage "github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
)

// storeLayer applies the uncompressed layer tar r on top of parent and
// keeps the tar, zstd-compressed, as a blob (builder.StoreLayer). The caller
// holds d.gc for reading until the layer and blob are referenced by an image
// or leased.
func (d *Daemon) storeLayer(ctx context.Context, parent digest.Digest, r io.Reader) (layer.Layer, ocispec.Descriptor, error) {
	return builder.StoreLayer(ctx, d.content, d.layers, parent, r)
}

// ImportImage implements POST /images/create?fromSrc=-. Garbage
// collection does not wait for the upload: the layer is stored as a load
// stores one (see loadStore).
func (d *Daemon) ImportImage(ctx context.Context, src io.Reader, opts api.ImportOptions) (string, error) {
	var ref reference.Named
	if opts.Repo != "" {
		var err error
		if ref, err = gimage.ParseRepoTag(opts.Repo, opts.Tag); err != nil {
			return "", err
		}
	}
	var cfg dockerspec.DockerOCIImageConfig
	if err := dockerfile.ApplyChanges(&cfg, opts.Changes); err != nil {
		return "", err
	}
	plain, err := compression.DecompressStream(src)
	if err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage("read import: " + err.Error())
	}
	defer plain.Close()

	// As a load: the layer is leased once stored, and collection waits
	// only from the tar's end to the image's record.
	store := &loadStore{d: d}
	defer store.release()
	l, err := store.Apply(ctx, "", plain)
	if err != nil {
		return "", err
	}
	d.gc.RLock() // the config blob is garbage until the record is written
	defer d.gc.RUnlock()
	now := time.Now().UTC()
	comment := opts.Message
	if comment == "" {
		comment = "Imported from -"
	}
	var img gimage.Config
	img.Created = &now
	img.Platform = ocispec.Platform{Architecture: goruntime.GOARCH, OS: "linux"}
	img.Config = cfg
	img.Comment = comment
	img.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{l.DiffID}}
	img.History = []ocispec.History{{Created: &now, Comment: comment}}
	id, err := d.createImage(ctx, img, []ocispec.Descriptor{l.Blob}, "", ref)
	if err != nil {
		return "", err
	}
	d.imageEvent(evtypes.ActionImport, id.String(), id.String())
	return id.String(), nil
}

// createImage records img, whose layers are stored in the blobs layers,
// and tags it with ref, if any.
func (d *Daemon) createImage(ctx context.Context, img gimage.Config, layers []ocispec.Descriptor, parent digest.Digest, ref reference.Named) (digest.Digest, error) {
	data, err := json.Marshal(img)
	if err != nil {
		return "", err
	}
	id, err := d.images.Create(ctx, data, layers, parent)
	if err != nil {
		return "", err
	}
	if ref != nil {
		if err := d.images.Tag(ctx, id, ref); err != nil {
			return "", err
		}
		d.imageEvent(evtypes.ActionTag, id.String(), gimage.Familiar(ref))
	}
	return id, nil
}

// Images implements GET /images/json.
func (d *Daemon) Images(ctx context.Context, opts api.ImageListOptions) ([]image.Summary, error) {
	for key := range opts.Filters {
		if key != "reference" && key != "dangling" && key != "label" && key != "before" && key != "since" {
			return nil, errdefs.ErrInvalidArgument.WithMessage("invalid filter '" + key + "'")
		}
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	var il *imageLayers
	if opts.SharedSize {
		if il, err = d.imageLayers(ctx, imgs); err != nil {
			return nil, err
		}
	}
	out := []image.Summary{}
	for _, img := range imgs {
		hasChildren := d.images.HasChildren(img.ID)
		if !opts.All && len(img.Refs) == 0 && len(img.Digests) == 0 && hasChildren {
			continue // an intermediate image
		}
		tags, ok := matchReference(img.Refs, opts.Filters["reference"])
		if !ok || !matchDangling(img, hasChildren, opts.Filters["dangling"]) || !matchLabels(img.Config.Config.Labels, opts.Filters["label"]) {
			continue
		}
		size, err := d.imageSize(ctx, img)
		if err != nil {
			return nil, err
		}
		sharedSize := int64(-1) // not computed
		if il != nil {
			_, sharedSize = il.size(img.ID)
		}
		out = append(out, image.Summary{
			Containers:  -1,
			Created:     img.Created().Unix(),
			ID:          img.ID.String(),
			Labels:      img.Config.Config.Labels,
			ParentID:    string(img.Parent),
			RepoDigests: repoDigests(img),
			RepoTags:    tags,
			SharedSize:  sharedSize,
			Size:        size,
		})
	}
	return out, nil
}

// matchReference returns the familiar names of refs that match one of the
// patterns (all of them when there is no pattern).
func matchReference(refs []reference.Named, patterns map[string]bool) ([]string, bool) {
	tags := []string{}
	for _, ref := range refs {
		name := gimage.Familiar(ref)
		if len(patterns) == 0 {
			tags = append(tags, name)
			continue
		}
		for p := range patterns {
			if ok, _ := reference.FamiliarMatch(p, ref); ok {
				tags = append(tags, name)
				break
			}
			if ok, _ := path.Match(p, reference.FamiliarName(ref)); ok {
				tags = append(tags, name)
				break
			}
		}
	}
	return tags, len(patterns) == 0 || len(tags) > 0
}

// repoDigests is how the API shows an image's repository digests:
// "name@sha256:..." in familiar form.
func repoDigests(img *gimage.Image) []string {
	out := []string{}
	for _, d := range img.Digests {
		out = append(out, gimage.Familiar(d))
	}
	return out
}

func matchDangling(img *gimage.Image, hasChildren bool, values map[string]bool) bool {
	if len(values) == 0 {
		return true
	}
	dangling := len(img.Refs) == 0 && len(img.Digests) == 0 && !hasChildren
	return values[fmt.Sprint(dangling)]
}

// matchLabels: every "key" or "key=value" filter must hold.
func matchLabels(labels map[string]string, filters map[string]bool) bool {
	for f := range filters {
		key, value, hasValue := strings.Cut(f, "=")
		got, ok := labels[key]
		if !ok || (hasValue && got != value) {
			return false
		}
	}
	return true
}

// imageSize is the size of all of the image's layers.
func (d *Daemon) imageSize(ctx context.Context, img *gimage.Image) (int64, error) {
	var size int64
	var chain digest.Digest
	for _, diffID := range img.Config.RootFS.DiffIDs {
		chain = layer.ChainID(chain, diffID)
		l, err := d.layers.Get(ctx, chain)
		if err != nil {
			return 0, fmt.Errorf("image %s: %w", img.ID, err)
		}
		size += l.Size
	}
	return size, nil
}

// resolveImage finds an image by the name a user gave.
func (d *Daemon) resolveImage(ctx context.Context, name string) (*gimage.Image, error) {
	id, err := d.images.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	return d.images.Get(ctx, id)
}

// ImageInspect implements GET /images/{name}/json.
func (d *Daemon) ImageInspect(ctx context.Context, name string) (*api.ImageInspect, error) {
	img, err := d.resolveImage(ctx, name)
	if err != nil {
		return nil, err
	}
	size, err := d.imageSize(ctx, img)
	if err != nil {
		return nil, err
	}
	tags := []string{}
	for _, ref := range img.Refs {
		tags = append(tags, gimage.Familiar(ref))
	}
	diffIDs := make([]string, len(img.Config.RootFS.DiffIDs))
	for i, dg := range img.Config.RootFS.DiffIDs {
		diffIDs[i] = dg.String()
	}
	cfg := img.Config.Config
	resp := &image.InspectResponse{
		ID:           img.ID.String(),
		RepoTags:     tags,
		RepoDigests:  repoDigests(img),
		Comment:      img.Config.Comment,
		Created:      img.Created().Format(time.RFC3339Nano),
		Author:       img.Config.Author,
		Config:       &cfg,
		Architecture: img.Config.Architecture,
		Os:           img.Config.OS,
		Size:         size,
		GraphDriver:  &storage.DriverData{Name: d.layers.Driver(), Data: map[string]string{}},
		RootFS:       image.RootFS{Type: "layers", Layers: diffIDs},
	}
	if !img.LastTagTime.IsZero() {
		resp.Metadata.LastTagTime = img.LastTagTime
	}
	return &api.ImageInspect{InspectResponse: *resp, Parent: string(img.Parent), Container: img.Config.Container}, nil
}

// ImageHistory implements GET /images/{name}/history: the config's history,
// newest first, each entry carrying the ID of the local image it belongs to
// ("<missing>" when that image is not here).
func (d *Daemon) ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error) {
	img, err := d.resolveImage(ctx, name)
	if err != nil {
		return nil, err
	}
	var sizes []int64
	var chain digest.Digest
	for _, diffID := range img.Config.RootFS.DiffIDs {
		chain = layer.ChainID(chain, diffID)
		l, err := d.layers.Get(ctx, chain)
		if err != nil {
			return nil, err
		}
		sizes = append(sizes, l.Size)
	}
	// owner[i] is the local image whose config ends at history entry i.
	owner := map[int]*gimage.Image{}
	for cur := img; cur != nil; {
		owner[len(cur.Config.History)-1] = cur
		if cur.Parent == "" {
			break
		}
		if cur, err = d.images.Get(ctx, cur.Parent); err != nil {
			break
		}
	}
	out := []image.HistoryResponseItem{}
	layerIdx := 0
	for i, h := range img.Config.History {
		item := image.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: nil}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && layerIdx < len(sizes) {
			item.Size = sizes[layerIdx]
			layerIdx++
		}
		if o, ok := owner[i]; ok {
			item.ID = o.ID.String()
			for _, ref := range o.Refs {
				item.Tags = append(item.Tags, gimage.Familiar(ref))
			}
		}
		out = append([]image.HistoryResponseItem{item}, out...)
	}
	return out, nil
}

// TagImage implements POST /images/{name}/tag.
func (d *Daemon) TagImage(ctx context.Context, name, repo, tag string) error {
	id, err := d.images.Resolve(ctx, name)
	if err != nil {
		return err
	}
	ref, err := gimage.ParseRepoTag(repo, tag)
	if err != nil {
		return err
	}
	if err := d.images.Tag(ctx, id, ref); err != nil {
		return err
	}
	d.imageEvent(evtypes.ActionTag, id.String(), gimage.Familiar(ref))
	return nil
}

// RemoveImage implements DELETE /images/{name}.
func (d *Daemon) RemoveImage(ctx context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error) {
	id, _ := d.images.Resolve(ctx, name) // for the untag events
	removed, err := d.images.Remove(ctx, name, force, noPrune, d.imageUsedBy)
	if err != nil {
		return nil, err
	}
	for _, r := range removed {
		if r.Untagged != "" {
			d.imageEvent(evtypes.ActionUnTag, id.String(), id.String())
		}
		if r.Deleted != "" {
			d.imageEvent(evtypes.ActionDelete, r.Deleted.String(), r.Deleted.String())
		}
	}
	// Like dockerd, answer once the space is free again, and name the
	// layers (by chain ID) that went with each image, after it.
	d.collectGarbage(context.WithoutCancel(ctx))
	var out []image.DeleteResponse
	gone := map[digest.Digest]bool{}
	for _, r := range removed {
		out = append(out, image.DeleteResponse{Untagged: r.Untagged, Deleted: string(r.Deleted)})
		chains := make([]digest.Digest, len(r.DiffIDs))
		var chain digest.Digest
		for i, diffID := range r.DiffIDs {
			chain = layer.ChainID(chain, diffID)
			chains[i] = chain
		}
		for i := len(chains) - 1; i >= 0; i-- {
			if gone[chains[i]] {
				continue
			}
			if _, err := d.layers.Get(ctx, chains[i]); !errdefs.IsNotFound(err) {
				break
			}
			gone[chains[i]] = true
			out = append(out, image.DeleteResponse{Deleted: chains[i].String()})
		}
	}
	return out, nil
}

// imageUsedBy names a container using the image id, running ones first.
func (d *Daemon) imageUsedBy(id digest.Digest) (string, bool, bool) {
	found := ""
	for _, c := range d.containers.List() {
		if c.ImageID != id {
			continue
		}
		if c.Snapshot().IsRunning() {
			return c.ID, true, true
		}
		found = c.ID
	}
	return found, false, found != ""
}
