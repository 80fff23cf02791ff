package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/content"
	"github.com/gantry/gantry/internal/atomicfile"
)

// Config is an image configuration as Docker writes it: the OCI image config
// plus Docker's extensions (Healthcheck, OnBuild, Shell, comment).
type Config struct {
	dockerspec.DockerOCIImage
	Comment string `json:"comment,omitempty"`
	// Container is the ID of the container the image was committed from.
	Container string `json:"container,omitempty"`
}

// Image is one image: its ID (the digest of its config), the decoded config
// and the local bookkeeping.
type Image struct {
	ID          digest.Digest
	Config      Config
	Manifest    digest.Digest        // the OCI manifest tying the config to the layer blobs
	Layers      []ocispec.Descriptor // the layer blobs, base first, one per RootFS.DiffIDs entry
	Parent      digest.Digest        // the image this one was built or committed from, if known locally
	Added       time.Time            // when the image entered this store
	LastTagTime time.Time
	Refs        []reference.Named // tags, sorted; nil for a dangling image
	// Digests are the repository digests (name@sha256:...) the image was
	// pulled by or pushed as, sorted.
	Digests []reference.Canonical
}

// Created is when the image was made, or when it was added locally if its
// config does not say.
func (img *Image) Created() time.Time {
	if img.Config.Created != nil {
		return *img.Config.Created
	}
	return img.Added
}

// Store keeps image records. Configs and manifests are blobs in the
// content store; the records and references live in memory and on disk as
// a snapshot, <root>/images.json, plus a journal of the changes since,
// <root>/images.log (see journal.go): every change is saved durably before
// it returns, in a time that does not grow with the store, and a crash
// leaves the old state or the new one. The Store indexes its records (the
// names and children of each image, each image's decoded config and
// layers, read once, as blobs never change), so that List and Get cost
// what they return, not the size of the store. Store is safe for
// concurrent use; it must be the only writer of its root.
type Store struct {
	mu      sync.RWMutex
	path    string // the snapshot
	journal *journal
	content *content.Store
	records map[digest.Digest]*record
	refs    map[string]digest.Digest // normalised reference (tag or repo digest) -> image ID

	// Indexes of records and refs.
	names    map[digest.Digest]*names // image ID -> its references, parsed and sorted
	children map[digest.Digest]int    // image ID -> number of records whose parent it is
	meta     map[digest.Digest]*meta  // image ID -> its decoded config and layers

	// Changes not saved yet: the records and references saveLocked writes.
	dirtyImages map[digest.Digest]bool
	dirtyRefs   map[string]bool
}

// names are an image's references, each list sorted by its string.
type names struct {
	tags    []reference.Named
	digests []reference.Canonical
}

// meta is what List needs of an image's blobs, decoded once.
type meta struct {
	config Config
	layers []ocispec.Descriptor
}

type record struct {
	Manifest    digest.Digest
	Parent      digest.Digest `json:",omitempty"`
	Added       time.Time
	LastTagTime time.Time `json:",omitzero"`
	// Unfinished marks an image a build made that no finished build has
	// claimed yet (see Unfinished).
	Unfinished bool `json:",omitempty"`
}

type state struct {
	Images map[digest.Digest]*record
	Refs   map[string]digest.Digest
}

