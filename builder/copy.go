package builder

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/go-archive/compression"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/dockerfile"
	"github.com/gantry/gantry/internal/archive"
	"github.com/gantry/gantry/mount"
)

// sourceSet is what a COPY or ADD copies, resolved before the cache lookup
// so that the content is part of the key.
type sourceSet struct {
	digest  digest.Digest
	files   map[string]string // context path -> digest of the file, when few enough
	items   []copyItem
	dest    string // absolute destination
	dirDest bool   // the destination is a directory: trailing slash, or several sources
	cleanup []func()
	prepare []func(context.Context) error // run before the copy, on a cache miss only
}

// ready runs what the copy needs done first (an ADD of a git URL's fetch).
func (src *sourceSet) ready(ctx context.Context) error {
	for _, f := range src.prepare {
		if err := f(ctx); err != nil {
			return err
		}
	}
	src.prepare = nil
	return nil
}

// copyItem is one source: a file or directory inside root, a downloaded
// file, a heredoc, or (ADD) a local archive to extract.
type copyItem struct {
	root    string  // host directory the source is resolved in, chroot-like
	rel     string  // path inside root; "" is root itself
	name    string  // base name when copied into a directory
	isDir   bool    // copy the directory's contents
	under   string  // COPY --parents: the path under the destination
	archive bool    // ADD of a local tar archive: extract it at the destination
	data    *string // a heredoc's content
	mode    int64   // mode of a heredoc or download (0: the file's own)
	mtime   time.Time
}

func (src *sourceSet) close() {
	for i := len(src.cleanup) - 1; i >= 0; i-- {
		src.cleanup[i]()
	}
	src.cleanup = nil
}

// describeOr is describe, or def for a step without sources (nil).
func (src *sourceSet) describeOr(def string) string {
	if src == nil {
		return def
	}
	return src.describe()
}

