package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/internal/limit"
)

// Docker's manifest media types (OCI's are in ocispec).
const (
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeSchema1        = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeSchema1Signed  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaTypeDockerConfig   = "application/vnd.docker.container.image.v1+json"
)

// acceptManifests is the Accept header of manifest requests: every kind
// Resolve understands, and not schema 1, which registries then convert away
// from when they can.
var acceptManifests = strings.Join([]string{
	ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
	mediaTypeDockerList, mediaTypeDockerManifest,
}, ", ")

// Limits on documents read whole into memory: Docker's manifest limit,
// and for configs gantryd's limit on every JSON document.
const (
	maxManifestSize = 4 << 20
	maxConfigSize   = limit.Document
	maxIndexDepth   = 2 // an index may point to an index, once
)

// Resolve fetches the manifest ref names (by tag, "latest" when it names
// neither tag nor digest, or by digest), following an index or manifest list
// to the manifest for platform (the empty platform is linux on this machine's
// architecture), and its config. The mirrors of the registry's hosts.toml
// (under CertsDir), then for Docker Hub references Config.Mirrors, are
// tried first, in order, falling back to the next and then to the
// registry's server when a mirror fails in any way; the Image remembers
// which one answered. A manifest fetched by digest
// is verified against it. An unknown repository, tag or digest is a
// not-found error with the registry's words ("manifest unknown: manifest
// unknown"); refused credentials are errdefs.ErrUnauthenticated
// ("unauthorized: ..."), a denied anonymous pull errdefs.ErrPermissionDenied
// ("denied: requested access to the resource is denied", or Docker's "no
// basic auth credentials" for a registry that asks for a password); no
// manifest for the platform is errdefs.ErrNotFound ("no matching manifest
// for linux/amd64 in the manifest list entries"); a manifest of something
// else than an image (isImageConfig) is errdefs.ErrInvalidArgument
// ("unsupported media type application/vnd.cncf.helm.config.v1+json").
func (c *Client) Resolve(ctx context.Context, ref reference.Named, platform ocispec.Platform, auth Auth) (*Image, error) {
	ref = reference.TagNameOnly(ref)
	return pullFrom(ctx, c, ref, func(ep *endpoint) (*Image, error) {
		return c.resolveAt(ctx, ep, ref, platform, auth)
	})
}

// resolveAt resolves ref at one endpoint.
func (c *Client) resolveAt(ctx context.Context, ep *endpoint, ref reference.Named, platform ocispec.Platform, auth Auth) (*Image, error) {
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
		return nil, err
	}
	img := &Image{Ref: ref, Digest: doc.digest, endpoint: ep}
	for depth := 0; doc.isIndex(); depth++ {
		if depth == maxIndexDepth {
			return nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("manifest list %s nests indexes too deeply", doc.digest))
		}
		desc, err := choose(doc.body, platform)
		if err != nil {
			return nil, err
		}
		if doc, err = s.manifest(ctx, desc.Digest.String(), desc.Digest); err != nil {
			return nil, err
		}
	}
	if err := json.Unmarshal(doc.body, &img.Manifest); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("decode manifest %s: %v", doc.digest, err))
	}
	if img.Manifest.SchemaVersion != 2 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("manifest %s has unsupported schema version %d", doc.digest, img.Manifest.SchemaVersion))
	}
	if mt := img.Manifest.Config.MediaType; !isImageConfig(mt) {
		return nil, errdefs.ErrInvalidArgument.WithMessage("unsupported media type " + mt)
	}
	img.MediaType, img.ManifestBytes = doc.mediaType, doc.body
	if img.Config, err = s.readBlob(ctx, img.Manifest.Config, maxConfigSize, "image config"); err != nil {
		return nil, err
	}
	return img, nil
}

// isImageConfig says whether a manifest's config media type is an image's:
// Docker's or OCI's, or one of the values old registries wrote in its place
// that dockerd also takes for an image (none, application/octet-stream,
// application/json, text/html). Anything else is an artifact (a Helm chart,
// a signature) that is no image to run.
func isImageConfig(mediaType string) bool {
	switch mediaType {
	case mediaTypeDockerConfig, ocispec.MediaTypeImageConfig, "", "application/octet-stream", "application/json", "text/html":
		return true
	}
	return false
}

// document is a manifest or index as fetched.
type document struct {
	mediaType string
	body      []byte
	digest    digest.Digest
}

func (d document) isIndex() bool {
	return d.mediaType == ocispec.MediaTypeImageIndex || d.mediaType == mediaTypeDockerList
}

