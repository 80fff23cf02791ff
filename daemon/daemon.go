package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/moby/sys/user"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/builder"
	"github.com/gantry/gantry/container"
	"github.com/gantry/gantry/content"
	"github.com/gantry/gantry/distribution"
	"github.com/gantry/gantry/gc"
	"github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
	"github.com/gantry/gantry/mount"
	gnetwork "github.com/gantry/gantry/network"
	"github.com/gantry/gantry/registry"
	"github.com/gantry/gantry/runtime"
	"github.com/gantry/gantry/volume"
)

// Version is gantryd's version, reported by /version and /info.
const Version = "0.1.0"

// Config is how gantryd was started.
type Config struct {
	Root     string // --data-root: everything persistent
	ExecRoot string // --exec-root: runtime state (runc), on tmpfs
	Runtime  string // --runtime: the OCI runtime binary
	Log      *slog.Logger

	// Registries: --registry-mirror (Docker Hub mirrors, tried first),
	// --insecure-registry (plain HTTP), and the per-registry TLS trust
	// directory (certs.d layout).
	RegistryMirrors    []string
	InsecureRegistries []string
	RegistryCertsDir   string
	BridgeIP           string     // --bip: address and prefix of the default bridge; "" picks a free subnet
	DefaultBindIP      netip.Addr // --default-bind-ip: host address of ports published without one
	SeccompProfile     string     // --seccomp-profile: "builtin" (also ""), "unconfined" or a profile's path
	NoNewPrivileges    bool       // --no-new-privileges: no_new_privs in every container by default
	// UsernsRemap (--userns-remap): "default" or "user[:group]" runs
	// containers in user namespaces mapped to that user's subordinate ids;
	// "" runs them with the host's ids.
	UsernsRemap string
}

// Daemon owns every store and component; its methods implement api.Backend.
type Daemon struct {
	cfg        Config
	log        *slog.Logger
	content    *content.Store
	layers     *layer.Store
	images     *image.Store
	containers *container.Store
	volumes    *volume.Store
	runtime    *runtime.Runc
	builder    *builder.Builder
	registry   *registry.Client
	blobs      *image.BlobIndex // repositories blobs are in, gzip copies of zstd blobs
	networks   *gnetwork.Manager
	net        netState
	execs      *container.Execs
	confine    container.Confinement // default seccomp profile and no-new-privileges
	idmap      user.IdentityMapping  // --userns-remap; empty without

	// distribution pulls and pushes images.
	distribution *distribution.Engine

	// gc collects layers, blobs and build-cache records no image,
	// container or lease needs; operations hold it off (RLock) while they
	// write what no image references yet, or lease what they use.
	gc *gc.Collector

	procMu   sync.Mutex
	procs    map[string]*runtime.Process // running containers' processes, by ID
	deleting map[string]chan struct{}    // runtime state being deleted, by container ID
}

// New builds the daemon's components in order, on cfg.Root, and brings the
// stores back to a consistent state: staging leftovers are removed, stale
// mounts undone and containers that were running are stopped.
func New(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	// A bad --seccomp-profile fails before anything is touched.
	confine, err := container.LoadConfinement(cfg.SeccompProfile, cfg.NoNewPrivileges)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, err
	}
	cfg.Root = root
	if err := unmountUnder(root); err != nil {
		return nil, err
	}
	tmp := filepath.Join(root, "tmp")
	if err := emptyDir(tmp); err != nil {
		return nil, fmt.Errorf("empty %s: %w", tmp, err)
	}
	d := &Daemon{cfg: cfg, log: cfg.Log, procs: map[string]*runtime.Process{}, deleting: map[string]chan struct{}{}, execs: container.NewExecs(), confine: confine}
	if cfg.UsernsRemap != "" {
		if d.idmap, err = loadRemap(cfg.UsernsRemap); err != nil {
			return nil, err
		}
	}
	if d.content, err = content.New(filepath.Join(root, "content"), tmp); err != nil {
		return nil, fmt.Errorf("open content store: %w", err)
	}
	if d.layers, err = layer.New(filepath.Join(root, "layers"), tmp); err != nil {
		return nil, fmt.Errorf("open layer store: %w", err)
	}
	if d.images, err = image.New(ctx, filepath.Join(root, "images"), d.content, d.log); err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	if d.blobs, err = image.OpenBlobIndex(filepath.Join(root, "images", "blobs.json")); err != nil {
		return nil, fmt.Errorf("open blob index: %w", err)
	}
	if d.registry, err = registry.New(registry.Config{
		Mirrors: cfg.RegistryMirrors, Insecure: cfg.InsecureRegistries, CertsDir: cfg.RegistryCertsDir, UserAgent: "gantry/" + Version,
	}); err != nil {
		return nil, err
	}
	if d.containers, err = container.NewStore(filepath.Join(root, "containers")); err != nil {
		return nil, fmt.Errorf("open container store: %w", err)
	}
	if d.volumes, err = volume.New(filepath.Join(root, "volumes")); err != nil {
		return nil, fmt.Errorf("open volume store: %w", err)
	}
	d.referenceVolumes()
	if !d.idmap.Empty() {
		if err := d.setupRemap(); err != nil {
			return nil, err
		}
	}
	if d.runtime, err = runtime.New(cfg.Runtime, filepath.Join(cfg.ExecRoot, "runc")); err != nil {
		return nil, err
	}
	if d.networks, err = gnetwork.New(ctx, gnetwork.Config{
		Root: filepath.Join(root, "network"), RunDir: filepath.Join(cfg.ExecRoot, "netns"),
		BridgeIP: cfg.BridgeIP, DefaultBindIP: cfg.DefaultBindIP, Log: d.log,
	}); err != nil {
		return nil, fmt.Errorf("set up networking: %w", err)
	}
	d.gc = gc.New(gc.Config{
		Content: d.content, Layers: d.layers, Images: d.images, Blobs: d.blobs,
		Snapshots: d.snapshotChains, Log: d.log,
		Records: []gc.Records{gc.RecordsFunc(func(ctx context.Context, live func(digest.Digest) bool) (int, error) {
			return d.builder.SweepCache(ctx, live)
		})},
	})
	d.distribution = distribution.New(distribution.Config{
		Registry: d.registry, Content: d.content, Layers: d.layers, Images: d.images, Blobs: d.blobs, GC: d.gc, Log: d.log,
	})
	if d.builder, err = d.newBuilder(); err != nil {
		return nil, err
	}
	d.restore(ctx)
	d.log.Info("gantryd ready", "root", root, "storage-driver", d.layers.Driver(), "containers", len(d.containers.List()))
	return d, nil
}

