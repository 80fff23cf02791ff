package image

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Removed is one line of the answer to an image removal, in order: first
// the references removed, then the images deleted.
type Removed struct {
	Untagged string        // familiar reference, e.g. "busybox:latest"
	Deleted  digest.Digest // image ID
	// DiffIDs are the layers of the deleted image, base first.
	DiffIDs []digest.Digest
}

// UsedBy reports whether a container uses the image id, naming one (the
// running one first) for the error message.
type UsedBy func(id digest.Digest) (containerID string, running, used bool)

// Remove implements `docker rmi NAME`, with Docker's rules:
//   - by reference: the reference is removed; the image is deleted only when
//     it was its last reference. Removing the last reference of an image a
//     container uses is a conflict unless forced.
//   - by ID: an image with several references needs force; force removes
//     them all.
//   - an image used by a running container, or with child images, is never
//     deleted; one used by a stopped container only with force.
//   - unless noPrune, parents left without references or children go too.
//
// Conflicts are errdefs conflict errors with Docker's texts. The change is
// saved atomically: on error nothing is removed.
func (s *Store) Remove(ctx context.Context, name string, force, noPrune bool, usedBy UsedBy) ([]Removed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.resolveLocked(name)
	if err != nil {
		return nil, err
	}
	refs := s.allRefsLocked(id)
	var out []Removed
	byRef := false
	if ref, err := ParseReference(name); err == nil && s.refs[ref.String()] == id {
		byRef = true
		if len(refs) == 1 && !force {
			if cid, _, used := usedBy(id); used {
				return nil, conflict("unable to remove repository reference %q (must force) - container %s is using its referenced image %s", name, short(cid), short(id.Encoded()))
			}
		}
		out = append(out, s.untagLocked(ref)...)
		if refs = s.allRefsLocked(id); len(refs) > 0 {
			return out, s.saveLocked()
		}
	} else if len(refs) > 1 && !singleReference(refs) && !force {
		return nil, conflict("unable to delete %s (must be forced) - image is referenced in multiple repositories", short(id.Encoded()))
	}

	if err := s.deletableLocked(id, force, usedBy); err != nil {
		if byRef {
			// The reference is gone; the image stays, dangling, as Docker does.
			return out, s.saveLocked()
		}
		return nil, err
	}
	for _, ref := range refs {
		s.delRefLocked(ref.String())
		out = append(out, Removed{Untagged: Familiar(ref)})
	}
	for next := id; next != ""; {
		parent := s.records[next].Parent
		var diffIDs []digest.Digest
		if m := s.meta[next]; m != nil && len(m.config.RootFS.DiffIDs) > 0 {
			diffIDs = m.config.RootFS.DiffIDs
		}
		s.delRecordLocked(next)
		out = append(out, Removed{Deleted: next, DiffIDs: diffIDs})
		if noPrune || parent == "" || len(s.refsLocked(parent)) > 0 || s.deletableLocked(parent, false, usedBy) != nil {
			break
		}
		next = parent
	}
	if err := s.saveLocked(); err != nil {
		return nil, err // the in-memory maps are ahead of the disk; the next save fixes that
	}
	return out, nil
}

// allRefsLocked returns the tags of id, then its repository digests.
func (s *Store) allRefsLocked(id digest.Digest) []reference.Named {
	refs := s.refsLocked(id)
	for _, d := range s.digestsLocked(id) {
		refs = append(refs, d)
	}
	return refs
}

// untagLocked removes ref and, when it was the last tag of its repository
// on the image, the image's digests in that repository too, as Docker
// does; it returns what it removed.
func (s *Store) untagLocked(ref reference.Named) []Removed {
	id := s.refs[ref.String()]
	s.delRefLocked(ref.String())
	out := []Removed{{Untagged: Familiar(ref)}}
	if _, digested := ref.(reference.Canonical); digested {
		return out
	}
	for _, tag := range s.refsLocked(id) {
		if tag.Name() == ref.Name() {
			return out
		}
	}
	for _, d := range s.digestsLocked(id) {
		if d.Name() == ref.Name() {
			s.delRefLocked(d.String())
			out = append(out, Removed{Untagged: Familiar(d)})
		}
	}
	return out
}

// singleReference reports whether refs (tags, then digests) name one
// thing to a user: one tag, or one repository's digests with at most its
// one tag, as Docker's rule.
func singleReference(refs []reference.Named) bool {
	var tag reference.Named
	digested := map[string]bool{}
	for _, r := range refs {
		switch _, ok := r.(reference.Canonical); {
		case ok:
			digested[r.Name()] = true
		case tag != nil:
			return false
		default:
			tag = r
		}
	}
	if tag == nil {
		tag = refs[0]
	}
	return len(digested) == 1 && digested[tag.Name()]
}

// deletableLocked says why the image id cannot be deleted, if it cannot.
func (s *Store) deletableLocked(id digest.Digest, force bool, usedBy UsedBy) error {
	if _, ok := s.records[id]; !ok {
		return noSuchImage(id.String())
	}
	if s.children[id] > 0 {
		return conflict("unable to delete %s (cannot be forced) - image has dependent child images", short(id.Encoded()))
	}
	cid, running, used := usedBy(id)
	switch {
	case used && running:
		return conflict("unable to delete %s (cannot be forced) - image is being used by running container %s", short(id.Encoded()), short(cid))
	case used && !force:
		return conflict("unable to delete %s (must be forced) - image is being used by stopped container %s", short(id.Encoded()), short(cid))
	}
	return nil
}

func conflict(format string, args ...any) error {
	return errdefs.ErrConflict.WithMessage("conflict: " + fmt.Sprintf(format, args...))
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
