package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/gantry/gantry/internal/atomicfile"
)

// metadataFile sits beside _data in a volume's directory.
const metadataFile = "volume.json"

// Store keeps the volumes under root, one directory each
// (<root>/<name>/_data and <root>/<name>/volume.json), and which containers
// use which volume. Creation and removal are atomic: a volume is assembled
// in a staging directory and renamed into place, and renamed out of place
// before its data is deleted. Store is safe for concurrent use.
type Store struct {
	root string

	mu   sync.Mutex
	vols map[string]*Volume
	refs map[string]map[string]bool // volume name -> IDs of the containers using it

	populating sync.Mutex // one copy into a volume at a time (Populate)
}

// CreateOptions are the settings of a new volume.
type CreateOptions struct {
	Driver  string // "" or "local"
	Labels  map[string]string
	Options map[string]string // the local driver's options
	// Anonymous marks a volume made for a container rather than by name
	// (AnonymousLabel is added); rm -v, run --rm and a plain prune remove it.
	Anonymous bool
	// Reference, when set, records that this container uses the volume, in
	// the same step as finding or creating it, so that no removal slips in
	// between.
	Reference string
}

// New loads the volumes under root, creating root if needed, and deletes
// the leftovers of a create or remove that a crash interrupted. A directory
// holding _data but no metadata (made by hand, as Docker allows) is a volume
// with default settings.
func New(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, err
	}
	s := &Store{root: root, vols: map[string]*Volume{}, refs: map[string]map[string]bool{}}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			if err := os.RemoveAll(dir); err != nil {
				return nil, err
			}
			continue
		}
		if !e.IsDir() {
			continue
		}
		v, err := load(dir)
		if err != nil {
			return nil, err
		}
		if v != nil {
			s.vols[v.Name] = v
		}
	}
	return s, nil
}

// load reads the volume in dir; nil when dir is not a volume.
func load(dir string) (*Volume, error) {
	v := &Volume{}
	data, err := os.ReadFile(filepath.Join(dir, metadataFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st, err := os.Stat(filepath.Join(dir, "_data"))
		if err != nil {
			return nil, nil
		}
		v.Driver, v.CreatedAt = Driver, st.ModTime().UTC()
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(data, v); err != nil {
			return nil, fmt.Errorf("load volume %s: %w", filepath.Base(dir), err)
		}
	}
	v.Name, v.dir = filepath.Base(dir), dir
	return v, nil
}

// Create makes the volume name, or returns it unchanged when it exists
// (labels and options given then are ignored, as Docker does). An empty
// name makes a volume with a random 64-hex name. A name the local driver
// refuses, an unknown option or a driver other than "local" is an error.
func (s *Store) Create(ctx context.Context, name string, opts CreateOptions) (Volume, error) {
	labels := maps.Clone(opts.Labels)
	if name == "" {
		name = randomName()
	}
	if opts.Anonymous {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[AnonymousLabel] = ""
	}
	if opts.Driver != "" && opts.Driver != Driver {
		return Volume{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("create %s: error looking up volume plugin %s: plugin %q not found", name, opts.Driver, opts.Driver))
	}
	if err := checkName(name); err != nil {
		return Volume{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		if err := checkOptions(name, opts.Options); err != nil {
			return Volume{}, err
		}
		v = &Volume{
			Name: name, Driver: Driver, CreatedAt: time.Now().UTC().Truncate(time.Second),
			Labels: labels, Options: maps.Clone(opts.Options), Anonymous: opts.Anonymous,
			dir: filepath.Join(s.root, name),
		}
		if err := s.write(v); err != nil {
			return Volume{}, fmt.Errorf("create %s: %w", name, err)
		}
		s.vols[name] = v
	}
	if opts.Reference != "" {
		s.reference(name, opts.Reference)
	}
	return v.copy(), nil
}

// write assembles v's directory in a staging directory and renames it into
// place.
func (s *Store) write(v *Volume) error {
	staging, err := os.MkdirTemp(s.root, ".create-") // not named after v: a name may take all of NAME_MAX
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging) // gone once renamed
	if err := os.Chmod(staging, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(staging, "_data"), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(staging, metadataFile), data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(staging, v.dir); err != nil {
		return err
	}
	return atomicfile.SyncDir(s.root)
}

func randomName() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Get returns the volume name; a not-found error, with Docker's text, when
// there is none.
func (s *Store) Get(name string) (Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return Volume{}, errNoSuchVolume(name)
	}
	return v.copy(), nil
}

func errNoSuchVolume(name string) error {
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("get %s: no such volume", name))
}

