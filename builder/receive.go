package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/go-archive/compression"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/internal/archive"
)

// Context is a build context received on disk for one build: the
// directory Dir (Options.ContextDir) and the digests and record of its
// entries (Options.ContextSums). Give it back with Builder.ReleaseContext.
type Context struct {
	Dir  string
	Sums *ContextSums
	// reusable: the stream was simple (see receiver), so Sums describes
	// Dir exactly and the next build may update Dir in place.
	reusable bool
}

// keptContexts is how many received contexts stay on disk, idle, for the
// next builds to update in place.
const keptContexts = 2

// contextPool holds the idle contexts of finished builds, the most
// recently released last. Contexts live in dir (<Root>/received), not in
// the staging directory: they outlive their build. The records are in
// memory only, so New empties dir.
type contextPool struct {
	dir  string
	mu   sync.Mutex
	idle []*Context
}

// newContextPool empties dir, in the background (what a gantryd before
// left there may be large), and returns a pool keeping contexts in it.
func newContextPool(dir, tmpDir string) (*contextPool, error) {
	if _, err := os.Stat(dir); err == nil {
		old, err := os.MkdirTemp(tmpDir, "build-contexts-")
		if err != nil {
			return nil, err
		}
		if err := os.Rename(dir, filepath.Join(old, "contexts")); err != nil {
			return nil, err
		}
		go os.RemoveAll(old)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &contextPool{dir: dir}, nil
}

// ExtractContext receives the build context read from r as the package's
// ExtractContext does, into a directory of its own under <Root>/received. When
// an earlier build left its context idle (ReleaseContext), the new context
// is written over it: an entry whose type, mode, owner, size, time, link,
// xattrs and content are those of the entry at its place last time is
// left as it is (its content is digested as it arrives, and compared, but
// nothing is written), the changed ones are extracted, and what the new
// context does not have is removed at the end, so that the directory then
// holds exactly what a fresh extraction would. A fully cached rebuild of
// a large context thus writes nothing. The caller gives the context back
// with ReleaseContext when the build is over.
func (b *Builder) ExtractContext(ctx context.Context, r io.Reader) (*Context, error) {
	prev := b.contexts.take()
	dir := ""
	var record map[string]contextSum
	if prev != nil {
		dir, record = prev.Dir, prev.Sums.files
	} else {
		var err error
		if dir, err = os.MkdirTemp(b.contexts.dir, "build-context-"); err != nil {
			return nil, fmt.Errorf("receive build context: %w", err)
		}
	}
	c, err := receiveContext(ctx, r, dir, record, b.contexts.dir)
	if err != nil {
		go os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// ReleaseContext gives back the context of a finished build: it stays for
// the next build to update when it can be (at most keptContexts stay),
// else it is removed, in the background, so that the client's answer does
// not wait for the removal of a large context (a leftover goes at the
// next start).
func (b *Builder) ReleaseContext(c *Context) {
	if c == nil {
		return
	}
	if !c.reusable {
		go os.RemoveAll(c.Dir)
		return
	}
	b.contexts.mu.Lock()
	b.contexts.idle = append(b.contexts.idle, c)
	var drop []*Context
	if n := len(b.contexts.idle) - keptContexts; n > 0 {
		drop = slices.Clone(b.contexts.idle[:n])
		b.contexts.idle = slices.Delete(b.contexts.idle, 0, n)
	}
	b.contexts.mu.Unlock()
	for _, d := range drop {
		go os.RemoveAll(d.Dir)
	}
}

// DropContexts removes the idle contexts (builder prune).
func (b *Builder) DropContexts() {
	b.contexts.mu.Lock()
	idle := b.contexts.idle
	b.contexts.idle = nil
	b.contexts.mu.Unlock()
	for _, c := range idle {
		_ = os.RemoveAll(c.Dir)
	}
}

// take returns the most recently released idle context, or nil.
func (p *contextPool) take() *Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) == 0 {
		return nil
	}
	c := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	return c
}

// smallFile is the size up to which an entry that may be unchanged is held
// in memory while its digest decides; a larger one is compared with the
// file on disk as it streams.
const smallFile = 1 << 20

// receiver writes a context stream into dir. With prev (the record of
// what dir holds, from the last build), it works in place: entries equal
// to their record are left alone. That is only sound while the stream is
// simple, as the docker CLI sends it: every name once, under a directory
// the stream gave before, no whiteout names, hard links to regular files
// it gave before. Then no entry reaches a place through a symlink, and
// what is on disk at a name is what the record says. The first entry that
// is not simple ends the work in place: the entries so far are written
// again into a fresh directory (their content taken from the old one),
// the rest of the stream follows them there, and the old directory is
// removed; such a context is not kept for the next build.
// maxContextEntries bounds the entries of a context received as a tar, so
// that its records in memory stay bounded (as ctxsync.MaxEntries does a
// synced context's). A variable for the tests.
var maxContextEntries = 1 << 20

type receiver struct {
	ctx     context.Context
	dir     string
	newDir  string                // where restartFresh makes its directory
	prev    map[string]contextSum // nil: dir started empty
	next    *ContextSums
	order   []string        // the names received, in order (for a fresh restart)
	intact  map[string]bool // names whose earlier content is still in place: kept entries, directories written over directories
	dirty   map[string]bool // directories whose entries changed
	simple  bool
	entries int // received so far
	ap      *applyPipe
	buf     []byte
	small   []byte
	h       hash.Hash
}

// receiveContext reads the context stream r into dir (see receiver).
func receiveContext(ctx context.Context, r io.Reader, dir string, prev map[string]contextSum, newDir string) (*Context, error) {
	plain, err := compression.DecompressStream(r)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("read build context: " + err.Error())
	}
	defer plain.Close()
	rc := &receiver{
		ctx: ctx, dir: dir, newDir: newDir, prev: prev,
		next:   &ContextSums{files: make(map[string]contextSum, len(prev))},
		intact: map[string]bool{}, dirty: map[string]bool{}, simple: true,
		buf: make([]byte, 128<<10), h: sha256.New(),
	}
	rc.ap = startApply(ctx, dir)
	err = rc.receive(tar.NewReader(plain))
	if aerr := rc.ap.finish(err); aerr != nil || err != nil {
		if rc.dir != dir { // restartFresh's
			go os.RemoveAll(rc.dir)
		}
		if aerr != nil {
			err = aerr
		}
		var bad *badEntry
		if errors.As(err, &bad) || errors.Is(err, archive.ErrInvalid) || errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errdefs.ErrInvalidArgument.WithMessage("invalid build context: " + err.Error())
		}
		return nil, fmt.Errorf("extract build context: %w", err)
	}
	if rc.prev != nil {
		if err := rc.prune(); err != nil {
			return nil, fmt.Errorf("extract build context: %w", err)
		}
	}
	return &Context{Dir: rc.dir, Sums: rc.next, reusable: rc.simple}, nil
}

