package image

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CreateFromManifest stores an image as a registry served it: manifest
// (OCI or Docker schema 2, kept byte for byte so that pushing it back is a
// no-op) and its config, whose layer blobs the caller has stored. It
// returns the image ID. A manifest that does not name config, or lists
// another number of layers than the config has diff IDs, is an
// invalid-argument error. Creating an existing image is a no-op.
func (s *Store) CreateFromManifest(ctx context.Context, manifest, config []byte) (digest.Digest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage("invalid image manifest: " + err.Error())
	}
	var c Config
	if err := json.Unmarshal(config, &c); err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage("invalid image config: " + err.Error())
	}
	if id := digest.FromBytes(config); m.Config.Digest != id {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("manifest names config %s, not %s", m.Config.Digest, id))
	}
	if len(m.Layers) != len(c.RootFS.DiffIDs) {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image has %d diff IDs but %d layer blobs", len(c.RootFS.DiffIDs), len(m.Layers)))
	}
	id, err := s.content.PutBytes(ctx, config)
	if err != nil {
		return "", fmt.Errorf("store image config: %w", err)
	}
	mid, err := s.content.PutBytes(ctx, manifest)
	if err != nil {
		return "", fmt.Errorf("store image manifest: %w", err)
	}
	if err := s.add(id, mid, "", &meta{config: c, layers: m.Layers}); err != nil {
		return "", err
	}
	return id, nil
}

// HasReference reports whether ref (a tag or a repository digest) points
// at the image id.
func (s *Store) HasReference(id digest.Digest, ref reference.Named) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.refs[ref.String()] == id
}

// AddDigest records ref, a repository digest (name@sha256:...), as a name of
// the image id: the digest it was pulled by or pushed as.
func (s *Store) AddDigest(ctx context.Context, id digest.Digest, ref reference.Canonical) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.records[id]; !ok {
		return noSuchImage(id.String())
	}
	key := ref.String()
	old, hadOld := s.refs[key]
	if hadOld && old == id {
		return nil
	}
	s.setRefLocked(key, id)
	if err := s.saveLocked(); err != nil {
		if hadOld {
			s.setRefLocked(key, old)
		} else {
			s.delRefLocked(key)
		}
		return err
	}
	return nil
}

// Manifest returns the stored manifest of the image id and its media type.
func (s *Store) Manifest(ctx context.Context, id digest.Digest) ([]byte, string, error) {
	s.mu.RLock()
	r, ok := s.records[id]
	s.mu.RUnlock()
	if !ok {
		return nil, "", noSuchImage(id.String())
	}
	data, err := s.content.ReadAll(ctx, r.Manifest)
	if err != nil {
		return nil, "", fmt.Errorf("read manifest of image %s: %w", id, err)
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", fmt.Errorf("decode manifest of image %s: %w", id, err)
	}
	if m.MediaType == "" {
		m.MediaType = ocispec.MediaTypeImageManifest
	}
	return data, m.MediaType, nil
}
