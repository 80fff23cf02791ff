package tarball

import (
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Names of the metadata files at the top of an archive.
const (
	manifestFile     = "manifest.json" // Docker's list of images, read by every docker load
	repositoriesFile = "repositories"  // Docker's legacy name -> top layer map
)

// annotationImageName is containerd's annotation for an image's full name
// on a manifest descriptor of index.json ("docker.io/library/busybox:latest");
// ocispec.AnnotationRefName may carry only the tag.
const annotationImageName = "io.containerd.image.name"

// manifestItem is one entry of Docker's manifest.json, the fields of it
// that are read and written (Docker's Parent and LayerSources are neither).
// Paths are relative to the archive's root.
type manifestItem struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// blobPath is where an OCI layout keeps the blob d.
func blobPath(d digest.Digest) string {
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// blobDigest returns the digest an OCI blob path names, if name is one.
func blobDigest(name string) (digest.Digest, bool) {
	rest, ok := strings.CutPrefix(name, ocispec.ImageBlobsDir+"/")
	if !ok {
		return "", false
	}
	alg, enc, ok := strings.Cut(rest, "/")
	if !ok {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
	if d.Validate() != nil {
		return "", false
	}
	return d, true
}

// chainID is the OCI chain ID of diffID applied on top of the chain parent.
func chainID(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return digest.FromString(parent.String() + " " + diffID.String())
}