// describe is the history text of the sources: "file:<hex>", "dir:<hex>"
// or "multi:<hex>", as Docker writes it.
func (src *sourceSet) describe() string {
	kind := "multi"
	if len(src.items) == 1 {
		kind = "file"
		if src.items[0].isDir {
			kind = "dir"
		}
	}
	return kind + ":" + src.digest.Encoded()
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?[") }

// sources resolves the sources of a COPY (from: its --from) or ADD at the
// place idx of the stage s (-1 for an ONBUILD trigger) and digests their
// content, mode and owner.
// copyFlags are the flags of a COPY or ADD that decide what it copies.
type copyFlags struct {
	add      bool   // ADD, not COPY
	from     string // COPY --from
	parents  bool   // COPY --parents: keep the sources' paths under the destination
	checksum string // ADD --checksum of a URL
	keepGit  bool   // ADD --keep-git-dir of a git URL
}

func (r *run) sources(ctx context.Context, s *state, idx int, sd instructions.SourcesAndDest, flags copyFlags) (_ *sourceSet, err error) {
	from, isAdd := flags.from, flags.add
	verb := "COPY"
	if isAdd {
		verb = "ADD"
	}
	src := &sourceSet{}
	defer func() {
		if err != nil {
			src.close()
		}
	}()
	dest := sd.DestPath
	src.dirDest = strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.") || flags.parents
	if !path.IsAbs(dest) {
		dest = path.Join("/", s.scope.WorkingDir(), dest)
	}
	src.dest = path.Clean(dest)

	root := r.ctxDir
	h := sha256.New()
	fromContext := from == ""
	if !fromContext {
		id, chain, err := r.copyFrom(ctx, s, idx, from)
		if err != nil {
			return nil, err
		}
		if chain != "" { // the image copied from stays while the step runs
			src.cleanup = append(src.cleanup, r.b.cfg.GC.Lease(nil, []digest.Digest{chain}))
		}
		mnt, cleanup, err := r.mountImage(ctx, chain)
		if err != nil {
			return nil, err
		}
		src.cleanup = append(src.cleanup, cleanup)
		root = mnt
		fmt.Fprintf(h, "from %s\n", id)
	} else {
		src.files = map[string]string{}
	}

	if flags.checksum != "" {
		// BuildKit's checks and words.
		switch {
		case len(sd.SourcePaths) != 1:
			return nil, errdefs.ErrInvalidArgument.WithMessage("checksum can't be specified for multiple sources")
		case isGitSource(sd.SourcePaths[0]):
			return nil, errdefs.ErrNotImplemented.WithMessage("the --checksum option of ADD is not supported for a git source")
		case !isURL(sd.SourcePaths[0]):
			return nil, errdefs.ErrInvalidArgument.WithMessage("checksum requires HTTP(S) or Git sources")
		}
		if _, err := digest.Parse(flags.checksum); err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage("invalid checksum digest format: " + flags.checksum)
		}
	}
	for _, p := range sd.SourcePaths {
		if g, isGit, err := parseGitSource(p); isAdd && isGit {
			if err != nil {
				return nil, err
			}
			item, commit, err := r.fetchGit(ctx, src, g, flags.keepGit)
			if err != nil {
				return nil, err
			}
			src.items = append(src.items, item)
			// The commit, not the ref, is the input: a moved branch misses.
			fmt.Fprintf(h, "git %q %s subdir=%q keep-git-dir=%t\n", g.display, commit, g.ref.SubDir, flags.keepGit)
			if src.files != nil {
				src.files[g.display+"#"+g.ref.Ref] = commit
			}
			continue
		}
		if isAdd && isURL(p) {
			item, sum, err := r.download(ctx, src, p)
			if err != nil {
				return nil, err
			}
			if got := digest.NewDigestFromEncoded(digest.SHA256, sum); flags.checksum != "" && got != digest.Digest(flags.checksum) {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("digest mismatch for %s: %s (expected: %s)", p, got, flags.checksum))
			}
			src.items = append(src.items, item)
			fmt.Fprintf(h, "url %q %s\n", p, sum)
			if src.files != nil {
				src.files[p] = sum
			}
			continue
		}
		clean := path.Clean(p)
		if fromContext && (clean == ".." || strings.HasPrefix(clean, "../")) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s failed: forbidden path outside the build context: %s", verb, p))
		}
		// COPY --parents keeps the path below the pivot "/./" (or the
		// whole path) under the destination.
		pivot := ""
		if flags.parents {
			if before, _, ok := strings.Cut(p, "/./"); ok {
				pivot = strings.TrimPrefix(path.Clean("/"+before), "/")
			}
		}
		rel := strings.TrimPrefix(path.Clean("/"+p), "/")
		matches := []string{rel}
		if hasWildcard(rel) {
			if matches, err = glob(root, rel); err != nil {
				return nil, err
			}
			if len(matches) == 0 && !flags.parents {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s failed: no source files were specified", verb))
			}
		}
		for _, m := range matches {
			st, err := statInRoot(root, m)
			if err != nil {
				return nil, r.missingSource(verb, m, fromContext)
			}
			item := copyItem{root: root, rel: m, name: path.Base("/" + m), isDir: st.Mode&unix.S_IFMT == unix.S_IFDIR}
			if flags.parents {
				item.under = m
				if pivot != "" {
					item.under = strings.TrimPrefix(m, pivot+"/")
				}
			}
			if isAdd && !item.isDir && fromContext {
				item.archive = isArchive(root, m)
			}
			fmt.Fprintf(h, "item %q dir=%t archive=%t under=%q\n", m, item.isDir, item.archive, item.under)
			if fromContext {
				if err := r.digestContextItem(m, h, src.files); err != nil {
					return nil, fmt.Errorf("%s failed: read %s: %w", verb, m, err)
				}
			}
			src.items = append(src.items, item)
		}
	}
	for _, sc := range sd.SourceContents {
		data := sc.Data
		src.items = append(src.items, copyItem{name: path.Base("/" + sc.Path), data: &data, mode: 0o644})
		fmt.Fprintf(h, "heredoc %q %x\n", sc.Path, sha256.Sum256([]byte(data)))
	}
	if len(src.items) > 1 && !src.dirDest {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("When using %s with more than one source file, the destination must be a directory and end with a /", verb))
	}
	if len(src.files) > maxFiles {
		src.files = nil
	}
	src.digest = digest.NewDigest(digest.SHA256, h)
	return src, nil
}

