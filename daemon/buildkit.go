package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/api"
	"github.com/gantry/gantry/buildkit"
	"github.com/gantry/gantry/content"
	gimage "github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
	gnetwork "github.com/gantry/gantry/network"
)

// newBuildKit prepares BuildKit for buildx: gantry-buildkitd, started on
// the first /grpc or /session request, its state under <root>/buildkit.
// There is none with --userns-remap (its executor would run steps with
// the host's ids) or without the gantry-buildkitd binary.
func (d *Daemon) newBuildKit() *buildkit.Helper {
	if !d.idmap.Empty() {
		return nil
	}
	bin, err := findHelper("gantry-buildkitd")
	if err != nil {
		d.log.Warn("buildkit builds (docker buildx) are off", "error", err)
		return nil
	}
	h := buildkit.New(buildkit.Config{
		Binary: bin,
		Root:   filepath.Join(d.cfg.Root, "buildkit"),
		RunDir: filepath.Join(d.cfg.ExecRoot, "buildkit"),
		Host:   buildKitHost{d},
		Log:    d.log,
		DNS:    buildkit.DNSConfig{Servers: addrStrings(d.cfg.DNS), Search: d.cfg.DNSSearch, Options: d.cfg.DNSOptions},
	})
	h.Recover()
	return h
}

// findHelper returns a helper binary next to gantryd's, else in $PATH.
func findHelper(name string) (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", errdefs.ErrUnavailable.WithMessage(name + " not found next to gantryd nor in $PATH")
	}
	return p, nil
}

// BuildKit reports whether POST /grpc and /session are served (and
// /_ping says Builder-Version: 2).
func (d *Daemon) BuildKit() bool { return d.buildkit != nil }

// ServeGRPC implements POST /grpc.
func (d *Daemon) ServeGRPC(w http.ResponseWriter, r *http.Request) error {
	return d.buildkit.ServeGRPC(w, r)
}

// ServeSession implements POST /session.
func (d *Daemon) ServeSession(w http.ResponseWriter, r *http.Request) error {
	return d.buildkit.ServeSession(w, r)
}

// PruneBuildKit removes BuildKit's build cache that no build uses (all:
// also the records kept for cache hits, as `docker buildx prune --all`)
// and returns the bytes reclaimed; the classic builder's cache is not
// touched (its records go with the images they point at). For `docker
// builder prune` of the classic API, beside the classic cache.
func (d *Daemon) PruneBuildKit(ctx context.Context, all bool) (uint64, error) {
	if d.buildkit == nil {
		return 0, nil
	}
	n, err := d.buildkit.Prune(ctx, all)
	return uint64(n), err
}

// buildKitHost answers gantry-buildkitd's callbacks.
type buildKitHost struct{ d *Daemon }

// Image finds a FROM image in the image store.
func (h buildKitHost) Image(ctx context.Context, name string) (ocispec.Descriptor, error) {
	id, err := h.d.images.Resolve(ctx, name)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	img, err := h.d.images.Get(ctx, id)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	data, mediaType, err := h.d.images.Manifest(ctx, id)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: img.Manifest, Size: int64(len(data))}, nil
}

// Blob opens a blob of the content store.
func (h buildKitHost) Blob(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error) {
	return h.d.content.Open(ctx, dgst)
}

// BlobPath returns the file of a blob of the content store, which the
// helper hard-links into BuildKit's.
func (h buildKitHost) BlobPath(ctx context.Context, dgst digest.Digest) (string, error) {
	return h.d.content.Path(dgst)
}

// LinkLayer links BuildKit's snapshot directory dir to the layer diffID
// on parent when the layer store has it (overlay2 only), holding
// collection off so that the layer is either gone before (not found) or
// seen linked by every later collection (buildKitLinks).
func (h buildKitHost) LinkLayer(ctx context.Context, diffID, parent digest.Digest, dir string) (digest.Digest, error) {
	chain := layer.ChainID(parent, diffID)
	h.d.gc.RLock()
	defer h.d.gc.RUnlock()
	l, err := h.d.layers.Get(ctx, chain)
	if err != nil {
		return "", err
	}
	if l.DiffID != diffID || l.Parent != parent {
		return "", errdefs.ErrNotFound.WithMessage("layer " + chain.String() + " has another diff ID or parent")
	}
	target, err := h.d.layers.Dir(ctx, chain)
	if errdefs.IsNotImplemented(err) {
		return "", errdefs.ErrNotFound.WithMessage(err.Error())
	}
	if err != nil {
		return "", err
	}
	return chain, buildkit.LinkDir(dir, target)
}

