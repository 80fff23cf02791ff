package image

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// Finish clears the Unfinished mark of the images ids, which a finished
// build produced: they stay like any other image. Images not here are
// skipped. The change is saved atomically.
func (s *Store) Finish(ctx context.Context, ids ...digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var changed []*record
	for _, id := range ids {
		if r, ok := s.records[id]; ok && r.Unfinished {
			r.Unfinished = false
			s.dirtyImages[id] = true
			changed = append(changed, r)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	if err := s.saveLocked(); err != nil {
		for _, r := range changed {
			r.Unfinished = true
		}
		return err
	}
	return nil
}

// RemoveUnfinished deletes the images left by builds that did not finish:
// each Unfinished image with no reference, no child image and no container
// using it, then its Unfinished parents that this leaves in the same state.
// It is meant for the start of the daemon, before any build runs (a build
// running meanwhile would lose its steps). It returns the images deleted;
// the change is saved atomically.
func (s *Store) RemoveUnfinished(ctx context.Context, usedBy UsedBy) ([]digest.Digest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	removable := func(id digest.Digest) bool {
		r, ok := s.records[id]
		if !ok || !r.Unfinished || s.names[id] != nil || s.children[id] > 0 {
			return false
		}
		_, _, used := usedBy(id)
		return !used
	}
	var todo, removed []digest.Digest
	for id := range s.records {
		if removable(id) {
			todo = append(todo, id)
		}
	}
	for len(todo) > 0 {
		id := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		parent := s.records[id].Parent
		s.delRecordLocked(id)
		removed = append(removed, id)
		if parent != "" && removable(parent) {
			todo = append(todo, parent)
		}
	}
	if len(removed) == 0 {
		return nil, nil
	}
	if err := s.saveLocked(); err != nil {
		return nil, err // the in-memory maps are ahead of the disk; the next save fixes that
	}
	return removed, nil
}