// missingSource is the error for a source that is not there, saying
// whether .dockerignore excluded it.
func (r *run) missingSource(verb, rel string, fromContext bool) error {
	if !fromContext {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("%s failed: %s not found in the source image", verb, "/"+rel))
	}
	if excluded, _ := r.ignore.Excluded(rel); excluded {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s failed: %s is excluded by .dockerignore, so it is not in the build context", verb, rel))
	}
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s failed: file not found in build context: %s", verb, rel))
}

// copyFrom resolves a --from: the image ID and chain ID of a stage or image.
func (r *run) copyFrom(ctx context.Context, s *state, idx int, from string) (digest.Digest, digest.Digest, error) {
	var ref dockerfile.Ref
	var ok bool
	if idx >= 0 {
		for _, st := range r.plan.Stages {
			if st.Index == s.index {
				ref, ok = st.CopyFrom[idx]
			}
		}
	}
	if !ok {
		var err error
		if ref, err = r.plan.ResolveFrom(from, s.index); err != nil {
			return "", "", err
		}
	}
	return r.refImage(ctx, ref)
}

// refImage is the image ID and chain ID of what ref names: a stage built
// earlier, an image (pulled if missing and allowed), or scratch ("", "").
func (r *run) refImage(ctx context.Context, ref dockerfile.Ref) (digest.Digest, digest.Digest, error) {
	if ref.IsStage() {
		prev := r.results[ref.Stage]
		if prev == nil {
			return "", "", fmt.Errorf("stage %d was not built", ref.Stage)
		}
		return prev.id, prev.chain(), nil
	}
	if ref.Image == dockerfile.Scratch {
		return "", "", nil
	}
	id, err := r.resolveImage(ctx, ref.Image)
	if err != nil {
		return "", "", err
	}
	img, err := r.loadImage(ctx, id)
	if err != nil {
		return "", "", err
	}
	st := &state{img: img.Config}
	return id, st.chain(), nil
}

// mountImage mounts a snapshot of the chain and returns where, and how to
// undo it.
func (r *run) mountImage(ctx context.Context, chain digest.Digest) (string, func(), error) {
	dir, err := os.MkdirTemp(r.b.cfg.TmpDir, "build-from-")
	if err != nil {
		return "", nil, err
	}
	mounts, err := r.b.cfg.Layers.Prepare(ctx, dir, chain)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("prepare snapshot: %w", err)
	}
	mnt := filepath.Join(dir, "mnt")
	cleanup := func() {
		mount.Unmount(mnt)
		r.b.cfg.Layers.Release(context.WithoutCancel(ctx), dir)
		os.RemoveAll(dir)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		cleanup()
		return "", nil, err
	}
	if err := mount.All(mounts, mnt); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("mount snapshot: %w", err)
	}
	return mnt, cleanup, nil
}

// download fetches an ADD URL into a scratch directory.
func (r *run) download(ctx context.Context, src *sourceSet, raw string) (copyItem, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return copyItem{}, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ADD failed: invalid URL %q", raw))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return copyItem{}, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return copyItem{}, "", fmt.Errorf("ADD failed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return copyItem{}, "", fmt.Errorf("ADD failed: failed to GET %s with status %s", raw, resp.Status)
	}
	dir, err := os.MkdirTemp(r.b.cfg.TmpDir, "build-add-")
	if err != nil {
		return copyItem{}, "", err
	}
	src.cleanup = append(src.cleanup, func() { os.RemoveAll(dir) })
	f, err := os.Create(filepath.Join(dir, "download"))
	if err != nil {
		return copyItem{}, "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return copyItem{}, "", fmt.Errorf("ADD failed: download %s: %w", raw, err)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." {
		name = "index.html"
		if src.dirDest {
			return copyItem{}, "", errdefs.ErrInvalidArgument.WithMessage("ADD failed: cannot determine filename from url: " + raw)
		}
	}
	item := copyItem{root: dir, rel: "download", name: name, mode: 0o600}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		item.mtime = lm
	}
	return item, hex.EncodeToString(h.Sum(nil)), nil
}

