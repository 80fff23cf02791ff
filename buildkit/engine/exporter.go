package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/cache"
	cacheconfig "github.com/moby/buildkit/cache/config"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/worker/base"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// The cache records' metadata keys read here (BuildKit's cache package
// keeps them unexported): a layer's diff ID and snapshot ID are
// "cache.diffID" and "cache.snapshot".

// preferImageDigest is the attribute buildx adds for a daemon with the
// containerd image store.
const preferImageDigest = "prefer-image-digest"

// gantryWorker is BuildKit's base worker with one more exporter, "moby":
// the one buildx asks for with the docker driver (--load, and by default).
type gantryWorker struct {
	*base.Worker
	importFn ImportFunc
	missing  func(ctx context.Context, chains []digest.Digest) ([]digest.Digest, error)
}

func (w *gantryWorker) Exporter(name string, sm *session.Manager) (exporter.Exporter, error) {
	if name != "moby" {
		return w.Worker.Exporter(name, sm)
	}
	image, err := w.Worker.Exporter("image", sm)
	if err != nil {
		return nil, err
	}
	return &mobyExporter{image: image, w: w}, nil
}

// mobyExporter builds the image with BuildKit's image exporter (manifest,
// config and layer blobs in the worker's content store, under a lease),
// then has gantryd record it: its layers applied into gantryd's layer
// store, its config and tags in gantryd's image store.
type mobyExporter struct {
	image exporter.Exporter
	w     *gantryWorker
}

func (e *mobyExporter) Resolve(ctx context.Context, id int, attrs map[string]string) (exporter.ExporterInstance, error) {
	inner := map[string]string{}
	var names []string
	push := false
	var refused []string
	for k, v := range attrs {
		switch exptypes.ImageExporterOptKey(k) {
		case exptypes.OptKeyName:
			for n := range strings.SplitSeq(v, ",") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, n)
				}
			}
		case exptypes.OptKeyPush:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("exporter moby: option push: %w", err)
			}
			push = b
		case preferImageDigest:
			// The image ID answered is the config digest, gantryd's
			// image ID, with or without it.
		case exptypes.OptKeyUnpack, exptypes.OptKeyStore:
			// gantryd records the image with its layers extracted: stored
			// and unpacked it is, always. buildx's --push says unpack=false
			// (no need to unpack what is pushed), checked below.
			if b, err := strconv.ParseBool(v); v != "" && (err != nil || !b) {
				refused = append(refused, k+"="+v)
			}
		case exptypes.OptKeyPushByDigest:
			return nil, fmt.Errorf("exporter moby: option %q is not supported", k)
		default:
			inner[k] = v
		}
	}
	for _, r := range refused {
		if !push || r != string(exptypes.OptKeyUnpack)+"=false" {
			return nil, fmt.Errorf("exporter moby: option %s is not supported", r)
		}
	}
	if push {
		// --push with the docker driver: BuildKit's image exporter pushes
		// from its content store (buildx leaves it to the daemon when the
		// worker has the label org.mobyproject.buildkit.worker.snapshotter,
		// as the runc worker has); the image is recorded in gantryd too, as
		// dockerd's containerd image store does.
		if len(names) == 0 {
			return nil, fmt.Errorf("exporter moby: tag is needed when pushing to registry")
		}
		inner[string(exptypes.OptKeyName)] = strings.Join(names, ",")
		inner[string(exptypes.OptKeyPush)] = "true"
		inner[string(exptypes.OptKeyStore)] = "false"
	}
	ei, err := e.image.Resolve(ctx, id, inner)
	if err != nil {
		return nil, err
	}
	return &mobyInstance{ExporterInstance: ei, w: e.w, names: names, attrs: attrs}, nil
}

type mobyInstance struct {
	exporter.ExporterInstance
	w     *gantryWorker
	names []string
	attrs map[string]string
}

func (e *mobyInstance) Type() string             { return "moby" }
func (e *mobyInstance) Attrs() map[string]string { return e.attrs }
func (e *mobyInstance) Name() string             { return "exporting to image" }
func (e *mobyInstance) Config() *exporter.Config { return e.ExporterInstance.Config() }
func (e *mobyInstance) ID() int                  { return e.ExporterInstance.ID() }

func (e *mobyInstance) Export(ctx context.Context, src *exporter.Source, info exporter.ExportBuildInfo) (map[string]string, exporter.FinalizeFunc, exporter.DescriptorReference, error) {
	if len(src.Refs) > 1 {
		return nil, nil, nil, fmt.Errorf("exporter moby: a build of several platforms cannot be loaded into one image store")
	}
	resp, finalize, ref, err := e.ExporterInstance.Export(ctx, src, info)
	if err != nil {
		return nil, nil, nil, err
	}
	if ref == nil {
		return nil, nil, nil, fmt.Errorf("exporter moby: the image exporter made no image")
	}
	// Layers of a base image may still be lazy (not pulled): fetch them
	// before gantryd reads the blobs.
	if err := e.unlazy(ctx, src, info.SessionID); err != nil {
		ref.Release()
		return nil, nil, nil, err
	}
	desc, err := e.manifest(ctx, ref.Descriptor())
	if err != nil {
		ref.Release()
		return nil, nil, nil, err
	}
	id, err := e.w.importFn(ctx, desc, e.names, e.layerDirs(ctx, src, info.SessionID))
	if err != nil {
		ref.Release()
		return nil, nil, nil, err
	}
	out := map[string]string{}
	for k, v := range resp {
		out[k] = v
	}
	out[exptypes.ExporterImageDigestKey] = id.String()
	out[exptypes.ExporterImageConfigDigestKey] = id.String()
	delete(out, exptypes.ExporterImageDescriptorKey)
	if len(e.names) > 0 {
		out[exptypes.ExporterImageNameKey] = strings.Join(e.names, ",")
	}
	return out, finalize, ref, nil
}

