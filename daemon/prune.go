package daemon

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/api"
	"github.com/gantry/gantry/builder"
	gimage "github.com/gantry/gantry/image"
)

// pruneFilter is the filters of the prune endpoints: until (created
// before) and label / label! (must, must not hold), plus the extra keys
// an endpoint accepts. An unknown key is dockerd's error.
type pruneFilter struct {
	until  time.Time // zero: no bound
	labels map[string]bool
	not    map[string]bool
}

func parsePruneFilter(f api.Filters, extra ...string) (pruneFilter, error) {
	var pf pruneFilter
	for key, values := range f {
		switch {
		case key == "until":
			if len(values) > 1 {
				return pf, errdefs.ErrInvalidArgument.WithMessage("more than one until filter specified")
			}
			for v := range values {
				t, err := parseUntil(v, time.Now())
				if err != nil {
					return pf, err
				}
				pf.until = t
			}
		case key == "label":
			pf.labels = values
		case key == "label!":
			pf.not = values
		case slices.Contains(extra, key):
		default:
			return pf, errdefs.ErrInvalidArgument.WithMessage("invalid filter '" + key + "'")
		}
	}
	return pf, nil
}

// match reports whether an object created at created with labels passes.
func (pf pruneFilter) match(created time.Time, labels map[string]string) bool {
	if !pf.until.IsZero() && !created.Before(pf.until) {
		return false
	}
	if !matchLabels(labels, pf.labels) {
		return false
	}
	for f := range pf.not {
		key, value, hasValue := strings.Cut(f, "=")
		if got, ok := labels[key]; ok && (!hasValue || got == value) {
			return false
		}
	}
	return true
}

// parseUntil reads an until filter as dockerd does: a Go duration before
// now ("24h"), a Unix time ("1700000000", "1700000000.5"), or an RFC 3339
// date or date-time, with or without a zone.
func parseUntil(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "eE") {
		whole := int64(secs)
		return time.Unix(whole, int64((secs-float64(whole))*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("failed to parse value as time or duration: %q", v))
}

// ContainersPrune implements POST /containers/prune: every container that
// is not running (nor paused) and passes the filters is removed, with its
// anonymous volumes kept as `docker rm` without -v does.
func (d *Daemon) ContainersPrune(ctx context.Context, filters api.Filters) (*container.PruneReport, error) {
	pf, err := parsePruneFilter(filters)
	if err != nil {
		return nil, err
	}
	report := &container.PruneReport{}
	for _, c := range d.containers.List() {
		if c.Snapshot().IsRunning() || !pf.match(c.Created, c.Config.Labels) {
			continue
		}
		size, err := d.layers.Usage(ctx, c.Dir(), c.Chain)
		if err != nil {
			size = 0 // the snapshot is already gone: nothing to reclaim
		}
		if err := d.removeStopped(ctx, c, false); err != nil {
			if errdefs.IsConflict(err) {
				continue // started meanwhile
			}
			return report, err
		}
		report.ContainersDeleted = append(report.ContainersDeleted, c.ID)
		report.SpaceReclaimed += uint64(max(size, 0))
	}
	d.pruneEvent(evtypes.ContainerEventType, report.SpaceReclaimed)
	return report, nil
}

// ImagesPrune implements POST /images/prune: with dangling=true (the
// default) the images without a name nor a child; with dangling=false
// (prune -a) every image no container uses and no image is built on.
// Each goes through rmi (image.Store.Remove, untagging first, parents
// pruned), then garbage collection frees their layers; SpaceReclaimed is
// the size of the layers that went.
func (d *Daemon) ImagesPrune(ctx context.Context, filters api.Filters) (*image.PruneReport, error) {
	pf, err := parsePruneFilter(filters, "dangling")
	if err != nil {
		return nil, err
	}
	danglingOnly := true
	for v := range filters["dangling"] {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'dangling=%s'", v))
		}
		danglingOnly = b
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	used := map[digest.Digest]bool{}
	for _, c := range d.containers.List() {
		used[c.ImageID] = true
	}
	var candidates []*gimage.Image
	for _, img := range imgs {
		if used[img.ID] || d.images.HasChildren(img.ID) {
			continue
		}
		if danglingOnly && (len(img.Refs) > 0 || len(img.Digests) > 0) {
			continue
		}
		if !pf.match(img.Created(), img.Config.Config.Labels) {
			continue
		}
		candidates = append(candidates, img)
	}
	report := &image.PruneReport{}
	if len(candidates) == 0 {
		d.pruneEvent(evtypes.ImageEventType, 0)
		return report, nil
	}
	before := d.layerSizes(ctx)
	for _, img := range candidates {
		// Each name first, then the ID, never forced: an image a container
		// started to use meanwhile stays (conflict), as with dockerd.
		names := make([]string, 0, len(img.Refs)+len(img.Digests)+1)
		for _, ref := range img.Refs {
			names = append(names, ref.String())
		}
		for _, ref := range img.Digests {
			names = append(names, ref.String())
		}
		for _, n := range append(names, img.ID.String()) {
			removed, err := d.images.Remove(ctx, n, false, false, d.imageUsedBy)
			if err != nil {
				if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
					break // gone with the last name, or used meanwhile
				}
				return report, err
			}
			for _, r := range removed {
				report.ImagesDeleted = append(report.ImagesDeleted, image.DeleteResponse{Untagged: r.Untagged, Deleted: string(r.Deleted)})
			}
		}
	}
	d.collectGarbage(context.WithoutCancel(ctx))
	report.SpaceReclaimed = reclaimed(before, d.layerSizes(ctx))
	d.pruneEvent(evtypes.ImageEventType, report.SpaceReclaimed)
	return report, nil
}

