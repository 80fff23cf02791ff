package builder

import (
	"context"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/content"
	"github.com/gantry/gantry/layer"
)

// StoreLayer applies the uncompressed layer tar r on top of the chain parent
// in ls and keeps the tar, zstd-compressed, as a blob in cs (for push and
// save), reading r once: compression runs beside the extraction. It returns
// the layer and the blob's descriptor. Nothing references them yet: the
// caller must keep garbage collection away until an image does. After an
// error nothing new is stored (a staged blob is discarded).
func StoreLayer(ctx context.Context, cs *content.Store, ls *layer.Store, parent digest.Digest, r io.Reader, opts ...layer.ApplyOption) (layer.Layer, ocispec.Descriptor, error) {
	w, err := cs.Writer(ctx)
	if err != nil {
		return layer.Layer{}, ocispec.Descriptor{}, err
	}
	defer w.Close()
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return layer.Layer{}, ocispec.Descriptor{}, err
	}
	l, err := ls.Apply(ctx, parent, io.TeeReader(r, zw), opts...)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return layer.Layer{}, ocispec.Descriptor{}, err
	}
	blob, err := w.Commit(ctx, "")
	if err != nil {
		return layer.Layer{}, ocispec.Descriptor{}, err
	}
	return l, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerZstd, Digest: blob, Size: w.Size()}, nil
}

// StoreLayerLazy applies the uncompressed layer tar r on top of the chain
// parent in ls as StoreLayer does, but keeps no copy of the tar: the layer
// keeps its tar-split (layer.WithTarSplit), the descriptor names the
// uncompressed tar by its diff ID (ocispec.MediaTypeImageLayer), and the
// content store makes that blob again from the layer's files when a push,
// a save or BuildKit reads it (content.Source, layer.TarSource): nothing
// is compressed or written twice while building. r must be a tar of
// Gantry's own (a diff, a direct copy): every name once. The caller keeps
// garbage collection away (a lease on the chain covers the blob) until an
// image references the layer. After an error nothing new is stored.
func StoreLayerLazy(ctx context.Context, ls *layer.Store, parent digest.Digest, r io.Reader, opts ...layer.ApplyOption) (layer.Layer, ocispec.Descriptor, error) {
	l, err := ls.Apply(ctx, parent, r, append(opts, layer.WithTarSplit())...)
	if err != nil {
		return layer.Layer{}, ocispec.Descriptor{}, err
	}
	return l, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: l.DiffID, Size: l.TarSize}, nil
}
