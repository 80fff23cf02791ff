package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	containertypes "github.com/moby/moby/api/types/container"

	"github.com/moby/sys/user"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/builder"
	"github.com/gantry/gantry/buildkit"
	"github.com/gantry/gantry/container"
	"github.com/gantry/gantry/content"
	"github.com/gantry/gantry/ctxsync"
	"github.com/gantry/gantry/distribution"
	"github.com/gantry/gantry/events"
	"github.com/gantry/gantry/gc"
	"github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
	"github.com/gantry/gantry/monitor"
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
	// --insecure-registry (plain HTTP), and the per-registry directory
	// (certs.d layout: hosts.toml, or Docker's CA and client files).
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
	// LiveRestore (--live-restore, the default) leaves containers running
	// when gantryd stops; without it Shutdown stops them.
	LiveRestore bool
	// Init (--init) runs an init as PID 1 of containers that do not say
	// otherwise (HostConfig.Init); InitPath (--init-path) is its binary,
	// "" for docker-init, else tini-static, in $PATH.
	Init     bool
	InitPath string
	// LogDriver and LogOpts (--log-driver, --log-opt) are the log
	// configuration of containers created without a driver ("" is
	// json-file), merged as dockerd does (see defaultLogConfig).
	LogDriver string
	LogOpts   map[string]string
	// DNS, DNSSearch and DNSOptions (--dns, --dns-search, --dns-opt) are
	// the resolv.conf settings of containers and build steps that give
	// none of their own, each on its own, as dockerd's.
	DNS        []netip.Addr
	DNSSearch  []string
	DNSOptions []string
	// DefaultUlimits (--default-ulimit) are the ulimits of containers and
	// build steps but those they set themselves (HostConfig.Ulimits).
	DefaultUlimits []*containertypes.Ulimit
	// DefaultAddressPools (--default-address-pool) are where networks
	// created without a subnet, and the default bridge first, take one;
	// nil means Docker's pools.
	DefaultAddressPools []AddressPool
}

// AddressPool is a default address pool: subnets of prefix length Size
// cut from Base.
type AddressPool = gnetwork.AddressPool

// CheckAddressPool refuses a pool no bridge network can be cut from.
func CheckAddressPool(p AddressPool) error { return gnetwork.CheckAddressPool(p) }

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
	contexts   *ctxsync.Store   // gantry build's synced contexts
	buildkit   *buildkit.Helper // gantry-buildkitd for buildx, started on first use; nil with --userns-remap
	registry   *registry.Client
	blobs      *image.BlobIndex // repositories blobs are in, gzip copies of zstd blobs
	networks   *gnetwork.Manager
	execs      *container.Execs
	confine    container.Confinement // default seccomp profile and no-new-privileges
	idmap      user.IdentityMapping  // --userns-remap; empty without

	// distribution pulls and pushes images.
	distribution *distribution.Engine

	// gc collects layers, blobs and build-cache records no image,
	// container or lease needs; operations hold it off (RLock) while they
	// write what no image references yet, or lease what they use.
	gc *gc.Collector

	monitorBin string // the gantry-monitor binary, next to gantryd's

	events *events.Bus // what happens to containers, images, networks, volumes

	procMu   sync.Mutex
	monitors map[string]*monitor.Client // running containers' monitors, by ID
	deleting map[string]chan struct{}   // runtime state being deleted, by container ID
	restarts map[string]*restartState   // restart policies' back-off and retries, by container ID
	probes   map[string]chan struct{}   // running healthchecks (closed to stop), by container ID

	shuttingDown atomic.Bool // Shutdown began: no restart policy starts anything
	steps        buildSteps  // the running RUN steps of classic builds, which Shutdown stops
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
	d := &Daemon{cfg: cfg, log: cfg.Log, monitors: map[string]*monitor.Client{}, deleting: map[string]chan struct{}{}, restarts: map[string]*restartState{}, probes: map[string]chan struct{}{}, execs: container.NewExecs(), confine: confine, events: events.New()}
	if d.monitorBin, err = findMonitor(); err != nil {
		return nil, err
	}
	if cfg.UsernsRemap != "" {
		if d.idmap, err = loadRemap(cfg.UsernsRemap); err != nil {
			return nil, err
		}
	}
	// Containers whose monitor still runs are adopted: their mounts and
	// networking stay. Without live restore they are stopped (restore).
	live, stale := map[string]*monitor.Client{}, map[string]monitorFault{}
	if cfg.LiveRestore {
		live, stale = d.liveMonitors(ctx)
	}
	var keep []string
	for id := range live {
		keep = append(keep, filepath.Join(root, "containers", id))
	}
	if err := unmountUnder(root, keep); err != nil {
		return nil, err
	}
	tmp := filepath.Join(root, "tmp")
	if err := emptyDir(tmp); err != nil {
		return nil, fmt.Errorf("empty %s: %w", tmp, err)
	}
	if d.content, err = content.New(filepath.Join(root, "content"), tmp); err != nil {
		return nil, fmt.Errorf("open content store: %w", err)
	}
	if d.layers, err = layer.New(filepath.Join(root, "layers"), tmp); err != nil {
		return nil, fmt.Errorf("open layer store: %w", err)
	}
	// The tars of built layers are made again from their files when a
	// push, save or BuildKit reads them (see builder.StoreLayerLazy).
	d.content.SetSource(layer.TarSource{Store: d.layers})
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
		BridgeIP: cfg.BridgeIP, DefaultBindIP: cfg.DefaultBindIP, AddressPools: cfg.DefaultAddressPools, Log: d.log,
		Keep: func(id string) bool { return live[id] != nil },
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
	d.buildkit = d.newBuildKit()
	d.restore(ctx, live, stale)
	go d.restartAtStart(context.WithoutCancel(ctx))
	d.log.Info("gantryd ready", "root", root, "storage-driver", d.layers.Driver(), "containers", len(d.containers.List()))
	return d, nil
}