// New loads the store in root: the snapshot, then the journal over it.
// Records whose config or manifest blob is missing (a crash between
// writing the blobs and the record cannot cause this, but a damaged disk
// can) are dropped with a warning rather than listed half-broken.
func New(ctx context.Context, root string, cs *content.Store, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.RemoveTemps(root); err != nil {
		return nil, err
	}
	s := &Store{
		path:        filepath.Join(root, "images.json"),
		content:     cs,
		records:     map[digest.Digest]*record{},
		refs:        map[string]digest.Digest{},
		names:       map[digest.Digest]*names{},
		children:    map[digest.Digest]int{},
		meta:        map[digest.Digest]*meta{},
		dirtyImages: map[digest.Digest]bool{},
		dirtyRefs:   map[string]bool{},
	}
	st := state{Images: map[digest.Digest]*record{}, Refs: map[string]digest.Digest{}}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, fmt.Errorf("load %s: %w", s.path, err)
		}
		if st.Images == nil {
			st.Images = map[digest.Digest]*record{}
		}
		if st.Refs == nil {
			st.Refs = map[string]digest.Digest{}
		}
	}
	if s.journal, err = openJournal(filepath.Join(root, "images.log"), &st); err != nil {
		return nil, fmt.Errorf("load image journal: %w", err)
	}
	var dropped []digest.Digest
	for id, r := range st.Images {
		if err := hasBlobs(ctx, cs, id, r.Manifest); err != nil {
			log.Warn("dropping image whose blobs are missing", "image", id, "error", err)
			dropped = append(dropped, id)
			continue
		}
		s.putRecordLocked(id, r)
	}
	var droppedRefs []string
	for ref, id := range st.Refs {
		if _, ok := s.records[id]; ok {
			s.setRefLocked(ref, id)
		} else {
			droppedRefs = append(droppedRefs, ref)
		}
	}
	clear(s.dirtyImages)
	clear(s.dirtyRefs)
	for _, id := range dropped {
		s.dirtyImages[id] = true
	}
	for _, ref := range droppedRefs {
		s.dirtyRefs[ref] = true
	}
	if len(dropped) > 0 || len(droppedRefs) > 0 {
		if err := s.saveLocked(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// hasBlobs checks that an image's config and manifest are stored.
func hasBlobs(ctx context.Context, cs *content.Store, blobs ...digest.Digest) error {
	for _, d := range blobs {
		if _, err := cs.Size(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// CreateOption changes how Create records an image.
type CreateOption func(*record)

// Unfinished records the image as made by a build still running: unless a
// finished build claims it (Finish), RemoveUnfinished removes it at the
// next start of the daemon once nothing else holds it. So a build that is
// interrupted (cancelled, failed, or the daemon killed) leaves no dangling
// image behind for good, while its steps serve as cache until then.
func Unfinished() CreateOption { return func(r *record) { r.Unfinished = true } }

// Create stores config as an image whose layers are the given blobs (one
// per diff ID of the config, base first) and returns its ID, the digest of
// the config bytes. The config and an OCI manifest listing the blobs are
// written before the record, so a crash never leaves a record without them.
// Creating an existing image is a no-op.
func (s *Store) Create(ctx context.Context, config []byte, layers []ocispec.Descriptor, parent digest.Digest, opts ...CreateOption) (digest.Digest, error) {
	var c Config
	if err := json.Unmarshal(config, &c); err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage("invalid image config: " + err.Error())
	}
	if len(layers) != len(c.RootFS.DiffIDs) {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image has %d diff IDs but %d layer blobs", len(c.RootFS.DiffIDs), len(layers)))
	}
	id, err := s.content.PutBytes(ctx, config)
	if err != nil {
		return "", fmt.Errorf("store image config: %w", err)
	}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: id, Size: int64(len(config))},
		Layers:    layers,
	})
	if err != nil {
		return "", err
	}
	mid, err := s.content.PutBytes(ctx, manifest)
	if err != nil {
		return "", fmt.Errorf("store image manifest: %w", err)
	}
	if err := s.add(id, mid, parent, &meta{config: c, layers: slices.Clone(layers)}, opts...); err != nil {
		return "", err
	}
	return id, nil
}

// add records the image id, whose config and manifest mid are stored and
// decode to m. An existing record is kept.
func (s *Store) add(id, mid, parent digest.Digest, m *meta, opts ...CreateOption) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.records[id]; ok {
		return nil
	}
	r := &record{Manifest: mid, Parent: parent, Added: time.Now().UTC()}
	for _, o := range opts {
		o(r)
	}
	s.putRecordLocked(id, r)
	if err := s.saveLocked(); err != nil {
		s.delRecordLocked(id)
		return err
	}
	s.meta[id] = m
	return nil
}

// Resolve returns the ID of the image name refers to: a reference
// ("busybox", "me/x:1"), a full ID or an unambiguous ID prefix. It fails
// with a not-found error "No such image: NAME", or an invalid-argument error
// for a malformed name.
func (s *Store) Resolve(ctx context.Context, name string) (digest.Digest, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.resolveLocked(name)
}

// Get returns the image with the given ID, or a not-found error. The
// Image is the caller's.
func (s *Store) Get(ctx context.Context, id digest.Digest) (*Image, error) {
	s.mu.RLock()
	r, ok := s.records[id]
	var rc record
	if ok {
		rc = *r
	}
	n := s.names[id]
	s.mu.RUnlock()
	if !ok {
		return nil, noSuchImage(id.String())
	}
	m, err := s.readMeta(ctx, id, rc.Manifest)
	if err != nil {
		return nil, err
	}
	return s.image(id, &rc, n, m, true), nil
}

