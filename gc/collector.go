package gc

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/content"
	"github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
)

// PendingGrace is how long collection keeps the layers a pull verified
// before it was interrupted (the client gone, the network cut, gantryd
// killed): long enough for the pull to be tried again, short enough that
// an abandoned one does not hold the space for long.
const PendingGrace = time.Hour

// Records is a store of records that point at images, such as the build
// cache: Sweep removes those whose images are gone.
type Records interface {
	// Sweep removes the records that point at an image live reports
	// false for, and returns how many it removed. It runs while
	// collection holds its lock.
	Sweep(ctx context.Context, live func(image digest.Digest) bool) (int, error)
}

// RecordsFunc is a function as Records.
type RecordsFunc func(ctx context.Context, live func(image digest.Digest) bool) (int, error)

// Sweep calls f.
func (f RecordsFunc) Sweep(ctx context.Context, live func(image digest.Digest) bool) (int, error) {
	return f(ctx, live)
}

// Config is what a Collector collects and what it keeps.
type Config struct {
	Content *content.Store
	Layers  *layer.Store
	Images  *image.Store
	// Blobs holds the pending layers of interrupted pulls and the gzip
	// copies of zstd blobs.
	Blobs *image.BlobIndex
	// Snapshots returns the chain IDs the snapshots of containers are on
	// ("" for an empty rootfs): collection keeps them. It is called with
	// the collection lock held.
	Snapshots func() []digest.Digest
	// Records are swept of the records of images that are gone.
	Records []Records
	Log     *slog.Logger
}

// Collector runs collections and holds the leases. It is safe for
// concurrent use; collections run one at a time.
type Collector struct {
	cfg    Config
	mu     sync.RWMutex // held for writing by a collection, see RLock
	leases leases
}

// New returns a Collector of the stores in cfg.
func New(cfg Config) *Collector {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Snapshots == nil {
		cfg.Snapshots = func() []digest.Digest { return nil }
	}
	return &Collector{cfg: cfg}
}

// RLock holds collection off until RUnlock: the caller writes a layer or
// blob that nothing references yet and records what references it.
func (c *Collector) RLock() { c.mu.RLock() }

// RUnlock ends what RLock began.
func (c *Collector) RUnlock() { c.mu.RUnlock() }

// Result is what a collection removed.
type Result struct {
	Layers, Blobs, Records int
}

// Collect removes what nothing keeps (see the package documentation). It
// waits for the steps holding RLock, never for a lease. A store that cannot
// be read stops the collection before anything is removed, with an error;
// a removal that fails is logged and left for the next collection, the
// others go on (the parents of a layer that stays, stay).
func (c *Collector) Collect(ctx context.Context) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var res Result
	m, err := c.mark(ctx)
	if err != nil {
		return res, fmt.Errorf("garbage collection: %w", err)
	}
	res.Layers = c.sweepLayers(ctx, m)
	res.Blobs = c.sweepBlobs(ctx, m)
	for _, r := range c.cfg.Records {
		n, err := r.Sweep(ctx, func(id digest.Digest) bool { return m.images[id] })
		if err != nil {
			c.cfg.Log.Warn("garbage collection: records", "error", err)
		}
		res.Records += n
	}
	return res, nil
}

// marks are what a collection keeps.
type marks struct {
	images  map[digest.Digest]bool
	blobs   map[digest.Digest]bool
	layers  map[digest.Digest]bool
	parents map[digest.Digest]digest.Digest // every layer's parent
}

