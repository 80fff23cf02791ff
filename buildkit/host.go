package buildkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Host is what the BuildKit helper asks of gantryd, over the callback
// socket (see Helper).
type Host interface {
	// Image returns the descriptor of the manifest of the image named name,
	// errdefs.ErrNotFound when gantryd has none.
	Image(ctx context.Context, name string) (ocispec.Descriptor, error)
	// Blob opens a blob of gantryd's content store (a manifest, config or
	// layer of an image Image returned).
	Blob(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error)
	// Import records the image whose manifest, config and layers are in
	// blobs (BuildKit's content store), tagged with names; it returns the
	// image ID. dirs are the snapshot directories holding the own files
	// of some of its layers, by diff ID (checked to be the helper's
	// snapshots'; see SnapshotSources). A failed import records nothing.
	Import(ctx context.Context, blobs Blobs, manifest ocispec.Descriptor, names []string, dirs map[digest.Digest]string) (digest.Digest, error)
	// NewSandbox makes the network namespace of one RUN step, on the
	// default bridge, and returns its path; DeleteSandbox removes it.
	NewSandbox(ctx context.Context, id string) (string, error)
	DeleteSandbox(ctx context.Context, id string) error
	// BlobPath returns the file of a blob of gantryd's content store, for
	// the helper to hard-link into BuildKit's (no copy of a FROM image's
	// blobs); errdefs.ErrNotFound when there is none.
	BlobPath(ctx context.Context, dgst digest.Digest) (string, error)
	// LinkLayer makes dir, the empty directory of a BuildKit snapshot
	// about to receive the layer diffID on the chain parent, a link to
	// gantryd's layer of that chain (see LinkDir), so that BuildKit
	// stacks gantryd's files instead of extracting a copy; it returns
	// the layer's chain ID, errdefs.ErrNotFound when gantryd has no such
	// layer. Garbage collection keeps the layers linked (LinkedChains).
	LinkLayer(ctx context.Context, diffID, parent digest.Digest, dir string) (digest.Digest, error)
	// Collect runs a garbage collection: BuildKit pruned its cache, and
	// the layers only its snapshots linked can go.
	Collect(ctx context.Context)
	// MissingLayers returns those of chains (chain IDs) the layer store
	// has not: the built layers whose snapshot directories the import
	// can use (the others are not read at all).
	MissingLayers(ctx context.Context, chains []digest.Digest) ([]digest.Digest, error)
	// ClassicCache lists the classic builder's cache records, which
	// `docker buildx du` shows beside BuildKit's.
	ClassicCache(ctx context.Context) ([]CacheRecord, error)
	// PruneClassicCache removes the classic builder's cache records (all:
	// also those whose images are kept otherwise, as POST /build/prune),
	// then collects garbage; it returns the records removed. For `docker
	// buildx prune` and `docker builder prune` with buildx, which cover
	// both builders as with dockerd.
	PruneClassicCache(ctx context.Context, all bool) ([]CacheRecord, error)
}

// CacheRecord is a record of the classic builder's cache as BuildKit's
// control API lists it (a UsageRecord).
type CacheRecord struct {
	ID          string    `json:"id"`
	Description string    `json:"description,omitempty"`
	Size        int64     `json:"size"`
	Shared      bool      `json:"shared,omitempty"`
	Created     time.Time `json:"created"`
	Parents     []string  `json:"parents,omitempty"`
}