func (e *mobyInstance) unlazy(ctx context.Context, src *exporter.Source, sessionID string) error {
	var refs []cache.ImmutableRef
	if src.Ref != nil {
		refs = append(refs, src.Ref)
	}
	for _, r := range src.Refs {
		if r != nil {
			refs = append(refs, r)
		}
	}
	eg, ctx := errgroup.WithContext(ctx)
	for _, r := range refs {
		eg.Go(func() error {
			remotes, err := r.GetRemotes(ctx, false, cacheconfig.RefConfig{Compression: e.Config().Compression()}, false, session.NewGroup(sessionID))
			if err != nil {
				return err
			}
			if u, ok := remotes[0].Provider.(cache.Unlazier); ok {
				return u.Unlazy(ctx)
			}
			return nil
		})
	}
	return eg.Wait()
}

// manifest is desc when it is a manifest, or the manifest of this
// machine's platform in desc when it is an index.
func (e *mobyInstance) manifest(ctx context.Context, desc ocispec.Descriptor) (ocispec.Descriptor, error) {
	if !images.IsIndexType(desc.MediaType) {
		return desc, nil
	}
	dt, err := content.ReadBlob(ctx, e.w.ContentStore(), desc)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(dt, &idx); err != nil {
		return ocispec.Descriptor{}, err
	}
	match := platforms.Default()
	for _, m := range idx.Manifests {
		if m.Platform != nil && match.Match(*m.Platform) && images.IsManifestType(m.MediaType) {
			return m, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("exporter moby: no image for %s in the build's result", platforms.DefaultString())
}

// layerDirs returns, by diff ID, the directories of BuildKit's snapshots
// holding the own files of the built image's layers (their overlay upper
// directories), so that gantryd's copy of each layer takes their inodes
// instead of writing the files again (see buildkit.SnapshotSources).
// Only the layers gantryd has not are looked at (each costs a read-only
// view of its snapshot); those not extracted here have none, nor those
// linked to gantryd's; a layer without a directory is extracted as before.
func (e *mobyInstance) layerDirs(ctx context.Context, src *exporter.Source, sessionID string) map[digest.Digest]string {
	if src.Ref == nil {
		return nil
	}
	chain := src.Ref.LayerChain()
	defer chain.Release(context.WithoutCancel(ctx))
	// Only the layers gantryd has not: a view of each is mounted here.
	diffIDs := make([]digest.Digest, len(chain))
	chainIDs := make([]digest.Digest, 0, len(chain))
	for i, r := range chain {
		d, err := digest.Parse(r.GetString("cache.diffID"))
		if err != nil {
			break
		}
		diffIDs[i] = d
		chainIDs = append(chainIDs, identity.ChainID(diffIDs[:i+1]))
	}
	missing := map[digest.Digest]bool{}
	if e.w.missing != nil {
		m, err := e.w.missing(ctx, chainIDs)
		if err != nil {
			return nil
		}
		for _, c := range m {
			missing[c] = true
		}
	}
	dirs := map[digest.Digest]string{}
	for i, r := range chain {
		if i >= len(chainIDs) || !missing[chainIDs[i]] {
			continue
		}
		diffID := diffIDs[i]
		sid := r.GetString("cache.snapshot")
		if sid == "" {
			sid = r.ID()
		}
		if _, err := e.w.Snapshotter.Stat(ctx, sid); err != nil {
			continue // not extracted: mounting it would extract it
		}
		m, err := r.Mount(ctx, true, session.NewGroup(sessionID))
		if err != nil {
			continue
		}
		mounts, release, err := m.Mount()
		if err != nil {
			continue
		}
		if dir := ownFiles(mounts); dir != "" {
			dirs[diffID] = dir
		}
		_ = release()
	}
	return dirs
}

// ownFiles is the directory of a read-only view's top snapshot in its
// mounts (containerd's overlay snapshotter: a bind mount of it alone, or
// the first lower directory), "" when it is a link to gantryd's layer or
// the mounts are of another shape.
func ownFiles(mounts []mount.Mount) string {
	if len(mounts) != 1 {
		return ""
	}
	var dir string
	switch m := mounts[0]; m.Type {
	case "bind":
		dir = m.Source
	case "overlay":
		for _, o := range m.Options {
			if strings.HasPrefix(o, "upperdir=") {
				return "" // not a view
			}
			if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
				dir, _, _ = strings.Cut(v, ":")
			}
		}
	}
	if fi, err := os.Lstat(dir); dir == "" || err != nil || !fi.IsDir() {
		return ""
	}
	return dir
}