// Collect collects garbage after BuildKit pruned its cache.
func (h buildKitHost) Collect(ctx context.Context) { h.d.collectGarbage(ctx) }

// MissingLayers returns the chains the layer store has not.
func (h buildKitHost) MissingLayers(ctx context.Context, chains []digest.Digest) ([]digest.Digest, error) {
	var out []digest.Digest
	for _, c := range chains {
		if _, err := h.d.layers.Get(ctx, c); err != nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// ClassicCache lists the classic builder's cache records for buildx du.
func (h buildKitHost) ClassicCache(ctx context.Context) ([]buildkit.CacheRecord, error) {
	recs, err := h.d.buildCacheUsage(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]buildkit.CacheRecord, 0, len(recs))
	for _, r := range recs {
		out = append(out, buildkit.CacheRecord{ID: r.ID, Description: r.Description, Size: r.Size, Shared: r.Shared, Created: r.CreatedAt, Parents: r.Parents})
	}
	return out, nil
}

// PruneClassicCache prunes the classic builder's cache for BuildKit's
// prune (buildx prune, builder prune with buildx), then collects garbage:
// BuildKit pruned its records and snapshots before.
func (h buildKitHost) PruneClassicCache(ctx context.Context, all bool) ([]buildkit.CacheRecord, error) {
	d := h.d
	defer d.collectGarbage(context.WithoutCancel(ctx))
	before, err := h.ClassicCache(ctx)
	if err != nil {
		return nil, err
	}
	report, err := d.buildCachePrune(ctx, api.BuildCachePruneOptions{All: all}, false)
	if err != nil {
		return nil, err
	}
	removed := map[string]bool{}
	for _, id := range report.CachesDeleted {
		removed[id] = true
	}
	var out []buildkit.CacheRecord
	for _, r := range before {
		if removed[r.ID] {
			out = append(out, r)
		}
	}
	return out, nil
}

// buildKitLinks returns the layers BuildKit's snapshots link to, which
// collection keeps (also at start, before the helper runs, and with
// --userns-remap, which has none but may find an earlier one's state);
// it is called with the collection lock held.
func (d *Daemon) buildKitLinks() []digest.Digest {
	chains, err := buildkit.LinkedChains(filepath.Join(d.cfg.Root, "buildkit"), filepath.Join(d.cfg.Root, "layers"))
	if err != nil {
		d.log.Warn("garbage collection: the layers BuildKit links", "error", err)
	}
	return chains
}

// NewSandbox gives a RUN step a network namespace of its own on the
// default bridge, as the classic builder's steps get.
func (h buildKitHost) NewSandbox(ctx context.Context, id string) (string, error) {
	sb, err := h.d.networks.NewSandbox(ctx, id)
	if err != nil {
		return "", fmt.Errorf("create network namespace: %w", err)
	}
	if _, err := h.d.networks.Join(ctx, sb, gnetwork.DefaultNetwork, gnetwork.EndpointOptions{}); err != nil {
		h.d.networks.DeleteSandbox(context.WithoutCancel(ctx), id)
		return "", fmt.Errorf("join network %s: %w", gnetwork.DefaultNetwork, err)
	}
	return sb.Path, nil
}

// DeleteSandbox removes a step's namespace.
func (h buildKitHost) DeleteSandbox(ctx context.Context, id string) error {
	return h.d.networks.DeleteSandbox(ctx, id)
}

// Import records an image BuildKit built: each layer blob of the manifest
// is applied into the layer store and kept as it is, then the config is recorded and tagged with names; an image
// gantryd has already is only tagged. A failure records nothing, and what
// it stored is collected.
func (h buildKitHost) Import(ctx context.Context, blobs buildkit.Blobs, manifest ocispec.Descriptor, names []string, dirs map[digest.Digest]string) (digest.Digest, error) {
	d := h.d
	var refs []reference.Named
	for _, n := range names {
		ref, err := gimage.ParseReference(n)
		if err != nil {
			return "", err
		}
		refs = append(refs, ref)
	}
	var m ocispec.Manifest
	if err := readJSONBlob(ctx, blobs, manifest, &m); err != nil {
		return "", fmt.Errorf("built manifest: %w", err)
	}
	config, err := readBlob(ctx, blobs, m.Config)
	if err != nil {
		return "", fmt.Errorf("built config: %w", err)
	}
	var c ocispec.Image
	if err := json.Unmarshal(config, &c); err != nil {
		return "", fmt.Errorf("built config: %w", err)
	}
	if len(c.RootFS.DiffIDs) != len(m.Layers) {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("built image has %d diff IDs but %d layers", len(c.RootFS.DiffIDs), len(m.Layers)))
	}
	// A build whose result gantryd has (a cached rebuild) records
	// nothing again: the image ID is the config's digest.
	id := digest.FromBytes(config)
	if _, err := d.images.Get(ctx, id); err != nil {
		store := &loadStore{d: d}
		id, err = d.storeBuilt(ctx, blobs, store, m, c, config, dirs)
		store.release()
		if err != nil {
			d.collectGarbage(context.WithoutCancel(ctx))
			return "", err
		}
	}
	for _, ref := range refs {
		if err := d.images.Tag(ctx, id, ref); err != nil {
			return "", err
		}
	}
	return id, nil
}

