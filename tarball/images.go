package tarball

import (
	"encoding/json"
	"runtime"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of Docker's manifests, which OCI layouts written from a
// registry may hold besides the OCI ones.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// images returns the images of the archive and their names: those of
// manifest.json, which every docker load reads, else those of index.json.
func (rd *reader) images() ([]manifestItem, [][]reference.Named, error) {
	if rd.files[manifestFile] != nil {
		items, err := rd.manifest()
		if err != nil {
			return nil, nil, err
		}
		refs := make([][]reference.Named, len(items))
		for i, item := range items {
			for _, tag := range item.RepoTags {
				ref, err := reference.ParseNormalizedNamed(tag)
				if err != nil {
					return nil, nil, invalid("invalid image archive: repository tag %q: %v", tag, err)
				}
				if _, ok := ref.(reference.NamedTagged); !ok {
					return nil, nil, invalid("invalid tag %q", tag)
				}
				refs[i] = append(refs[i], ref)
			}
		}
		return items, refs, nil
	}
	if rd.files[ocispec.ImageIndexFile] != nil {
		return rd.ociImages()
	}
	return nil, nil, invalid("invalid image archive: it holds neither %s nor %s", manifestFile, ocispec.ImageIndexFile)
}

// manifest decodes manifest.json.
func (rd *reader) manifest() ([]manifestItem, error) {
	var items []manifestItem
	err := rd.decode(manifestFile, &items)
	return items, err
}

// config decodes the image config at name.
func (rd *reader) config(name string) (*ocispec.Image, error) {
	var c ocispec.Image
	if err := rd.decode(name, &c); err != nil {
		return &c, err
	}
	return &c, checkDiffIDs(name, &c)
}

// checkDiffIDs refuses a config whose diff IDs are not digests, before
// anything computes chain IDs from them.
func checkDiffIDs(name string, c *ocispec.Image) error {
	for _, d := range c.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return invalid("invalid image archive: %s: diff ID %q: %v", name, d, err)
		}
	}
	return nil
}

// ociImages lists the images of an OCI layout: one per manifest its index
// names (for a multi-platform index, the manifest for this machine), named
// by the annotations of the index's descriptors.
func (rd *reader) ociImages() ([]manifestItem, [][]reference.Named, error) {
	var index ocispec.Index
	if err := rd.decode(ocispec.ImageIndexFile, &index); err != nil {
		return nil, nil, err
	}
	var items []manifestItem
	var refs [][]reference.Named
	seen := map[digest.Digest]int{}
	for _, desc := range index.Manifests {
		m, md, err := rd.ociManifest(desc)
		if err != nil {
			return nil, nil, err
		}
		i, ok := seen[md]
		if !ok {
			item := manifestItem{Config: blobPath(m.Config.Digest)}
			for _, l := range m.Layers {
				item.Layers = append(item.Layers, blobPath(l.Digest))
			}
			i = len(items)
			seen[md] = i
			items = append(items, item)
			refs = append(refs, nil)
		}
		if ref := refFromAnnotations(desc.Annotations); ref != nil {
			refs[i] = append(refs[i], ref)
		}
	}
	return items, refs, nil
}

// ociManifest returns the image manifest desc names, choosing this
// machine's platform in an index, and its digest.
func (rd *reader) ociManifest(desc ocispec.Descriptor) (ocispec.Manifest, digest.Digest, error) {
	for range 4 {
		switch desc.MediaType {
		case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
			var m ocispec.Manifest
			err := rd.decode(blobPath(desc.Digest), &m)
			return m, desc.Digest, err
		case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
			var index ocispec.Index
			if err := rd.decode(blobPath(desc.Digest), &index); err != nil {
				return ocispec.Manifest{}, "", err
			}
			var ok bool
			if desc, ok = pickPlatform(index.Manifests); !ok {
				return ocispec.Manifest{}, "", invalid("invalid image archive: index %s has no image for linux/%s", desc.Digest, runtime.GOARCH)
			}
		default:
			return ocispec.Manifest{}, "", invalid("invalid image archive: unsupported manifest media type %q", desc.MediaType)
		}
	}
	return ocispec.Manifest{}, "", invalid("invalid image archive: indexes nested too deep")
}

// pickPlatform returns the manifest for linux on this machine's
// architecture.
func pickPlatform(descs []ocispec.Descriptor) (ocispec.Descriptor, bool) {
	for _, d := range descs {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d, true
		}
	}
	return ocispec.Descriptor{}, false
}

// refFromAnnotations returns the name an index gives a manifest:
// containerd's full name, else the OCI ref name when it is a reference
// rather than a bare tag (which names no repository). A digest-only name
// is no tag and is dropped, as docker load drops it.
func refFromAnnotations(a map[string]string) reference.Named {
	name := a[annotationImageName]
	if name == "" {
		name = a[ocispec.AnnotationRefName]
		if !strings.ContainsAny(name, ":/") {
			return nil
		}
	}
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil
	}
	if t, ok := ref.(reference.Tagged); ok {
		ref, _ = reference.WithTag(reference.TrimNamed(ref), t.Tag())
		return ref
	}
	if _, ok := ref.(reference.Canonical); ok {
		return nil
	}
	return reference.TagNameOnly(ref)
}

// decode reads the JSON file name into v.
func (rd *reader) decode(name string, v any) error {
	data, err := rd.readEntry(name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return invalid("invalid image archive: %s: %v", name, err)
	}
	return nil
}
