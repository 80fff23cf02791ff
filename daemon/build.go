package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/gantry/gantry/api"
	"github.com/gantry/gantry/builder"
	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/ctxsync"
	gnetwork "github.com/gantry/gantry/network"
	"github.com/gantry/gantry/runtime"
)

// newBuilder makes the image builder, its cache under <root>/builder, and
// the store of synced build contexts, under <root>/builder/contexts.
func (d *Daemon) newBuilder() (*builder.Builder, error) {
	contexts, err := ctxsync.Open(filepath.Join(d.cfg.Root, "builder", "contexts"), filepath.Join(d.cfg.Root, "tmp"), 0)
	if err != nil {
		return nil, fmt.Errorf("open build contexts: %w", err)
	}
	d.contexts = contexts
	return builder.New(builder.Config{
		Root:    filepath.Join(d.cfg.Root, "builder"),
		TmpDir:  filepath.Join(d.cfg.Root, "tmp"),
		Content: d.content,
		Layers:  d.layers,
		Images:  d.images,
		Runner:  buildRunner{d},
		GC:      d.gc,
		Log:     d.log,
		IDMap:   d.idmap,
	})
}

// Build implements POST /build: the context read from src is received in
// a staging directory (over an earlier build's, see
// builder.ExtractContext), built, and given back when the build ends.
func (d *Daemon) Build(ctx context.Context, src io.Reader, opts api.BuildOptions, out api.BuildOutput) error {
	network, err := buildNetwork(opts.NetworkMode)
	if err != nil {
		return err
	}
	bctx, err := d.builder.ExtractContext(ctx, src)
	if err != nil {
		return err
	}
	defer d.builder.ReleaseContext(bctx)
	return d.build(ctx, bctx.Dir, bctx.Sums, network, nil, opts, out)
}

// BuildSync implements POST /build/sync: the client's context key is
// synced into its copy (ctxsync.Store), which is the build's context
// directory, held until the build ends; the digests the store keeps of
// its files are the build's ContextSums. Unless the build is quiet, its
// output starts with what the sync transferred.
func (d *Daemon) BuildSync(ctx context.Context, key string, r io.Reader, w io.Writer, opts api.BuildOptions, out api.BuildOutput) error {
	network, err := buildNetwork(opts.NetworkMode)
	if err != nil {
		return err
	}
	c, err := d.contexts.Receive(ctx, key, r, w)
	if err != nil {
		return err
	}
	defer c.Release()
	// The client sends nothing after its end of the sync: the end of the
	// connection (the client left) cancels the build.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var agents builder.SSHAgents
	if fw, ok := out.(api.SSHForwarder); ok && opts.SSH != nil {
		// The connection becomes a session carrying the output and the
		// connections to the client's agents; its end cancels the build.
		a, done, err := fw.ForwardSSH()
		if err != nil {
			return err
		}
		agents = a
		go func() {
			select {
			case <-done:
				cancel()
			case <-ctx.Done():
			}
		}()
	} else {
		go func() {
			io.Copy(io.Discard, r)
			cancel()
		}()
	}
	sums := builder.NewContextSums()
	c.Sums(sums.AddInode)
	sums.SetGeneration(c.Generation)
	if !opts.Quiet {
		st := c.Stats
		files := "files"
		if st.Sent == 1 {
			files = "file"
		}
		if err := out.Stream(fmt.Sprintf("Build context synced: %d entries, %d %s sent (%d bytes), %d removed, %.2fs\n",
			st.Entries, st.Sent, files, st.Bytes, st.Removed, st.Duration.Seconds())); err != nil {
			return err
		}
	}
	return d.build(ctx, c.Dir, sums, network, agents, opts, out)
}

// buildNetwork is the network of a build's RUN steps for its networkmode.
func buildNetwork(mode string) (string, error) {
	switch mode {
	case "", "default", "bridge":
		return "bridge", nil
	case "host", "none":
		return mode, nil
	}
	return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("network mode %q is not supported for builds", mode))
}

