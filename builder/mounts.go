package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/sys/user"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/dockerfile"
	"github.com/gantry/gantry/image"
	"github.com/gantry/gantry/internal/archive"
)

// cacheMounts keeps the directories of RUN --mount=type=cache under
// <root>/mounts, one per id, owner and mode (BuildKit keys a cache by its
// id and its initial state, so the same id with another uid, gid or mode
// is another cache). They outlive builds and never enter a layer or a
// cache key; PruneCacheMounts removes those no step is using.
type cacheMounts struct {
	dir string

	mu    sync.Mutex
	users map[string]int           // cache dir -> steps using it
	locks map[string]chan struct{} // cache dir -> held by a sharing=locked step
}

func newCacheMounts(dir string) (*cacheMounts, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &cacheMounts{dir: dir, users: map[string]int{}, locks: map[string]chan struct{}{}}, nil
}

// acquire returns the host directory of the cache mount m for one step,
// and its release. sharing=shared (the default) gives every step the same
// directory at once; locked waits until no other locked step holds it
// (or ctx ends); private gives a step its own scratch directory, dropped
// at release, when another step is using the cache.
func (c *cacheMounts) acquire(ctx context.Context, m *instructions.Mount, idmap user.IdentityMapping) (string, func(), error) {
	uid, gid, mode := 0, 0, uint64(0o755)
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	if m.Mode != nil {
		mode = *m.Mode
	}
	// Owned by the step's ids as the host sees them (remapped under
	// --userns-remap), which are also part of the cache's name: a cache
	// made under another mapping is another cache.
	uid, gid, err := idmap.ToHost(uid, gid)
	if err != nil {
		return "", nil, fmt.Errorf("cache mount: %w", err)
	}
	id := m.CacheID
	if id == "" {
		id = path.Clean(m.Target)
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d:%d:%o", id, uid, gid, mode)))
	name := hex.EncodeToString(sum[:16])
	dir := filepath.Join(c.dir, name)

	var release []func()
	undo := func() {
		for i := len(release) - 1; i >= 0; i-- {
			release[i]()
		}
	}
	if m.CacheSharing == instructions.MountSharingLocked {
		c.mu.Lock()
		lock := c.locks[name]
		if lock == nil {
			lock = make(chan struct{}, 1)
			c.locks[name] = lock
		}
		c.mu.Unlock()
		select {
		case lock <- struct{}{}:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
		release = append(release, func() { <-lock })
	}
	c.mu.Lock()
	busy := c.users[name] > 0
	c.users[name]++
	c.mu.Unlock()
	release = append(release, func() {
		c.mu.Lock()
		if c.users[name]--; c.users[name] == 0 {
			delete(c.users, name)
		}
		c.mu.Unlock()
	})
	target := filepath.Join(dir, "data")
	if m.CacheSharing == instructions.MountSharingPrivate && busy {
		tmp, err := os.MkdirTemp(c.dir, name+"-private-")
		if err != nil {
			undo()
			return "", nil, err
		}
		release = append(release, func() { os.RemoveAll(tmp) })
		target = filepath.Join(tmp, "data")
	}
	if err := makeCacheDir(target, uid, gid, os.FileMode(mode)); err != nil {
		undo()
		return "", nil, fmt.Errorf("cache mount %s: %w", id, err)
	}
	return target, undo, nil
}

// makeCacheDir creates a cache's directory with its owner and mode unless
// it exists.
func makeCacheDir(p string, uid, gid int, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(p, 0o700); errors.Is(err, fs.ErrExist) {
		return nil
	} else if err != nil {
		return err
	}
	if err := os.Chown(p, uid, gid); err != nil {
		return err
	}
	return os.Chmod(p, mode&os.ModePerm)
}

// prune removes the caches no step is using and returns the bytes freed.
func (c *cacheMounts) prune() (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, e := range entries {
		name := e.Name()
		if c.users[name] > 0 || len(name) != 32 {
			continue // in use, or a private scratch dir its step removes
		}
		p := filepath.Join(c.dir, name)
		freed += diskUsage(p)
		if err := os.RemoveAll(p); err != nil {
			return freed, fmt.Errorf("remove cache mount: %w", err)
		}
	}
	return freed, nil
}

// diskUsage is the size of the files under p.
func diskUsage(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// PruneCacheMounts removes the directories of RUN --mount=type=cache that
// no running step uses, for `builder prune`, and returns the bytes freed.
func (b *Builder) PruneCacheMounts(ctx context.Context) (int64, error) {
	return b.mounts.prune()
}

// runMounts are the host side of a RUN's --mount options.
type runMounts struct {
	binds   []Bind
	tmpfs   map[string]string
	targets []string // absolute targets, to remove if the step created them
	secrets string   // the tmpfs holding the step's secrets, once mounted
	// sshAuthSock is the target of the first ssh mount: the step's
	// SSH_AUTH_SOCK unless its environment has one, as BuildKit sets it.
	sshAuthSock string
	cleanup     []func()
}

func (m *runMounts) close() {
	for i := len(m.cleanup) - 1; i >= 0; i-- {
		m.cleanup[i]()
	}
	m.cleanup = nil
}

// mountTarget is a mount's absolute target: a relative one is under the
// working directory, as BuildKit has it; / is refused.
func mountTarget(s *state, m *instructions.Mount) (string, error) {
	t := m.Target
	if !path.IsAbs(t) {
		t = path.Join("/", s.scope.WorkingDir(), t)
	}
	t = path.Clean(t)
	if t == "/" {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount target %q", t))
	}
	return t, nil
}

// mountSources digests what the bind mounts of the RUN c (step idx of s)
// show the command, for the step's key: the content of a context
// directory, or the image a stage or image source is. It returns "" when
// there are no bind mounts.
func (r *run) mountSources(ctx context.Context, s *state, idx int, c *instructions.RunCommand) (digest.Digest, map[string]string, error) {
	h := sha256.New()
	var files map[string]string
	any := false
	for _, m := range dockerfile.Mounts(c) {
		if m.Type != instructions.MountTypeBind {
			continue
		}
		any = true
		src := path.Clean("/" + m.Source)
		if m.From == "" {
			if files == nil {
				files = map[string]string{}
			}
			fmt.Fprintf(h, "context %q\n", src)
			if _, err := statInRoot(r.ctxDir, src); err != nil {
				return "", nil, r.mountSourceMissing(m)
			}
			if err := r.digestContextItem(src[1:], h, files); err != nil {
				return "", nil, err
			}
			continue
		}
		id, _, err := r.mountFrom(ctx, s, idx, m.From)
		if err != nil {
			return "", nil, err
		}
		fmt.Fprintf(h, "from %s %q\n", id, src)
	}
	if !any {
		return "", nil, nil
	}
	return digest.NewDigest(digest.SHA256, h), files, nil
}

func (r *run) mountSourceMissing(m *instructions.Mount) error {
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("failed to compute cache key: failed to calculate checksum of ref: \"%s\": not found", path.Clean("/"+m.Source)))
}

// mountFrom resolves a --mount from= of step idx of s: the image ID and
// chain ID of a stage or image.
func (r *run) mountFrom(ctx context.Context, s *state, idx int, from string) (digest.Digest, digest.Digest, error) {
	ref, ok := dockerfile.Ref{}, false
	for _, st := range r.plan.Stages {
		if st.Index == s.index && idx >= 0 {
			ref, ok = st.MountFrom[idx][from]
		}
	}
	if !ok {
		var err error
		if ref, err = r.plan.ResolveFrom(from, s.index); err != nil {
			return "", "", err
		}
	}
	id, chain, err := r.refImage(ctx, ref)
	if err != nil && !ref.IsStage() {
		// BuildKit's words for a from= that names no stage and no image.
		name := ref.Image
		if named, perr := image.ParseReference(ref.Image); perr == nil {
			name = named.String()
		}
		return "", "", fmt.Errorf("failed to resolve source metadata for %s: %w", name, err)
	}
	return id, chain, err
}

// mounts sets up the --mount options of the RUN c for a step whose rootfs
// is at rootfs, with dir its scratch directory.
func (r *run) mounts(ctx context.Context, s *state, idx int, c *instructions.RunCommand, dir, rootfs string) (_ *runMounts, err error) {
	out := &runMounts{}
	defer func() {
		if err != nil {
			out.close()
		}
	}()
	for i, m := range dockerfile.Mounts(c) {
		target, err := mountTarget(s, m)
		if err != nil {
			return nil, err
		}
		if !lexistsInRoot(rootfs, target) {
			out.targets = append(out.targets, missingDirs(rootfs, target)...)
		}
		switch m.Type {
		case instructions.MountTypeTmpfs:
			if out.tmpfs == nil {
				out.tmpfs = map[string]string{}
			}
			opts := ""
			if m.SizeLimit > 0 {
				opts = "size=" + strconv.FormatInt(m.SizeLimit, 10)
			}
			out.tmpfs[target] = opts
		case instructions.MountTypeCache:
			if m.From != "" || m.Source != "" {
				return nil, errdefs.ErrNotImplemented.WithMessage("RUN --mount=type=cache: from= and source= are not supported")
			}
			host, release, err := r.b.mounts.acquire(ctx, m, r.b.cfg.IDMap)
			if err != nil {
				return nil, err
			}
			out.cleanup = append(out.cleanup, release)
			out.binds = append(out.binds, Bind{Source: host, Destination: target, RW: !m.ReadOnly})
		case instructions.MountTypeBind:
			root := r.ctxDir
			if m.From != "" {
				_, chain, err := r.mountFrom(ctx, s, idx, m.From)
				if err != nil {
					return nil, err
				}
				mnt, cleanup, err := r.mountImage(ctx, chain)
				if err != nil {
					return nil, err
				}
				out.cleanup = append(out.cleanup, cleanup)
				root = mnt
			} else if !m.ReadOnly {
				// Writes to the context are the step's alone: an overlay
				// whose upper layer goes with the step.
				mnt := filepath.Join(dir, "bind-"+strconv.Itoa(i))
				if err := overlayOn(r.ctxDir, mnt); err != nil {
					return nil, err
				}
				out.cleanup = append(out.cleanup, func() { unix.Unmount(filepath.Join(mnt, "merged"), unix.MNT_DETACH) })
				root = filepath.Join(mnt, "merged")
			}
			host, err := resolveInRoot(root, m.Source)
			if err != nil {
				return nil, r.mountSourceMissing(m)
			}
			out.binds = append(out.binds, Bind{Source: host, Destination: target, RW: !m.ReadOnly})
		case instructions.MountTypeSecret:
			data, ok := r.opts.Secrets[m.CacheID]
			if !ok {
				if m.Required {
					return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("secret %s: not found", m.CacheID))
				}
				out.targets = out.targets[:len(out.targets)-len(missingDirs(rootfs, target))]
				continue // BuildKit leaves an optional secret that was not given out
			}
			host, err := out.secretFile(dir, m, data, r.b.cfg.IDMap)
			if err != nil {
				return nil, err
			}
			out.binds = append(out.binds, Bind{Source: host, Destination: target})
		case instructions.MountTypeSSH:
			if r.opts.SSH == nil || !r.opts.SSH.Has(m.CacheID) {
				if m.Required {
					return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no SSH key %q forwarded from the client", m.CacheID))
				}
				out.targets = out.targets[:len(out.targets)-len(missingDirs(rootfs, target))]
				continue // BuildKit leaves an optional agent that was not given out
			}
			host, err := out.sshSocket(ctx, filepath.Join(dir, "ssh-"+strconv.Itoa(i)+".sock"), m, r.opts.SSH, r.b.cfg.IDMap)
			if err != nil {
				return nil, err
			}
			out.binds = append(out.binds, Bind{Source: host, Destination: target, RW: true})
			if out.sshAuthSock == "" {
				out.sshAuthSock = target
			}
		default:
			return nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("RUN --mount=type=%s is not supported", m.Type))
		}
	}
	return out, nil
}