// Blobs opens blobs by descriptor; what it returns checks size and digest
// as it is read.
type Blobs interface {
	Open(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// SnapshotsDir is where the helper's worker keeps its snapshots under
// root (containerd's overlay snapshotter: snapshots/<n>/fs is snapshot
// n's own files, an overlay layer).
func SnapshotsDir(root string) string {
	return filepath.Join(root, "runc-overlayfs", "snapshots", "snapshots")
}

// ContentDir is where the helper's worker keeps its content store under
// root (BuildKit's runc worker with the overlayfs snapshotter: the
// containerd local store layout, blobs/sha256/<hex>).
func ContentDir(root string) string {
	return filepath.Join(root, "runc-overlayfs", "content")
}

// ImportRequest is the body of POST /import.
type ImportRequest struct {
	Manifest ocispec.Descriptor `json:"manifest"`
	Names    []string           `json:"names,omitempty"`
	// Dirs are BuildKit's snapshot directories of layers, by diff ID.
	Dirs map[digest.Digest]string `json:"dirs,omitempty"`
}

// ImportResponse answers it.
type ImportResponse struct {
	ID digest.Digest `json:"id"`
}

// LinkRequest is the body of POST /link: BuildKit's snapshot directory
// Dir is about to receive layer DiffID on the chain Parent ("" for a
// base layer).
type LinkRequest struct {
	DiffID digest.Digest `json:"diffID"`
	Parent digest.Digest `json:"parent,omitempty"`
	Dir    string        `json:"dir"`
}

// LinkResponse answers it: the chain ID of the layer linked.
type LinkResponse struct {
	Chain digest.Digest `json:"chain"`
}

// PathResponse answers GET /blobpath/<digest>.
type PathResponse struct {
	Path string `json:"path"`
}

// SandboxResponse answers POST /sandbox.
type SandboxResponse struct {
	Path string `json:"path"`
}

// PruneResponse answers the helper's POST /prune: the cache records
// removed and their size in bytes.
type PruneResponse struct {
	Records   int   `json:"records"`
	Reclaimed int64 `json:"reclaimed"`
}

// ErrorResponse is the body of a failed callback.
type ErrorResponse struct {
	Message string `json:"message"`
}

// hostHandler serves the callback socket from a Host: GET /image?name=,
// GET /blob/<digest>, GET /blobpath/<digest>, POST /link, POST
// /layers/missing, POST /collect,
// GET /classic-cache, POST /classic-cache/prune?all=, POST /import, POST
// and DELETE /sandbox?id=.
type hostHandler struct {
	host      Host
	content   string // the helper's content store
	snapshots string // the helper's snapshots (SnapshotsDir)
	track     func(id string, add bool) bool
}

func (h *hostHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/image":
		desc, err := h.host.Image(ctx, r.URL.Query().Get("name"))
		reply(w, desc, err)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/blob/"):
		dgst, err := digest.Parse(strings.TrimPrefix(r.URL.Path, "/blob/"))
		if err != nil {
			reply(w, nil, errdefs.ErrInvalidArgument.WithMessage(err.Error()))
			return
		}
		rc, err := h.host.Blob(ctx, dgst)
		if err != nil {
			reply(w, nil, err)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, rc)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/blobpath/"):
		dgst, err := digest.Parse(strings.TrimPrefix(r.URL.Path, "/blobpath/"))
		if err != nil {
			reply(w, nil, errdefs.ErrInvalidArgument.WithMessage(err.Error()))
			return
		}
		p, err := h.host.BlobPath(ctx, dgst)
		reply(w, PathResponse{Path: p}, err)
	case r.Method == http.MethodPost && r.URL.Path == "/link":
		var req LinkRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			reply(w, nil, errdefs.ErrInvalidArgument.WithMessage("link request: "+err.Error()))
			return
		}
		if err := h.checkLink(req); err != nil {
			reply(w, nil, err)
			return
		}
		chain, err := h.host.LinkLayer(ctx, req.DiffID, req.Parent, req.Dir)
		reply(w, LinkResponse{Chain: chain}, err)
	case r.Method == http.MethodPost && r.URL.Path == "/layers/missing":
		var chains []digest.Digest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&chains); err != nil {
			reply(w, nil, errdefs.ErrInvalidArgument.WithMessage("layers: "+err.Error()))
			return
		}
		missing, err := h.host.MissingLayers(ctx, chains)
		reply(w, missing, err)
	case r.Method == http.MethodGet && r.URL.Path == "/classic-cache":
		recs, err := h.host.ClassicCache(ctx)
		reply(w, recs, err)
	case r.Method == http.MethodPost && r.URL.Path == "/classic-cache/prune":
		recs, err := h.host.PruneClassicCache(ctx, r.URL.Query().Get("all") == "1")
		reply(w, recs, err)
	case r.Method == http.MethodPost && r.URL.Path == "/collect":
		h.host.Collect(ctx)
		reply(w, struct{}{}, nil)
	case r.Method == http.MethodPost && r.URL.Path == "/import":
		var req ImportRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			reply(w, nil, errdefs.ErrInvalidArgument.WithMessage("import request: "+err.Error()))
			return
		}
		for d, dir := range req.Dirs {
			if !h.snapshotFiles(dir) {
				delete(req.Dirs, d)
			}
		}
		id, err := h.host.Import(ctx, dirBlobs(h.content), req.Manifest, req.Names, req.Dirs)
		reply(w, ImportResponse{ID: id}, err)
	case r.URL.Path == "/sandbox" && (r.Method == http.MethodPost || r.Method == http.MethodDelete):
		id := r.URL.Query().Get("id")
		if !strings.HasPrefix(id, "buildkit-") || strings.ContainsAny(id, "/.") {
			reply(w, nil, errdefs.ErrInvalidArgument.WithMessage("sandbox id "+id))
			return
		}
		if r.Method == http.MethodDelete {
			err := h.host.DeleteSandbox(ctx, id)
			h.track(id, false)
			reply(w, struct{}{}, err)
			return
		}
		if !h.track(id, true) {
			reply(w, nil, errdefs.ErrUnavailable.WithMessage("buildkit is stopping"))
			return
		}
		path, err := h.host.NewSandbox(ctx, id)
		if err != nil {
			h.track(id, false)
		}
		reply(w, SandboxResponse{Path: path}, err)
	default:
		reply(w, nil, errdefs.ErrNotFound.WithMessage("page not found"))
	}
}