// build builds the context in dir.
func (d *Daemon) build(ctx context.Context, dir string, sums *builder.ContextSums, network string, agents builder.SSHAgents, opts api.BuildOptions, out api.BuildOutput) error {
	pull, err := d.buildPuller(opts, out)
	if err != nil {
		return err
	}
	args := map[string]string{}
	for k, v := range opts.BuildArgs {
		if v != nil {
			args[k] = *v
		}
	}
	_, err = d.builder.Build(ctx, builder.Options{
		ContextDir:     dir,
		ContextSums:    sums,
		Dockerfile:     opts.Dockerfile,
		DockerfileData: opts.DockerfileData,
		Tags:           opts.Tags,
		BuildArgs:      args,
		Labels:         opts.Labels,
		Target:         opts.Target,
		NoCache:        opts.NoCache,
		Quiet:          opts.Quiet,
		Network:        network,
		ShmSize:        opts.ShmSize,
		Platform:       opts.Platform,
		Pull:           pull,
		AlwaysPull:     opts.Pull,
		Secrets:        opts.Secrets,
		SSH:            agents,
		CacheFrom:      opts.CacheFrom,
	}, out)
	return err
}

// buildRunner runs the RUN steps of builds with the daemon's runtime, as
// containers that exist only in the runtime: no record, no log.
type buildRunner struct{ d *Daemon }

func (r buildRunner) Run(ctx context.Context, p builder.Process, out io.Writer) (int, error) {
	stop, ok := r.d.steps.add()
	if !ok {
		return 0, errdefs.ErrUnavailable.WithMessage("gantryd is shutting down")
	}
	defer r.d.steps.done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-stop: // gantryd stops: the step is killed as if its client left
			cancel()
		case <-ctx.Done():
		}
	}()
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(p.Network), ShmSize: p.ShmSize, Tmpfs: p.Tmpfs}
	for _, b := range p.Binds {
		mode := ":ro"
		if b.RW {
			mode = ":rw"
		}
		hc.Binds = append(hc.Binds, b.Source+":"+b.Destination+mode)
	}
	netns, hosts, resolv, err := r.network(ctx, p)
	if err != nil {
		return 0, err
	}
	defer r.d.networks.DeleteSandbox(context.WithoutCancel(ctx), p.ID)
	var userns string // the owner of the step's network namespace
	if sb, err := r.d.networks.Sandbox(p.ID); err == nil {
		userns = sb.UserNSPath
	}
	files := map[string]string{}
	hostname, _ := os.Hostname()
	for name, data := range map[string]string{"hosts": hosts, "resolv.conf": resolv, "hostname": hostname + "\n"} {
		f := filepath.Join(p.Bundle, name)
		if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
			return 0, err
		}
		if !p.IDMap.Empty() { // the step's root may edit them, as a container's
			uid, gid := p.IDMap.RootPair()
			if err := os.Lchown(f, uid, gid); err != nil {
				return 0, err
			}
		}
		files[name] = f
	}
	spec, err := gcontainer.Spec(gcontainer.SpecInput{
		ID:             p.ID,
		Rootfs:         p.Rootfs,
		Config:         &container.Config{Cmd: p.Args, Env: p.Env, WorkingDir: p.WorkDir, User: p.User},
		HostConfig:     hc,
		HostsPath:      files["hosts"],
		HostnamePath:   files["hostname"],
		ResolvConfPath: files["resolv.conf"],
		NetNSPath:      netns,
		Confinement:    r.d.confine,
		IDMap:          p.IDMap,
		UserNSPath:     userns,
		DefaultUlimits: r.d.cfg.DefaultUlimits,
	})
	if err != nil {
		return 0, err
	}
	// The spec's environment adds HOSTNAME and HOME; the step's own
	// environment is p.Env, as the classic builder passes it.
	spec.Process.Env = withDefaults(p.Env, spec.Process.Env)
	data, err := json.Marshal(spec)
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(p.Bundle, "config.json"), data, 0o600); err != nil {
		return 0, err
	}
	// Without a writer for stderr, both streams go to out in one pipe, so
	// the step's output interleaves as written.
	pio, err := runtime.NewIO(runtime.IOConfig{Stdout: out, Stderr: p.Stderr, Combined: p.Stderr == nil})
	if err != nil {
		return 0, err
	}
	proc, err := r.d.runtime.Run(ctx, p.ID, p.Bundle, false, pio.Stdio())
	if err != nil {
		pio.Close()
		return 0, err
	}
	pio.Start(proc)
	code, err := r.d.runtime.Wait(ctx, proc.Pid)
	if err != nil {
		// The client went away: kill the step and reap it.
		r.d.runtime.Kill(context.WithoutCancel(ctx), p.ID, syscall.SIGKILL, true)
		r.d.runtime.Wait(context.WithoutCancel(ctx), proc.Pid)
	}
	pio.Drain(-1)                // the step's processes all died with its init
	r.d.deleteRuntimeState(p.ID) // in the background: the step's ID is never reused
	return code, err
}

