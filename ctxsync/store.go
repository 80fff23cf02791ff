package ctxsync

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/tonistiigi/fsutil"
	"github.com/tonistiigi/fsutil/types"

	"github.com/gantry/gantry/internal/atomicfile"
)

// DefaultKeep is how many contexts' copies a Store keeps: past it, the
// least recently used copy no build holds goes.
const DefaultKeep = 8

// Files of a copy: <root>/<key>/tree is the context, index the digests
// of its regular files, dirty says a sync was under way (its index does
// not count).
const (
	treeDir   = "tree"
	indexFile = "index"
	dirtyFile = "dirty"
)

// Store keeps one copy of each build context a client synced, by the
// client's key, under root (<data-root>/builder/contexts). A copy is held
// by one build at a time, from its sync to the build's end: a second
// build of the same key meanwhile syncs into a scratch copy under tmp
// (everything sent), removed when it is released, so that neither sees
// the other's files change. A sync that fails (a bad entry, a client that
// left) removes the copy it was writing: nothing half-made is kept.
type Store struct {
	root, tmp  string
	keep       int
	maxEntries int // 0: MaxEntries

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	busy bool
	gen  string // the copy's generation (Context.Generation); "": none yet
	// dirs are the modes the client gave the copy's directories at the
	// last sync (nil: unknown): fsutil's receiver changes a directory's
	// mode without a notification, so a change of one is seen here.
	dirs map[string]uint32
	used time.Time
	sums map[string]record // the index as the last sync left it; nil: on disk
}

// record is what is known of an entry (not a directory) of a copy: the
// modification time the client gave it (nanoseconds; the copy's is that
// time rounded to the second, see receive), and for a regular file its
// SHA-256, valid while the file is still the inode Ino with Size and
// Mtime. The receiver replaces a changed file by a new inode (never
// writes one in place), so the digest of an unchanged inode holds.
type record struct {
	Client      int64
	Ino         uint64
	Size, Mtime int64
	Sum         [sha256.Size]byte
	HasSum      bool
}

// Open opens the store at root, creating it, and forgets what is there
// that is not a copy. tmp is a directory on the same filesystem for
// scratch copies and removals.
func Open(root, tmp string, keep int) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	if keep <= 0 {
		keep = DefaultKeep
	}
	s := &Store{root: root, tmp: tmp, keep: keep, entries: map[string]*entry{}}
	des, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, de := range des {
		if ValidKey(de.Name()) != nil || !de.IsDir() {
			go os.RemoveAll(s.moveAway(filepath.Join(root, de.Name())))
			continue
		}
		used := time.Time{}
		if fi, err := de.Info(); err == nil {
			used = fi.ModTime()
		}
		s.entries[de.Name()] = &entry{used: used}
	}
	return s, nil
}

// Stats says what one sync transferred.
type Stats struct {
	Entries  int   // entries the client listed
	Sent     int   // files whose content the server asked for
	Bytes    int64 // content bytes received
	Removed  int   // entries the copy had and the client no longer has
	Scratch  bool  // the key's copy was busy: a scratch copy got everything
	Duration time.Duration
}

// Context is a synced build context, held until Release.
type Context struct {
	// Dir is the context's directory.
	Dir   string
	Stats Stats
	// Generation names the state of the copy's tree: a sync that changes
	// anything in it (or the first since gantryd started) gives it a new
	// one, so equal generations of a key are equal trees. "" for a scratch
	// copy.
	Generation string

	sums    map[string]record
	dirs    map[string]uint32 // entry.dirs after this sync
	changed bool              // the sync wrote or removed something
	release func()
}

// newGeneration is a random generation token.
func newGeneration() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Sums calls add for each regular file whose digest the store knows:
// the file's path in the context, the inode, size and modification time
// (nanoseconds) for which the digest holds, and the SHA-256.
func (c *Context) Sums(add func(rel string, ino uint64, size, mtime int64, sum [sha256.Size]byte)) {
	for rel, s := range c.sums {
		if s.HasSum {
			add(rel, s.Ino, s.Size, s.Mtime, s.Sum)
		}
	}
}