// isArchive reports whether the file rel in root is a tar archive, plain or
// compressed (ADD extracts those): a regular file whose first entry
// header reads.
func isArchive(root, rel string) bool {
	f, err := openFileInRoot(root, rel)
	if err != nil {
		return false
	}
	defer f.Close()
	plain, err := compression.DecompressStream(bufio.NewReader(f))
	if err != nil {
		return false
	}
	defer plain.Close()
	// As Docker decides: the first header reads, past any pax or GNU
	// long-name records before it (archive/tar bounds those to 1 MiB).
	_, err = tar.NewReader(io.LimitReader(plain, maxArchiveProbe)).Next()
	return err == nil
}

// maxArchiveProbe bounds what isArchive reads: the records that may come
// before the first header, and that header.
const maxArchiveProbe = 4 << 20

// glob expands a pattern of slash-separated components (filepath.Match
// syntax) inside root, component by component, sorted.
func glob(root, pattern string) ([]string, error) {
	cur := []string{""}
	for _, comp := range strings.Split(pattern, "/") {
		var next []string
		for _, dir := range cur {
			if !hasWildcard(comp) {
				p := path.Join(dir, comp)
				if lexistsInRoot(root, p) {
					next = append(next, p)
				}
				continue
			}
			names, err := readDirNames(root, dir)
			if err != nil {
				continue
			}
			for _, n := range names {
				ok, err := path.Match(comp, n)
				if err != nil {
					return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid pattern %q: %v", pattern, err))
				}
				if ok {
					next = append(next, path.Join(dir, n))
				}
			}
		}
		cur = next
	}
	slices.Sort(cur)
	return cur, nil
}

func readDirNames(root, dir string) ([]string, error) {
	fd, err := archive.OpenInRootPath(root, dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}

// entry is one file met while walking a source.
type entry struct {
	rel  string // path below the source ("" for the source itself)
	st   unix.Stat_t
	link string
	dfd  int    // directory holding it (for opening), -1 for the source itself
	base string // name in dfd
}

// walk calls fn for the source rel in root and, for a directory, for
// everything below it in lexical order, without following symlinks below
// the source. Directories come before their contents. open, the way to
// read an entry, is nil for all but regular files: FIFOs and devices are
// never opened.
func walk(root, rel string, fn func(e entry, open func() (*os.File, error)) error) error {
	st, err := statInRoot(root, rel)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		var open func() (*os.File, error)
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			open = func() (*os.File, error) { return openFileInRoot(root, rel) }
		}
		return fn(entry{st: st, dfd: -1}, open)
	}
	fd, err := archive.OpenInRootPath(root, rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	if err := fn(entry{st: st, dfd: -1}, nil); err != nil {
		unix.Close(fd)
		return err
	}
	return walkDir(fd, "", fn)
}

