package distribution

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/go-archive/compression"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	gimage "github.com/gantry/gantry/image"
	"github.com/gantry/gantry/internal/transfer"
	"github.com/gantry/gantry/layer"
	"github.com/gantry/gantry/registry"
)

// maxDownloads is how many layers a pull fetches at once, as dockerd.
const maxDownloads = 3

// Pull fetches the image ref names for platform, stores it and tags it,
// writing dockerd's progress messages to out. A repository name alone
// stands for all its tags (docker pull --all-tags), as with dockerd. An
// error returned before anything was written to out (the manifest could
// not be resolved) is worded as dockerd's HTTP error. After an error no
// image is recorded; the layers and blobs already verified stay for the
// next pull (garbage collection removes them if none comes within
// gc.PendingGrace).
func (d *Engine) Pull(ctx context.Context, ref reference.Named, platform ocispec.Platform, auth registry.Auth, out Output) error {
	if !reference.IsNameOnly(ref) {
		_, err := d.pull(ctx, ref, platform, auth, newProgress(out))
		return err
	}
	tags, err := d.registry.Tags(ctx, ref, auth)
	if err != nil {
		return resolveError(ref, err)
	}
	p := newProgress(out)
	updated := false
	for _, tag := range tags {
		tagged, err := reference.WithTag(ref, tag)
		if err != nil {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("registry lists an invalid tag %q of %s", tag, reference.FamiliarName(ref)))
		}
		_, newer, err := d.pullTag(ctx, tagged, platform, auth, p)
		if err != nil {
			return err
		}
		updated = updated || newer
	}
	pullStatus(p, ref, updated)
	return nil
}

// pull fetches the image ref names as pullTag does and says whether it
// was new.
func (d *Engine) pull(ctx context.Context, ref reference.Named, platform ocispec.Platform, auth registry.Auth, p *progress) (digest.Digest, error) {
	id, updated, err := d.pullTag(ctx, ref, platform, auth, p)
	if err != nil {
		return "", err
	}
	pullStatus(p, ref, updated)
	return id, nil
}

// pullStatus ends the output of a pull of ref as dockerd's.
func pullStatus(p *progress, ref reference.Named, updated bool) {
	if updated {
		p.status("Status: Downloaded newer image for " + reference.FamiliarString(ref))
	} else {
		p.status("Status: Image is up to date for " + reference.FamiliarString(ref))
	}
}

// pullTag fetches the image ref (a tag or a digest) names, stores it, and
// points ref (and the repository digest) at it; it reports whether ref
// points at another image than before. Nothing is written to p before the
// manifest is resolved, so that resolve errors can still be HTTP errors.
// After an error no image is recorded; layers and blobs already verified
// stay for the next pull (garbage collection removes them if none comes
// within gc.PendingGrace).
func (d *Engine) pullTag(ctx context.Context, ref reference.Named, platform ocispec.Platform, auth registry.Auth, p *progress) (digest.Digest, bool, error) {
	img, err := d.registry.Resolve(ctx, ref, platform, auth)
	if err != nil {
		return "", false, resolveError(ref, err)
	}
	p.layer(refTag(ref), "Pulling from "+reference.Path(ref))
	id := img.Manifest.Config.Digest
	if _, err := d.images.Get(ctx, id); err != nil {
		if !errdefs.IsNotFound(err) {
			return "", false, err
		}
		if id, err = d.fetch(ctx, img, auth, p); err != nil {
			return "", false, err
		}
	}
	if err := d.blobs.AddSources(reference.TrimNamed(ref).String(), layerDigests(img.Manifest.Layers)...); err != nil {
		return "", false, err
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(ref), img.Digest)
	if err != nil {
		return "", false, err
	}
	updated := !d.images.HasReference(id, ref)
	if _, digested := ref.(reference.Canonical); !digested {
		if err := d.images.Tag(ctx, id, ref); err != nil {
			return "", false, err
		}
	}
	if err := d.images.AddDigest(ctx, id, canonical); err != nil {
		return "", false, err
	}
	p.status("Digest: " + img.Digest.String())
	return id, updated, nil
}