// image makes the Image of id from its record, names and meta; copied, the
// Image shares nothing with the store.
func (s *Store) image(id digest.Digest, r *record, n *names, m *meta, copied bool) *Image {
	img := &Image{ID: id, Manifest: r.Manifest, Parent: r.Parent, Added: r.Added, LastTagTime: r.LastTagTime, Config: m.config, Layers: m.layers}
	if n != nil {
		img.Refs, img.Digests = n.tags, n.digests
	}
	if copied {
		img.Refs, img.Digests = slices.Clone(img.Refs), slices.Clone(img.Digests)
	}
	return img
}

// readMeta reads and decodes the config and manifest of the image id.
func (s *Store) readMeta(ctx context.Context, id, manifest digest.Digest) (*meta, error) {
	data, err := s.content.ReadAll(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read config of image %s: %w", id, err)
	}
	m := &meta{}
	if err := json.Unmarshal(data, &m.config); err != nil {
		return nil, fmt.Errorf("decode config of image %s: %w", id, err)
	}
	data, err = s.content.ReadAll(ctx, manifest)
	if err != nil {
		return nil, fmt.Errorf("read manifest of image %s: %w", id, err)
	}
	var mf ocispec.Manifest
	if err := json.Unmarshal(data, &mf); err != nil {
		return nil, fmt.Errorf("decode manifest of image %s: %w", id, err)
	}
	m.layers = mf.Layers
	return m, nil
}

// List returns every image, newest first. The images and what they hold
// are shared with the store and with other callers: read them, never
// modify them (Get returns an image of one's own). Blobs are read only for
// images not listed before: the cost of a List is that of its answer.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	s.mu.RLock()
	var missing []digest.Digest
	for id := range s.records {
		if s.meta[id] == nil {
			missing = append(missing, id)
		}
	}
	manifests := make([]digest.Digest, len(missing))
	for i, id := range missing {
		manifests[i] = s.records[id].Manifest
	}
	s.mu.RUnlock()
	loaded := make(map[digest.Digest]*meta, len(missing))
	for i, id := range missing {
		m, err := s.readMeta(ctx, id, manifests[i])
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		loaded[id] = m
	}
	s.mu.Lock()
	for id, m := range loaded {
		if _, ok := s.records[id]; ok {
			s.meta[id] = m
		}
	}
	images := make([]*Image, 0, len(s.records))
	for id, r := range s.records {
		if m := s.meta[id]; m != nil {
			images = append(images, s.image(id, r, s.names[id], m, false))
		}
	}
	s.mu.Unlock()
	sort.Slice(images, func(i, j int) bool {
		ci, cj := images[i].Created(), images[j].Created()
		if !ci.Equal(cj) {
			return ci.After(cj)
		}
		return images[i].ID < images[j].ID
	})
	return images, nil
}

// Tag points ref at the image id. An image the reference pointed at before
// keeps its other references, or becomes dangling.
func (s *Store) Tag(ctx context.Context, id digest.Digest, ref reference.Named) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id]
	if !ok {
		return noSuchImage(id.String())
	}
	old, hadOld := s.refs[ref.String()]
	oldTime := r.LastTagTime
	s.setRefLocked(ref.String(), id)
	r.LastTagTime = time.Now().UTC()
	s.dirtyImages[id] = true
	if err := s.saveLocked(); err != nil {
		if hadOld {
			s.setRefLocked(ref.String(), old)
		} else {
			s.delRefLocked(ref.String())
		}
		r.LastTagTime = oldTime
		return err
	}
	return nil
}

// Children returns the images whose parent is id.
func (s *Store) Children(id digest.Digest) []digest.Digest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.children[id] == 0 {
		return nil
	}
	var kids []digest.Digest
	for k, r := range s.records {
		if r.Parent == id {
			kids = append(kids, k)
		}
	}
	return kids
}

// HasChildren reports whether an image's parent is id.
func (s *Store) HasChildren(id digest.Digest) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.children[id] > 0
}

// refsLocked returns the tags of id, sorted. The caller holds s.mu.
func (s *Store) refsLocked(id digest.Digest) []reference.Named {
	if n := s.names[id]; n != nil {
		return slices.Clone(n.tags)
	}
	return nil
}

// digestsLocked returns the repository digests of id, sorted. The caller
// holds s.mu.
func (s *Store) digestsLocked(id digest.Digest) []reference.Canonical {
	if n := s.names[id]; n != nil {
		return slices.Clone(n.digests)
	}
	return nil
}

