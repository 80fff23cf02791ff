package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/buildkit"
	gimage "github.com/gantry/gantry/image"
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
func (h buildKitHost) Import(ctx context.Context, blobs buildkit.Blobs, manifest ocispec.Descriptor, names []string) (digest.Digest, error) {
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
		id, err = d.storeBuilt(ctx, blobs, store, m, c, config)
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

func (d *Daemon) storeBuilt(ctx context.Context, blobs buildkit.Blobs, store *loadStore, m ocispec.Manifest, c ocispec.Image, config []byte) (digest.Digest, error) {
	var parent digest.Digest
	var stored []ocispec.Descriptor
	for i, l := range m.Layers {
		chain, diffID, blob, err := applyBlob(ctx, blobs, store, parent, l)
		if err != nil {
			return "", fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if diffID != c.RootFS.DiffIDs[i] {
			return "", fmt.Errorf("layer %s: diff ID %s, the config says %s", l.Digest, diffID, c.RootFS.DiffIDs[i])
		}
		stored = append(stored, blob)
		parent = chain
	}
	d.gc.RLock() // the config blob is garbage until the record is written
	defer d.gc.RUnlock()
	return d.images.Create(ctx, config, stored, "")
}

// applyBlob applies the layer blob l on parent and keeps the blob itself
// (as BuildKit compressed it, as a pull keeps a registry's), so that the
// image's manifest names BuildKit's blobs: an inline cache, which names
// them too, stays valid once the image is pushed. Garbage collection is
// held off from the end of the layer's tar until the layer and the blob
// are leased, as a load does (see loadStore).
func applyBlob(ctx context.Context, blobs buildkit.Blobs, store *loadStore, parent digest.Digest, l ocispec.Descriptor) (chain, diffID digest.Digest, blob ocispec.Descriptor, err error) {
	d := store.d
	if parent != "" {
		store.keep(d.gc.Lease(nil, []digest.Digest{parent}))
	}
	rc, err := blobs.Open(ctx, l)
	if err != nil {
		return "", "", blob, err
	}
	defer rc.Close()
	w, err := d.content.Writer(ctx)
	if err != nil {
		return "", "", blob, err
	}
	defer w.Close()
	compressed := io.TeeReader(rc, w)
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
	src := &lockAtEnd{r: r, lock: d.gc.RLock}
	lay, err := d.layers.Apply(ctx, parent, src)
	if !src.locked {
		d.gc.RLock()
	}
	defer d.gc.RUnlock()
	if err != nil {
		return "", "", blob, err
	}
	// The rest of the blob (a compression trailer) goes into the copy
	// too; its digest and size are checked at its end.
	if _, err := io.Copy(io.Discard, compressed); err != nil {
		return "", "", blob, err
	}
	dgst, err := w.Commit(ctx, l.Digest)
	if err != nil {
		return "", "", blob, err
	}
	store.keep(d.gc.LeaseHeld([]digest.Digest{dgst}, []digest.Digest{lay.ChainID}))
	return lay.ChainID, lay.DiffID, ocispec.Descriptor{MediaType: l.MediaType, Digest: dgst, Size: w.Size()}, nil
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