// applyPipe is an extraction (archive.Apply) of a tar written to tw.
type applyPipe struct {
	pw   *io.PipeWriter
	tw   *tar.Writer
	done chan error
}

func startApply(ctx context.Context, dir string) *applyPipe {
	pr, pw := io.Pipe()
	ap := &applyPipe{pw: pw, tw: tar.NewWriter(pw), done: make(chan error, 1)}
	go func() {
		_, err := archive.Apply(ctx, pr, dir, archive.Delete)
		pr.CloseWithError(errors.New("extraction ended"))
		ap.done <- err
	}()
	return ap
}

// finish ends the tar (or, after the error err of its writer, cuts it) and
// returns the extraction's error.
func (ap *applyPipe) finish(err error) error {
	if err == nil {
		err = ap.tw.Close()
	}
	ap.pw.CloseWithError(err)
	return <-ap.done
}

func (rc *receiver) receive(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if rc.entries++; rc.entries > maxContextEntries {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the build context has more than %d entries\nhint: leave out what the build does not need with .dockerignore", maxContextEntries))
		}
		if hdr.Name, err = checkContextName(hdr.Name); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeLink {
			if hdr.Linkname, err = checkContextName(hdr.Linkname); err != nil {
				return err
			}
		}
		hdr.Format = tar.FormatUnknown
		key := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if key == "" { // the root: nothing to extract or record
			if err := rc.ap.tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		}
		if rc.simple && !rc.isSimple(key, hdr) {
			rc.simple = false
			if rc.prev != nil {
				if err := rc.restartFresh(); err != nil {
					return err
				}
			}
		}
		if err := rc.entry(key, hdr, tr); err != nil {
			return err
		}
	}
}