func (d *Daemon) storeBuilt(ctx context.Context, blobs buildkit.Blobs, store *loadStore, m ocispec.Manifest, c ocispec.Image, config []byte, dirs map[digest.Digest]string) (digest.Digest, error) {
	var parent digest.Digest
	var stored []ocispec.Descriptor
	for i, l := range m.Layers {
		chain, blob, ok := d.haveLayer(ctx, store, parent, c.RootFS.DiffIDs[i], l)
		if !ok {
			var diffID digest.Digest
			var err error
			chain, diffID, blob, err = applyBlob(ctx, blobs, store, parent, l, dirs[c.RootFS.DiffIDs[i]])
			if err != nil {
				return "", fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			if diffID != c.RootFS.DiffIDs[i] {
				return "", fmt.Errorf("layer %s: diff ID %s, the config says %s", l.Digest, diffID, c.RootFS.DiffIDs[i])
			}
		}
		stored = append(stored, blob)
		parent = chain
	}
	d.gc.RLock() // the config blob is garbage until the record is written
	defer d.gc.RUnlock()
	return d.images.Create(ctx, config, stored, "")
}

// haveLayer leases the layer diffID on parent and its blob l when gantryd
// has both (a layer of a FROM image, or of an earlier build): the image
// is recorded with them as they are, nothing read or extracted again.
func (d *Daemon) haveLayer(ctx context.Context, store *loadStore, parent, diffID digest.Digest, l ocispec.Descriptor) (digest.Digest, ocispec.Descriptor, bool) {
	chain := layer.ChainID(parent, diffID)
	d.gc.RLock()
	defer d.gc.RUnlock()
	lay, err := d.layers.Get(ctx, chain)
	if err != nil || lay.DiffID != diffID {
		return "", ocispec.Descriptor{}, false
	}
	size, err := d.content.Size(ctx, l.Digest)
	if err != nil || size != l.Size {
		return "", ocispec.Descriptor{}, false
	}
	store.keep(d.gc.LeaseHeld([]digest.Digest{l.Digest}, []digest.Digest{chain}))
	return chain, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: size}, true
}