func layerDigests(descs []ocispec.Descriptor) []digest.Digest {
	out := make([]digest.Digest, len(descs))
	for i, desc := range descs {
		out[i] = desc.Digest
	}
	return out
}

// pullLayer is one layer of a pull.
type pullLayer struct {
	desc   ocispec.Descriptor
	id     string        // in progress: the blob's short digest
	diffID digest.Digest // from the config
	chain  digest.Digest
	// What is missing locally: the blob, the extracted layer, or both.
	needBlob, needLayer bool
	// downloaded is closed once a download in the background ended; err
	// is its result.
	downloaded chan struct{}
	err        error
}

// fetch stores what the image lacks locally (blobs, extracted layers) and
// records the image. Layers download maxDownloads at a time; extraction is
// in order. The first layer to download and extract is streamed: it is
// extracted as it arrives, beside being stored as a blob, while the others
// download into the content store to be extracted from there. Each blob
// and layer is recorded as pending once verified, until the image is.
func (d *Engine) fetch(ctx context.Context, img *registry.Image, auth registry.Auth, p *progress) (digest.Digest, error) {
	var cfg gimage.Config
	if err := json.Unmarshal(img.Config, &cfg); err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage("invalid image config: " + err.Error())
	}
	if len(cfg.RootFS.DiffIDs) != len(img.Manifest.Layers) {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image config has %d diff IDs but the manifest lists %d layers", len(cfg.RootFS.DiffIDs), len(img.Manifest.Layers)))
	}
	for _, diffID := range cfg.RootFS.DiffIDs {
		if err := diffID.Validate(); err != nil {
			return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image config has an invalid diff ID %q: %v", diffID, err))
		}
	}
	if err := d.layers.CheckDepth(len(cfg.RootFS.DiffIDs)); err != nil {
		return "", err
	}
	// The lease comes before the plan: what the plan finds here stays.
	chains := chainIDs(cfg.RootFS.DiffIDs)
	release := d.gc.Lease(layerDigests(img.Manifest.Layers), chains)
	defer release()
	layers, err := d.pullPlan(ctx, img.Manifest.Layers, cfg.RootFS.DiffIDs, chains)
	if err != nil {
		return "", err
	}
	// Background downloads end before fetch returns: they write progress
	// to the client's stream.
	ctx, cancel := context.WithCancel(ctx)
	var downloads sync.WaitGroup
	defer func() {
		cancel()
		downloads.Wait()
	}()
	slots := transfer.NewSlots(maxDownloads)
	var streamed *pullLayer
	for _, l := range layers {
		switch {
		case !l.needBlob && !l.needLayer:
			p.layer(l.id, "Already exists")
		case l.needBlob:
			p.layer(l.id, "Pulling fs layer")
		}
	}
	for _, l := range layers {
		if l.needBlob && l.needLayer && streamed == nil {
			streamed = l
			if err := slots.Acquire(ctx, nil); err != nil {
				return "", err
			}
			continue
		}
		if l.needBlob {
			l.downloaded = make(chan struct{})
			downloads.Add(1)
			go func() {
				defer downloads.Done()
				defer close(l.downloaded)
				if l.err = slots.Acquire(ctx, func() { p.layer(l.id, "Waiting") }); l.err != nil {
					return
				}
				defer slots.Release()
				l.err = d.download(ctx, img, auth, l, p)
			}()
		}
	}
	var parent digest.Digest
	for _, l := range layers {
		var err error
		switch {
		case l == streamed:
			err = d.streamLayer(ctx, img, auth, parent, l, p)
			slots.Release()
		case l.downloaded != nil:
			<-l.downloaded
			if err = l.err; err == nil && l.needLayer {
				err = d.extractBlob(ctx, parent, l, p)
			}
		case l.needLayer:
			err = d.extractBlob(ctx, parent, l, p)
		}
		if err != nil {
			return "", err
		}
		if l.needBlob || l.needLayer {
			if err := d.blobs.AddPending(l.desc.Digest, l.chain); err != nil {
				return "", err
			}
			p.layer(l.id, "Pull complete")
		}
		parent = l.chain
	}
	// Config and manifest blobs are new to garbage collection until the
	// record references them.
	d.gc.RLock()
	id, err := d.images.CreateFromManifest(ctx, img.ManifestBytes, img.Config)
	d.gc.RUnlock()
	if err != nil {
		return "", err
	}
	// The image is recorded: a record left behind only keeps its layers
	// for gc.PendingGrace after it is removed.
	if err := d.blobs.ForgetPending(layerDigests(img.Manifest.Layers)...); err != nil {
		d.log.Warn("forget pending layers", "image", id, "error", err)
	}
	return id, nil
}

