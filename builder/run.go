package builder

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/sys/user"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/dockerfile"
	"github.com/gantry/gantry/internal/archive"
	"github.com/gantry/gantry/layer"
	"github.com/gantry/gantry/mount"
)

// Runner runs the command of a RUN step in a temporary container.
type Runner interface {
	// Run runs p in a new container on the root filesystem mounted at
	// p.Rootfs and writes the process's stdout and stderr, interleaved as
	// they come, to out. It returns the process's exit code once it has
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
	Binds   []Bind // read-only bind mounts (a RUN heredoc script)
	// IDMap, unless empty, is the mapping of the step's user namespace;
	// Rootfs shows the image's files with host ids (layer.WithIDMap).
	IDMap user.IdentityMapping
}

// Bind is a read-only bind mount of the host file Source at Destination.
type Bind struct{ Source, Destination string }

// mountpoints are what the runtime creates in a rootfs to mount on; a RUN
// removes those it created so that they do not end up in its layer.
var mountpoints = []string{"/proc", "/sys", "/dev", "/etc", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}

// runStep runs a RUN instruction in a container on a snapshot of s.
func (r *run) runStep(ctx context.Context, s *state, c *instructions.RunCommand) error {
	args, script := s.scope.RunArgs(c)
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
		if err != nil {
			return err
		}
		if code != 0 {
			return &ExitError{Command: strings.Join(args, " "), Code: code}
		}
		return r.outErr
	}
	if err := r.commit(ctx, s, c, nil, fn, ""); err != nil {
		return err
	}
	r.print("Removing intermediate container " + id[:12] + "\n")
	return nil
}

// streamWriter sends a RUN's output to the build output as it comes.
type streamWriter struct{ r *run }

func (w streamWriter) Write(p []byte) (int, error) {
	w.r.print(string(p))
	if w.r.outErr != nil {
		return 0, w.r.outErr
	}
	return len(p), nil
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

// snapshot runs fn on a read-write snapshot of s's rootfs, mounted at
// rootfs (dir is a scratch directory of the step), stores what changed as
// a new layer on top of s's chain and passes it to done. GC is held for
// reading from the layer's storing until done returns. The snapshot is
// unmounted and removed whatever happens.
func (r *run) snapshot(ctx context.Context, s *state, fn func(dir, rootfs string) error, opts []layer.SnapshotOption, done func(layer.Layer, ocispec.Descriptor) error) error {
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
	err = fn(dir, mnt)
	if uerr := mount.Unmount(mnt); err == nil && uerr != nil {
		err = fmt.Errorf("unmount snapshot: %w", uerr)
	}
	if err != nil {
		return err
	}
	diff, err := ls.Diff(ctx, dir, chain)
	if err != nil {
		return fmt.Errorf("diff snapshot: %w", err)
	}
	defer diff.Close()
	r.b.cfg.GC.RLock()
	defer r.b.cfg.GC.RUnlock()
	l, blob, err := StoreLayer(ctx, r.b.cfg.Content, ls, chain, diff)
	if err != nil {
		return err
	}
	return done(l, blob)
}
