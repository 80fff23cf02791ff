package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
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

// Store keeps image records. Configs are blobs in the content store; the
// records and references live in one file, <root>/images.json, rewritten
// atomically on every change, so a crash leaves the old set or the new set.
// Store is safe for concurrent use.
type Store struct {
	mu      sync.RWMutex
	path    string
	content *content.Store
	records map[digest.Digest]*record
	refs    map[string]digest.Digest // normalised reference (tag or repo digest) -> image ID
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

// New loads the store in root. Records whose config or manifest blob is
// missing (a crash between writing the blobs and the record cannot cause
// this, but a damaged disk can) are dropped with a warning rather than
// listed half-broken.
func New(ctx context.Context, root string, cs *content.Store, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.RemoveTemps(root); err != nil {
		return nil, err
	}
	s := &Store{
		path:    filepath.Join(root, "images.json"),
		content: cs,
		records: map[digest.Digest]*record{},
		refs:    map[string]digest.Digest{},
	}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("load %s: %w", s.path, err)
	}
	for id, r := range st.Images {
		if err := hasBlobs(ctx, cs, id, r.Manifest); err != nil {
			log.Warn("dropping image whose blobs are missing", "image", id, "error", err)
			continue
		}
		s.records[id] = r
	}
	for ref, id := range st.Refs {
		if _, ok := s.records[id]; ok {
			s.refs[ref] = id
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
	if err := s.add(id, mid, parent, opts...); err != nil {
		return "", err
	}
	return id, nil
}

// add records the image id, whose config and manifest mid are stored. An
// existing record is kept.
func (s *Store) add(id, mid, parent digest.Digest, opts ...CreateOption) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.records[id]; ok {
		return nil
	}
	r := &record{Manifest: mid, Parent: parent, Added: time.Now().UTC()}
	for _, o := range opts {
		o(r)
	}
	s.records[id] = r
	if err := s.saveLocked(); err != nil {
		delete(s.records, id)
		return err
	}
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

// Get returns the image with the given ID, or a not-found error.
func (s *Store) Get(ctx context.Context, id digest.Digest) (*Image, error) {
	s.mu.RLock()
	r, ok := s.records[id]
	refs := s.refsLocked(id)
	digests := s.digestsLocked(id)
	s.mu.RUnlock()
	if !ok {
		return nil, noSuchImage(id.String())
	}
	data, err := s.content.ReadAll(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read config of image %s: %w", id, err)
	}
	img := &Image{ID: id, Manifest: r.Manifest, Parent: r.Parent, Added: r.Added, LastTagTime: r.LastTagTime, Refs: refs, Digests: digests}
	if err := json.Unmarshal(data, &img.Config); err != nil {
		return nil, fmt.Errorf("decode config of image %s: %w", id, err)
	}
	data, err = s.content.ReadAll(ctx, r.Manifest)
	if err != nil {
		return nil, fmt.Errorf("read manifest of image %s: %w", id, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode manifest of image %s: %w", id, err)
	}
	img.Layers = m.Layers
	return img, nil
}

// List returns every image, newest first.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	s.mu.RLock()
	ids := make([]digest.Digest, 0, len(s.records))
	for id := range s.records {
		ids = append(ids, id)
	}
	s.mu.RUnlock()
	images := make([]*Image, 0, len(ids))
	for _, id := range ids {
		img, err := s.Get(ctx, id)
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		images = append(images, img)
	}
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
	s.refs[ref.String()] = id
	r.LastTagTime = time.Now().UTC()
	if err := s.saveLocked(); err != nil {
		if hadOld {
			s.refs[ref.String()] = old
		} else {
			delete(s.refs, ref.String())
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
	var kids []digest.Digest
	for k, r := range s.records {
		if r.Parent == id {
			kids = append(kids, k)
		}
	}
	return kids
}

// refsLocked returns the tags of id, sorted. The caller holds s.mu.
func (s *Store) refsLocked(id digest.Digest) []reference.Named {
	var refs []reference.Named
	for name, target := range s.refs {
		if target != id {
			continue
		}
		ref, err := reference.ParseNormalizedNamed(name)
		if _, digested := ref.(reference.Canonical); err == nil && !digested {
			refs = append(refs, ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	return refs
}

// digestsLocked returns the repository digests of id, sorted. The caller
// holds s.mu.
func (s *Store) digestsLocked(id digest.Digest) []reference.Canonical {
	var refs []reference.Canonical
	for name, target := range s.refs {
		if target != id {
			continue
		}
		ref, err := reference.ParseNormalizedNamed(name)
		if c, digested := ref.(reference.Canonical); err == nil && digested {
			refs = append(refs, c)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	return refs
}

// saveLocked writes the records and references atomically. The caller
// holds s.mu for writing.
func (s *Store) saveLocked() error {
	data, err := json.Marshal(state{Images: s.records, Refs: s.refs})
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path, data, 0o600)
}