// walkDir walks the directory fd (which it closes), whose path below the
// source is prefix.
func walkDir(fd int, prefix string, fn func(e entry, open func() (*os.File, error)) error) error {
	f := os.NewFile(uintptr(fd), prefix)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		e := entry{rel: path.Join(prefix, n), dfd: fd, base: n}
		if err := unix.Fstatat(fd, n, &e.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		var open func() (*os.File, error)
		switch e.st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			buf := make([]byte, 4096)
			k, err := unix.Readlinkat(fd, n, buf)
			if err != nil {
				return err
			}
			e.link = string(buf[:k])
		case unix.S_IFREG:
			name := n
			open = func() (*os.File, error) {
				// Non-blocking: should a FIFO have taken the file's place
				// since the stat, the open does not wait for a writer.
				cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
				if err != nil {
					return nil, err
				}
				return os.NewFile(uintptr(cfd), name), nil
			}
		}
		if err := fn(e, open); err != nil {
			return err
		}
		if e.st.Mode&unix.S_IFMT == unix.S_IFDIR {
			cfd, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			if err := walkDir(cfd, e.rel, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// digestItem adds the content, mode and owner of the source rel (not its
// times) to h, and each file's digest to files (by context path) when files
// is not nil.
func digestItem(root, rel string, h hash.Hash, files map[string]string, sums *ContextSums) error {
	return walkDigest(root, rel, h, func(name, sum string) {
		if files != nil && len(files) <= maxFiles {
			files[name] = sum
		}
	}, sums)
}

// walkDigest is digestItem writing to h and giving note each file (not
// directory) with its sum.
func walkDigest(root, rel string, h io.Writer, note func(name, sum string), sums *ContextSums) error {
	buf := make([]byte, 128<<10)
	return walk(root, rel, func(e entry, open func() (*os.File, error)) error {
		fh := sha256.New()
		fmt.Fprintf(fh, "%q %d\n", e.link, e.st.Size)
		if t := e.st.Mode & unix.S_IFMT; t == unix.S_IFCHR || t == unix.S_IFBLK {
			fmt.Fprintf(fh, "dev %d:%d\n", unix.Major(e.st.Rdev), unix.Minor(e.st.Rdev))
		}
		// A regular file's content counts by its SHA-256, taken as the
		// context arrived when it can be (ContextSums), else read now.
		if sum, ok := sums.lookup(path.Join(rel, e.rel), &e.st); ok {
			fh.Write(sum)
		} else if open != nil {
			f, err := open()
			if err != nil {
				return err
			}
			ch := sha256.New()
			_, err = io.CopyBuffer(ch, f, buf)
			f.Close()
			if err != nil {
				return err
			}
			fh.Write(ch.Sum(nil))
		}
		sum := fileSum{mode: e.st.Mode, uid: e.st.Uid, gid: e.st.Gid, content: hex.EncodeToString(fh.Sum(nil))}.String()
		fmt.Fprintf(h, "%q %s\n", e.rel, sum)
		if e.st.Mode&unix.S_IFMT != unix.S_IFDIR {
			note(path.Join(rel, e.rel), sum)
		}
		return nil
	})
}

// copyFunc copies the sources into the rootfs of a step's snapshot. When
// everything the copy writes is new to the rootfs (see directCopy), it
// leaves the rootfs alone and returns the layer's tar instead.
func (r *run) copyFunc(ctx context.Context, s *state, src *sourceSet, chown, chmod string) stepFunc {
	return func(_, rootfs string) (*directLayer, error) {
		uid, gid, err := resolveChown(rootfs, chown)
		if err != nil {
			return nil, err
		}
		var sources *copySources // the context's files the layer may link
		var mode int64 = -1
		if chmod != "" {
			m, err := strconv.ParseUint(chmod, 8, 32)
			if err != nil || m > 0o7777 {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid chmod parameter: %q", chmod))
			}
			mode = int64(m)
		}
		destIsDir := src.dirDest || isDirInRoot(rootfs, src.dest)
		items := src.items
		write := func(tw *tar.Writer) error {
			// The directories the copy creates above what it copies
			// belong to the --chown owner, as in dockerd.
			made := map[string]bool{}
			for _, item := range items {
				target := item.target(src.dest, destIsDir)
				for _, d := range missingDirs(rootfs, path.Dir(target)) {
					if made[d] {
						continue
					}
					made[d] = true
					if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: time.Now()}); err != nil {
						return err
					}
				}
			}
			for _, item := range items {
				var note func(name, path string, st *unix.Stat_t)
				if sources != nil && item.root == r.ctxDir {
					note = sources.note
				}
				if err := writeItem(tw, rootfs, item, src.dest, destIsDir, uid, gid, mode, note); err != nil {
					return err
				}
			}
			return nil
		}
		if parents, sorted, ok := directCopy(rootfs, src, destIsDir); ok {
			items = sorted
			sources = &copySources{files: map[string]archive.Source{}}
			return &directLayer{write: func(tw *tar.Writer) error {
				for _, hdr := range parents {
					if err := tw.WriteHeader(hdr); err != nil {
						return err
					}
				}
				return write(tw)
			}, sources: sources.take}, nil
		}
		return nil, applyTar(ctx, rootfs, write)
	}
}

// copySources are the context files a direct copy's tar holds, by entry
// name: the layer's files may be hard links to them (the context is the
// build's own and only unlinked after), so that a COPY of the context
// writes no second copy of it.
type copySources struct {
	mu    sync.Mutex
	files map[string]archive.Source
}

// note records the file at path (stat st) as the content of the entry
// name, before the entry is written.
func (c *copySources) note(name, path string, st *unix.Stat_t) {
	c.mu.Lock()
	c.files[name] = archive.Source{Path: path, Dev: uint64(st.Dev), Ino: st.Ino}
	c.mu.Unlock()
}

// take is the archive.Sources of the copy: each name once.
func (c *copySources) take(name string) (archive.Source, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.files[name]
	delete(c.files, name)
	return s, ok
}

// directCopies may be turned off by tests, to compare both ways.
var directCopies = true

// directCopy reports whether the copy of src can be its layer's tar as it
// is: every target is new to rootfs (so the copy replaces, hides or
// changes nothing there), no archive is extracted, the targets are
// distinct entries of one directory (so that, in their order, the tar is
// sorted as a snapshot's diff is), and the directories above them that
// rootfs has are plain directories (no symlink to follow, no extended
// attribute to carry). It returns the entries a diff of the snapshot
// would hold for those directories, which the copy changes by adding to
// them (their mode and owner as they are, the time of the copy), and the
// items in their targets' order.
func directCopy(rootfs string, src *sourceSet, destIsDir bool) ([]*tar.Header, []copyItem, bool) {
	if !directCopies || len(src.items) == 0 {
		return nil, nil, false
	}
	items := slices.Clone(src.items)
	slices.SortStableFunc(items, func(a, b copyItem) int {
		return strings.Compare(a.target(src.dest, destIsDir), b.target(src.dest, destIsDir))
	})
	dir := path.Dir(items[0].target(src.dest, destIsDir))
	for i, item := range items {
		target := item.target(src.dest, destIsDir)
		if item.archive || target == "/" || path.Dir(target) != dir || lexistsInRoot(rootfs, target) ||
			(i > 0 && target == items[i-1].target(src.dest, destIsDir)) {
			return nil, nil, false
		}
	}
	var above []string
	for d := dir; d != "/"; d = path.Dir(d) {
		above = append(above, d)
	}
	slices.Reverse(above)
	var parents []*tar.Header
	now := time.Now()
	for _, d := range above {
		st, err := lstatInRoot(rootfs, d)
		if errors.Is(err, unix.ENOENT) {
			break // made by the copy: the rest is new too
		}
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || hasXattrsInRoot(rootfs, d) {
			return nil, nil, false
		}
		parents = append(parents, &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid), ModTime: now})
	}
	return parents, items, true
}