// putRecordLocked adds or replaces the record of id, keeping the indexes.
// The caller holds s.mu for writing, as for every ...Locked change below;
// each marks what saveLocked is to write.
func (s *Store) putRecordLocked(id digest.Digest, r *record) {
	if old, ok := s.records[id]; ok && old.Parent != "" {
		s.unchildLocked(old.Parent)
	}
	if r.Parent != "" {
		s.children[r.Parent]++
	}
	s.records[id] = r
	s.dirtyImages[id] = true
}

// delRecordLocked removes the record of id, not its references.
func (s *Store) delRecordLocked(id digest.Digest) {
	r, ok := s.records[id]
	if !ok {
		return
	}
	if r.Parent != "" {
		s.unchildLocked(r.Parent)
	}
	delete(s.records, id)
	delete(s.meta, id)
	s.dirtyImages[id] = true
}

func (s *Store) unchildLocked(parent digest.Digest) {
	if s.children[parent]--; s.children[parent] <= 0 {
		delete(s.children, parent)
	}
}

// setRefLocked points the reference key (normalised) at id.
func (s *Store) setRefLocked(key string, id digest.Digest) {
	if old, ok := s.refs[key]; ok {
		if old == id {
			return
		}
		s.unnameLocked(old, key)
	}
	s.refs[key] = id
	s.dirtyRefs[key] = true
	ref, err := reference.ParseNormalizedNamed(key)
	if err != nil {
		return // kept, never listed: as before the index
	}
	n := s.names[id]
	if n == nil {
		n = &names{}
		s.names[id] = n
	}
	if c, ok := ref.(reference.Canonical); ok {
		n.digests = insertSorted(n.digests, c)
	} else {
		n.tags = insertSorted(n.tags, ref)
	}
}

// delRefLocked removes the reference key.
func (s *Store) delRefLocked(key string) {
	id, ok := s.refs[key]
	if !ok {
		return
	}
	delete(s.refs, key)
	s.dirtyRefs[key] = true
	s.unnameLocked(id, key)
}

func (s *Store) unnameLocked(id digest.Digest, key string) {
	n := s.names[id]
	if n == nil {
		return
	}
	n.tags = slices.DeleteFunc(slices.Clone(n.tags), func(r reference.Named) bool { return r.String() == key })
	n.digests = slices.DeleteFunc(slices.Clone(n.digests), func(r reference.Canonical) bool { return r.String() == key })
	if len(n.tags) == 0 && len(n.digests) == 0 {
		delete(s.names, id)
	}
}

// insertSorted returns a new list: refs with ref added in order of String.
// (A new list, as Lists hand out the old one.)
func insertSorted[T reference.Named](refs []T, ref T) []T {
	i, _ := slices.BinarySearchFunc(refs, ref, func(a, b T) int { return strings.Compare(a.String(), b.String()) })
	return slices.Insert(slices.Clone(refs), i, ref)
}

// saveLocked saves the changes made since the last save: one line in the
// journal, and now and then a new snapshot. The caller holds s.mu for
// writing. After an error the changes stay to be saved by the next call.
func (s *Store) saveLocked() error {
	if len(s.dirtyImages) == 0 && len(s.dirtyRefs) == 0 {
		return nil
	}
	e := journalEntry{Images: map[digest.Digest]*record{}, Refs: map[string]digest.Digest{}}
	for id := range s.dirtyImages {
		e.Images[id] = s.records[id] // nil when removed
	}
	for ref := range s.dirtyRefs {
		e.Refs[ref] = s.refs[ref] // "" when removed
	}
	if err := s.journal.append(e); err != nil {
		return err
	}
	clear(s.dirtyImages)
	clear(s.dirtyRefs)
	if s.journal.size > minCompact && s.journal.size > s.snapshotSize() {
		s.compactLocked() // the changes are saved already; a failure only delays this
	}
	return nil
}

// snapshotSize estimates the size of a snapshot: what compacting costs.
func (s *Store) snapshotSize() int64 {
	return int64(len(s.records))*200 + int64(len(s.refs))*120
}

// compactLocked writes the state as a new snapshot and empties the
// journal.
func (s *Store) compactLocked() error {
	data, err := json.Marshal(state{Images: s.records, Refs: s.refs})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path, data, 0o600); err != nil {
		return err
	}
	return s.journal.reset()
}
