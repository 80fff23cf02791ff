package builder

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/sys/user"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/dockerfile"
	"github.com/gantry/gantry/internal/archive"
	"github.com/gantry/gantry/layer"
	"github.com/gantry/gantry/mount"
)

// Runner runs the command of a RUN step in a temporary container.
type Runner interface {
	// Run runs p in a new container on the root filesystem mounted at
	// p.Rootfs and writes the process's stdout to out, and its stderr to
	// p.Stderr (to out, interleaved as it comes, when p.Stderr is nil). It returns the process's exit code once it has
	// exited and its output is drained; the container is then gone (its
	// runtime state may be deleted in the background). A command that cannot
	// be started is an error. When ctx ends, the process is killed and
	// ctx.Err() returned.
	Run(ctx context.Context, p Process, out io.Writer) (int, error)
}

// Process is the command of a RUN step and its surroundings.
type Process struct {
	ID      string // the container's ID, 64 hex
	Rootfs  string // mounted root filesystem, absolute
	Bundle  string // an empty directory the runner may use for its files
	Args    []string
	Env     []string
	WorkDir string // "" means /
	User    string
	Network string // "host" or "none"
	ShmSize int64
	Binds   []Bind // bind mounts (a RUN heredoc script, the image's volumes, --mount)
	// IDMap, unless empty, is the mapping of the step's user namespace;
	// Rootfs shows the image's files with host ids (layer.WithIDMap).
	IDMap user.IdentityMapping
	// Tmpfs are tmpfs mounts: destination -> options ("size=1048576").
	Tmpfs map[string]string
	// Stderr receives the process's stderr; nil sends it to Run's out.
	Stderr io.Writer
}

// Bind is a bind mount of the host file or directory Source at
// Destination, read-only unless RW.
type Bind struct {
	Source, Destination string
	RW                  bool
}

// mountpoints are what the runtime creates in a rootfs to mount on; a RUN
// removes those it created so that they do not end up in its layer.
var mountpoints = []string{"/proc", "/sys", "/dev", "/etc", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}

// runStep runs a RUN instruction in a container on a snapshot of s.
func (r *run) runStep(ctx context.Context, s *state, idx int, c *instructions.RunCommand) error {
	args, script := s.scope.RunArgs(c)
	if dockerfile.Network(c) == "host" && r.opts.Network != "host" {
		// BuildKit's entitlement: the host's network only when the user
		// asked for it.
		return errdefs.ErrPermissionDenied.WithMessage("network.host is not allowed\nhint: build with --network host to let RUN --network=host use the host's network")
	}
	id := randomID()
	r.print(" ---> Running in " + id[:12] + "\n")
	fn := func(dir, rootfs string) error {
		var missing []string
		for _, p := range mountpoints {
			if !lexistsInRoot(rootfs, p) {
				missing = append(missing, p)
			}
		}
		p := Process{
			ID:      id,
			Rootfs:  rootfs,
			Bundle:  filepath.Join(dir, "bundle"),
			Args:    args,
			Env:     s.scope.RunEnv(),
			WorkDir: s.img.Config.WorkingDir,
			User:    s.img.Config.User,
			Network: r.opts.Network,
			ShmSize: r.opts.ShmSize,
			IDMap:   r.b.cfg.IDMap,
		}
		if n := dockerfile.Network(c); n != "default" {
			p.Network = n
		}
		if err := os.Mkdir(p.Bundle, 0o700); err != nil {
			return err
		}
		if !p.IDMap.Empty() {
			// The step's root searches its way to the rootfs and to the
			// files bound from the bundle.
			for _, d := range []string{dir, p.Bundle} {
				if err := os.Chmod(d, 0o711); err != nil {
					return err
				}
			}
		}
		// The image's volumes are scratch space during a RUN, as the
		// anonymous volumes dockerd mounts there: what the command writes
		// to them is not part of the layer.
		vols, err := volumeBinds(ctx, dir, rootfs, s.img.Config.Volumes, r.b.cfg.IDMap)
		if err != nil {
			return err
		}
		p.Binds = append(p.Binds, vols...)
		mounts, err := r.mounts(ctx, s, idx, c, dir, rootfs)
		if err != nil {
			return err
		}
		defer mounts.close()
		p.Binds = append(p.Binds, mounts.binds...)
		p.Tmpfs = mounts.tmpfs
		if mounts.sshAuthSock != "" && !hasEnv(p.Env, "SSH_AUTH_SOCK") {
			p.Env = append(p.Env[:len(p.Env):len(p.Env)], "SSH_AUTH_SOCK="+mounts.sshAuthSock)
		}
		p.Stderr = stderrWriter{r}
		if script != nil {
			f := filepath.Join(dir, "script")
			if err := os.WriteFile(f, []byte(script.Data), 0o755); err != nil {
				return err
			}
			p.Binds = append(p.Binds, Bind{Source: f, Destination: path.Join(dockerfile.ScriptDir, script.Name)})
		}
		code, err := r.b.cfg.Runner.Run(ctx, p, streamWriter{r})
		for i := len(missing) - 1; i >= 0; i-- {
			removeInRoot(rootfs, missing[i]) // an empty mount point; kept if the command filled it
		}
		for i := len(mounts.targets) - 1; i >= 0; i-- {
			// What a --mount made to mount on: directories kept if the
			// command filled them, the empty file of a file's bind.
			removeInRoot(rootfs, mounts.targets[i])
		}
		if err != nil {
			return err
		}
		if code != 0 {
			return &ExitError{Command: strings.Join(args, " "), Code: code}
		}
		return r.outErr
	}
	if err := r.commit(ctx, s, c, nil, inPlace(fn), ""); err != nil {
		return err
	}
	r.print("Removing intermediate container " + id[:12] + "\n")
	return nil
}

