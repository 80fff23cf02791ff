package layer

import (
	"context"
	_ "crypto/sha256" // register sha256 for go-digest
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"
	"github.com/opencontainers/go-digest"

	iarchive "github.com/gantry/gantry/internal/archive"
	"github.com/gantry/gantry/mount"
)

// Layer is a committed, read-only layer.
type Layer struct {
	ChainID digest.Digest `json:"chainID"`
	DiffID  digest.Digest `json:"diffID"`           // sha256 of the uncompressed layer tar
	Parent  digest.Digest `json:"parent,omitempty"` // chain ID of the layer below, "" for a base layer
	Size    int64         `json:"size"`             // bytes of file content in this layer's diff
	// TarSize is the length of the uncompressed layer tar (the content
	// DiffID names), which an archive needs before the tar itself; 0 in
	// records written before it was kept.
	TarSize int64 `json:"tarSize,omitempty"`
}

// ChainID returns the OCI chain ID of the layer diffID applied on top of
// the chain parent: diffID itself for a base layer (parent == ""), else
// sha256(parent + " " + diffID).
func ChainID(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return digest.FromString(parent.String() + " " + diffID.String())
}

// On-disk layout under root:
//
//	<chain hex>/diff/       the layer's files (overlay: its own changes; vfs: the merged tree)
//	<chain hex>/layer.json  the Layer record
//	<chain hex>/tar-split.json.gz  what Tar needs besides the files (WithTarSplit)
//	l/<short>               symlink to ../<chain hex>/diff, to keep overlay mount options short
//
// A layer directory appears in root only by one rename of a complete
// staging directory, and leaves it by one rename into tmp, so root never
// holds a partial layer.
const (
	filesDirName = "diff"
	metaName     = "layer.json"
	linkDirName  = "l"

	stagePrefix  = "layer-stage-"
	removePrefix = "layer-remove-"
)

// Option configures New.
type Option func(*options)

type options struct {
	driver string
}

// WithDriver forces the driver, "overlay2" or "vfs", instead of probing.
// New fails if the forced driver does not work here.
func WithDriver(name string) Option {
	return func(o *options) { o.driver = name }
}

// Store holds the layers under one root directory and creates read-write
// snapshots on top of them. A Store is safe for concurrent use. It is the
// only writer of its root: it keeps an index of the layers in memory, read
// from the disk once by New, so that Get, List and Remove read no file and
// cost nothing that grows with the store. Several Applies of the same chain
// ID race only in the way a rename does: one wins, the others see the
// winner's layer.
type Store struct {
	root string
	tmp  string
	drv  driver

	mu       sync.Mutex
	layers   map[digest.Digest]Layer // every complete layer, by chain ID
	children map[digest.Digest]int   // chain ID -> layers on it, and Applies under way on it

	depths sync.Map // chain ID -> number of layers in its chain (a chain ID names its whole chain)
}

// driver is what differs between overlay and plain copies. Directories
// passed in are owned by the Store; chains are lists of layer chain IDs,
// top first.
type driver interface {
	name() string
	// apply extracts the layer tar r into dst, an empty directory, given
	// that parent (the parent layer's files directory, "" for none) is
	// beneath it, and returns the size of the layer's content; entries
	// may take the inodes of sources (iarchive.ApplyFrom), nil for none.
	apply(ctx context.Context, dst, parent string, r io.Reader, sources iarchive.Sources) (int64, error)
	// exists reports whether dir holds a snapshot.
	exists(dir string) bool
	// prepare makes (or finds) a read-write snapshot in dir on top of chain,
	// for a user namespace with mapping idm (see WithIDMap) unless it is
	// empty.
	prepare(ctx context.Context, dir string, chain []digest.Digest, idm user.IdentityMapping) ([]mount.Mount, error)
	// view returns read-only mounts of the existing snapshot in dir.
	view(ctx context.Context, dir string, chain []digest.Digest) ([]mount.Mount, error)
	// diff returns the changes in dir against chain as an OCI layer tar,
	// with the host ids of a snapshot of mapping idm shifted back.
	diff(ctx context.Context, dir string, chain []digest.Digest, idm user.IdentityMapping) (io.ReadCloser, error)
	// usage returns the size of the changes in dir against chain.
	usage(ctx context.Context, dir string, chain []digest.Digest) (int64, error)
	// release removes the snapshot files from dir.
	release(ctx context.Context, dir string) error
	// maxDepth is the deepest chain a snapshot can stack; 0 for no limit.
	maxDepth() int
}