// Release lets other builds use the copy; a scratch copy is removed.
func (c *Context) Release() {
	if c.release != nil {
		c.release()
		c.release = nil
	}
}

// Receive syncs the context key from the client, read from r (from its
// first packet on) and answered on w, into the key's copy, and holds it
// for the caller until Release. On error the copy is gone and the
// connection should be closed; errors in what the client sent are
// invalid-argument errors.
func (s *Store) Receive(ctx context.Context, key string, r io.Reader, w io.Writer) (*Context, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	start := time.Now()
	s.mu.Lock()
	e := s.entries[key]
	scratch := e != nil && e.busy
	if e == nil {
		e = &entry{}
		s.entries[key] = e
	}
	if !scratch {
		e.busy = true
	}
	s.mu.Unlock()

	dir := filepath.Join(s.root, key)
	if scratch {
		d, err := os.MkdirTemp(s.tmp, "context-sync-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	var sums map[string]record
	var dirs map[string]uint32
	if !scratch {
		sums, dirs = e.sums, e.dirs // the holder alone touches them
		e.sums, e.dirs = nil, nil
	}
	c, err := s.receive(ctx, dir, scratch, sums, dirs, r, w)
	if err != nil {
		if scratch {
			go os.RemoveAll(dir)
		} else {
			s.mu.Lock()
			gone := s.moveAway(dir) // before a new sync of key can start
			delete(s.entries, key)
			s.mu.Unlock()
			go os.RemoveAll(gone)
		}
		return nil, err
	}
	c.Stats.Scratch = scratch
	c.Stats.Duration = time.Since(start)
	if !scratch {
		if c.changed || e.gen == "" {
			e.gen = newGeneration() // the holder alone touches it
		}
		c.Generation = e.gen
	}
	c.release = func() {
		if scratch {
			go os.RemoveAll(dir)
			return
		}
		s.mu.Lock()
		e.busy = false
		e.used = time.Now()
		e.sums, e.dirs = c.sums, c.dirs
		s.mu.Unlock()
		s.evict()
	}
	return c, nil
}

func (s *Store) receive(ctx context.Context, dir string, scratch bool, sums map[string]record, prevDirs map[string]uint32, r io.Reader, w io.Writer) (*Context, error) {
	tree := filepath.Join(dir, treeDir)
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return nil, err
	}
	if sums == nil && !scratch {
		sums = loadIndex(dir)
	}
	if sums == nil {
		sums = map[string]record{}
	}
	// Until the sync has ended, the index on disk does not count.
	if err := os.WriteFile(filepath.Join(dir, dirtyFile), nil, 0o600); err != nil {
		return nil, err
	}
	osroot, err := os.OpenRoot(tree)
	if err != nil {
		return nil, err
	}
	root := copyRoot{fsutil.NewRoot(osroot)}
	// Closed once the sync succeeded. After a failed one, fsutil's writer
	// may still have goroutines about to use it (they end with the
	// receiver's context): closing it under them crashes them, so the
	// descriptor is left to os.Root's finalizer, as fsutil leaves the
	// subdirectories' it opened.
	ok := false
	defer func() {
		if ok {
			root.Close()
		}
	}()

	// The copy's modification times are the client's rounded to the
	// second, as a tar's entries are written (so that a direct COPY can
	// hard-link the copy's files into its layer); the client's own time
	// is kept in the record, so that a change within the same second is
	// still seen: an entry whose time is not the recorded one compares
	// as a second and a nanosecond (a time no file of the copy has) and
	// is sent, written, then given its whole second.
	var mu sync.Mutex
	seen := map[string]int64{}  // the client's times of the entries (not directories)
	dirs := map[string]uint32{} // the client's modes of the directories
	dirsChanged := prevDirs == nil
	changed := map[string]*[sha256.Size]byte{} // written: their digest, or nil
	var removed []string
	filter := func(p string, stat *types.Stat) bool {
		if stat.Path == "" {
			return true // a removal's probe
		}
		// Owners as the docker CLI sends a context's (0:0), no extended
		// attributes; a socket is no file to make.
		stat.Uid, stat.Gid, stat.Xattrs = 0, 0, nil
		t := stat.ModTime
		stat.ModTime = roundSecond(t)
		if os.FileMode(stat.Mode).IsDir() {
			rel := filepath.ToSlash(p)
			mu.Lock()
			defer mu.Unlock()
			if m, ok := prevDirs[rel]; !ok || m != stat.Mode {
				dirsChanged = true
			}
			dirs[rel] = stat.Mode
			return true
		}
		if os.FileMode(stat.Mode)&os.ModeSocket != 0 {
			return false
		}
		rel := filepath.ToSlash(p)
		mu.Lock()
		defer mu.Unlock()
		seen[rel] = t
		if rec, ok := sums[rel]; !ok || rec.Client != t {
			stat.ModTime++
		}
		return true
	}
	st := newStream(ctx, bufio.NewReaderSize(r, 256<<10), w)
	st.maxEntries = s.maxEntries
	err = fsutil.ReceiveRoot(ctx, st, root, fsutil.ReceiveOpt{
		Filter:        filter,
		ContentHasher: func(*types.Stat) (hash.Hash, error) { return sha256.New(), nil },
		NotifyHashed: func(kind fsutil.ChangeKind, p string, fi os.FileInfo, _ error) error {
			mu.Lock()
			defer mu.Unlock()
			if kind == fsutil.ChangeKindDelete {
				removed = append(removed, filepath.ToSlash(p))
				return nil
			}
			stat, _ := fi.Sys().(*types.Stat)
			d, ok := fi.(interface{ Digest() digest.Digest })
			if stat == nil || !ok || !fi.Mode().IsRegular() || stat.Linkname != "" {
				changed[filepath.ToSlash(p)] = nil // no digest: read when needed
				return nil
			}
			var sum [sha256.Size]byte
			if n, err := hex.Decode(sum[:], []byte(d.Digest().Encoded())); err != nil || n != len(sum) {
				return fmt.Errorf("digest of %s: %q", p, d.Digest())
			}
			changed[filepath.ToSlash(p)] = &sum
			return nil
		},
	})
	if err != nil {
		return nil, syncError(ctx, err)
	}
	for _, p := range removed {
		delete(sums, p)
		prefix := p + "/"
		for k := range sums {
			if strings.HasPrefix(k, prefix) {
				delete(sums, k)
			}
		}
	}
	for p, sum := range changed {
		delete(sums, p)
		t, ok := seen[p]
		if !ok {
			continue // a directory
		}
		name := filepath.FromSlash(p)
		if err := root.LChtimes(name, time.Unix(0, roundSecond(t))); err != nil {
			return nil, fmt.Errorf("build context sync: %w", err)
		}
		fi, err := root.Lstat(name)
		if err != nil {
			return nil, fmt.Errorf("build context sync: %w", err)
		}
		sys, _ := fi.Sys().(*syscall.Stat_t)
		rec := record{Client: t}
		if sum != nil && sys != nil && fi.Mode().IsRegular() {
			rec.Ino, rec.Size, rec.Mtime, rec.Sum, rec.HasSum = sys.Ino, sys.Size, sys.Mtim.Nano(), *sum, true
		}
		sums[p] = rec
	}
	if !scratch && (len(changed) > 0 || len(removed) > 0 || !indexExists(dir)) {
		if err := saveIndex(dir, sums); err != nil {
			return nil, err
		}
	}
	if err := os.Remove(filepath.Join(dir, dirtyFile)); err != nil {
		return nil, err
	}
	ok = true
	return &Context{
		Dir:     tree,
		sums:    sums,
		dirs:    dirs,
		changed: len(changed) > 0 || len(removed) > 0 || dirsChanged || len(dirs) != len(prevDirs),
		Stats:   Stats{Entries: st.entries, Sent: st.requests, Bytes: st.received, Removed: len(removed)},
	}, nil
}

// roundSecond is the time t (nanoseconds) rounded to the second, as
// archive/tar writes an entry's.
func roundSecond(t int64) int64 {
	return time.Unix(0, t).Round(time.Second).UnixNano()
}

// syncError is err, the end of a failed sync, as the caller reports it.
// What the client sent wrong (an entry the receiver refused, out of
// order, through a symlink, an error the sender reported) is an
// invalid-argument error; a connection that broke, a cancelled request
// and this side's disk errors are what they are.
func syncError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case errdefs.IsInvalidArgument(err), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EIO), errors.Is(err, syscall.EROFS),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
	default:
		return errdefs.ErrInvalidArgument.WithMessage("invalid build context: " + err.Error())
	}
	return fmt.Errorf("build context sync: %w", err)
}

