package daemon

import (
	"context"
	"fmt"
	evtypes "github.com/moby/moby/api/types/events"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"

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
	if err := tarball.Write(ctx, w, images); err != nil {
		return err
	}
	for _, img := range images {
		id := digest.FromBytes(img.Config).String()
		d.imageEvent(evtypes.ActionSave, id, id)
	}
	return nil
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
// nothing; what it stored is collected at once. Garbage collection does
// not wait for the archive to arrive: what the load stored is leased (see
// loadStore), and the lock is held only around local steps.
func (d *Daemon) LoadImages(ctx context.Context, src io.Reader, quiet bool, out api.LoadOutput) error {
	var progress tarball.Progress
	if !quiet {
		progress = func(id string, current, total int64) { _ = out.Progress(id, current, total) }
	}
	store := &loadStore{d: d}
	err := d.loadImages(ctx, src, store, progress, out)
	store.release()
	if err != nil {
		d.collectGarbage(context.WithoutCancel(ctx))
	}
	return err
}

// loadImages reads the archive into store and records and tags its
// images.
func (d *Daemon) loadImages(ctx context.Context, src io.Reader, store *loadStore, progress tarball.Progress, out api.LoadOutput) error {
	loaded, err := tarball.Read(ctx, src, filepath.Join(d.cfg.Root, "tmp"), store, progress)
	if err != nil {
		return err
	}
	for _, img := range loaded {
		d.gc.RLock() // the config blob is garbage until the record is written
		id, err := d.images.Create(ctx, img.Config, img.Layers, "")
		d.gc.RUnlock()
		if err != nil {
			return err
		}
		d.imageEvent(evtypes.ActionLoad, id.String(), id.String())
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

// loadStore stores the layers of a loaded archive as import does, and
// leases them (and the parents they are stored on) until release. The
// garbage collection lock is taken only once a layer's tar is read (to its
// end, as tarball.LayerStore.Apply does), for the local rest of the step:
// the layer and its blob are leased before collection can see them.
type loadStore struct {
	d        *Daemon
	mu       sync.Mutex
	releases []func()
}

func (s *loadStore) Apply(ctx context.Context, parent digest.Digest, r io.Reader) (tarball.StoredLayer, error) {
	if parent != "" {
		s.keep(s.d.gc.Lease(nil, []digest.Digest{parent}))
	}
	src := &lockAtEnd{r: r, lock: s.d.gc.RLock}
	l, blob, err := s.d.storeLayer(ctx, parent, src)
	if !src.locked {
		s.d.gc.RLock()
		if err == nil { // a tar not read to its end: check what collection may have seen
			if _, err = s.d.layers.Get(ctx, l.ChainID); err == nil {
				_, err = s.d.content.Size(ctx, blob.Digest)
			}
		}
	}
	if err == nil {
		s.keep(s.d.gc.LeaseHeld([]digest.Digest{blob.Digest}, []digest.Digest{l.ChainID}))
	}
	s.d.gc.RUnlock()
	return tarball.StoredLayer{ChainID: l.ChainID, DiffID: l.DiffID, Blob: blob}, err
}

func (s *loadStore) keep(release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releases = append(s.releases, release)
}

// release ends the leases of the load.
func (s *loadStore) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.releases {
		r()
	}
	s.releases = nil
}

// lockAtEnd reads r and calls lock when r returns its first error (io.EOF
// included): from then on the reader's user only works locally.
type lockAtEnd struct {
	r      io.Reader
	lock   func()
	locked bool
}

func (l *lockAtEnd) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err != nil && !l.locked {
		l.locked = true
		l.lock()
	}
	return n, err
}