// New opens (creating if needed) the layer store at root, staging work in
// tmpDir, which must be on the same filesystem. The driver is "overlay2"
// when a test overlay mount works in tmpDir, else "vfs", unless WithDriver
// says otherwise. A kernel without openat2 (Linux 5.6), which safe
// extraction needs, is a not-implemented error. New removes what a crash
// may have left: staging directories of this package in tmpDir,
// directories in root named by a chain ID that hold no complete layer, and
// stale short links.
func New(root, tmpDir string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	for _, d := range []string{root, filepath.Join(root, linkDirName), tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create layer store: %w", err)
		}
	}
	if !iarchive.Supported() {
		return nil, errdefs.ErrNotImplemented.WithMessage("layer store: kernel lacks openat2 (Linux 5.6)")
	}
	spreadSubdirs(tmpDir)
	s := &Store{root: root, tmp: tmpDir, layers: map[digest.Digest]Layer{}, children: map[digest.Digest]int{}}
	if err := s.cleanup(); err != nil {
		return nil, err
	}
	switch o.driver {
	case "":
		if d, err := newOverlay(s); err == nil {
			s.drv = d
		} else {
			s.drv = newVFS(s)
		}
	case "overlay2":
		d, err := newOverlay(s)
		if err != nil {
			return nil, err
		}
		s.drv = d
	case "vfs":
		s.drv = newVFS(s)
	default:
		return nil, errdefs.ErrInvalidArgument.WithMessage("unknown layer driver " + o.driver)
	}
	return s, nil
}

// Driver returns the name of the driver in use: "overlay2" or "vfs".
func (s *Store) Driver() string { return s.drv.name() }

// MaxDepth returns the most layers an image may have for its snapshots to
// mount here, 0 for no limit: with overlay2, 500 (overlayfs' own limit)
// on kernels that take overlay layers one by one (Linux 6.8), else as many
// as fit in the one page of mount options; vfs has no limit.
func (s *Store) MaxDepth() int { return s.drv.maxDepth() }

// CheckDepth returns an invalid-argument error, in Docker's words, when an
// image of n layers is deeper than MaxDepth: Apply refuses its layers and
// Prepare its snapshots.
func (s *Store) CheckDepth(n int) error {
	if max := s.MaxDepth(); max > 0 && n > max {
		return maxDepthError(n, max)
	}
	return nil
}

func maxDepthError(n, max int) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("max depth exceeded\nhint: an image of %d layers; a container's overlay stacks at most %d here", n, max))
}

// depth returns the number of layers in the chain of id, remembering it
// for id and the layers below.
func (s *Store) depth(id digest.Digest) (int, error) {
	var walked []digest.Digest
	n := 0
	for id != "" {
		if d, ok := s.depths.Load(id); ok {
			n = d.(int)
			break
		}
		if err := checkDigest(id); err != nil {
			return 0, err
		}
		l, err := readMeta(s.layerDir(id), id)
		if err != nil {
			return 0, err
		}
		if len(walked) > 1<<16 {
			return 0, fmt.Errorf("layer %s: chain too long", id)
		}
		walked = append(walked, id)
		id = l.Parent
	}
	for i := len(walked) - 1; i >= 0; i-- {
		n++
		s.depths.Store(walked[i], n)
	}
	return n, nil
}

func (s *Store) layerDir(id digest.Digest) string { return filepath.Join(s.root, id.Encoded()) }

func (s *Store) filesDir(id digest.Digest) string {
	return filepath.Join(s.root, id.Encoded(), filesDirName)
}

// linkPath is the short path of the layer's files directory.
func (s *Store) linkPath(id digest.Digest) string {
	return filepath.Join(s.root, linkDirName, shortName(id))
}

// shortName is 64 bits of the chain ID in 13 base32 characters, so that a
// chain of about 90 layers fits in the one page of overlay mount options
// when root is /var/lib/gantry/layers. A name is never reused for another
// layer: creating a link that exists with another target fails (see link),
// so a crafted prefix collision cannot substitute one layer for another.
func shortName(id digest.Digest) string {
	b, _ := hex.DecodeString(id.Encoded()[:16])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

func linkTarget(id digest.Digest) string {
	return filepath.Join("..", id.Encoded(), filesDirName)
}

func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("chain ID %q: %v", d, err))
	}
	if d.Algorithm() != digest.SHA256 {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("chain ID %q: unsupported algorithm", d))
	}
	return nil
}