// network gives a RUN step its network: on the default bridge, a sandbox
// of its own (removed by the caller, DeleteSandbox), so that it reaches
// the outside through NAT as a container does. It returns the namespace
// and the contents of the step's hosts and resolv.conf.
func (r buildRunner) network(ctx context.Context, p builder.Process) (netns, hosts, resolv string, err error) {
	switch p.Network {
	case "host":
		if !p.IDMap.Empty() {
			return "", "", "", errdefs.ErrInvalidArgument.WithMessage("cannot share the host's network namespace when user namespaces are enabled")
		}
		hostHosts, _ := os.ReadFile("/etc/hosts")
		hostResolv, _ := gnetwork.HostResolvConf()
		return "", string(hostHosts), string(hostResolv), nil
	case "none":
		return "", gnetwork.LocalhostEntries, string(resolvConf(nil, nil, nil, &r.d.cfg)), nil
	}
	var opts []gnetwork.SandboxOption
	if !p.IDMap.Empty() {
		opts = append(opts, gnetwork.WithUserNS(p.IDMap))
	}
	sb, err := r.d.networks.NewSandbox(ctx, p.ID, opts...)
	if err != nil {
		return "", "", "", fmt.Errorf("create network namespace: %w", err)
	}
	if _, err := r.d.networks.Join(ctx, sb, gnetwork.DefaultNetwork, gnetwork.EndpointOptions{}); err != nil {
		r.d.networks.DeleteSandbox(context.WithoutCancel(ctx), p.ID)
		return "", "", "", fmt.Errorf("join network %s: %w", gnetwork.DefaultNetwork, err)
	}
	return sb.Path, gnetwork.LocalhostEntries, string(resolvConf(nil, nil, nil, &r.d.cfg)), nil
}

// withDefaults is env plus the entries of defaults whose names env lacks.
func withDefaults(env, defaults []string) []string {
	out := append([]string(nil), env...)
	have := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		have[k] = true
	}
	for _, kv := range defaults {
		k, _, _ := strings.Cut(kv, "=")
		if !have[k] {
			out = append(out, kv)
		}
	}
	return out
}

// buildSteps counts the running RUN steps of classic builds, so that
// gantryd's shutdown kills them and waits for them: a step's process
// would otherwise outlive gantryd (live restore keeps containers, never
// builds). The zero value is ready.
type buildSteps struct {
	mu      sync.Mutex
	stopped bool
	stop    chan struct{} // closed by stopAll
	running sync.WaitGroup
}

// add registers a step about to run and returns what tells it to stop;
// false once stopAll has begun.
func (s *buildSteps) add() (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, false
	}
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	s.running.Add(1)
	return s.stop, true
}

// done unregisters a step that ended (its process reaped, its sandbox gone).
func (s *buildSteps) done() { s.running.Done() }

// stopAll tells every step to stop, refuses new ones, and waits up to
// timeout for them to end.
func (s *buildSteps) stopAll(timeout time.Duration) {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		if s.stop == nil {
			s.stop = make(chan struct{})
		}
		close(s.stop)
	}
	s.mu.Unlock()
	ended := make(chan struct{})
	go func() {
		s.running.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(timeout):
	}
}
