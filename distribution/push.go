package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	gimage "github.com/gantry/gantry/image"
	"github.com/gantry/gantry/internal/stream"
	"github.com/gantry/gantry/layer"
	"github.com/gantry/gantry/registry"
)

// Push uploads the image name:tag, or every tag of the repository name
// when tag is empty and name has none, writing dockerd's progress messages
// to out, and records the repository digest each got.
func (d *Engine) Push(ctx context.Context, name, tag string, auth registry.Auth, out Output) error {
	repo, err := gimage.ParseNamed(name)
	if err != nil {
		return err
	}
	p := newProgress(out)
	p.status("The push refers to repository [" + repo.Name() + "]")
	refs, err := d.pushReferences(ctx, repo, tag)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if err := d.push(ctx, ref, auth, p); err != nil {
			return err
		}
	}
	return nil
}

// pushReferences lists the tags a push names: name:tag, or the tags of the
// repository name when tag is empty and name has none.
func (d *Engine) pushReferences(ctx context.Context, name reference.Named, tag string) ([]reference.NamedTagged, error) {
	if tag != "" {
		ref, err := reference.WithTag(reference.TrimNamed(name), tag)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid tag format: %q", tag))
		}
		return []reference.NamedTagged{ref}, nil
	}
	if tagged, ok := name.(reference.NamedTagged); ok {
		return []reference.NamedTagged{tagged}, nil
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	var refs []reference.NamedTagged
	for _, img := range imgs {
		for _, r := range img.Refs {
			if tagged, ok := r.(reference.NamedTagged); ok && r.Name() == name.Name() {
				refs = append(refs, tagged)
			}
		}
	}
	if len(refs) == 0 {
		return nil, noLocalTag(name)
	}
	return refs, nil
}

func noLocalTag(ref reference.Named) error {
	return errdefs.ErrNotFound.WithMessage("An image does not exist locally with the tag: " + reference.FamiliarString(ref))
}

// push uploads the image ref names and records the repository digest it
// got. Layers stored as zstd go as gzip copies (docker 20.10 cannot read
// zstd layers), made once and kept beside the originals. The image's blobs
// (and so their copies) are leased: garbage collection, an rmi of this
// image included, runs meanwhile and keeps them.
func (d *Engine) push(ctx context.Context, ref reference.NamedTagged, auth registry.Auth, p *progress) error {
	id, err := d.images.Resolve(ctx, ref.String())
	if errdefs.IsNotFound(err) {
		return noLocalTag(ref)
	} else if err != nil {
		return err
	}
	img, err := d.images.Get(ctx, id)
	if err != nil {
		return err
	}
	// The chain too: a built layer's blob is made from the layer's files.
	var chain digest.Digest
	for _, diffID := range img.Config.RootFS.DiffIDs {
		chain = layer.ChainID(chain, diffID)
	}
	var chains []digest.Digest
	if chain != "" {
		chains = append(chains, chain)
	}
	release := d.gc.Lease(append([]digest.Digest{img.ID, img.Manifest}, layerDigests(img.Layers)...), chains)
	defer release()
	if _, err := d.images.Get(ctx, id); err != nil {
		return err // removed before the lease
	}
	manifest, mediaType, err := d.images.Manifest(ctx, id)
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return fmt.Errorf("decode manifest of image %s: %w", id, err)
	}
	names := map[digest.Digest]string{} // blob -> progress ID (the diff ID's short form, as dockerd)
	for i, l := range img.Layers {
		names[l.Digest] = shortID(img.Config.RootFS.DiffIDs[i])
		p.layer(names[l.Digest], "Preparing")
	}
	if m.Layers, err = d.distributableLayers(ctx, img.Layers, names); err != nil {
		return err
	}
	if !equalDescriptors(m.Layers, img.Layers) {
		m.MediaType, mediaType = ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageManifest
		if manifest, err = json.Marshal(m); err != nil {
			return err
		}
	}
	dg, err := d.registry.Push(ctx, registry.PushImage{Ref: ref, MediaType: mediaType, Manifest: manifest, Config: m.Config, Layers: m.Layers},
		func(desc ocispec.Descriptor) (io.ReadCloser, error) { return d.content.Open(ctx, desc.Digest) },
		d.mountSources(ref, m.Layers), auth, pushProgress(p, names))
	if err != nil {
		return err
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(ref), dg)
	if err != nil {
		return err
	}
	if err := d.images.AddDigest(ctx, id, canonical); err != nil {
		return err
	}
	if err := d.blobs.AddSources(ref.Name(), layerDigests(m.Layers)...); err != nil {
		return err
	}
	p.status(fmt.Sprintf("%s: digest: %s size: %d", ref.Tag(), dg, len(manifest)))
	p.aux(struct {
		Tag    string
		Digest string
		Size   int
	}{ref.Tag(), dg.String(), len(manifest)})
	return nil
}

