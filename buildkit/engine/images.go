package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

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
	// BlobPath returns the file of such a blob, to hard-link.
	BlobPath(ctx context.Context, dgst digest.Digest) (string, error)
}

// ImportFunc records an image the build produced: manifest is in the
// worker's content store, with its config and layers; dirs are the
// directories of the snapshots holding the layers' own files, by diff ID.
// It returns the image's ID.
type ImportFunc func(ctx context.Context, manifest ocispec.Descriptor, names []string, dirs map[digest.Digest]string) (digest.Digest, error)

// imageStore is the image store of BuildKit's worker: read-only, it finds
// gantryd's images and puts their blobs into BuildKit's content store
// (where its puller and snapshotter read them) the first time one is
// asked for: a hard link to gantryd's blob, a copy only when that cannot
// be (another filesystem). BuildKit asks it first in the "local" resolve mode (buildx's
// with the docker driver), after the registry in the default one.
type imageStore struct {
	local   LocalImages
	content content.Store
	dir     string // the content store's directory (containerd's local store)
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
	if _, err := s.content.Info(ctx, desc.Digest); err != nil && !s.link(ctx, desc) {
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

// link puts gantryd's blob desc into BuildKit's content store by a hard
// link and records it there (containerd's metadata store shares a blob
// its backing store has: the commit writes no byte). It reports whether
// it did.
func (s *imageStore) link(ctx context.Context, desc ocispec.Descriptor) bool {
	if desc.Digest.Validate() != nil || desc.Digest.Algorithm() != digest.SHA256 {
		return false
	}
	src, err := s.local.BlobPath(ctx, desc.Digest)
	if err != nil {
		return false
	}
	dst := filepath.Join(s.dir, "blobs", "sha256", desc.Digest.Encoded())
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false
	}
	if err := os.Link(src, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		return false
	}
	cw, err := content.OpenWriter(ctx, s.content, content.WithRef("gantry-"+desc.Digest.String()), content.WithDescriptor(desc))
	if errdefs.IsAlreadyExists(err) {
		return true
	}
	if err != nil {
		return false
	}
	defer cw.Close()
	err = cw.Commit(ctx, desc.Size, desc.Digest)
	return err == nil || errdefs.IsAlreadyExists(err)
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