// checkLink refuses a link request whose digests are not digests or whose
// directory is not the files directory of one of the helper's snapshots:
// gantryd replaces nothing else.
func (h *hostHandler) checkLink(req LinkRequest) error {
	if err := req.DiffID.Validate(); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage("link diff ID: " + err.Error())
	}
	if req.Parent != "" {
		if err := req.Parent.Validate(); err != nil {
			return errdefs.ErrInvalidArgument.WithMessage("link parent: " + err.Error())
		}
	}
	if !h.snapshotFiles(req.Dir) {
		return errdefs.ErrInvalidArgument.WithMessage("link directory " + req.Dir + " is not a snapshot's")
	}
	return nil
}

// snapshotFiles reports whether dir is <snapshots>/<n>/fs.
func (h *hostHandler) snapshotFiles(dir string) bool {
	if filepath.Clean(dir) != dir || filepath.Base(dir) != "fs" || filepath.Dir(filepath.Dir(dir)) != h.snapshots {
		return false
	}
	n := filepath.Base(filepath.Dir(dir))
	return n != "" && strings.Trim(n, "0123456789") == ""
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status := http.StatusInternalServerError
		switch {
		case errdefs.IsNotFound(err):
			status = http.StatusNotFound
		case errdefs.IsInvalidArgument(err):
			status = http.StatusBadRequest
		case errdefs.IsConflict(err):
			status = http.StatusConflict
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(ErrorResponse{Message: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// dirBlobs reads blobs from a content store directory in the containerd
// local store layout.
type dirBlobs string

// Path returns the file of blob desc, for gantryd to hard-link (its
// content store checks it against the digest).
func (d dirBlobs) Path(desc ocispec.Descriptor) (string, error) {
	if err := desc.Digest.Validate(); err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return filepath.Join(string(d), "blobs", desc.Digest.Algorithm().String(), desc.Digest.Encoded()), nil
}

func (d dirBlobs) Open(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	f, err := os.Open(filepath.Join(string(d), "blobs", desc.Digest.Algorithm().String(), desc.Digest.Encoded()))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &verified{f: f, desc: desc, v: desc.Digest.Verifier()}, nil
}

// verified is a blob that fails at its end unless its size and digest are
// its descriptor's.
type verified struct {
	f    *os.File
	desc ocispec.Descriptor
	v    digest.Verifier
	n    int64
}

func (b *verified) Read(p []byte) (int, error) {
	n, err := b.f.Read(p)
	b.n += int64(n)
	b.v.Write(p[:n])
	if b.n > b.desc.Size {
		return n, fmt.Errorf("blob %s: longer than %d bytes", b.desc.Digest, b.desc.Size)
	}
	if err == io.EOF && (b.n != b.desc.Size || !b.v.Verified()) {
		return n, fmt.Errorf("blob %s: content does not match its digest", b.desc.Digest)
	}
	return n, err
}

func (b *verified) Close() error { return b.f.Close() }