// manifest fetches the manifest or index target (a tag or digest) names. By
// digest (want) the content is verified against it; by tag its sha256 is
// computed and checked against the registry's Docker-Content-Digest.
func (s *session) manifest(ctx context.Context, target string, want digest.Digest) (document, error) {
	req, err := s.newRequest(ctx, http.MethodGet, "/v2/"+s.repo+"/manifests/"+target, nil)
	if err != nil {
		return document{}, err
	}
	req.Header.Set("Accept", acceptManifests)
	resp, err := s.do(req)
	if err != nil {
		return document{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return document{}, s.fail(resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return document{}, classed{fmt.Errorf("read manifest %s: %w", target, err), errdefs.ErrUnavailable}
	}
	if len(body) > maxManifestSize {
		return document{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("manifest %s is larger than %d bytes", target, maxManifestSize))
	}
	doc := document{body: body, digest: want}
	if doc.mediaType, err = mediaTypeOf(resp.Header.Get("Content-Type"), body); err != nil {
		return document{}, err
	}
	if want != "" {
		if !want.Algorithm().Available() || want.Algorithm().FromBytes(body) != want {
			return document{}, dataLoss("manifest verification failed for digest %s", want)
		}
		return doc, nil
	}
	doc.digest = digest.FromBytes(body)
	if h, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil && h.Algorithm() == digest.SHA256 && h != doc.digest {
		return document{}, dataLoss("manifest verification failed for digest %s: the registry sent content with digest %s", h, doc.digest)
	}
	return doc, nil
}

// mediaTypeOf is the kind of a manifest: its Content-Type, or for a registry
// that sends a generic one, what the document says it is. Schema 1 is
// refused as Docker 28 does.
func mediaTypeOf(contentType string, body []byte) (string, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, mediaTypeDockerList, mediaTypeDockerManifest:
		return mt, nil
	case mediaTypeSchema1, mediaTypeSchema1Signed:
		return "", errSchema1
	}
	var probe struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     json.RawMessage   `json:"manifests"`
		Config        json.RawMessage   `json:"config"`
		FSLayers      []json.RawMessage `json:"fsLayers"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unsupported manifest (Content-Type %q): %v", contentType, err))
	}
	switch {
	case probe.SchemaVersion == 1 || probe.FSLayers != nil:
		return "", errSchema1
	case probe.MediaType != "":
		return mediaTypeOf(probe.MediaType, nil)
	case probe.Manifests != nil:
		return ocispec.MediaTypeImageIndex, nil
	case probe.Config != nil:
		return ocispec.MediaTypeImageManifest, nil
	}
	return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unsupported manifest media type %q", contentType))
}

var errSchema1 = errdefs.ErrNotImplemented.WithMessage("Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. " +
	"Suggest the author of the image to upgrade it to the OCI Format or Docker Image manifest v2, schema 2. " +
	"More information at https://docs.docker.com/go/deprecated-image-specs/")

// choose picks the manifest for platform from an index or manifest list:
// the first entry with the same OS, architecture and variant, or (arm) a
// lower variant the CPU also runs.
func choose(body []byte, platform ocispec.Platform) (ocispec.Descriptor, error) {
	var index ocispec.Index
	if err := json.Unmarshal(body, &index); err != nil {
		return ocispec.Descriptor{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("decode manifest list: %v", err))
	}
	if platform.OS == "" {
		platform.OS = "linux"
	}
	if platform.Architecture == "" {
		platform.Architecture = runtime.GOARCH
	}
	want := normalize(platform)
	for _, variant := range want.compatibleVariants() {
		for _, m := range index.Manifests {
			if m.Platform == nil {
				continue
			}
			if got := normalize(*m.Platform); got.os == want.os && got.arch == want.arch && got.variant == variant {
				return m, nil
			}
		}
	}
	return ocispec.Descriptor{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no matching manifest for %s in the manifest list entries", formatPlatform(platform)))
}

// plat is a platform in the normal form matching compares.
type plat struct{ os, arch, variant string }

// normalize maps the spellings of a platform to one form, as containerd's
// platforms package does: x86_64 is amd64 (which has no variants that
// matter here), aarch64 is arm64 whose variant defaults to v8, armhf is arm
// v7, and arm's variant defaults to v7.
func normalize(p ocispec.Platform) plat {
	n := plat{os: strings.ToLower(p.OS), arch: strings.ToLower(p.Architecture), variant: strings.ToLower(p.Variant)}
	if n.variant != "" && !strings.HasPrefix(n.variant, "v") {
		n.variant = "v" + n.variant
	}
	switch n.arch {
	case "i386":
		n.arch, n.variant = "386", ""
	case "x86_64", "x86-64", "amd64":
		n.arch = "amd64"
		if n.variant == "v1" {
			n.variant = ""
		}
	case "aarch64", "arm64":
		n.arch = "arm64"
		if n.variant == "" {
			n.variant = "v8"
		}
	case "armhf":
		n.arch, n.variant = "arm", "v7"
	case "armel":
		n.arch, n.variant = "arm", "v6"
	case "arm":
		if n.variant == "" {
			n.variant = "v7"
		}
	}
	return n
}

// compatibleVariants lists the variants p runs, best first: arm v7 also
// runs v6 and v5 images. arm's variants end at v8, so a platform asking
// for v999999999 lists v8 to v5 after it, not a billion names.
func (p plat) compatibleVariants() []string {
	out := []string{p.variant}
	if p.arch == "arm" {
		if n, err := strconv.Atoi(strings.TrimPrefix(p.variant, "v")); err == nil {
			for n = min(n-1, maxArmVariant); n >= 5; n-- {
				out = append(out, "v"+strconv.Itoa(n))
			}
		}
	}
	return out
}

// maxArmVariant is the last variant of 32-bit arm (ARMv8's AArch32).
const maxArmVariant = 8

func formatPlatform(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