// isSimple says whether the entry keeps the stream simple (see receiver).
func (rc *receiver) isSimple(key string, hdr *tar.Header) bool {
	if _, seen := rc.next.files[key]; seen || strings.HasPrefix(path.Base(key), ".wh.") {
		return false
	}
	if dir := parentOf(key); dir != "" {
		if p, ok := rc.next.files[dir]; !ok || p.typ != tar.TypeDir {
			return false
		}
	}
	if hdr.Typeflag == tar.TypeLink {
		t, ok := rc.next.files[strings.TrimPrefix(path.Clean("/"+hdr.Linkname), "/")]
		if !ok || t.typ != tar.TypeReg {
			return false
		}
	}
	if old, ok := rc.prev[key]; ok && old.typ == tar.TypeDir && hdr.Typeflag == tar.TypeDir && old.xattrs != "" && old.xattrs != recordOf(hdr).xattrs {
		return false // Apply adds a directory's xattrs, it removes none
	}
	return true
}

// entry takes one entry: left in place when it can be, else extracted.
func (rc *receiver) entry(key string, hdr *tar.Header, tr *tar.Reader) error {
	rec := recordOf(hdr)
	rc.order = append(rc.order, key)
	if rc.prev != nil {
		dir := parentOf(key)
		old, had := rc.prev[key]
		parentIntact := dir == "" || rc.intact[dir]
		if had && parentIntact && old.sameMeta(rec) && rec.typ != tar.TypeLink {
			st, err := rc.keep(key, hdr, tr, old, &rec)
			if err != nil {
				return err
			}
			switch st {
			case kept:
				rc.intact[key] = true
				rc.next.files[key] = rec
				return nil
			case written:
				rc.dirty[dir] = true
				rc.next.files[key] = rec
				return nil
			}
			// read: a changed small file, in rc.small.
			rc.dirty[dir] = true
			rc.next.files[key] = rec
			if err := rc.ap.tw.WriteHeader(hdr); err != nil {
				return err
			}
			_, err = rc.ap.tw.Write(rc.small[:hdr.Size])
			return err
		}
		if had && old.typ == tar.TypeDir && rec.typ == tar.TypeDir && parentIntact {
			rc.intact[key] = true // Apply changes a directory in place
		}
		rc.dirty[dir] = true
	}
	if err := rc.ap.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if rec.typ != tar.TypeReg {
		rc.next.files[key] = rec
		_, err := io.CopyBuffer(rc.ap.tw, tr, rc.buf)
		return err
	}
	rc.h.Reset()
	n, err := io.CopyBuffer(io.MultiWriter(rc.ap.tw, rc.h), tr, rc.buf)
	if err != nil {
		return err
	}
	rec.size, rec.summed = n, true
	rc.h.Sum(rec.sum[:0])
	rc.next.files[key] = rec
	return nil
}

// keepState is what keep did with an entry's content.
type keepState int

const (
	kept    keepState = iota // unchanged: nothing to write
	read                     // a changed small file, read into rc.small
	written                  // a changed large file, written whole
)