// layerSizes is the size of every layer in the store, by chain ID.
func (d *Daemon) layerSizes(ctx context.Context) map[digest.Digest]int64 {
	layers, err := d.layers.List(ctx)
	if err != nil {
		d.log.Warn("list layers", "error", err)
		return nil
	}
	out := make(map[digest.Digest]int64, len(layers))
	for _, l := range layers {
		out[l.ChainID] = l.Size
	}
	return out
}

// reclaimed is the size of the layers in before that are not in after.
func reclaimed(before, after map[digest.Digest]int64) uint64 {
	var n int64
	for id, size := range before {
		if _, ok := after[id]; !ok {
			n += size
		}
	}
	return uint64(max(n, 0))
}

// BuildCachePrune implements POST /build/prune: the build cache records
// that pass the filters are removed (without all, only those whose image
// no tagged image, child image or container keeps, whose removal gives
// space back), then the images they kept that nothing else keeps go
// through rmi, and garbage collection frees their layers.
func (d *Daemon) BuildCachePrune(ctx context.Context, opts api.BuildCachePruneOptions) (*build.CachePruneReport, error) {
	report, err := d.buildCachePrune(ctx, opts, true)
	if err == nil {
		d.pruneEvent(evtypes.BuilderEventType, report.SpaceReclaimed)
	}
	return report, err
}

