// Package registry is a client of the OCI distribution protocol: it
// resolves references to manifests (choosing the platform's manifest from an
// index or Docker manifest list), fetches blobs verified against their
// digests, and pushes blobs and manifests. It speaks HTTPS, or plain HTTP to
// loopback and to the registries configured as insecure; it trusts the CAs
// found under CertsDir/<host>/ (Docker's certs.d layout); it answers basic
// and bearer-token challenges with the credentials it is given; and it tries
// the configured mirrors first for Docker Hub references.
package registry

import (
	"context"
	"io"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	registrytypes "github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Config is how gantryd reaches registries.
type Config struct {
	Mirrors   []string // --registry-mirror: base URLs tried first for docker.io references
	Insecure  []string // --insecure-registry: host[:port] or CIDR spoken to over plain HTTP
	CertsDir  string   // per-registry TLS trust: <CertsDir>/<host[:port]>/ca.crt (and client.cert/client.key)
	UserAgent string
}

// Auth is the credentials for one registry, as the docker CLI sends them
// (X-Registry-Auth, POST /auth). The zero value is anonymous.
type Auth = registrytypes.AuthConfig

// Client talks to registries. It is safe for concurrent use.
type Client struct {
	cfg Config
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) { return &Client{cfg: cfg}, nil }

var errTODO = errdefs.ErrNotImplemented.WithMessage("registry client is not implemented yet")

// Image is a resolved reference: the manifest of one platform and its config.
type Image struct {
	Ref           reference.Named // the repository and the tag or digest asked for
	Digest        digest.Digest   // of what the reference names (an index or a manifest): `docker pull` prints it as "Digest:"
	MediaType     string          // of Manifest: OCI or Docker schema 2
	Manifest      ocispec.Manifest
	ManifestBytes []byte
	Config        []byte // verified against Manifest.Config.Digest

	endpoint string // the registry or mirror base URL the manifest came from; blobs come from there too
}

// Resolve fetches the manifest ref names (by tag or digest), following an
// index or manifest list to the manifest for platform, and its config. An
// unknown repository, tag or digest is a not-found error with the registry's
// words ("manifest unknown"); refused credentials are errdefs.ErrUnauthenticated
// ("unauthorized: ..."), a denied anonymous pull errdefs.ErrPermissionDenied.
func (c *Client) Resolve(ctx context.Context, ref reference.Named, platform ocispec.Platform, auth Auth) (*Image, error) {
	return nil, errTODO
}

// Blob opens a blob of img (from the registry or mirror img came from). The reader verifies the size and digest: the
// Read that reaches the end returns an error naming the digest when they do
// not match (errdefs.ErrDataLoss), so the caller must not use the content
// before it has read to io.EOF.
func (c *Client) Blob(ctx context.Context, img *Image, desc ocispec.Descriptor, auth Auth) (io.ReadCloser, error) {
	return nil, errTODO
}

// PushImage is what Push uploads: the blobs of a manifest, then the
// manifest under a tag.
type PushImage struct {
	Ref       reference.NamedTagged
	MediaType string // of Manifest
	Manifest  []byte
	Config    ocispec.Descriptor
	Layers    []ocispec.Descriptor
}

// PushProgress reports one blob's progress: status is "Preparing",
// "Waiting", "Pushing" (with current bytes), "Pushed", "Layer already
// exists" or "Mounted from <repo>".
type PushProgress func(desc ocispec.Descriptor, status string, current int64)

// Push uploads img's layers (skipping those the repository has, mounting
// those named in mountFrom from another repository of the same registry
// where it allows), its config, and then its manifest. open opens a blob's
// content. It returns the digest of the manifest as stored.
func (c *Client) Push(ctx context.Context, img PushImage, open func(ocispec.Descriptor) (io.ReadCloser, error), mountFrom map[digest.Digest]reference.Named, auth Auth, progress PushProgress) (digest.Digest, error) {
	return "", errTODO
}

// Login checks auth against the registry auth.ServerAddress names (Docker
// Hub when empty) and returns the identity token it issued, if any. Refused
// credentials are errdefs.ErrUnauthenticated.
func (c *Client) Login(ctx context.Context, auth Auth) (string, error) {
	return "", errTODO
}
