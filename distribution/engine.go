package distribution

import (
	"log/slog"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"github.com/gantry/gantry/content"
	"github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
	"github.com/gantry/gantry/registry"
)

// Output receives the JSON messages of a pull or push, from several
// goroutines one at a time. Its error means the client is gone; the
// operation's context is then cancelled by the caller, which stops it.
type Output interface {
	Write(m jsonstream.Message) error
}

// GC is the garbage collection of the stores an Engine writes to (as
// gc.Collector implements it). A pull leases the blobs and layers it uses
// before it looks at what is here, a push the blobs it sends; both hold
// GC for reading only while they record what references a blob or layer
// they wrote.
type GC interface {
	// RLock holds collection off until RUnlock.
	RLock()
	RUnlock()
	// Lease keeps blobs and layers (by chain ID, with their parents) from
	// collection until release is called. What exists when Lease returns
	// stays until then. The caller must not hold RLock.
	Lease(blobs, chains []digest.Digest) (release func())
}

// Config is what an Engine works with.
type Config struct {
	Registry *registry.Client
	Content  *content.Store
	Layers   *layer.Store
	Images   *image.Store
	// Blobs records the repositories blobs came from or went to, the gzip
	// copies of zstd blobs, and the layers of pulls not recorded yet.
	Blobs *image.BlobIndex
	GC    GC
	Log   *slog.Logger
}

// Engine pulls images from registries into the stores and pushes them
// from there. It is safe for concurrent use.
type Engine struct {
	registry *registry.Client
	content  *content.Store
	layers   *layer.Store
	images   *image.Store
	blobs    *image.BlobIndex
	gc       GC
	log      *slog.Logger
	copies   singleflight.Group // gzip copies being made, by layer blob digest
}

// New returns an Engine on the stores of cfg.
func New(cfg Config) *Engine {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Engine{registry: cfg.Registry, content: cfg.Content, layers: cfg.Layers, images: cfg.Images, blobs: cfg.Blobs, gc: cfg.GC, log: cfg.Log}
}
