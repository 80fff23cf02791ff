package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/containerd/errdefs"
	resourcestypes "github.com/moby/buildkit/executor/resources/types"
	"github.com/moby/buildkit/util/network"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/gantry/gantry/buildkit"
)

// gantryd is the client of gantryd's callback socket (buildkit.Host).
type gantryd struct{ c *http.Client }

func newGantryd(sock string) *gantryd {
	return &gantryd{c: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}}
}

// call sends a request and decodes the JSON answer into out (when not
// nil); a failure comes back with gantryd's message and error class.
func (g *gantryd) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://gantryd"+path, body)
	if err != nil {
		return err
	}
	resp, err := g.c.Do(req)
	if err != nil {
		return fmt.Errorf("gantryd: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func responseError(resp *http.Response) error {
	var e buildkit.ErrorResponse
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return errdefs.ErrNotFound.WithMessage(e.Message)
	case http.StatusBadRequest:
		return errdefs.ErrInvalidArgument.WithMessage(e.Message)
	case http.StatusConflict:
		return errdefs.ErrConflict.WithMessage(e.Message)
	}
	return fmt.Errorf("%s", e.Message)
}

// Image implements LocalImages.
func (g *gantryd) Image(ctx context.Context, name string) (ocispec.Descriptor, error) {
	var desc ocispec.Descriptor
	err := g.call(ctx, http.MethodGet, "/image?name="+url.QueryEscape(name), nil, &desc)
	return desc, err
}

// Blob implements LocalImages.
func (g *gantryd) Blob(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://gantryd/blob/"+dgst.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gantryd: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, responseError(resp)
	}
	return resp.Body, nil
}

// Import has gantryd record a built image.
func (g *gantryd) Import(ctx context.Context, manifest ocispec.Descriptor, names []string, dirs map[digest.Digest]string) (digest.Digest, error) {
	var resp buildkit.ImportResponse
	err := g.call(ctx, http.MethodPost, "/import", buildkit.ImportRequest{Manifest: manifest, Names: names, Dirs: dirs}, &resp)
	return resp.ID, err
}

// New implements network.Provider: a namespace of its own on gantryd's
// default bridge for each RUN step, as the classic builder's steps get.
func (g *gantryd) New(ctx context.Context, hostname string, _ network.NamespaceOptions) (network.Namespace, error) {
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return nil, err
	}
	id := "buildkit-" + hex.EncodeToString(buf[:])
	var resp buildkit.SandboxResponse
	if err := g.call(ctx, http.MethodPost, "/sandbox?id="+id, nil, &resp); err != nil {
		return nil, err
	}
	return &stepNetwork{g: g, id: id, path: resp.Path}, nil
}

// Close implements network.Provider.
func (g *gantryd) Close() error { return nil }

// stepNetwork is a RUN step's network namespace.
type stepNetwork struct {
	g        *gantryd
	id, path string
}

func (n *stepNetwork) Set(s *specs.Spec) error {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	for i, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			s.Linux.Namespaces[i].Path = n.path
			return nil
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: n.path})
	return nil
}

func (n *stepNetwork) Close() error {
	return n.g.call(context.Background(), http.MethodDelete, "/sandbox?id="+n.id, nil, nil)
}

func (n *stepNetwork) Sample() (*resourcestypes.NetworkSample, error) { return nil, nil }

// BlobPath asks gantryd where its blob dgst is (buildkit.Host.BlobPath).
func (g *gantryd) BlobPath(ctx context.Context, dgst digest.Digest) (string, error) {
	var resp buildkit.PathResponse
	err := g.call(ctx, http.MethodGet, "/blobpath/"+dgst.String(), nil, &resp)
	return resp.Path, err
}

// LinkLayer has gantryd link the snapshot directory dir to its layer
// (buildkit.Host.LinkLayer).
func (g *gantryd) LinkLayer(ctx context.Context, diffID, parent digest.Digest, dir string) (digest.Digest, error) {
	var resp buildkit.LinkResponse
	err := g.call(ctx, http.MethodPost, "/link", buildkit.LinkRequest{DiffID: diffID, Parent: parent, Dir: dir}, &resp)
	return resp.Chain, err
}

// Collect has gantryd run a garbage collection (buildkit.Host.Collect).
func (g *gantryd) Collect(ctx context.Context) error {
	return g.call(ctx, http.MethodPost, "/collect", nil, nil)
}

// classicCache is gantryd's classic build cache over the callback socket.
type classicCache struct{ g *gantryd }

func (c classicCache) List(ctx context.Context) ([]buildkit.CacheRecord, error) {
	var recs []buildkit.CacheRecord
	err := c.g.call(ctx, http.MethodGet, "/classic-cache", nil, &recs)
	return recs, err
}

func (c classicCache) Prune(ctx context.Context, all bool) ([]buildkit.CacheRecord, error) {
	path := "/classic-cache/prune"
	if all {
		path += "?all=1"
	}
	var recs []buildkit.CacheRecord
	err := c.g.call(ctx, http.MethodPost, path, nil, &recs)
	return recs, err
}

// MissingLayers asks gantryd which of chains its layer store has not
// (buildkit.Host.MissingLayers).
func (g *gantryd) MissingLayers(ctx context.Context, chains []digest.Digest) ([]digest.Digest, error) {
	var missing []digest.Digest
	err := g.call(ctx, http.MethodPost, "/layers/missing", chains, &missing)
	return missing, err
}