// Get returns the layer with the given chain ID; a layer that does not
// exist is a not-found error, an invalid chain ID an invalid-argument one.
func (s *Store) Get(ctx context.Context, chainID digest.Digest) (Layer, error) {
	s.mu.Lock()
	l, ok := s.layers[chainID]
	s.mu.Unlock()
	if ok {
		return l, nil // indexed, so valid
	}
	if err := checkDigest(chainID); err != nil {
		return Layer{}, err
	}
	return Layer{}, errdefs.ErrNotFound.WithMessage("layer " + chainID.String() + " not found")
}

// Dir returns the directory of the layer's own changes in overlay form
// (whiteouts as 0/0 character devices, opaque directories marked), which
// another overlay snapshotter on this filesystem may stack as a lower
// directory without a copy (BuildKit's, see package buildkit); nothing may
// write it. Only the overlay2 driver has one: vfs layers hold merged
// trees (a not-implemented error).
func (s *Store) Dir(ctx context.Context, chainID digest.Digest) (string, error) {
	if _, err := s.Get(ctx, chainID); err != nil {
		return "", err
	}
	if s.drv.name() != "overlay2" {
		return "", errdefs.ErrNotImplemented.WithMessage("layer store: the " + s.drv.name() + " driver has no overlay layers")
	}
	return s.filesDir(chainID), nil
}

func readMeta(dir string, id digest.Digest) (Layer, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaName))
	if errors.Is(err, fs.ErrNotExist) {
		return Layer{}, errdefs.ErrNotFound.WithMessage("layer " + id.String() + " not found")
	}
	if err != nil {
		return Layer{}, fmt.Errorf("read layer %s: %w", id, err)
	}
	var l Layer
	if err := json.Unmarshal(b, &l); err != nil {
		return Layer{}, fmt.Errorf("read layer %s: %w", id, err)
	}
	if l.ChainID != id {
		return Layer{}, fmt.Errorf("read layer %s: record names %s", id, l.ChainID)
	}
	return l, nil
}