// distributableLayers returns the blobs to push for layers: zstd blobs,
// and uncompressed tars the content store makes from their layers (built
// ones, see builder.StoreLayerLazy), are replaced by their gzip copies.
// names gets the copies' progress IDs.
func (d *Engine) distributableLayers(ctx context.Context, layers []ocispec.Descriptor, names map[digest.Digest]string) ([]ocispec.Descriptor, error) {
	out := make([]ocispec.Descriptor, len(layers))
	for i, l := range layers {
		out[i] = l
		switch l.MediaType {
		case ocispec.MediaTypeImageLayerZstd:
		case ocispec.MediaTypeImageLayer:
			stored, err := d.content.Stored(ctx, l.Digest)
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			if stored { // pulled or loaded as it is: pushed as it is
				continue
			}
		default:
			continue
		}
		gz, err := d.gzipCopy(ctx, l)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		names[gz.Digest] = names[l.Digest]
		out[i] = gz
	}
	return out, nil
}

// gzipCopy returns the gzip copy of the layer blob desc (zstd, or an
// uncompressed tar), making and recording it the first time; pushes that
// ask for the same copy meanwhile wait for that one making. The caller
// leases desc (and, for a blob made from a layer, its chain). The copy is
// staged and committed whole, then recorded: a crash meanwhile leaves
// either nothing or an unrecorded blob, garbage to the next collection,
// and the next push makes it again.
func (d *Engine) gzipCopy(ctx context.Context, desc ocispec.Descriptor) (ocispec.Descriptor, error) {
	for {
		v, err, _ := d.copies.Do(desc.Digest.String(), func() (any, error) { return d.makeGzipCopy(ctx, desc) })
		if err != nil && ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			continue // the push that was making it was cancelled, not this one
		}
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		return v.(ocispec.Descriptor), nil
	}
}

// gzipMade counts the gzip copies made (for tests).
var gzipMade atomic.Int64

func (d *Engine) makeGzipCopy(ctx context.Context, desc ocispec.Descriptor) (ocispec.Descriptor, error) {
	if gz, ok := d.blobs.Gzip(desc.Digest); ok {
		if _, err := d.content.Size(ctx, gz.Digest); err == nil {
			return gz, nil
		}
	}
	gzipMade.Add(1)
	rc, err := d.content.Open(ctx, desc.Digest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer rc.Close()
	var zr io.Reader = rc
	if desc.MediaType == ocispec.MediaTypeImageLayerZstd {
		z, err := zstd.NewReader(rc)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		defer z.Close()
		zr = z
	}
	w, err := d.content.Writer(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer w.Close()
	gw, err := gzip.NewWriterLevel(w, gzipLevel)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if _, err := io.Copy(gw, stream.WithContext(ctx, zr)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("recompress: %w", err)
	}
	if err := gw.Close(); err != nil {
		return ocispec.Descriptor{}, err
	}
	// The copy is garbage until it is recorded as desc's.
	d.gc.RLock()
	defer d.gc.RUnlock()
	dg, err := w.Commit(ctx, "")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	gz := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: dg, Size: w.Size()}
	return gz, d.blobs.SetGzip(desc.Digest, gz)
}

// gzipLevel trades size for speed: layers cross fast links more often than
// slow ones here, and pushes are what waits for the compression.
const gzipLevel = gzip.BestSpeed

func equalDescriptors(a, b []ocispec.Descriptor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Digest != b[i].Digest {
			return false
		}
	}
	return true
}

// mountSources picks, for each blob, a repository of ref's registry that
// has it, from which the registry may mount it instead of an upload.
func (d *Engine) mountSources(ref reference.Named, blobs []ocispec.Descriptor) map[digest.Digest]reference.Named {
	out := map[digest.Digest]reference.Named{}
	for _, b := range blobs {
		for _, src := range d.blobs.Sources(b.Digest) {
			n, err := reference.ParseNormalizedNamed(src)
			if err == nil && reference.Domain(n) == reference.Domain(ref) && n.Name() != ref.Name() {
				out[b.Digest] = n
				break
			}
		}
	}
	return out
}

// pushProgress turns the registry client's reports into dockerd's
// messages: layers only (not the config), named by diff ID. The client
// paces "Pushing"; "Preparing" was written already.
func pushProgress(p *progress, names map[digest.Digest]string) registry.PushProgress {
	return func(desc ocispec.Descriptor, status string, current int64) {
		id, ok := names[desc.Digest]
		switch {
		case !ok || status == "Preparing":
		case status == "Pushing":
			p.bytes(id, "Pushing", current, desc.Size)
		default:
			p.layer(id, status)
		}
	}
}