// streamWriter sends a RUN's output to the build output as it comes.
type streamWriter struct{ r *run }

func (w streamWriter) Write(p []byte) (int, error) {
	w.r.print(string(p))
	if err := w.r.printErr(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// stderrWriter sends a RUN's stderr to the build output in red, as dockerd
// does.
type stderrWriter struct{ r *run }

func (w stderrWriter) Write(p []byte) (int, error) {
	w.r.print(red(string(p)))
	if err := w.r.printErr(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// volumeBinds makes a scratch directory under dir for each volume path of
// the image, holding a copy of what the rootfs has there (dockerd copies
// the image's content into a new volume), and returns the read-write
// binds of them, sorted by path so that a parent is mounted first.
// A volume the image lacks starts empty, owned by the step's root (idmap's
// host ids for it).
func volumeBinds(ctx context.Context, dir, rootfs string, volumes map[string]struct{}, idmap user.IdentityMapping) ([]Bind, error) {
	rootUID, rootGID, err := idmap.ToHost(0, 0)
	if err != nil {
		return nil, err
	}
	var binds []Bind
	for i, v := range slices.Sorted(maps.Keys(volumes)) {
		v = path.Clean("/" + v)
		if v == "/" {
			continue
		}
		src := filepath.Join(dir, "volume-"+strconv.Itoa(i))
		if err := os.Mkdir(src, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(src, rootUID, rootGID); err != nil {
			return nil, err
		}
		if err := copyUp(ctx, rootfs, v, src); err != nil {
			return nil, fmt.Errorf("copy %s into its volume: %w", v, err)
		}
		binds = append(binds, Bind{Source: src, Destination: v, RW: true})
	}
	return binds, nil
}

// copyUp copies the directory p of rootfs (resolved inside it), with
// owners, modes and times, into the empty directory dst; a p that is
// missing or no directory copies nothing.
func copyUp(ctx context.Context, rootfs, p, dst string) error {
	if !isDirInRoot(rootfs, p) {
		return nil
	}
	fd, err := archive.OpenInRootPath(rootfs, strings.TrimPrefix(p, "/"), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	cmd := exec.CommandContext(ctx, "cp", "-a", "/proc/self/fd/3/.", dst+"/")
	cmd.ExtraFiles = []*os.File{f}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// workdirFunc creates the directory p (absolute) in the rootfs when it is
// missing, owned by root, as Docker's WORKDIR does.
func workdirFunc(ctx context.Context, p string) func(dir, rootfs string) error {
	return func(_, rootfs string) error {
		if isDirInRoot(rootfs, p) {
			return nil
		}
		return applyTar(ctx, rootfs, func(tw *tar.Writer) error {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(path.Clean(p), "/") + "/", Mode: 0o755})
		})
	}
}

// applyTar extracts the tar that write produces into rootfs, with every
// name resolved inside it.
func applyTar(ctx context.Context, rootfs string, write func(tw *tar.Writer) error) error {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := write(tw)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	_, err := archive.Apply(ctx, pr, rootfs, archive.Delete)
	pr.CloseWithError(errors.New("extraction ended"))
	return err
}

// stepFunc makes a step's changes on its snapshot, its rootfs mounted at
// rootfs (dir is a scratch directory of the step). It either changes the
// rootfs and returns nil, or leaves it as it is and returns the layer's
// tar itself (a COPY whose files are all new: see copyFunc), which goes to
// the layer store without the detour through the snapshot and its diff.
type stepFunc func(dir, rootfs string) (*directLayer, error)

// directLayer is a layer's tar as a step writes it: write may read the
// rootfs; sources, if set, name the files whose inodes the layer's files
// may take (layer.WithSources).
type directLayer struct {
	write   func(tw *tar.Writer) error
	sources archive.Sources
}

// inPlace is the stepFunc of fn, which changes the rootfs.
func inPlace(fn func(dir, rootfs string) error) stepFunc {
	return func(dir, rootfs string) (*directLayer, error) { return nil, fn(dir, rootfs) }
}

// snapshot runs fn on a read-write snapshot of s's rootfs, mounted at
// rootfs (dir is a scratch directory of the step), stores what changed (or
// the tar fn returned) as a new layer on top of s's chain and passes it to
// done. GC is held for reading from the layer's storing until done
// returns. The snapshot is unmounted and removed whatever happens.
func (r *run) snapshot(ctx context.Context, s *state, fn stepFunc, opts []layer.SnapshotOption, done func(layer.Layer, ocispec.Descriptor) error) error {
	ls := r.b.cfg.Layers
	if err := ls.CheckDepth(len(s.img.RootFS.DiffIDs) + 1); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(r.b.cfg.TmpDir, "build-step-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	chain := s.chain()
	mounts, err := ls.Prepare(ctx, dir, chain, opts...)
	if err != nil {
		return fmt.Errorf("prepare snapshot: %w", err)
	}
	defer ls.Release(context.WithoutCancel(ctx), dir)
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return err
	}
	if err := mount.All(mounts, mnt); err != nil {
		return fmt.Errorf("mount snapshot: %w", err)
	}
	mounted := true
	defer func() {
		if mounted {
			mount.Unmount(mnt)
		}
	}()
	direct, err := fn(dir, mnt)
	var diff io.ReadCloser
	var applyOpts []layer.ApplyOption
	if err == nil && direct != nil {
		directLayers.Add(1)
		diff = tarStream(direct.write)
		if direct.sources != nil {
			applyOpts = append(applyOpts, layer.WithSources(direct.sources))
		}
	} else {
		mounted = false
		if uerr := mount.Unmount(mnt); err == nil && uerr != nil {
			err = fmt.Errorf("unmount snapshot: %w", uerr)
		}
		if err != nil {
			return err
		}
		if diff, err = ls.Diff(ctx, dir, chain); err != nil {
			return fmt.Errorf("diff snapshot: %w", err)
		}
	}
	defer diff.Close()
	var layerTar io.Reader = diff
	if r.epoch != nil {
		clamped := clampTimes(diff, *r.epoch)
		defer clamped.Close()
		layerTar = clamped
	}
	r.b.cfg.GC.RLock()
	defer r.b.cfg.GC.RUnlock()
	l, blob, err := StoreLayerLazy(ctx, ls, chain, layerTar, applyOpts...)
	if err != nil {
		return err
	}
	return done(l, blob)
}

// directLayers counts the layers stored from a step's own tar (for tests).
var directLayers atomic.Int64

// tarStream is the tar write writes, as it writes it. Closing the stream
// stops the writer and waits for it to return, so that nothing it reads
// is still open after.
func tarStream(write func(tw *tar.Writer) error) io.ReadCloser {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tw := tar.NewWriter(pw)
		err := write(tw)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return &waitingReader{pr, done}
}

type waitingReader struct {
	*io.PipeReader
	done chan struct{}
}

func (w *waitingReader) Close() error {
	w.PipeReader.CloseWithError(errors.New("layer tar closed"))
	<-w.done
	return nil
}

// hasEnv says whether env sets name.
func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}