// evict removes the least recently used copies no build holds, past keep.
func (s *Store) evict() {
	s.mu.Lock()
	var idle []string
	for k, e := range s.entries {
		if !e.busy {
			idle = append(idle, k)
		}
	}
	if len(s.entries) <= s.keep {
		s.mu.Unlock()
		return
	}
	sort.Slice(idle, func(i, j int) bool { return s.entries[idle[i]].used.Before(s.entries[idle[j]].used) })
	var gone []string
	for _, k := range idle {
		if len(s.entries) <= s.keep {
			break
		}
		delete(s.entries, k)
		gone = append(gone, s.moveAway(filepath.Join(s.root, k)))
	}
	s.mu.Unlock()
	for _, dir := range gone {
		go os.RemoveAll(dir)
	}
}

// Prune removes every copy no build holds and returns the bytes of file
// content that freed (files a layer shares by a hard link free nothing).
func (s *Store) Prune(ctx context.Context) (int64, error) {
	s.mu.Lock()
	var gone []string
	for k, e := range s.entries {
		if !e.busy {
			delete(s.entries, k)
			gone = append(gone, s.moveAway(filepath.Join(s.root, k)))
		}
	}
	s.mu.Unlock()
	var freed int64
	for _, dir := range gone {
		copy := dir // moved, as moveAway moves it, or left where it was
		if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
			copy = filepath.Join(dir, "x")
		}
		freed += diskSize(filepath.Join(copy, treeDir))
		if err := os.RemoveAll(dir); err != nil {
			return freed, fmt.Errorf("remove build context copy: %w", err)
		}
	}
	return freed, ctx.Err()
}