// chainIDs returns the chain ID of each layer of diffIDs.
func chainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	var chain digest.Digest
	for i, diffID := range diffIDs {
		chain = layer.ChainID(chain, diffID)
		out[i] = chain
	}
	return out
}

// pullPlan finds what each layer (of blob descs, diff IDs and chain IDs)
// lacks locally. A blob the manifest lists more than once is fetched for
// its first layer only. The pending records of the layers (what an
// interrupted pull left) are refreshed. The caller leases the layers' blobs
// and chains.
func (d *Engine) pullPlan(ctx context.Context, descs []ocispec.Descriptor, diffIDs, chains []digest.Digest) ([]*pullLayer, error) {
	layers := make([]*pullLayer, len(descs))
	fetched := map[digest.Digest]bool{}
	for i, desc := range descs {
		chain := chains[i]
		l := &pullLayer{desc: desc, id: shortID(desc.Digest), diffID: diffIDs[i], chain: chain}
		if _, err := d.content.Size(ctx, desc.Digest); errdefs.IsNotFound(err) {
			// A blob listed again is the first layer's to fetch, which is
			// done with it before this one is extracted.
			l.needBlob = !fetched[desc.Digest]
			fetched[desc.Digest] = true
		} else if err != nil {
			return nil, err
		}
		if _, err := d.layers.Get(ctx, chain); errdefs.IsNotFound(err) {
			l.needLayer = true
		} else if err != nil {
			return nil, err
		}
		layers[i] = l
	}
	// What an interrupted pull left is in use again: its grace starts over.
	if err := d.blobs.TouchPending(layerDigests(descs)...); err != nil {
		return nil, err
	}
	return layers, nil
}

// download stores the layer's blob, verified, in the content store.
func (d *Engine) download(ctx context.Context, img *registry.Image, auth registry.Auth, l *pullLayer, p *progress) error {
	body, err := d.registry.Blob(ctx, img, l.desc, auth)
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.desc.Digest, err)
	}
	defer body.Close()
	m := transfer.NewMeter(body, func(n int64) { p.bytes(l.id, "Downloading", n, l.desc.Size) })
	if _, _, err := d.content.Put(ctx, m, l.desc.Digest); err != nil {
		return fmt.Errorf("layer %s: %w", l.desc.Digest, err)
	}
	if err := d.blobs.AddPending(l.desc.Digest, ""); err != nil {
		return err
	}
	p.layer(l.id, "Verifying Checksum")
	p.layer(l.id, "Download complete")
	return nil
}

// streamLayer downloads the layer's blob into the content store and
// extracts it on top of parent in one pass. The extracted layer counts only
// once the blob verified and its diff ID is the config's; otherwise it is
// left unreferenced, for garbage collection.
func (d *Engine) streamLayer(ctx context.Context, img *registry.Image, auth registry.Auth, parent digest.Digest, l *pullLayer, p *progress) error {
	bodyCtx, cancelBody := context.WithCancel(ctx)
	defer cancelBody()
	body, err := d.registry.Blob(bodyCtx, img, l.desc, auth)
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.desc.Digest, err)
	}
	defer body.Close()
	w, err := d.content.Writer(ctx)
	if err != nil {
		return err
	}
	defer w.Close()
	m := transfer.NewMeter(body, func(n int64) { p.bytes(l.id, "Downloading", n, l.desc.Size) })
	src := io.TeeReader(m, w)
	applied, err := d.apply(ctx, parent, src, cancelBody)
	if err == nil {
		_, err = io.Copy(io.Discard, src) // to the end, where the blob is verified
	}
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.desc.Digest, err)
	}
	p.layer(l.id, "Verifying Checksum")
	if _, err := w.Commit(ctx, l.desc.Digest); err != nil {
		return fmt.Errorf("layer %s: %w", l.desc.Digest, err)
	}
	p.layer(l.id, "Download complete")
	p.bytes(l.id, "Extracting", l.desc.Size, l.desc.Size)
	return checkDiffID(l, applied)
}

