package daemon

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/layer"
)

// pendingGrace is how long garbage collection keeps the layers a pull
// verified before it was interrupted (the client gone, the network cut,
// gantryd killed): long enough for the pull to be tried again, short
// enough that an abandoned one does not hold the space for long.
const pendingGrace = time.Hour

// collectGarbage removes the layers and blobs no image or container needs
// any more: what a removed image leaves, and what an interrupted import or
// commit left half-way. What running pulls and pushes lease stays, and so
// do the layers an interrupted pull verified within pendingGrace, for the
// next pull. Failures are logged; the next run retries.
func (d *Daemon) collectGarbage(ctx context.Context) {
	d.gc.Lock()
	defer d.gc.Unlock()
	keepBlobs := map[digest.Digest]bool{}
	keepLayers := map[digest.Digest]bool{}
	// Leases first: one released from now on was released after its
	// operation recorded its image, which the list below then has.
	leasedBlobs, leasedChains := d.leases.leased()
	for _, b := range leasedBlobs {
		keepBlobs[b] = true
	}
	images, err := d.images.List(ctx)
	if err != nil {
		d.log.Warn("garbage collection skipped", "error", err)
		return
	}
	pending, err := d.blobs.PendingSince(time.Now().Add(-pendingGrace))
	if err != nil {
		d.log.Warn("garbage collection skipped", "error", err)
		return
	}
	for _, img := range images {
		keepBlobs[img.ID] = true
		keepBlobs[img.Manifest] = true
		for _, blob := range img.Layers {
			keepBlobs[blob.Digest] = true
		}
		var chain digest.Digest
		for _, diffID := range img.Config.RootFS.DiffIDs {
			chain = layer.ChainID(chain, diffID)
			keepLayers[chain] = true
		}
	}
	for blob := range pending {
		keepBlobs[blob] = true
	}
	copies, err := d.blobs.Retain(func(dg digest.Digest) bool { return keepBlobs[dg] })
	if err != nil {
		d.log.Warn("garbage collection skipped", "error", err)
		return
	}
	for _, dg := range copies {
		keepBlobs[dg] = true
	}
	all, err := d.layers.List(ctx)
	if err != nil {
		d.log.Warn("garbage collection skipped", "error", err)
		return
	}
	parents := map[digest.Digest]digest.Digest{}
	for _, l := range all {
		parents[l.ChainID] = l.Parent
	}
	// A layer needs its parents.
	keepChain := func(chain digest.Digest) {
		for ; chain != "" && !keepLayers[chain]; chain = parents[chain] {
			keepLayers[chain] = true
		}
	}
	for _, c := range d.containers.List() {
		keepChain(c.Chain)
	}
	for _, l := range pending {
		keepChain(l.Chain)
	}
	for _, c := range leasedChains {
		keepChain(c)
	}
	for _, l := range all {
		if !keepLayers[l.ChainID] {
			if err := d.layers.Remove(ctx, l.ChainID); err != nil {
				d.log.Warn("remove layer", "layer", l.ChainID, "error", err)
			}
		}
	}
	var drop []digest.Digest
	d.content.Walk(ctx, func(dg digest.Digest, _ int64) error {
		if !keepBlobs[dg] {
			drop = append(drop, dg)
		}
		return nil
	})
	for _, dg := range drop {
		if err := d.content.Delete(ctx, dg); err != nil {
			d.log.Warn("remove blob", "blob", dg, "error", err)
		}
	}
}