// copies is how many copies there are.
func (s *Store) copies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

func diskSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 1 {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// moveAway moves dir into tmp (a leftover goes with tmp/ at the next
// start) and returns where it is now, for the caller to remove; dir
// itself if it could not be moved. Called with s.mu held, so that no
// sync of the same key starts in dir meanwhile.
func (s *Store) moveAway(dir string) string {
	gone, err := os.MkdirTemp(s.tmp, "context-gone-")
	if err != nil {
		return dir
	}
	if err := os.Rename(dir, filepath.Join(gone, "x")); err != nil {
		os.Remove(gone)
		return dir
	}
	return gone
}

func loadIndex(dir string) map[string]record {
	sums := map[string]record{}
	if _, err := os.Stat(filepath.Join(dir, dirtyFile)); err == nil {
		return sums // a sync was cut short: the index does not count
	}
	f, err := os.Open(filepath.Join(dir, indexFile))
	if err != nil {
		return sums
	}
	defer f.Close()
	if err := gob.NewDecoder(f).Decode(&sums); err != nil {
		return map[string]record{}
	}
	return sums
}

func indexExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, indexFile))
	return err == nil
}

func saveIndex(dir string, sums map[string]record) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(sums); err != nil {
		return err
	}
	return atomicfile.Replace(filepath.Join(dir, indexFile), buf.Bytes(), 0o600)
}