// applyBlob applies the layer blob l on parent and keeps the blob itself
// (as BuildKit compressed it, as a pull keeps a registry's), so that the
// image's manifest names BuildKit's blobs: an inline cache, which names
// them too, stays valid once the image is pushed. The blob is a hard link
// to BuildKit's file when it can be (linkBlob), else a copy made while
// the layer is extracted. The layer's files take the inodes of those of
// dir, BuildKit's snapshot of the layer (when known), where they are the
// tar's (buildkit.SnapshotSources): one copy of the data for both
// builders. Garbage collection is held off from the end of
// the layer's tar until the layer and the blob are leased, as a load does
// (see loadStore).
func applyBlob(ctx context.Context, blobs buildkit.Blobs, store *loadStore, parent digest.Digest, l ocispec.Descriptor, dir string) (chain, diffID digest.Digest, blob ocispec.Descriptor, err error) {
	d := store.d
	if parent != "" {
		store.keep(d.gc.Lease(nil, []digest.Digest{parent}))
	}
	var compressed io.Reader
	var w *content.Writer
	if rc, ok := linkBlob(ctx, blobs, store, l); ok {
		defer rc.Close()
		compressed = rc
	} else {
		rc, err := blobs.Open(ctx, l)
		if err != nil {
			return "", "", blob, err
		}
		defer rc.Close()
		if w, err = d.content.Writer(ctx); err != nil {
			return "", "", blob, err
		}
		defer w.Close()
		compressed = io.TeeReader(rc, w)
	}
	var r io.Reader = compressed
	switch l.MediaType {
	case ocispec.MediaTypeImageLayerGzip, "application/vnd.docker.image.rootfs.diff.tar.gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return "", "", blob, err
		}
		defer zr.Close()
		r = zr
	case ocispec.MediaTypeImageLayerZstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return "", "", blob, err
		}
		defer zr.Close()
		r = zr
	case ocispec.MediaTypeImageLayer, "application/vnd.docker.image.rootfs.diff.tar":
	default:
		return "", "", blob, errdefs.ErrNotImplemented.WithMessage("layer media type " + l.MediaType)
	}
	var opts []layer.ApplyOption
	if dir != "" {
		opts = append(opts, layer.WithSources(buildkit.SnapshotSources(dir)))
	}
	src := &lockAtEnd{r: r, lock: d.gc.RLock}
	lay, err := d.layers.Apply(ctx, parent, src, opts...)
	if !src.locked {
		d.gc.RLock()
	}
	defer d.gc.RUnlock()
	if err != nil {
		return "", "", blob, err
	}
	blob = ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
	if w != nil {
		// The rest of the blob (a compression trailer) goes into the copy
		// too; its digest and size are checked at its end.
		if _, err := io.Copy(io.Discard, compressed); err != nil {
			return "", "", blob, err
		}
		if blob.Digest, err = w.Commit(ctx, l.Digest); err != nil {
			return "", "", blob, err
		}
		blob.Size = w.Size()
	}
	store.keep(d.gc.LeaseHeld([]digest.Digest{blob.Digest}, []digest.Digest{lay.ChainID}))
	return lay.ChainID, lay.DiffID, blob, nil
}

// linkBlob stores the layer blob l by a hard link to BuildKit's file
// (checked against its digest), leased, and opens it: BuildKit's content
// store and gantryd's share the blob's one copy on disk. It reports false
// when that cannot be (another filesystem); the caller copies it.
func linkBlob(ctx context.Context, blobs buildkit.Blobs, store *loadStore, l ocispec.Descriptor) (io.ReadCloser, bool) {
	d := store.d
	p, ok := blobs.(interface {
		Path(desc ocispec.Descriptor) (string, error)
	})
	if !ok {
		return nil, false
	}
	src, err := p.Path(l)
	if err != nil {
		return nil, false
	}
	store.keep(d.gc.Lease([]digest.Digest{l.Digest}, nil)) // before the blob exists: see gc.Lease
	if n, err := d.content.Link(ctx, src, l.Digest); err != nil || n != l.Size {
		return nil, false
	}
	rc, err := d.content.Open(ctx, l.Digest)
	if err != nil {
		return nil, false
	}
	return rc, true
}

func readBlob(ctx context.Context, blobs buildkit.Blobs, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > 16<<20 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("blob %s: %d bytes, more than a config or manifest may have", desc.Digest, desc.Size))
	}
	rc, err := blobs.Open(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func readJSONBlob(ctx context.Context, blobs buildkit.Blobs, desc ocispec.Descriptor, v any) error {
	data, err := readBlob(ctx, blobs, desc)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// addrStrings are the addresses as text.
func addrStrings(addrs []netip.Addr) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}