// resolveInRoot is the host path of p inside root, with symlinks resolved
// inside it by the kernel. The builder owns root while the step runs, so
// the path stays what it was resolved to.
func resolveInRoot(root, p string) (string, error) {
	fd, err := archive.OpenInRootPath(root, path.Clean("/" + p)[1:], unix.O_PATH)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	return os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
}

// overlayOn mounts an overlay of lower at dir/merged, its upper layer in
// dir.
func overlayOn(lower, dir string) error {
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", filepath.Join(dir, "merged"), "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay on the build context: %w", err)
	}
	return nil
}

// secretFile writes a secret into a tmpfs of the step (mounted on first
// use, unmounted with the mounts), with the mount's mode (0400 by default)
// and owner, and returns its host path: a secret never touches the disk.
func (m *runMounts) secretFile(dir string, mnt *instructions.Mount, data []byte, idmap user.IdentityMapping) (string, error) {
	sdir := filepath.Join(dir, "secrets")
	if m.secrets == "" {
		if err := os.Mkdir(sdir, 0o700); err != nil {
			return "", err
		}
		if err := unix.Mount("tmpfs", sdir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
			return "", fmt.Errorf("mount the secrets' tmpfs: %w", err)
		}
		m.secrets = sdir
		m.cleanup = append(m.cleanup, func() { unix.Unmount(sdir, unix.MNT_DETACH) })
	}
	mode, uid, gid := uint64(0o400), uint64(0), uint64(0)
	if mnt.Mode != nil {
		mode = *mnt.Mode
	}
	if mnt.UID != nil {
		uid = *mnt.UID
	}
	if mnt.GID != nil {
		gid = *mnt.GID
	}
	f, err := os.CreateTemp(sdir, "secret-")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		var huid, hgid int
		if huid, hgid, err = idmap.ToHost(int(uid), int(gid)); err == nil {
			err = os.Chown(f.Name(), huid, hgid)
		}
	}
	if err == nil {
		err = os.Chmod(f.Name(), os.FileMode(mode)&os.ModePerm)
	}
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", mnt.CacheID, err)
	}
	return f.Name(), nil
}