// findMonitor returns the gantry-monitor binary: next to gantryd's own
// executable (make build puts it there), else in $PATH.
func findMonitor() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "gantry-monitor")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("gantry-monitor")
	if err != nil {
		return "", errdefs.ErrUnavailable.WithMessage("gantry-monitor not found next to gantryd nor in $PATH\nhint: make build puts it in bin/ beside gantryd; install both")
	}
	return p, nil
}

// monitorFault is a live monitor gantryd cannot use: one of another
// protocol version (an older gantry's), whose container is killed.
type monitorFault struct {
	state monitor.State
	err   error
}

// liveMonitors finds the monitors a previous gantryd left whose container
// still runs, by container ID; stale are those that answer with another
// protocol version.
func (d *Daemon) liveMonitors(ctx context.Context) (live map[string]*monitor.Client, stale map[string]monitorFault) {
	live, stale = map[string]*monitor.Client{}, map[string]monitorFault{}
	entries, _ := os.ReadDir(filepath.Join(d.cfg.ExecRoot, "mon"))
	for _, e := range entries {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		cli, st, err := monitor.Connect(cctx, d.monitorDir(e.Name()))
		cancel()
		var verr *monitor.VersionError
		switch {
		case errors.As(err, &verr):
			d.log.Error("a container's monitor speaks another protocol version; its container will be killed", "container", e.Name(), "error", err)
			stale[e.Name()] = monitorFault{state: st, err: err}
		case err == nil && !st.Exited && st.Pid > 0:
			live[e.Name()] = cli
		}
	}
	return live, stale
}