// writeItem writes the tar entries that copy item to dest.
// target is where the item goes for a copy to dest: into it when it is a
// directory, under it at the source's path for COPY --parents.
func (item copyItem) target(dest string, destIsDir bool) string {
	switch {
	case item.under != "":
		return path.Join(dest, item.under)
	case destIsDir && !item.isDir && !item.archive:
		return path.Join(dest, item.name)
	}
	return dest
}

// missingDirs are the directories from / down to dir (absolute, clean)
// that the rootfs lacks, top first.
func missingDirs(rootfs, dir string) []string {
	var out []string
	for d := dir; d != "/" && d != "." && !lexistsInRoot(rootfs, d); d = path.Dir(d) {
		out = append(out, d)
	}
	slices.Reverse(out)
	return out
}

// note, if set, is told the host path of each regular file of the item
// before its entry is written.
func writeItem(tw *tar.Writer, rootfs string, item copyItem, dest string, destIsDir bool, uid, gid int, mode int64, note func(name, path string, st *unix.Stat_t)) error {
	name := func(p string) string { return strings.TrimPrefix(path.Clean(p), "/") }
	target := item.target(dest, destIsDir)
	switch {
	case item.data != nil:
		m := item.mode
		if mode >= 0 {
			m = mode
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name(target), Mode: m, Uid: uid, Gid: gid, Size: int64(len(*item.data)), ModTime: time.Now()}); err != nil {
			return err
		}
		_, err := io.WriteString(tw, *item.data)
		return err
	case item.archive:
		f, err := openFileInRoot(item.root, item.rel)
		if err != nil {
			return err
		}
		defer f.Close()
		plain, err := compression.DecompressStream(bufio.NewReader(f))
		if err != nil {
			return err
		}
		defer plain.Close()
		if !lexistsInRoot(rootfs, dest) {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name(dest) + "/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: time.Now()}); err != nil {
				return err
			}
		}
		return copyTarEntries(tar.NewReader(plain), tw, underDir(name(dest)))
	}
	buf := make([]byte, 128<<10)
	return walk(item.root, item.rel, func(e entry, open func() (*os.File, error)) error {
		t := path.Join(target, e.rel)
		isDir := e.st.Mode&unix.S_IFMT == unix.S_IFDIR
		if e.rel == "" && isDir {
			if lexistsInRoot(rootfs, t) {
				return nil // copy into the existing directory, leaving it as it is
			}
			m := int64(0o755)
			if mode >= 0 {
				m = mode
			}
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name(t) + "/", Mode: m, Uid: uid, Gid: gid, ModTime: time.Unix(e.st.Mtim.Unix())})
		}
		hdr := &tar.Header{
			Name:    name(t),
			Mode:    int64(e.st.Mode & 0o7777),
			Uid:     uid,
			Gid:     gid,
			ModTime: time.Unix(e.st.Mtim.Unix()),
		}
		if item.mode != 0 {
			hdr.Mode = item.mode
		}
		if !item.mtime.IsZero() {
			hdr.ModTime = item.mtime
		}
		if mode >= 0 {
			hdr.Mode = mode
		}
		switch e.st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case unix.S_IFLNK:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
		case unix.S_IFREG:
			hdr.Typeflag, hdr.Size = tar.TypeReg, e.st.Size
		case unix.S_IFIFO:
			hdr.Typeflag = tar.TypeFifo
		case unix.S_IFCHR, unix.S_IFBLK:
			hdr.Typeflag = tar.TypeChar
			if e.st.Mode&unix.S_IFMT == unix.S_IFBLK {
				hdr.Typeflag = tar.TypeBlock
			}
			hdr.Devmajor, hdr.Devminor = int64(unix.Major(e.st.Rdev)), int64(unix.Minor(e.st.Rdev))
		default:
			return nil // sockets have no tar form: not copied, as dockerd's tar skips them
		}
		if note != nil && hdr.Typeflag == tar.TypeReg {
			note(hdr.Name, filepath.Join(item.root, item.rel, e.rel), &e.st)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if open == nil || hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := open()
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
		return err
	})
}

// fileSum is what a source file contributes to a COPY's key: its mode
// (with the type bits), owner and the digest of its content (or link
// target). Its text is what Inputs.Files keeps, so that a miss can say
// which of them changed.
type fileSum struct {
	mode, uid, gid uint32
	content        string
}

func (f fileSum) String() string {
	return fmt.Sprintf("%o %d:%d %s", f.mode, f.uid, f.gid, f.content)
}

// parseFileSum reads a fileSum's text; ok is false for a record written
// before it had that form.
func parseFileSum(s string) (f fileSum, ok bool) {
	_, err := fmt.Sscanf(s, "%o %d:%d %s", &f.mode, &f.uid, &f.gid, &f.content)
	return f, err == nil
}