// List returns every volume, sorted by name.
func (s *Store) List() []Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Volume, 0, len(s.vols))
	for _, name := range slices.Sorted(maps.Keys(s.vols)) {
		out = append(out, s.vols[name].copy())
	}
	return out
}

// Remove deletes the volume name and its data. A volume some container uses
// is a conflict ("remove NAME: volume is in use - [IDs]"), an unknown one
// not found.
func (s *Store) Remove(ctx context.Context, name string) error {
	s.mu.Lock()
	v, ok := s.vols[name]
	if !ok {
		s.mu.Unlock()
		return errNoSuchVolume(name)
	}
	if ids := s.users(name); len(ids) > 0 {
		s.mu.Unlock()
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("remove %s: volume is in use - [%s]", name, strings.Join(ids, ", ")))
	}
	trash, err := s.detach(v)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return removeTrash(trash)
}

// detach renames v's directory out of place and forgets v; the caller
// holds s.mu and deletes the returned directory.
func (s *Store) detach(v *Volume) (string, error) {
	trash := filepath.Join(s.root, ".remove-"+randomName()[:16])
	if err := os.Rename(v.dir, trash); err != nil {
		return "", fmt.Errorf("remove %s: %w", v.Name, err)
	}
	delete(s.vols, v.Name)
	delete(s.refs, v.Name)
	return trash, nil
}

func removeTrash(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// Prune removes the volumes no container uses for which match returns
// true, and returns their names and the bytes their data held.
func (s *Store) Prune(ctx context.Context, match func(Volume) bool) ([]string, uint64, error) {
	s.mu.Lock()
	var trash, names []string
	var err error
	for _, name := range slices.Sorted(maps.Keys(s.vols)) {
		v := s.vols[name]
		if len(s.refs[name]) > 0 || !match(v.copy()) {
			continue
		}
		var dir string
		if dir, err = s.detach(v); err != nil {
			break
		}
		trash, names = append(trash, dir), append(names, name)
	}
	s.mu.Unlock()
	// Detached, the volumes are out of every other call's sight: sizing
	// and deleting them needs no lock.
	var reclaimed uint64
	for _, dir := range trash {
		size, _ := dirSize(filepath.Join(dir, "_data"))
		reclaimed += uint64(size)
		if rerr := removeTrash(dir); rerr != nil && err == nil {
			err = rerr
		}
	}
	return names, reclaimed, err
}

// Reference records that container id uses the volume name; an unknown
// volume is not found. Recording a reference twice is harmless.
func (s *Store) Reference(name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; !ok {
		return errNoSuchVolume(name)
	}
	s.reference(name, id)
	return nil
}

func (s *Store) reference(name, id string) {
	if s.refs[name] == nil {
		s.refs[name] = map[string]bool{}
	}
	s.refs[name][id] = true
}

// Release forgets that container id uses the volume name.
func (s *Store) Release(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refs[name], id)
	if len(s.refs[name]) == 0 {
		delete(s.refs, name)
	}
}

// Users returns the IDs of the containers using the volume name, sorted.
func (s *Store) Users(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users(name)
}

func (s *Store) users(name string) []string {
	return slices.Sorted(maps.Keys(s.refs[name]))
}

// dirSize is the space the data under dir takes, each hard-linked file
// counted once.
func dirSize(dir string) (int64, error) {
	var size int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		if !d.IsDir() {
			size += info.Size()
		}
		return nil
	})
	return size, err
}

func (v *Volume) copy() Volume {
	c := *v
	c.Labels, c.Options = maps.Clone(v.Labels), maps.Clone(v.Options)
	return c
}