// buildCachePrune is BuildCachePrune, of BuildKit's cache too unless
// withBuildKit is false (BuildKit's own prune asks for the classic rest,
// see buildKitHost.PruneClassicCache).
func (d *Daemon) buildCachePrune(ctx context.Context, opts api.BuildCachePruneOptions, withBuildKit bool) (*build.CachePruneReport, error) {
	pf, err := parsePruneFilter(opts.Filters, "id", "parent", "type", "description", "inuse", "shared", "private")
	if err != nil {
		return nil, err
	}
	records, err := d.builder.CacheRecords(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	images := map[digest.Digest]bool{}
	f := opts.Filters
	for _, r := range records {
		shared := d.imageKept(r.Image)
		if !pf.match(r.Created, nil) || !matchCacheRecord(f, r, shared) {
			continue
		}
		if !opts.All && shared {
			continue
		}
		keys = append(keys, r.Key)
		images[r.Image] = true
	}
	report := &build.CachePruneReport{CachesDeleted: []string{}}
	d.builder.DropContexts() // the contexts kept for the next build
	// The directories of RUN --mount=type=cache no step uses go too, as
	// BuildKit's exec.cachemount records do, unless a filter asks for
	// something they do not have (ids, parents, times, descriptions).
	if cacheMountsMatch(f) {
		n, err := d.builder.PruneCacheMounts(ctx)
		if err != nil {
			return report, err
		}
		report.SpaceReclaimed += uint64(max(n, 0))
		// gantry build's synced contexts no build holds go too.
		if n, err = d.contexts.Prune(ctx); err != nil {
			return report, err
		}
		report.SpaceReclaimed += uint64(max(n, 0))
	}
	// BuildKit's cache (docker buildx builds) goes as with dockerd, whose
	// builder prune covers both builders, when no filter asks for what
	// only classic records have.
	if len(f) == 0 && withBuildKit {
		before := d.layerSizes(ctx)
		n, err := d.PruneBuildKit(ctx, opts.All)
		if err != nil {
			return report, err
		}
		report.SpaceReclaimed += n
		// The layers only BuildKit's snapshots linked go too.
		d.collectGarbage(context.WithoutCancel(ctx))
		report.SpaceReclaimed += reclaimed(before, d.layerSizes(ctx))
	}
	if len(keys) == 0 {
		return report, nil
	}
	before := d.layerSizes(ctx)
	removed, err := d.builder.RemoveCacheRecords(ctx, keys)
	report.CachesDeleted = append(report.CachesDeleted, removed...)
	if err != nil {
		return report, err
	}
	for id := range images {
		if d.imageKept(id) {
			continue
		}
		if _, err := d.images.Remove(ctx, id.String(), false, false, d.imageUsedBy); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
			return report, err
		}
	}
	d.collectGarbage(context.WithoutCancel(ctx))
	report.SpaceReclaimed += reclaimed(before, d.layerSizes(ctx))
	return report, nil
}

// cacheMountsMatch reports whether a build cache prune's filters take the
// cache mounts: with no filter, or type=exec.cachemount, inuse=false,
// private or shared=false (no image shares them).
func cacheMountsMatch(f api.Filters) bool {
	for k := range f {
		switch k {
		case "type", "inuse", "private", "shared":
		default:
			return false
		}
	}
	is := func(v string, b bool) bool { return v == strconv.FormatBool(b) }
	return anyOf(f["type"], func(v string) bool { return v == "exec.cachemount" }) &&
		anyOf(f["inuse"], func(v string) bool { return is(v, false) }) &&
		anyOf(f["private"], func(v string) bool { return is(v, true) }) &&
		anyOf(f["shared"], func(v string) bool { return is(v, false) })
}

// matchCacheRecord applies BuildKit's filters to a classic cache record:
// id and parent (prefixes), type (every record is "regular"), description
// (a part of the instruction), inuse (no record is used while it is
// pruned), shared and private (whether something else keeps its image).
func matchCacheRecord(f api.Filters, r builder.CacheRecord, shared bool) bool {
	is := func(v string, b bool) bool { return v == strconv.FormatBool(b) }
	return anyOf(f["id"], func(v string) bool { return strings.HasPrefix(r.Key, v) }) &&
		anyOf(f["parent"], func(v string) bool {
			return r.Parent != "" && strings.HasPrefix(r.Parent.Encoded(), strings.TrimPrefix(v, "sha256:"))
		}) &&
		anyOf(f["type"], func(v string) bool { return v == "regular" }) &&
		anyOf(f["description"], func(v string) bool { return strings.Contains(r.Instruction, v) }) &&
		anyOf(f["inuse"], func(v string) bool { return is(v, false) }) &&
		anyOf(f["shared"], func(v string) bool { return is(v, shared) }) &&
		anyOf(f["private"], func(v string) bool { return is(v, !shared) })
}

// imageKept reports whether something other than the build cache keeps
// image id: a name, a repository digest, a child image or a container.
func (d *Daemon) imageKept(id digest.Digest) bool {
	img, err := d.images.Get(context.Background(), id)
	if err != nil {
		return false
	}
	if len(img.Refs) > 0 || len(img.Digests) > 0 || d.images.HasChildren(id) {
		return true
	}
	_, _, used := d.imageUsedBy(id)
	return used
}
