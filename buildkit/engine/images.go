package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// LocalImages is gantryd's image store as BuildKit's FROM needs it.
type LocalImages interface {
	// Image returns the descriptor of the manifest of the image named
	// name (errdefs.ErrNotFound when there is none).
	Image(ctx context.Context, name string) (ocispec.Descriptor, error)
	// Blob opens a blob of an image: its manifest, config or a layer.
	Blob(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error)
}

// ImportFunc records an image the build produced: manifest is in the
// worker's content store, with its config and layers. It returns the
// image's ID.
type ImportFunc func(ctx context.Context, manifest ocispec.Descriptor, names []string) (digest.Digest, error)

// imageStore is the image store of BuildKit's worker: read-only, it finds
// gantryd's images and copies their blobs into BuildKit's content store
// (where its puller and snapshotter read them) the first time one is
// asked for. BuildKit asks it first in the "local" resolve mode (buildx's
// with the docker driver), after the registry in the default one.
type imageStore struct {
	local   LocalImages
	content content.Store
}

func (s *imageStore) Get(ctx context.Context, name string) (images.Image, error) {
	desc, err := s.local.Image(ctx, name)
	if err != nil {
		return images.Image{}, fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
	}
	mf, err := s.copy(ctx, desc)
	if err != nil {
		return images.Image{}, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mf, &m); err != nil {
		return images.Image{}, fmt.Errorf("image %q: manifest: %w", name, err)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if _, err := s.copy(ctx, d); err != nil {
			return images.Image{}, err
		}
	}
	return images.Image{Name: name, Target: desc}, nil
}

// copy puts the blob desc into BuildKit's content store unless it is
// there; it returns the blob when it is small (a manifest).
func (s *imageStore) copy(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if _, err := s.content.Info(ctx, desc.Digest); err != nil {
		rc, err := s.local.Blob(ctx, desc.Digest)
		if err != nil {
			return nil, err
		}
		err = content.WriteBlob(ctx, s.content, "gantry-"+desc.Digest.String(), rc, desc)
		rc.Close()
		if err != nil && !errdefs.IsAlreadyExists(err) {
			return nil, fmt.Errorf("copy blob %s: %w", desc.Digest, err)
		}
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest && desc.MediaType != images.MediaTypeDockerSchema2Manifest {
		return nil, nil
	}
	return content.ReadBlob(ctx, s.content, desc)
}

func (s *imageStore) List(ctx context.Context, filters ...string) ([]images.Image, error) {
	return nil, nil
}

func (s *imageStore) Create(ctx context.Context, image images.Image) (images.Image, error) {
	return images.Image{}, errdefs.ErrNotImplemented.WithMessage("buildkit does not write gantryd's images directly")
}

func (s *imageStore) Update(ctx context.Context, image images.Image, fieldpaths ...string) (images.Image, error) {
	return images.Image{}, errdefs.ErrNotImplemented.WithMessage("buildkit does not write gantryd's images directly")
}

func (s *imageStore) Delete(ctx context.Context, name string, opts ...images.DeleteOpt) error {
	return errdefs.ErrNotImplemented.WithMessage("buildkit does not write gantryd's images directly")
}
