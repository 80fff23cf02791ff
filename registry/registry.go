// Package registry is a client of the OCI distribution protocol: it
// resolves references to manifests (choosing the platform's manifest from an
// index or Docker manifest list), fetches blobs verified against their
// digests, and pushes blobs and manifests. It speaks verified HTTPS, or as
// Docker to loopback and the registries configured as insecure, unverified
// HTTPS and then plain HTTP; it trusts the CAs
// found under CertsDir/<host>/ (Docker's certs.d layout); it answers basic
// and bearer-token challenges with the credentials it is given; it follows
// containerd's CertsDir/<host>/hosts.toml (mirrors of any registry, their
// capabilities and TLS) where there is one; and it tries the configured
// mirrors first for Docker Hub references.
package registry

import (
	"context"
	"net"
	"slices"
	"sync"

	"github.com/distribution/reference"
	registrytypes "github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Config is how gantryd reaches registries.
type Config struct {
	Mirrors   []string // --registry-mirror: base URLs tried first for docker.io references
	Insecure  []string // --insecure-registry: host[:port] or CIDR spoken to over unverified HTTPS, else plain HTTP
	CertsDir  string   // per registry: <CertsDir>/<host[:port]>/hosts.toml, else ca.crt (and client.cert/client.key)
	UserAgent string
}

// Auth is the credentials for one registry, as the docker CLI sends them
// (X-Registry-Auth, POST /auth). The zero value is anonymous.
type Auth = registrytypes.AuthConfig

// Client talks to registries. It is safe for concurrent use: it keeps, per
// registry and for a minute, what the last ping learned (the scheme, the
// auth challenge, an HTTP client with its TLS trust), and the bearer tokens
// issued while they live, so concurrent blob fetches share connections and
// a token.
type Client struct {
	cfg  Config                                                            // Mirrors and Insecure under mu: Reconfigure replaces them
	dial func(ctx context.Context, network, addr string) (net.Conn, error) // tests: reach names without DNS

	mu        sync.Mutex
	endpoints map[string]*endpoint // by registry host or mirror URL
	tokens    map[string]token     // by realm, service, scopes, credentials
}

// New returns a client for cfg. A mirror that is not an http(s) URL is an
// invalid-argument error.
func New(cfg Config) (*Client, error) {
	for _, m := range cfg.Mirrors {
		if _, err := parseMirror(m); err != nil {
			return nil, err
		}
	}
	return &Client{
		cfg:       cfg,
		endpoints: map[string]*endpoint{},
		tokens:    map[string]token{},
	}, nil
}

// Reconfigure replaces the mirrors and the insecure registries, as gantryd
// does when its configuration is reloaded. What the pings learned is
// forgotten, so the next operation on each registry asks again with the new
// settings; operations under way finish with the endpoint they hold. A
// mirror that is not an http(s) URL is an invalid-argument error and
// changes nothing.
func (c *Client) Reconfigure(mirrors, insecure []string) error {
	for _, m := range mirrors {
		if _, err := parseMirror(m); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.Mirrors = slices.Clone(mirrors)
	c.cfg.Insecure = slices.Clone(insecure)
	clear(c.endpoints)
	return nil
}

// settings returns the mirrors and insecure registries in force.
func (c *Client) settings() (mirrors, insecure []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.Mirrors, c.cfg.Insecure
}

// Image is a resolved reference: the manifest of one platform and its config.
type Image struct {
	Ref           reference.Named // the repository and the tag or digest asked for
	Digest        digest.Digest   // of what the reference names (an index or a manifest): `docker pull` prints it as "Digest:"
	MediaType     string          // of Manifest: OCI or Docker schema 2
	Manifest      ocispec.Manifest
	ManifestBytes []byte
	Config        []byte // verified against Manifest.Config.Digest

	endpoint *endpoint // the registry or mirror the manifest came from; blobs come from there too
}