// extractBlob extracts the layer from its stored blob on top of parent.
func (d *Engine) extractBlob(ctx context.Context, parent digest.Digest, l *pullLayer, p *progress) error {
	rc, err := d.content.Open(ctx, l.desc.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	m := transfer.NewMeter(rc, func(n int64) { p.bytes(l.id, "Extracting", n, l.desc.Size) })
	applied, err := d.apply(ctx, parent, m, nil)
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.desc.Digest, err)
	}
	return checkDiffID(l, applied)
}

// apply extracts the compressed (gzip, zstd, recognised by their magic
// numbers as media types are not always right: compression.DecompressStream,
// the one decompression path of Gantry) or plain layer tar r on top of
// parent. Reading r and decompressing run ahead of the extraction, on the
// other core: a pull is then as fast as the slower of the two. When the
// extraction fails, apply calls abort (unless nil) before it waits for the
// read ahead to stop: abort must unblock a Read of r waiting on the
// network.
func (d *Engine) apply(ctx context.Context, parent digest.Digest, r io.Reader, abort func()) (layer.Layer, error) {
	plain, err := compression.DecompressStream(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return layer.Layer{}, err
	}
	defer plain.Close()
	ahead := readAhead(plain)
	l, err := d.layers.Apply(ctx, parent, ahead)
	if err != nil && abort != nil {
		abort()
	}
	ahead.Close()
	return l, err
}

// readAheadChunks bounds how far readAhead runs ahead: 8 MiB.
const readAheadChunks, readAheadChunk = 8, 1 << 20

// readAhead reads r in a goroutine into a few buffers ahead of the caller.
// Close stops the goroutine and returns once it is done with r, so that the
// caller may read r again.
func readAhead(r io.Reader) io.ReadCloser {
	a := &aheadReader{chunks: make(chan []byte, readAheadChunks), stop: make(chan struct{}), done: make(chan struct{})}
	go a.fill(r)
	return a
}

type aheadReader struct {
	chunks chan []byte
	stop   chan struct{}
	done   chan struct{}
	err    error // the source's error, read after chunks is closed
	cur    []byte
	closed bool
}

func (a *aheadReader) fill(r io.Reader) {
	defer close(a.done)
	defer close(a.chunks)
	for {
		buf := make([]byte, readAheadChunk)
		n, err := fillChunk(r, buf)
		if n > 0 {
			select {
			case a.chunks <- buf[:n]:
			case <-a.stop:
				return
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			a.err = err
			return
		}
	}
}

// fillChunk reads r into buf until buf is full or r fails. Unlike
// io.ReadFull it passes r's errors on as they are: io.EOF is the clean end,
// io.ErrUnexpectedEOF a truncated stream.
func fillChunk(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (a *aheadReader) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		c, ok := <-a.chunks
		if !ok {
			if a.err != nil {
				return 0, a.err
			}
			return 0, io.EOF
		}
		a.cur = c
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

func (a *aheadReader) Close() error {
	if !a.closed {
		a.closed = true
		close(a.stop)
		<-a.done
	}
	return nil
}

func checkDiffID(l *pullLayer, applied layer.Layer) error {
	if applied.DiffID != l.diffID {
		return errdefs.ErrDataLoss.WithMessage(fmt.Sprintf("layer %s: extracted content has diff ID %s, the image config says %s", l.desc.Digest, applied.DiffID, l.diffID))
	}
	return nil
}