// mark finds what is kept. The caller holds c.mu.
func (c *Collector) mark(ctx context.Context) (*marks, error) {
	m := &marks{images: map[digest.Digest]bool{}, blobs: map[digest.Digest]bool{}, layers: map[digest.Digest]bool{}, parents: map[digest.Digest]digest.Digest{}}
	// Leases first: one released from now on was released after its
	// operation recorded its image, which the list below then has.
	leasedBlobs, leasedChains := c.leases.leased()
	for _, b := range leasedBlobs {
		m.blobs[b] = true
	}
	images, err := c.cfg.Images.List(ctx)
	if err != nil {
		return nil, err
	}
	var chains []digest.Digest
	pushed := map[digest.Digest]bool{} // layer blobs of images with a repository digest
	for _, img := range images {
		if len(img.Digests) > 0 {
			for _, blob := range img.Layers {
				pushed[blob.Digest] = true
			}
		}
		m.images[img.ID] = true
		m.blobs[img.ID] = true
		m.blobs[img.Manifest] = true
		for _, blob := range img.Layers {
			m.blobs[blob.Digest] = true
		}
		var chain digest.Digest
		for _, diffID := range img.Config.RootFS.DiffIDs {
			chain = layer.ChainID(chain, diffID)
		}
		chains = append(chains, chain)
	}
	pending, err := c.cfg.Blobs.PendingSince(time.Now().Add(-PendingGrace))
	if err != nil {
		return nil, err
	}
	for blob, l := range pending {
		m.blobs[blob] = true
		chains = append(chains, l.Chain)
	}
	copies, err := c.cfg.Blobs.Retain(func(dg digest.Digest) bool { return m.blobs[dg] }, func(dg digest.Digest) bool { return pushed[dg] })
	if err != nil {
		return nil, err
	}
	for _, dg := range copies {
		m.blobs[dg] = true
	}
	all, err := c.cfg.Layers.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range all {
		m.parents[l.ChainID] = l.Parent
	}
	chains = append(chains, leasedChains...)
	chains = append(chains, c.cfg.Snapshots()...)
	for _, chain := range chains {
		for ; chain != "" && !m.layers[chain]; chain = m.parents[chain] {
			m.layers[chain] = true
		}
	}
	return m, nil
}

// sweepLayers removes the layers not marked, children first, and returns
// how many it removed. Since a kept layer's parents are kept, every child
// of a removed layer is removed too, and removing deeper layers first
// removes each child before its parent.
func (c *Collector) sweepLayers(ctx context.Context, m *marks) int {
	depth := map[digest.Digest]int{}
	var depthOf func(digest.Digest) int
	depthOf = func(id digest.Digest) int {
		if id == "" {
			return 0
		}
		if d, ok := depth[id]; ok {
			return d
		}
		depth[id] = 1 // a parent loop ends here
		d := 1 + depthOf(m.parents[id])
		depth[id] = d
		return d
	}
	var drop []digest.Digest
	for id := range m.parents {
		if !m.layers[id] {
			drop = append(drop, id)
			depthOf(id)
		}
	}
	slices.SortFunc(drop, func(a, b digest.Digest) int { return depth[b] - depth[a] })
	failed := map[digest.Digest]bool{}
	n := 0
	for _, id := range drop {
		if failed[id] {
			failed[m.parents[id]] = true // its child stays, so it stays
			continue
		}
		if err := c.cfg.Layers.Remove(ctx, id); err != nil {
			c.cfg.Log.Warn("garbage collection: remove layer", "layer", id, "error", err)
			failed[m.parents[id]] = true
			continue
		}
		n++
	}
	return n
}

// sweepBlobs removes the blobs not marked and returns how many.
func (c *Collector) sweepBlobs(ctx context.Context, m *marks) int {
	var drop []digest.Digest
	err := c.cfg.Content.Walk(ctx, func(dg digest.Digest, _ int64) error {
		if !m.blobs[dg] {
			drop = append(drop, dg)
		}
		return nil
	})
	if err != nil {
		c.cfg.Log.Warn("garbage collection: list blobs", "error", err)
		return 0
	}
	n := 0
	for _, dg := range drop {
		if err := c.cfg.Content.Delete(ctx, dg); err != nil {
			c.cfg.Log.Warn("garbage collection: remove blob", "blob", dg, "error", err)
			continue
		}
		n++
	}
	return n
}
