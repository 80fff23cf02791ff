package container

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/errdefs"

	"github.com/gantry/gantry/internal/atomicfile"
)

// Store keeps container records, one directory per container under root
// (<root>/<id>/config.json, written atomically), and the index of names.
// Store is safe for concurrent use.
type Store struct {
	root string

	mu    sync.RWMutex
	byID  map[string]*Container
	names map[string]string // name -> id
}

// NewStore loads every container record under root. A directory without a
// readable record (a crash during create) is removed.
func NewStore(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	s := &Store{root: root, byID: map[string]*Container{}, names: map[string]string{}}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		data, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if errors.Is(err, os.ErrNotExist) {
			if err := os.RemoveAll(dir); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		c := &Container{}
		if err := json.Unmarshal(data, c); err != nil {
			return nil, fmt.Errorf("load container %s: %w", e.Name(), err)
		}
		c.init(dir)
		c.publish(data)
		s.byID[c.ID] = c
		s.names[c.Name] = c.ID
	}
	return s, nil
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Add creates the record of a new container, giving it an ID and, when name
// is empty, a generated name. A name in use is a conflict; a malformed one
// an invalid argument. The record is on disk when Add returns.
func (s *Store) Add(c *Container, name string) error {
	c.ID = newID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		name = s.freeNameLocked()
	} else if !validName.MatchString(name) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name))
	}
	name = strings.TrimPrefix(name, "/")
	if id, ok := s.names[name]; ok {
		return nameInUse(name, id)
	}
	c.Name = name
	dir := filepath.Join(s.root, c.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	c.init(dir)
	if err := s.save(c); err != nil {
		os.RemoveAll(dir)
		return err
	}
	s.byID[c.ID] = c
	s.names[name] = c.ID
	return nil
}

// Get finds a container by full ID, name (with or without the leading
// slash) or unambiguous ID prefix; otherwise a not-found error
// "No such container: NAME".
func (s *Store) Get(name string) (*Container, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok := s.byID[name]; ok {
		return c, nil
	}
	if id, ok := s.names[strings.TrimPrefix(name, "/")]; ok {
		return s.byID[id], nil
	}
	if name == "" {
		return nil, noSuchContainer(name)
	}
	var found *Container
	for id, c := range s.byID {
		if strings.HasPrefix(id, name) {
			if found != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage("multiple containers found with provided prefix: " + name)
			}
			found = c
		}
	}
	if found == nil {
		return nil, noSuchContainer(name)
	}
	return found, nil
}

// List returns every container, newest first.
func (s *Store) List() []*Container {
	s.mu.RLock()
	list := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		list = append(list, c)
	}
	s.mu.RUnlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Created.After(list[j].Created) })
	return list
}

// Save persists c's record atomically. The caller holds c.Lock.
func (s *Store) Save(c *Container) error { return s.save(c) }

func (s *Store) save(c *Container) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(c.dir, "config.json"), data, 0o600); err != nil {
		return err
	}
	c.publish(data)
	return nil
}

// Rename gives c a new name; a name in use is a conflict.
func (s *Store) Rename(c *Container, name string) error {
	if !validName.MatchString(name) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name))
	}
	name = strings.TrimPrefix(name, "/")
	// c's Lock before the store's, as Delete takes them: a rename waits
	// for a lifecycle operation on c without holding up every Get and
	// List meanwhile.
	c.Lock()
	defer c.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.names[name]; ok {
		if id == c.ID {
			return errdefs.ErrInvalidArgument.WithMessage("Renaming a container with the same name as its current name")
		}
		return nameInUse(name, id)
	}
	old := c.Name
	c.Name = name
	if err := s.save(c); err != nil {
		c.Name = old
		return err
	}
	delete(s.names, old)
	s.names[name] = c.ID
	return nil
}

// Delete removes c's record and directory; the caller has released its
// mounts and snapshot. Waiters for "removed" are released.
func (s *Store) Delete(c *Container) error {
	// Drop the record first: a crash after this leaves a directory without
	// config.json, which NewStore cleans up.
	if err := os.Remove(filepath.Join(c.dir, "config.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.mu.Lock()
	delete(s.byID, c.ID)
	delete(s.names, c.Name)
	s.mu.Unlock()
	c.Log.Close()
	close(c.removed)
	return os.RemoveAll(c.dir)
}

func nameInUse(name, id string) error {
	return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, id))
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
