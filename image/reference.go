package image

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// ParseNamed parses name as Docker does, adding no tag: a name alone stays
// a name (a pull or push of every tag). An invalid name is
// errdefs.ErrInvalidArgument with Docker's words ("invalid reference
// format", "invalid reference format: repository name (library/Busybox)
// must be lowercase").
func ParseNamed(name string) (reference.Named, error) {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return ref, nil
}

// ParseReference normalises a name the way Docker does: "busybox",
// "library/busybox" and "docker.io/library/busybox:latest" are one
// reference, and a missing tag means ":latest". Digested references are kept
// as they are. Errors are ParseNamed's.
func ParseReference(name string) (reference.Named, error) {
	ref, err := ParseNamed(name)
	if err != nil {
		return nil, err
	}
	return reference.TagNameOnly(ref), nil
}

// ParseRepoTag combines the repo and tag query parameters of tag, commit and
// import requests. repo may carry the tag itself ("me/img:1"); an empty tag
// means "latest". An invalid repo gives ParseNamed's errors.
func ParseRepoTag(repo, tag string) (reference.Named, error) {
	ref, err := ParseNamed(repo)
	if err != nil {
		return nil, err
	}
	if tag == "" {
		return reference.TagNameOnly(ref), nil
	}
	if _, ok := ref.(reference.Tagged); ok {
		return nil, errdefs.ErrInvalidArgument.WithMessage("invalid reference format: tag given twice")
	}
	if _, ok := ref.(reference.Digested); ok {
		return nil, errdefs.ErrInvalidArgument.WithMessage("refusing to create a tag with a digest reference")
	}
	tagged, err := reference.WithTag(ref, tag)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid tag format: %q", tag))
	}
	return tagged, nil
}

// Familiar is the short form Docker shows: "busybox:latest", "me/x:1".
func Familiar(ref reference.Named) string {
	return reference.FamiliarString(ref)
}

var shortID = regexp.MustCompile(`^(sha256:)?[a-f0-9]{1,64}$`)

// noSuchImage is the error for a name or ID that resolves to nothing.
func noSuchImage(name string) error {
	return errdefs.ErrNotFound.WithMessage("No such image: " + name)
}

// resolveLocked finds the image a user means by name: a reference first,
// then a full or unambiguous short ID. The caller holds s.mu.
func (s *Store) resolveLocked(name string) (digest.Digest, error) {
	if d, err := digest.Parse(name); err == nil {
		if _, ok := s.records[d]; ok {
			return d, nil
		}
		return "", noSuchImage(name)
	}
	ref, refErr := ParseReference(name)
	if refErr == nil {
		if id, ok := s.refs[ref.String()]; ok {
			return id, nil
		}
	}
	if shortID.MatchString(name) {
		prefix := "sha256:" + strings.TrimPrefix(name, "sha256:")
		var found digest.Digest
		for id := range s.records {
			if strings.HasPrefix(id.String(), prefix) {
				if found != "" {
					return "", errdefs.ErrInvalidArgument.WithMessage("ambiguous image ID prefix: " + name)
				}
				found = id
			}
		}
		if found != "" {
			return found, nil
		}
		if refErr != nil {
			// A full ID that is no image (no name can be 64 hex
			// digits): dockerd's "No such image", not the name's error.
			return "", noSuchImage(name)
		}
	}
	if refErr != nil {
		return "", refErr
	}
	// dockerd names the reference it looked for: "nosuch:latest".
	return "", noSuchImage(Familiar(reference.TagNameOnly(ref)))
}
