package daemon

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/api"
	gimage "github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
	"github.com/gantry/gantry/tarball"
)

// SaveImages implements GET /images/get. The blobs are opened while
// garbage collection is held off; an image removed during the save is
// still written whole, from the open files.
func (d *Daemon) SaveImages(ctx context.Context, names []string, w io.Writer) error {
	images, closeBlobs, err := d.archiveImages(ctx, names)
	if err != nil {
		return err
	}
	defer closeBlobs()
	return tarball.Write(ctx, w, images)
}

// archiveImages resolves names (all of them before anything is written, as
// docker save) and opens the images' blobs. The caller must call the
// returned function once done with them.
func (d *Daemon) archiveImages(ctx context.Context, names []string) ([]tarball.Image, func(), error) {
	d.gc.RLock()
	defer d.gc.RUnlock()
	var order []digest.Digest
	refs := map[digest.Digest][]reference.NamedTagged{}
	for _, name := range names {
		found, err := d.saveTargets(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		for _, target := range found {
			id := target.id
			if _, ok := refs[id]; !ok {
				order = append(order, id)
				refs[id] = nil
			}
			for _, ref := range target.refs {
				if !slices.ContainsFunc(refs[id], func(r reference.NamedTagged) bool { return r.String() == ref.String() }) {
					refs[id] = append(refs[id], ref)
				}
			}
		}
	}
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	images := make([]tarball.Image, 0, len(order))
	for _, id := range order {
		img, err := d.images.Get(ctx, id)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		ti, cs, err := d.archiveImage(ctx, img)
		closers = append(closers, cs...)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		ti.Refs = refs[id]
		images = append(images, ti)
	}
	return images, closeAll, nil
}

// saveTarget is an image to save and the references it is saved under.
type saveTarget struct {
	id   digest.Digest
	refs []reference.NamedTagged // none for an image named by ID
}

// saveTargets returns the images name stands for, with the references each
// is saved under. A repository name without a tag stands for every tag of
// it, as with docker save: the tags are sorted, and the images come in the
// order of their first tag.
func (d *Daemon) saveTargets(ctx context.Context, name string) ([]saveTarget, error) {
	if named, err := reference.ParseNormalizedNamed(name); err == nil && reference.IsNameOnly(named) {
		all, err := d.images.List(ctx)
		if err != nil {
			return nil, err
		}
		type tag struct {
			id  digest.Digest
			ref reference.NamedTagged
		}
		var tags []tag
		for _, img := range all {
			for _, ref := range img.Refs {
				if tagged, ok := ref.(reference.NamedTagged); ok && ref.Name() == named.Name() {
					tags = append(tags, tag{img.ID, tagged})
				}
			}
		}
		slices.SortFunc(tags, func(a, b tag) int { return strings.Compare(a.ref.Tag(), b.ref.Tag()) })
		var found []saveTarget
		for _, t := range tags {
			i := slices.IndexFunc(found, func(s saveTarget) bool { return s.id == t.id })
			if i < 0 {
				i = len(found)
				found = append(found, saveTarget{id: t.id})
			}
			found[i].refs = append(found[i].refs, t.ref)
		}
		if len(found) > 0 {
			return found, nil
		}
	}
	id, err := d.images.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	found := saveTarget{id: id}
	if ref, err := gimage.ParseReference(name); err == nil {
		if tagged, ok := ref.(reference.NamedTagged); ok {
			if rid, err := d.images.Resolve(ctx, ref.String()); err == nil && rid == id {
				found.refs = []reference.NamedTagged{tagged}
			}
		}
	}
	return []saveTarget{found}, nil
}

// archiveImage describes img for an archive, opening its layer blobs; the
// files come back for the caller to close, also after an error.
func (d *Daemon) archiveImage(ctx context.Context, img *gimage.Image) (tarball.Image, []io.Closer, error) {
	config, err := d.content.ReadAll(ctx, img.ID)
	if err != nil {
		return tarball.Image{}, nil, err
	}
	ti := tarball.Image{Config: config}
	var closers []io.Closer
	var chain digest.Digest
	for i, diffID := range img.Config.RootFS.DiffIDs {
		chain = layer.ChainID(chain, diffID)
		l, err := d.layers.Get(ctx, chain)
		if err != nil {
			return tarball.Image{}, closers, fmt.Errorf("image %s: %w", img.ID, err)
		}
		blob, err := d.content.Open(ctx, img.Layers[i].Digest)
		if err != nil {
			return tarball.Image{}, closers, fmt.Errorf("image %s: %w", img.ID, err)
		}
		closers = append(closers, blob)
		ti.Layers = append(ti.Layers, tarball.Layer{DiffID: diffID, Size: l.TarSize, Blob: blob})
	}
	return ti, closers, nil
}

// LoadImages implements POST /images/load. Every layer of the archive is
// stored before the first image is recorded, so a bad archive records
// nothing; what it stored is collected at once.
func (d *Daemon) LoadImages(ctx context.Context, src io.Reader, quiet bool, out api.LoadOutput) error {
	var progress tarball.Progress
	if !quiet {
		progress = func(id string, current, total int64) { _ = out.Progress(id, current, total) }
	}
	d.gc.RLock()
	err := d.loadImages(ctx, src, progress, out)
	d.gc.RUnlock()
	if err != nil {
		d.collectGarbage(context.WithoutCancel(ctx))
	}
	return err
}

// loadImages reads the archive and records and tags its images. The caller
// holds d.gc for reading.
func (d *Daemon) loadImages(ctx context.Context, src io.Reader, progress tarball.Progress, out api.LoadOutput) error {
	loaded, err := tarball.Read(ctx, src, filepath.Join(d.cfg.Root, "tmp"), loadStore{d}, progress)
	if err != nil {
		return err
	}
	for _, img := range loaded {
		id, err := d.images.Create(ctx, img.Config, img.Layers, "")
		if err != nil {
			return err
		}
		if len(img.Refs) == 0 {
			if err := out.Stream("Loaded image ID: " + id.String() + "\n"); err != nil {
				return err
			}
		}
		for _, ref := range img.Refs {
			if err := d.tagLoaded(ctx, id, ref, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// tagLoaded points ref at the loaded image id, saying so as docker load
// does, and when the name moves from another image.
func (d *Daemon) tagLoaded(ctx context.Context, id digest.Digest, ref reference.Named, out api.LoadOutput) error {
	name := gimage.Familiar(ref)
	if old, err := d.images.Resolve(ctx, ref.String()); err == nil && old != id {
		if err := out.Stream(fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string\n", name, old)); err != nil {
			return err
		}
	}
	if err := d.images.Tag(ctx, id, ref); err != nil {
		return err
	}
	return out.Stream("Loaded image: " + name + "\n")
}

// loadStore stores the layers of a loaded archive as import does.
type loadStore struct{ d *Daemon }

func (s loadStore) Apply(ctx context.Context, parent digest.Digest, r io.Reader) (tarball.StoredLayer, error) {
	l, blob, err := s.d.storeLayer(ctx, parent, r)
	return tarball.StoredLayer{ChainID: l.ChainID, DiffID: l.DiffID, Blob: blob}, err
}