// restore brings containers that were running when gantryd stopped to a
// true state. Their stdio went with the old process, so they cannot be
// adopted: a process still alive is killed, and each is marked exited.
func (d *Daemon) restore(ctx context.Context) {
	// The runtime state of containers that exited while gantryd was going
	// down (their deletion runs in the background) is left over.
	if states, err := d.runtime.List(ctx); err == nil {
		for _, st := range states {
			if st.Status == "stopped" {
				d.runtime.Delete(ctx, st.ID, true)
			}
		}
	}
	for _, c := range d.containers.List() {
		c.Lock()
		st := c.State
		if !st.IsRunning() && st.Status != container.Removing {
			c.Unlock()
			continue
		}
		code, msg := 255, "gantryd stopped while the container was running; its exit code is unknown"
		if rs, err := d.runtime.State(ctx, c.ID); err == nil && (rs.Status == "running" || rs.Status == "paused") {
			code, msg = 137, "killed at gantryd start: the container outlived the gantryd that ran it"
			d.runtime.Kill(ctx, c.ID, 9, true)
		}
		if err := d.runtime.Delete(ctx, c.ID, true); err != nil {
			d.log.Warn("delete runtime state", "container", c.ID, "error", err)
		}
		d.releaseNetwork(ctx, c)
		if err := mount.Unmount(rootfsPath(c)); err != nil {
			d.log.Warn("unmount rootfs", "container", c.ID, "error", err)
		}
		removing := st.Status == container.Removing || c.HostConfig.AutoRemove
		if st.Status == container.Removing {
			c.State.Status = container.Exited
		}
		c.SetExited(code, msg)
		if err := d.containers.Save(c); err != nil {
			d.log.Warn("save container", "container", c.ID, "error", err)
		}
		c.Unlock()
		d.log.Info("container was running when gantryd stopped; marked exited", "container", c.ID, "exit-code", code)
		if removing {
			if err := d.removeStopped(ctx, c, c.HostConfig.AutoRemove); err != nil {
				d.log.Warn("remove container", "container", c.ID, "error", err)
			}
		}
	}
	if removed, err := d.images.RemoveUnfinished(ctx, d.imageUsedBy); err != nil {
		d.log.Warn("remove the images of interrupted builds", "error", err)
	} else if len(removed) > 0 {
		d.log.Info("removed the dangling images of interrupted builds", "images", len(removed))
	}
	d.collectGarbage(ctx)
}

// collectGarbage runs a collection; its failures are logged, and the next
// one retries.
func (d *Daemon) collectGarbage(ctx context.Context) {
	res, err := d.gc.Collect(ctx)
	if err != nil {
		d.log.Warn("garbage collection skipped", "error", err)
		return
	}
	if res != (gc.Result{}) {
		d.log.Info("garbage collected", "layers", res.Layers, "blobs", res.Blobs, "records", res.Records)
	}
}

// snapshotChains are the chains the snapshots of containers are on.
func (d *Daemon) snapshotChains() []digest.Digest {
	var out []digest.Digest
	for _, c := range d.containers.List() {
		out = append(out, c.Chain)
	}
	return out
}

// Shutdown stops every running container, as dockerd does without
// live-restore, so that no container outlives the daemon unmanaged.
func (d *Daemon) Shutdown(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range d.containers.List() {
		if !c.Snapshot().IsRunning() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout := 10
			if err := d.stop(ctx, c, "", &timeout); err != nil {
				d.log.Warn("stop container at shutdown", "container", c.ID, "error", err)
			}
		}()
	}
	wg.Wait()
}

// emptyDir creates dir or removes what it holds: the staging leftovers of
// a gantryd that was killed.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// unmountUnder undoes every mount below root, deepest first: the leftovers
// of a gantryd that was killed.
func unmountUnder(root string) error {
	targets, err := mount.Under(root)
	if err != nil {
		return err
	}
	for i := len(targets) - 1; i >= 0; i-- {
		if targets[i] == root {
			continue
		}
		if err := mount.Unmount(targets[i]); err != nil {
			return err
		}
	}
	return nil
}

func rootfsPath(c *container.Container) string { return filepath.Join(c.Dir(), "rootfs") }

func bundlePath(c *container.Container) string { return filepath.Join(c.Dir(), "bundle") }