// List returns every layer, sorted by chain ID.
func (s *Store) List(ctx context.Context) ([]Layer, error) {
	s.mu.Lock()
	ls := make([]Layer, 0, len(s.layers))
	for _, l := range s.layers {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	slices.SortFunc(ls, func(a, b Layer) int { return strings.Compare(string(a.ChainID), string(b.ChainID)) })
	return ls, nil
}

// chain returns the chain IDs from id down to the base layer, top first.
// A missing layer anywhere in the chain is a not-found error.
func (s *Store) chain(id digest.Digest) ([]digest.Digest, error) {
	var ids []digest.Digest
	for id != "" {
		if err := checkDigest(id); err != nil {
			return nil, err
		}
		l, err := readMeta(s.layerDir(id), id)
		if err != nil {
			return nil, err
		}
		if slices.Contains(ids, id) {
			return nil, fmt.Errorf("layer %s: parent loop", id)
		}
		ids = append(ids, id)
		id = l.Parent
	}
	return ids, nil
}

// Remove deletes the layer. It is atomic (the layer directory leaves root
// by one rename) and idempotent: removing a missing layer succeeds. The
// caller guarantees no snapshot uses the layer; a layer that is the parent
// of another layer, or of an Apply under way, is not removed and a
// conflict error is returned, so a store never holds a layer without its
// parent. Remove reads no other layer: removing a chain top first costs one
// rename and one delete per layer.
func (s *Store) Remove(ctx context.Context, chainID digest.Digest) error {
	if err := checkDigest(chainID); err != nil {
		return err
	}
	trash, err := os.MkdirTemp(s.tmp, removePrefix)
	if err != nil {
		return fmt.Errorf("remove layer %s: %w", chainID, err)
	}
	defer os.RemoveAll(trash)
	if err := s.takeOut(chainID, filepath.Join(trash, "layer")); err != nil {
		return fmt.Errorf("remove layer %s: %w", chainID, err)
	}
	if err := s.unlink(chainID); err != nil {
		return fmt.Errorf("remove layer %s: %w", chainID, err)
	}
	return nil
}

// takeOut renames the layer's directory to trash and drops it from the
// index, unless a layer or an Apply stands on it.
func (s *Store) takeOut(chainID digest.Digest, trash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.children[chainID]; n > 0 {
		return errdefs.ErrConflict.WithMessage(s.childOfLocked(chainID, n))
	}
	err := os.Rename(s.layerDir(chainID), trash)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if l, ok := s.layers[chainID]; ok {
		delete(s.layers, chainID)
		s.unpinLocked(l.Parent)
	}
	return nil
}

// childOfLocked names a child of the layer id for a conflict error; only
// failing removals look for one. The caller holds s.mu.
func (s *Store) childOfLocked(id digest.Digest, n int) string {
	for _, l := range s.layers {
		if l.Parent == id {
			return "it is the parent of layer " + l.ChainID.String()
		}
	}
	return fmt.Sprintf("%d layers are being applied on it or its tar is being read", n)
}

// pin marks an Apply on parent (a layer of the index, "" for none) so that
// parent is not removed meanwhile; a missing parent is a not-found error.
func (s *Store) pin(parent digest.Digest) error {
	if parent == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.layers[parent]; !ok {
		return errdefs.ErrNotFound.WithMessage("layer " + parent.String() + " not found")
	}
	s.children[parent]++
	return nil
}

// unpin ends what pin or a child layer began on parent.
func (s *Store) unpin(parent digest.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unpinLocked(parent)
}

func (s *Store) unpinLocked(parent digest.Digest) {
	if parent == "" {
		return
	}
	if s.children[parent]--; s.children[parent] <= 0 {
		delete(s.children, parent)
	}
}

// publish adds a layer whose directory is in place to the index; its
// parent's pin becomes the layer's. It reports false when the layer was
// there already (the caller then drops its pin).
func (s *Store) publish(l Layer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.layers[l.ChainID]; ok {
		return false
	}
	s.layers[l.ChainID] = l
	return true
}

// link creates the short link of layer id, or finds it in place. A link of
// that name to another layer is a conflict.
func (s *Store) link(id digest.Digest) error {
	p, target := s.linkPath(id), linkTarget(id)
	err := os.Symlink(target, p)
	if errors.Is(err, fs.ErrExist) {
		if got, rerr := os.Readlink(p); rerr == nil && got == target {
			return nil
		}
		if _, serr := os.Stat(p); serr != nil {
			// Dangling link of a removed layer: replace it.
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink(target, p)
		}
		return errdefs.ErrConflict.WithMessage("short name " + filepath.Base(p) + " of layer " + id.String() + " is taken by another layer")
	}
	return err
}

// unlink removes the short link of layer id if it points at it.
func (s *Store) unlink(id digest.Digest) error {
	p := s.linkPath(id)
	if got, err := os.Readlink(p); err != nil || got != linkTarget(id) {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// cleanup removes crash leftovers: this package's staging and trash
// directories in tmp, entries in root named like layers that hold no
// complete layer, and links that lead nowhere; and it restores missing
// links of complete layers. It fills the index with the complete layers.
func (s *Store) cleanup() error {
	tmpEntries, err := os.ReadDir(s.tmp)
	if err != nil {
		return fmt.Errorf("clean layer staging: %w", err)
	}
	for _, e := range tmpEntries {
		if strings.HasPrefix(e.Name(), stagePrefix) || strings.HasPrefix(e.Name(), removePrefix) {
			if err := os.RemoveAll(filepath.Join(s.tmp, e.Name())); err != nil {
				return fmt.Errorf("clean layer staging: %w", err)
			}
		}
	}
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("clean layers: %w", err)
	}
	for _, e := range entries {
		if e.Name() == linkDirName {
			continue
		}
		id := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if id.Validate() != nil {
			continue // not ours to judge
		}
		if l, err := readMeta(s.layerDir(id), id); err == nil {
			if err := s.link(id); err != nil {
				return fmt.Errorf("restore link of layer %s: %w", id, err)
			}
			s.layers[id] = l
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.root, e.Name())); err != nil {
			return fmt.Errorf("clean layers: %w", err)
		}
	}
	for _, l := range s.layers {
		if l.Parent != "" {
			s.children[l.Parent]++
		}
	}
	links, err := os.ReadDir(filepath.Join(s.root, linkDirName))
	if err != nil {
		return fmt.Errorf("clean layer links: %w", err)
	}
	for _, e := range links {
		p := filepath.Join(s.root, linkDirName, e.Name())
		if _, err := os.Stat(p); err != nil {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("clean layer links: %w", err)
			}
		}
	}
	return nil
}

func writeMeta(dir string, l Layer) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, metaName), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close() // written before the rename that publishes the layer
}