// keep reads the content of an entry whose record matches old and says
// whether it is unchanged; rec gets the content's digest either way.
func (rc *receiver) keep(key string, hdr *tar.Header, tr *tar.Reader, old contextSum, rec *contextSum) (keepState, error) {
	if rec.typ != tar.TypeReg {
		return kept, nil
	}
	if hdr.Size <= smallFile {
		if rc.small == nil {
			rc.small = make([]byte, smallFile)
		}
		if _, err := io.ReadFull(tr, rc.small[:hdr.Size]); err != nil {
			return read, err
		}
		rec.sum = sha256.Sum256(rc.small[:hdr.Size])
		rec.summed = true
		if rec.sum == old.sum {
			return kept, nil
		}
		return read, nil
	}
	ok, err := rc.keepLarge(key, hdr, tr, old, rec)
	if ok {
		return kept, err
	}
	return written, err
}

// keepLarge compares a large entry with the file at its place as both
// stream; at the first difference it writes the entry: the part read so
// far (the same as the old file's) from the old file, then the rest.
func (rc *receiver) keepLarge(key string, hdr *tar.Header, tr *tar.Reader, old contextSum, rec *contextSum) (bool, error) {
	rc.h.Reset()
	fd, err := archive.OpenInRootPath(rc.dir, key, unix.O_RDONLY|unix.O_NOFOLLOW)
	var f *os.File
	if err == nil {
		f = os.NewFile(uintptr(fd), key)
		defer f.Close()
	}
	cmp := make([]byte, len(rc.buf))
	var off int64
	for f != nil {
		n, rerr := io.ReadFull(tr, rc.buf)
		if n > 0 {
			rc.h.Write(rc.buf[:n])
			m, _ := io.ReadFull(f, cmp[:n])
			if m != n || !bytes.Equal(cmp[:n], rc.buf[:n]) {
				// Changed: the prefix from the old file, then this chunk.
				if err := rc.ap.tw.WriteHeader(hdr); err != nil {
					return false, err
				}
				if _, err := io.CopyBuffer(rc.ap.tw, io.NewSectionReader(f, 0, off), cmp); err != nil {
					return false, err
				}
				if _, err := rc.ap.tw.Write(rc.buf[:n]); err != nil {
					return false, err
				}
				off += int64(n)
				break
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			if off != hdr.Size {
				return false, io.ErrUnexpectedEOF
			}
			rc.h.Sum(rec.sum[:0])
			rec.summed = true
			if rec.sum == old.sum {
				return true, nil
			}
			// Same bytes as the old file, another digest than recorded:
			// the file was changed behind the record; write it.
			if err := rc.ap.tw.WriteHeader(hdr); err != nil {
				return false, err
			}
			_, err := io.CopyBuffer(rc.ap.tw, io.NewSectionReader(f, 0, off), rc.buf)
			return false, err
		}
		if rerr != nil {
			return false, rerr
		}
	}
	if f == nil { // no file at its place: write the entry
		if err := rc.ap.tw.WriteHeader(hdr); err != nil {
			return false, err
		}
	}
	n, err := io.CopyBuffer(io.MultiWriter(rc.ap.tw, rc.h), tr, rc.buf)
	if err != nil {
		return false, err
	}
	if off+n != hdr.Size {
		return false, io.ErrUnexpectedEOF
	}
	rc.h.Sum(rec.sum[:0])
	rec.summed = true
	return false, nil
}

// restartFresh leaves the work in place (see receiver): the entries
// received so far go into a new directory, from the old one, which is
// then removed.
func (rc *receiver) restartFresh() error {
	if err := rc.ap.finish(nil); err != nil {
		return err
	}
	old := rc.dir
	dir, err := os.MkdirTemp(rc.newDir, "build-context-")
	if err != nil {
		return err
	}
	rc.dir, rc.prev, rc.intact, rc.dirty = dir, nil, nil, nil
	defer func() { go os.RemoveAll(old) }()
	rc.ap = startApply(rc.ctx, dir)
	for _, key := range rc.order {
		rec := rc.next.files[key]
		hdr := rec.header(key)
		if err := rc.ap.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if rec.typ != tar.TypeReg || rec.size == 0 {
			continue
		}
		fd, err := archive.OpenInRootPath(old, key, unix.O_RDONLY|unix.O_NOFOLLOW)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		f := os.NewFile(uintptr(fd), key)
		n, err := io.CopyBuffer(rc.ap.tw, io.LimitReader(f, rec.size), rc.buf)
		f.Close()
		if err == nil && n != rec.size {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// prune removes from dir what the stream did not name (what is left of
// the earlier context) and restores the times of the directories left in
// place whose entries changed.
func (rc *receiver) prune() error {
	fd, err := unix.Open(rc.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if _, err := rc.pruneDir(fd, ""); err != nil {
		return err
	}
	for dir := range rc.dirty {
		rec, ok := rc.next.files[dir]
		if dir == "" || !ok || rec.typ != tar.TypeDir || !rc.intact[dir] {
			continue
		}
		ts := unix.NsecToTimespec(rec.mtime)
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, path.Join(rc.dir, dir), []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

// pruneDir removes what the stream did not name in the directory fd
// (closed here), whose path is prefix; it says whether fd ended empty.
func (rc *receiver) pruneDir(fd int, prefix string) (bool, error) {
	f := os.NewFile(uintptr(fd), prefix)
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return false, err
	}
	left := len(entries)
	for _, e := range entries {
		rel := path.Join(prefix, e.Name())
		_, named := rc.next.files[rel]
		if e.IsDir() {
			sub, err := unix.Openat(fd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return false, err
			}
			empty, err := rc.pruneDir(sub, rel)
			if err != nil {
				return false, err
			}
			if !named && empty {
				if err := unix.Unlinkat(fd, e.Name(), unix.AT_REMOVEDIR); err != nil {
					return false, err
				}
				left--
				rc.dirty[prefix] = true
			}
			continue
		}
		if !named {
			if err := unix.Unlinkat(fd, e.Name(), 0); err != nil && err != unix.ENOENT {
				return false, err
			}
			left--
			rc.dirty[prefix] = true
		}
	}
	return left == 0, nil
}

// recordOf is the record of the entry hdr as the extraction leaves it.
func recordOf(hdr *tar.Header) contextSum {
	rec := contextSum{
		typ: hdr.Typeflag, mode: hdr.Mode & 0o7777, uid: hdr.Uid, gid: hdr.Gid, mtime: timespecNano(hdr.ModTime),
		link: hdr.Linkname, devmajor: hdr.Devmajor, devminor: hdr.Devminor,
	}
	if rec.typ == tar.TypeRegA {
		rec.typ = tar.TypeReg
	}
	if rec.typ == tar.TypeReg {
		rec.size = hdr.Size
	}
	var xs []string
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			xs = append(xs, name+"="+v+"\x00")
		}
	}
	slices.Sort(xs)
	rec.xattrs = strings.Join(xs, "")
	return rec
}

// sameMeta says whether two records are the same but for the content.
func (s contextSum) sameMeta(o contextSum) bool {
	s.summed, o.summed, s.sum, o.sum = false, false, [sha256.Size]byte{}, [sha256.Size]byte{}
	return s == o
}

// header is a tar header that extracts as the record says.
func (s contextSum) header(name string) *tar.Header {
	hdr := &tar.Header{
		Name: name, Typeflag: s.typ, Mode: s.mode, Uid: s.uid, Gid: s.gid, Size: s.size,
		ModTime: time.Unix(0, s.mtime), Linkname: s.link, Devmajor: s.devmajor, Devminor: s.devminor,
	}
	for _, kv := range strings.Split(s.xattrs, "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	return hdr
}

// parentOf is the directory of the clean context path name ("" for the
// root).
func parentOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}
