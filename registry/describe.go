package registry

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Describe returns the descriptor of the manifest (or index) ref names and
// the platforms it serves, for `docker manifest`-like tools and buildx
// (GET /distribution/{name}/json): an index's platforms are those of its
// entries, a manifest's that of its config. Mirrors, auth and errors are
// as Resolve's.
func (c *Client) Describe(ctx context.Context, ref reference.Named, auth Auth) (ocispec.Descriptor, []ocispec.Platform, error) {
	ref = reference.TagNameOnly(ref)
	type described struct {
		desc      ocispec.Descriptor
		platforms []ocispec.Platform
	}
	d, err := pullFrom(ctx, c, ref, func(ep *endpoint) (described, error) {
		desc, platforms, err := c.describeAt(ctx, ep, ref, auth)
		return described{desc, platforms}, err
	})
	return d.desc, d.platforms, err
}

func (c *Client) describeAt(ctx context.Context, ep *endpoint, ref reference.Named, auth Auth) (ocispec.Descriptor, []ocispec.Platform, error) {
	repo := reference.Path(ref)
	s := c.session(ep, repo, auth, pullScope(repo))
	target, want := "", digest.Digest("")
	if d, ok := ref.(reference.Digested); ok {
		want = d.Digest()
		target = want.String()
	} else if t, ok := ref.(reference.Tagged); ok {
		target = t.Tag()
	}
	doc, err := s.manifest(ctx, target, want)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	desc := ocispec.Descriptor{MediaType: doc.mediaType, Digest: doc.digest, Size: int64(len(doc.body))}
	if doc.isIndex() {
		var index ocispec.Index
		if err := json.Unmarshal(doc.body, &index); err != nil {
			return ocispec.Descriptor{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("decode manifest list: %v", err))
		}
		platforms := []ocispec.Platform{}
		for _, m := range index.Manifests {
			if m.Platform != nil {
				platforms = append(platforms, *m.Platform)
			}
		}
		return desc, platforms, nil
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(doc.body, &m); err != nil {
		return ocispec.Descriptor{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("decode manifest %s: %v", doc.digest, err))
	}
	if !isImageConfig(m.Config.MediaType) {
		return desc, []ocispec.Platform{}, nil // an artifact: no platform
	}
	config, err := s.readBlob(ctx, m.Config, maxConfigSize, "image config")
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	// An image config has the platform's fields at its top level.
	var p ocispec.Platform
	if err := json.Unmarshal(config, &p); err != nil {
		return ocispec.Descriptor{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("decode image config %s: %v", m.Config.Digest, err))
	}
	return desc, []ocispec.Platform{p}, nil
}
