package distribution

import (
	"fmt"
	goruntime "runtime"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	gimage "github.com/gantry/gantry/image"
)

// ParseReference combines fromImage and tag of a pull as dockerd does: tag
// may be a digest; neither leaves the repository name alone, which stands
// for all its tags.
func ParseReference(image, tag string) (reference.Named, error) {
	ref, err := gimage.ParseNamed(image)
	if err != nil {
		return nil, err
	}
	if tag == "" {
		return ref, nil
	}
	name := reference.TrimNamed(ref)
	if dg, err := digest.Parse(tag); err == nil {
		return reference.WithDigest(name, dg)
	}
	tagged, err := reference.WithTag(name, tag)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid tag format: %q", tag))
	}
	return tagged, nil
}

// ParsePlatform reads "os[/arch[/variant]]"; "" is this machine's.
func ParsePlatform(s string) (ocispec.Platform, error) {
	p := ocispec.Platform{OS: "linux", Architecture: goruntime.GOARCH}
	if s == "" {
		return p, nil
	}
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 || parts[0] == "" {
		return p, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid platform %q: want os[/arch[/variant]]", s))
	}
	p.OS = parts[0]
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p, nil
}

// refTag is what progress calls a reference: its tag, or its digest.
func refTag(ref reference.Named) string {
	if t, ok := ref.(reference.Tagged); ok {
		return t.Tag()
	}
	if d, ok := ref.(reference.Digested); ok {
		return d.Digest().String()
	}
	return "latest"
}

// resolveError words a failed resolve as dockerd does.
func resolveError(ref reference.Named, err error) error {
	switch {
	case errdefs.IsNotFound(err):
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("manifest for %s not found: %v", reference.FamiliarString(ref), err))
	case errdefs.IsPermissionDenied(err):
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("pull access denied for %s, repository does not exist or may require 'docker login': %v", reference.FamiliarName(ref), err))
	}
	return err
}