// restore brings containers that were running when gantryd stopped to a
// true state: those whose monitor still runs are adopted (their output,
// exit, network and mounts are taken back); one that exited meanwhile gets
// the exit its monitor recorded; one whose monitor is gone is killed if
// it still runs, and marked exited with the reason in State.Error.
func (d *Daemon) restore(ctx context.Context, live map[string]*monitor.Client, stale map[string]monitorFault) {
	d.deleteLeftoverStates(ctx, live, stale)
	for _, c := range d.containers.List() {
		c.Lock()
		st := c.State
		if !st.IsRunning() && st.Status != container.Removing {
			c.Unlock()
			continue
		}
		if cli := live[c.ID]; cli != nil && st.IsRunning() {
			err := d.adopt(ctx, c, cli)
			c.Unlock()
			if err == nil {
				delete(live, c.ID)
				d.log.Info("adopted a container that ran on", "container", c.ID, "pid", st.Pid)
				continue
			}
			d.log.Warn("cannot adopt a running container; stopping it", "container", c.ID, "error", err)
			c.Lock()
		}
		var exitedAt time.Time
		code, msg := 255, "gantryd stopped while the container was running and its monitor is gone; its exit code is unknown"
		if e, ok := monitor.ReadExit(d.monitorDir(c.ID)); ok {
			code, msg, exitedAt = e.Code, "", e.Time
		} else if rs, err := d.runtime.State(ctx, c.ID); err == nil && (rs.Status == "running" || rs.Status == "paused") {
			code, msg = 137, "killed at gantryd start: the container's monitor is gone"
			if !d.cfg.LiveRestore {
				msg = "killed at gantryd start: live restore is off (--live-restore=false)"
			} else if live[c.ID] != nil {
				msg = "killed at gantryd start: the container could not be adopted"
			} else if f, ok := stale[c.ID]; ok {
				msg = "killed at gantryd start: " + f.err.Error()
			}
			d.runtime.Kill(ctx, c.ID, 9, true)
			if cli := live[c.ID]; cli != nil { // its monitor records the exit
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				cli.Wait(wctx)
				cancel()
				delete(live, c.ID)
			}
			if f, ok := stale[c.ID]; ok { // not ours to wait for: its monitor reaps it
				waitGone(f.state.Pid, 5*time.Second)
				delete(stale, c.ID)
			}
		} else if errdefs.IsNotFound(err) {
			// runc's state is gone with the exec root (removed, or a
			// tmpfs remounted) while the container may run on: its
			// processes are found through its cgroup.
			if n := d.killByCgroup(c); n > 0 {
				code, msg = 137, fmt.Sprintf("killed at gantryd start: its runtime state under the exec root %s is gone; its %d processes were found through its cgroup", d.cfg.ExecRoot, n)
			}
		}
		if err := d.runtime.Delete(ctx, c.ID, true); err != nil {
			d.log.Warn("delete runtime state", "container", c.ID, "error", err)
		}
		d.releaseNetwork(ctx, c)
		if err := mount.Unmount(rootfsPath(c)); err != nil {
			d.log.Warn("unmount rootfs", "container", c.ID, "error", err)
		}
		os.RemoveAll(d.monitorDir(c.ID))
		removing := st.Status == container.Removing || c.HostConfig.AutoRemove
		if st.Status == container.Removing {
			c.State.Status = container.Exited
		}
		c.SetExitedAt(code, msg, exitedAt)
		if err := d.containers.Save(c); err != nil {
			d.log.Warn("save container", "container", c.ID, "error", err)
		}
		d.containerEvent(c, "die", map[string]string{"exitCode": strconv.Itoa(code)})
		c.Unlock()
		d.log.Info("container was running when gantryd stopped; marked exited", "container", c.ID, "exit-code", code)
		if removing {
			if err := d.removeStopped(ctx, c, c.HostConfig.AutoRemove); err != nil {
				d.log.Warn("remove container", "container", c.ID, "error", err)
			}
		}
	}
	// A live monitor whose container is not recorded as running (a start
	// whose answer the previous gantryd did not get): the container goes,
	// with the mounts and network kept for it.
	for id, f := range stale { // the same, with a monitor not ours
		d.log.Warn("killing a container a previous gantryd left running unrecorded", "container", id, "monitor", f.err)
		d.runtime.Kill(ctx, id, 9, true)
		waitGone(f.state.Pid, 5*time.Second)
		if err := d.runtime.Delete(ctx, id, true); err != nil {
			d.log.Warn("delete runtime state", "container", id, "error", err)
		}
		os.RemoveAll(d.monitorDir(id))
	}
	for id, cli := range live {
		d.log.Warn("killing a container a previous gantryd left running unrecorded", "container", id)
		d.runtime.Kill(ctx, id, 9, true)
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cli.Wait(wctx)
		cancel()
		if err := d.runtime.Delete(ctx, id, true); err != nil {
			d.log.Warn("delete runtime state", "container", id, "error", err)
		}
		if err := d.networks.DeleteSandbox(ctx, id); err != nil {
			d.log.Warn("delete network sandbox", "container", id, "error", err)
		}
		if err := unmountUnder(filepath.Join(d.cfg.Root, "containers", id), nil); err != nil {
			d.log.Warn("unmount", "container", id, "error", err)
		}
		os.RemoveAll(cli.Dir())
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

// snapshotChains are the chains the snapshots of containers are on, and
// the layers BuildKit's snapshots link to.
func (d *Daemon) snapshotChains() []digest.Digest {
	var out []digest.Digest
	for _, c := range d.containers.List() {
		out = append(out, c.Chain)
	}
	return append(out, d.buildKitLinks()...)
}

// adopt takes back a running container whose monitor outlived the gantryd
// that started it: its attached clients' relay, the wait for its exit and
// its networking. The caller holds c.Lock.
func (d *Daemon) adopt(ctx context.Context, c *container.Container, cli *monitor.Client) error {
	relayed, err := d.relay(ctx, c, cli)
	if err != nil {
		return err
	}
	if sandboxed(c.HostConfig.NetworkMode) {
		if _, err := d.networks.Sandbox(c.ID); err == nil {
			if err := d.networks.AdoptResolver(c.ID, dnsConfig(c, &d.cfg)); err != nil {
				d.log.Warn("restart the embedded DNS server", "container", c.ID, "error", err)
			}
		} else {
			d.log.Warn("adopted container has no network sandbox", "container", c.ID, "error", err)
		}
	}
	d.procMu.Lock()
	d.monitors[c.ID] = cli
	d.procMu.Unlock()
	d.adoptExecs(c, cli)
	d.startHealthcheck(c, false)
	go d.monitor(c, cli, relayed)
	return nil
}

// adoptExecs takes back the records of the execs the monitor of an adopted
// container ran: those still running are waited for (their output went
// with the previous gantryd), those that ended keep their exit code.
func (d *Daemon) adoptExecs(c *container.Container, cli *monitor.Client) {
	for _, rec := range monitor.ReadExecs(cli.Dir()) {
		var cfg containertypes.ExecCreateRequest
		if len(rec.Client) > 0 {
			if err := json.Unmarshal(rec.Client, &cfg); err != nil {
				d.log.Warn("exec record", "exec", rec.ID, "error", err)
			}
		}
		e := container.NewExec(c.ID, cfg)
		e.ID = rec.ID
		e.Begin()
		e.SetRunning(rec.Pid, nil)
		d.execs.Add(e)
		if !rec.Running {
			e.SetExited(rec.ExitCode)
			time.AfterFunc(execRetention, func() { d.execs.Remove(e.ID) })
			continue
		}
		go func() {
			code, err := cli.ExecWait(context.Background(), e.ID)
			if err != nil {
				code = 255
			}
			e.SetExited(code)
			time.AfterFunc(execRetention, func() { d.execs.Remove(e.ID) })
		}()
	}
}

// Shutdown stops every running container when live restore is off, as
// dockerd does by default, so that no container outlives the daemon
// unmanaged. With live restore the containers run on under their
// monitors, for the next gantryd to adopt.
func (d *Daemon) Shutdown(ctx context.Context) {
	d.shuttingDown.Store(true)
	if d.buildkit != nil {
		d.buildkit.Close() // its builds cannot outlive gantryd
	}
	d.steps.stopAll(10 * time.Second) // nor can the classic builder's
	if d.cfg.LiveRestore {
		return
	}
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
// of a gantryd that was killed; mounts under the directories of keep (the
// containers adopted) stay.
func unmountUnder(root string, keep []string) error {
	targets, err := mount.Under(root)
	if err != nil {
		return err
	}
	for i := len(targets) - 1; i >= 0; i-- {
		if targets[i] == root || slices.ContainsFunc(keep, func(dir string) bool { return strings.HasPrefix(targets[i], dir+"/") }) {
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
